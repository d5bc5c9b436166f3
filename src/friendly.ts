#!/usr/bin/env bun
/**
 * `bun run friendly [options] PROGRAM [ARGS...]` (or `faultline friendly`
 * through src/faultline.ts): run a dynamically linked
 * program with libetsbefriends.so preloaded (shim/friendly/friendly.c), so a crash
 * ends in an encouraging message and a diagnosis, and exit the way the
 * program did.
 *
 *   find PROGRAM as a shell would, follow its #! lines to the ELF file that
 *   really runs, refuse a static one (LD_PRELOAD cannot reach it), build the
 *   library if needed, start the source-line resolver (a crash report then
 *   gives file:line, src/source-resolver.ts), spawn with LD_PRELOAD, relay
 *   the signals sent to it, then exit with the program's code or die of its
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
import { bunRunParent, relayedSignals } from "./caller.ts";
import { endWithSignal, relayTo, startRelay } from "./shim.ts";
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

function spawnError(path: string, error: unknown): Refusal {
  const code = typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
  // ENOENT for a file that was just found: its dynamic linker or #!
  // interpreter is missing, which execve reports the same way.
  if (code === "ENOENT") return new Refusal(`${NAME}: ${path}: cannot run: its interpreter or dynamic linker was not found (ENOENT)`, EXIT_NOT_FOUND);
  return new Refusal(`${NAME}: ${path}: cannot run: ${code || (error instanceof Error ? error.message : String(error))}`, EXIT_CANNOT_RUN);
}

async function main(args: string[], command: string): Promise<number> {
  let line;
  try {
    line = parseFriendlyCommandLine(args);
  } catch (error) {
    if (error instanceof UsageError) {
      say(`${NAME}: ${error.message}`);
      say(`Try '${command} --help'.`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (line.help) {
    process.stdout.write(`${friendlyUsage(command)}\n`);
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
  // Signals somebody sends this process are relayed to the program, those
  // that come before it exists as soon as it does (shim/loader/relay.c); one this
  // process started with ignored stays ignored here.
  const underBunRun = bunRunParent() !== null;
  startRelay(relayedSignals([...ignoredAtStart()], underBunRun), underBunRun);
  let child;
  try {
    child = Bun.spawn({ cmd: [path, ...programArgs], argv0: name, env, stdio: ["inherit", "inherit", "inherit"] });
  } catch (error) {
    resolver.stop();
    throw spawnError(path, error);
  }
  relayTo(child.pid);
  await child.exited;
  resolver.stop();

  if (child.signalCode !== null) {
    const signal = typeof child.signalCode === "number" ? child.signalCode : osConstants.signals[child.signalCode];
    endWithSignal(signal);
    return 128 + signal;
  }
  return child.exitCode ?? EXIT_CANNOT_RUN;
}

/** Run the command with `args` (the words after its name, typed as
 * `command`) and exit the way the program did. */
export async function runFriendly(args: string[], command: string): Promise<never> {
  try {
    process.exit(await main(args, command));
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
}

if (import.meta.main) await runFriendly(process.argv.slice(2), "bun run friendly");
