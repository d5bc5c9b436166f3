/**
 * `bun run view`'s command line, pure: the files named, the output, help.
 */
import { UsageError } from "../loader/errors.ts";

/** Runs a page puts side by side, at most. */
export const MAX_RUNS = 2;

export interface ViewCommandLine {
  /** The files in the order given: traces and reports (told apart by
   * their contents when read: see src/view/cli.ts). */
  files: string[];
  out: string | null;
  help: boolean;
}

export const VIEW_USAGE = `Usage: bun run view [TRACE] REPORT [[TRACE] REPORT] -o FILE

Make the page --html makes from a run's saved --trace and --report files,
or one page with two runs side by side (dpager against hpager on the same
program, say): each REPORT with the TRACE named before it. A run without a
trace (apager's, or one run without --trace) is shown without its faults.

Options:
  -o, --out FILE  write the page to FILE (required)
  -h, --help      show this help

Exit status: 0 when the page is written, 1 when a file cannot be read or is
not a trace or report, 2 when the command line is wrong.`;

export function parseViewCommandLine(args: readonly string[]): ViewCommandLine {
  const line: ViewCommandLine = { files: [], out: null, help: false };
  let options = true;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (options && arg === "--") options = false;
    else if (options && (arg === "-h" || arg === "--help")) line.help = true;
    else if (options && (arg === "-o" || arg === "--out")) {
      const value = args[++i];
      if (value === undefined || value === "") throw new UsageError(`${arg} needs a file name`);
      line.out = value;
    } else if (options && arg.startsWith("--out=")) {
      line.out = arg.slice("--out=".length);
      if (line.out === "") throw new UsageError("--out needs a file name");
    } else if (options && arg.startsWith("-") && arg !== "-") throw new UsageError(`unknown option '${arg}'`);
    else line.files.push(arg);
  }
  if (line.help) return line;
  if (line.files.length === 0) throw new UsageError("no REPORT given");
  if (line.out === null) throw new UsageError("no output file given (-o FILE)");
  return line;
}
