#!/usr/bin/env bun
/**
 * `bun run friendly [options] PROGRAM [ARGS...]`: run a dynamically linked
 * program with libetsbefriends.so preloaded (shim/friendly.c), so a crash
 * ends in an encouraging message and a diagnosis, and exit the way the
 * program did.
 *
 *   find PROGRAM as a shell would, follow its #! lines to the ELF file that
 *   really runs, refuse a static one (LD_PRELOAD cannot reach it), build the
 *   library if needed, start the source-line resolver (a crash report then
 *   gives file:line, src/source-resolver.ts), spawn with LD_PRELOAD, pass on
 *   SIGTERM and SIGHUP, then exit with the program's code or die of its
 *   signal.
 *
 * Errors are one line on stderr; 127 not found, 126 cannot be run, 2 usage.
 */
import { closeSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { parseElf } from "./elf.ts";
import { EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_USAGE, LoadError, UsageError } from "./errors.ts";
import { friendlyEnvironment, friendlyUsage, parseFriendlyCommandLine, staticRefusal } from "./friendly-options.ts";
import { openForLoading, resolveProgram, type OpenedFile } from "./program-file.ts";
import { MAX_SCRIPT_DEPTH, parseShebang } from "./script.ts";
import { endWithSignal } from "./shim.ts";
import { ignoredAtStart } from "./signals.ts";
import { ShimBuildError, ensureFriendlyLibrary } from "./shim-build.ts";
import { startSourceResolver } from "./source-resolver.ts";
import packageJson from "../package.json" with { type: "json" };

const NAME = "friendly";

/** A one-line refusal with the exit status that goes with it. */
class Refusal extends Error {
  override name = "Refusal";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function say(line: string): void {
  writeSync(2, `${line}\n`);
}

/** A path spawn will not look up on PATH again (a name found in an empty
 * PATH entry is relative to the current directory). */
function asPath(file: string): string {
  return file.includes("/") ? file : `./${file}`;
}

/**
 * Find PROGRAM as execvp would, then follow its #! lines (as binfmt_script
 * does) to the ELF file the kernel would run, and check that one can be
 * preloaded into: it must have a PT_INTERP (be dynamically linked), since
 * LD_PRELOAD is read by that interpreter, the dynamic linker. Returns the
 * path to spawn. Throws LoadError (127 or 126) or a Refusal (126).
 */
function preloadableProgram(name: string): string {
  const path = asPath(resolveProgram(name));
  let file: OpenedFile = openForLoading(path, "program");
  try {
    let script: string | null = null;
    for (let depth = 0; ; depth++) {
      const shebang = parseShebang(file.head);
      if (shebang === null) break;
      if (shebang === "malformed") throw new LoadError(file.path, "malformed #! line", "ENOEXEC");
      if (depth >= MAX_SCRIPT_DEPTH) throw new LoadError(path, `more than ${MAX_SCRIPT_DEPTH} levels of #! interpreters`, "ELOOP");
      script ??= path;
      closeSync(file.fd);
      file = openForLoading(shebang.interpreter, "program");
    }
    const image = parseElf(file.path, file.head, file.size, "program");
    if (image.interpreter === null) throw new Refusal(staticRefusal(path, script === null ? null : file.path), EXIT_CANNOT_RUN);
    return path;
  } finally {
    closeSync(file.fd);
  }
}

/** Signals ignored in this process now (/proc/self/status SigIgn): what the
 * parent left ignored (nohup, a background job). */
interface Killable {
  kill(signal: number): void;
}

interface Forwarder {
  /** The program is running: pass signals to it from now on. */
  attach(child: Killable): void;
  stop(): void;
}

/** While the program runs: a terminal's ^C reaches it directly (same
 * process group), so this process only outlives it; a SIGTERM or SIGHUP
 * sent to this process alone is passed on. Installed before the spawn: the
 * program may be running, and visible to whoever signals, before
 * Bun.spawn has returned here; a signal that comes before attach() is
 * passed on as soon as the program exists. A signal this process started
 * with ignored stays ignored here. */
function forwardSignals(): Forwarder {
  const inherited = ignoredAtStart();
  let child: Killable | null = null;
  const pending: number[] = [];
  const deliver = (signal: number) => {
    if (child) child.kill(signal);
    else pending.push(signal);
  };
  const names = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const watched = names.filter((name) => !inherited.has(osConstants.signals[name]));
  const listeners = watched.map((name) => {
    const listener = name === "SIGINT" ? () => {} : () => deliver(osConstants.signals[name]);
    process.on(name, listener);
    return { name, listener };
  });
  return {
    attach(running) {
      child = running;
      for (const signal of pending.splice(0)) running.kill(signal);
    },
    stop() {
      for (const { name, listener } of listeners) process.off(name, listener);
    },
  };
}

function spawnError(path: string, error: unknown): Refusal {
  const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
  // ENOENT for a file that was just found: its dynamic linker or #!
  // interpreter is missing, which execve reports the same way.
  if (code === "ENOENT") return new Refusal(`${NAME}: ${path}: cannot run: its interpreter or dynamic linker was not found (ENOENT)`, EXIT_NOT_FOUND);
  return new Refusal(`${NAME}: ${path}: cannot run: ${code || (error instanceof Error ? error.message : String(error))}`, EXIT_CANNOT_RUN);
}

async function main(args: string[]): Promise<number> {
  let line;
  try {
    line = parseFriendlyCommandLine(args);
  } catch (error) {
    if (error instanceof UsageError) {
      say(`${NAME}: ${error.message}`);
      say(`Try 'bun run ${NAME} --help'.`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (line.help) {
    process.stdout.write(`${friendlyUsage()}\n`);
    return 0;
  }
  if (line.version) {
    process.stdout.write(`faultline ${packageJson.version}\n`);
    return 0;
  }

  const [name, ...programArgs] = line.argv as [string, ...string[]];
  const path = preloadableProgram(name);
  const library = ensureFriendlyLibrary();
  const resolver = startSourceResolver();
  const env = resolver.environment(friendlyEnvironment(library, process.env));
  const forwarder = forwardSignals();
  let child;
  try {
    child = Bun.spawn({ cmd: [path, ...programArgs], argv0: name, env, stdio: ["inherit", "inherit", "inherit"] });
  } catch (error) {
    forwarder.stop();
    resolver.stop();
    throw spawnError(path, error);
  }
  forwarder.attach(child);
  await child.exited;
  forwarder.stop();
  resolver.stop();

  if (child.signalCode !== null) {
    const signal = typeof child.signalCode === "number" ? child.signalCode : osConstants.signals[child.signalCode];
    process.removeAllListeners("SIGINT");
    process.removeAllListeners("SIGTERM");
    process.removeAllListeners("SIGHUP");
    endWithSignal(signal);
    return 128 + signal;
  }
  return child.exitCode ?? EXIT_CANNOT_RUN;
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  if (error instanceof LoadError) {
    say(`${NAME}: ${error.message}`);
    process.exit(error.exitCode);
  }
  if (error instanceof Refusal) {
    say(error.message);
    process.exit(error.exitCode);
  }
  if (error instanceof ShimBuildError) {
    say(error.message);
    process.exit(EXIT_CANNOT_RUN);
  }
  say(`${NAME}: internal error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT_CANNOT_RUN);
}
