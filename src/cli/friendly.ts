#!/usr/bin/env bun
/**
 * `bun run friendly [options] PROGRAM [ARGS...]` (or `faultline friendly`
 * through src/cli/faultline.ts): run a dynamically linked
 * program with libetsbefriends.so preloaded (shim/friendly/friendly.c), so a crash
 * ends in an encouraging message and a diagnosis, and exit the way the
 * program did.
 *
 *   find PROGRAM as a shell would, follow its #! lines to the ELF file that
 *   really runs, refuse a static one (LD_PRELOAD cannot reach it), build the
 *   library if needed, start the source-line resolver (a crash report then
 *   gives file:line, src/friendly/source-resolver.ts), spawn with LD_PRELOAD, relay
 *   the signals sent to it, then exit with the program's code or die of its
 *   signal.
 *
 * Errors are one line on stderr; 127 not found, 126 cannot be run, 2 usage.
 */
import { closeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { parseElf } from "../loader/elf.ts";
import { EXIT_CANNOT_RUN, EXIT_NOT_FOUND } from "../loader/errors.ts";
import { friendlyEnvironment, friendlyUsage, parseFriendlyCommandLine, staticRefusal } from "../friendly/friendly-options.ts";
import { openForLoading, resolveProgram, type OpenedFile } from "../loader/program-file.ts";
import { followScripts } from "../loader/script.ts";
import { bunRunParent } from "../loader/caller.ts";
import { endAsTheProgramDid, readCommandLine, Refusal, runCommand } from "./front-door.ts";
import { ignoredAtStart, relaySignalsTo, startSignalRelay } from "./signals.ts";
import { stderrColoured } from "./colour.ts";
import { ensureFriendlyLibrary } from "../shim/shim-build.ts";
import { startStyledSourceResolver } from "../friendly/source-resolver.ts";

const NAME = "friendly";

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
  const opened: OpenedFile[] = [];
  const open = (file: string) => {
    const opening = openForLoading(file, "program");
    opened.push(opening);
    return opening;
  };
  try {
    const { file, scripted } = followScripts(open(path), [path], path, open, () => closeSync(opened.pop()!.fd));
    const image = parseElf(file.path, file.head, file.size, "program");
    if (image.interpreter === null) throw new Refusal(staticRefusal(path, scripted ? file.path : null), EXIT_CANNOT_RUN);
    return path;
  } finally {
    for (const file of opened) closeSync(file.fd);
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
  const line = readCommandLine(NAME, command, () => parseFriendlyCommandLine(args), () => friendlyUsage(command));
  if (typeof line === "number") return line;

  const [name, ...programArgs] = line.argv as [string, ...string[]];
  const path = preloadableProgram(name);
  const library = ensureFriendlyLibrary();
  const resolver = startStyledSourceResolver({ colour: stderrColoured().isColorSupported });
  const env = resolver.environment(friendlyEnvironment(library, process.env));
  // Signals somebody sends this process are relayed to the program, those
  // that come before it exists as soon as it does.
  startSignalRelay(ignoredAtStart(), bunRunParent() !== null);
  let child;
  try {
    child = Bun.spawn({ cmd: [path, ...programArgs], argv0: name, env, stdio: ["inherit", "inherit", "inherit"] });
  } catch (error) {
    resolver.stop();
    throw spawnError(path, error);
  }
  relaySignalsTo(child.pid);
  await child.exited;
  resolver.stop();

  const signalNumber = child.signalCode === null ? null : typeof child.signalCode === "number" ? child.signalCode : osConstants.signals[child.signalCode];
  return endAsTheProgramDid({ signalNumber, exitCode: child.exitCode });
}

/** Run the command with `args` (the words after its name, typed as
 * `command`) and exit the way the program did. */
export function runFriendly(args: string[], command: string): Promise<never> {
  return runCommand(NAME, () => main(args, command));
}

if (import.meta.main) await runFriendly(process.argv.slice(2), "bun run friendly");
