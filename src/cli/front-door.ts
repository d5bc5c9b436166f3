/**
 * What every faultline command line does the same way around its own work
 * (the pagers' src/cli/cli.ts, friendly's src/cli/friendly.ts): read
 * the line, answering a usage error, --help and --version; exit the way the
 * program did; and the final catch, which turns every error into one line
 * on stderr and the exit status that goes with it (127 not found, 126
 * cannot be run, 2 usage), never a stack trace.
 */
import { writeSync } from "node:fs";
import { EXIT_CANNOT_RUN, EXIT_USAGE, LoadError, UsageError } from "../loader/errors.ts";
import { endWithSignal } from "../shim/shim.ts";
import { ShimBuildError } from "../shim/shim-build.ts";
import { paintLine, stderrColoured } from "./colour.ts";
import { versionLine } from "./commands.ts";

/** One line on stderr, written at once (not buffered behind the program's);
 * on a terminal its `warning:` or `note:` is coloured (src/cli/colour.ts). */
export function say(line: string): void {
  writeSync(2, `${paintLine(line, stderrColoured())}\n`);
}

/** A refusal a command states as it is, in one line, and the status it
 * ends with. */
export class Refusal extends Error {
  override name = "Refusal";
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** What the command ends with for an error: its line and its status. */
interface Verdict {
  line: string;
  exitCode: number;
}

/** What every command line answers before its own work. */
interface CommandLineBasics {
  help: boolean;
  version: boolean;
}

/**
 * Read the words after the command's name with `parse`. A usage error is
 * said (as `name: reason`, then how to get help, typed as `command`) and
 * --help and --version answered on stdout: each returns the status to
 * exit with. Otherwise the line, for the command's own work.
 */
export function readCommandLine<Line extends CommandLineBasics>(name: string, command: string, parse: () => Line, usage: (line: Line) => string): Line | number {
  let line: Line;
  try {
    line = parse();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    say(`${name}: ${error.message}`);
    say(`Try '${command} --help'.`);
    return EXIT_USAGE;
  }
  if (line.help) {
    process.stdout.write(`${usage(line)}\n`);
    return 0;
  }
  if (line.version) {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  return line;
}

/** End the way the program did: die of the same signal (re-raised with its
 * default action, so the shell says what it says natively), or return its
 * exit status. */
export function endAsTheProgramDid(end: { signalNumber: number | null; exitCode: number | null }): number {
  if (end.signalNumber !== null) {
    endWithSignal(end.signalNumber);
    return 128 + end.signalNumber;
  }
  return end.exitCode ?? EXIT_CANNOT_RUN;
}

/** The line and status for an error that ends command `name`: a loader's
 * verdict, a refusal, a shim that cannot be built, or else an internal
 * error (a bug, said in one line all the same). */
export function verdictOf(name: string, error: unknown): Verdict {
  if (error instanceof LoadError) return { line: `${name}: ${error.message}`, exitCode: error.exitCode };
  if (error instanceof Refusal) return { line: error.message, exitCode: error.exitCode };
  if (error instanceof ShimBuildError) return { line: error.message, exitCode: EXIT_CANNOT_RUN };
  return { line: `${name}: internal error: ${error instanceof Error ? error.message : String(error)}`, exitCode: EXIT_CANNOT_RUN };
}

/** Run a command's `main` and exit with its status; the final catch says
 * an error in one line (`explain` first, for errors of the command's own)
 * and exits with its status. */
export function runCommand(name: string, main: () => Promise<number>, explain?: (error: unknown) => Verdict | null): Promise<never> {
  return main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      const verdict = explain?.(error) ?? verdictOf(name, error);
      say(verdict.line);
      return process.exit(verdict.exitCode);
    },
  );
}
