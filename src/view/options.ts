/**
 * `bun run view`'s command line, pure: the files named, the output, help;
 * and which trace goes with which report.
 */
import { parseArgs } from "node:util";
import { UsageError } from "../loader/errors.ts";

/** Runs a page puts side by side, at most. */
export const MAX_RUNS = 2;

interface ViewCommandLine {
  /** The files in the order given: traces and reports (told apart by
   * their contents when read: see src/cli/view.ts). */
  files: string[];
  out: string | null;
  help: boolean;
}

export const VIEW_USAGE = `Usage: bun run view [TRACE] REPORT [[TRACE] REPORT] -o FILE

Make the page --html makes from a run's saved --trace and --report files,
or one page with two runs side by side (dpager against hpager on the same
program, say): each REPORT with the TRACE named next to it, before or after
it (a trace between two reports goes with the one after it). Files are told
apart by what they hold. A run without a trace (apager's, or one run
without --trace) is shown without its faults.

Options:
  -o, --out FILE  write the page to FILE (required)
  -h, --help      show this help

Exit status: 0 when the page is written, 1 when a file cannot be read or is
not a trace or report, 2 when the command line is wrong.`;

export function parseViewCommandLine(args: readonly string[]): ViewCommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options: { out: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(parseArgsProblem(error));
  }
  const line: ViewCommandLine = { files: parsed.positionals, out: parsed.values.out ?? null, help: parsed.values.help === true };
  if (line.help) return line;
  if (line.out === "") throw new UsageError("--out needs a file name");
  if (line.files.length === 0) throw new UsageError("no REPORT given");
  if (line.out === null) throw new UsageError("no output file given (-o FILE)");
  return line;
}

/** util.parseArgs' errors as the commands word theirs. */
function parseArgsProblem(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  // The option as parseArgs names it ("'-o, --out <value>'"): its long name.
  const names = (/'([^']*)'/.exec(message)?.[1] ?? "").split(/[ ,]+/).filter((word) => word.startsWith("-"));
  const option = names.find((name) => name.startsWith("--")) ?? names[0] ?? "";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option '${option}'`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return /does not take an argument/.test(message) ? `${option} takes no value` : `${option} needs a file name`;
  return message.split("\n")[0]!;
}

/** A file named on the command line, and what its contents say it is. */
export interface NamedRunFile {
  file: string;
  kind: "report" | "trace";
}

/** A run to show: its report, and its trace if one was named. */
interface RunFiles {
  report: string;
  trace: string | null;
}

/** The files cannot be read as runs; the message names the file. */
export class PairingError extends Error {
  override name = "PairingError";
}

/**
 * Group the files, in order, into runs: a report alone, or with the trace
 * next to it, before or after it. Where more than one grouping fits (a
 * trace between two reports), a trace goes with the report after it, as it
 * always has. Throws PairingError for two traces in a row or a trace
 * without a report.
 */
export function pairRunFiles(files: readonly NamedRunFile[]): RunFiles[] {
  // Every grouping, as a list of runs and how many put the trace after its
  // report; at most 2 runs are shown, so the files are few.
  const groupings = (at: number): { runs: RunFiles[]; traceAfter: number }[] => {
    if (at === files.length) return [{ runs: [], traceAfter: 0 }];
    const here = files[at]!;
    const next = files[at + 1];
    const found: { runs: RunFiles[]; traceAfter: number }[] = [];
    const extend = (run: RunFiles, used: number, after: number) => {
      for (const rest of groupings(at + used)) found.push({ runs: [run, ...rest.runs], traceAfter: rest.traceAfter + after });
    };
    if (here.kind === "report") {
      extend({ report: here.file, trace: null }, 1, 0);
      if (next?.kind === "trace") extend({ report: here.file, trace: next.file }, 2, 1);
    } else if (next?.kind === "report") extend({ report: next.file, trace: here.file }, 2, 0);
    return found;
  };
  const all = groupings(0);
  if (all.length === 0) {
    const twice = files.findIndex((f, i) => f.kind === "trace" && files[i + 1]?.kind === "trace");
    if (twice >= 0) throw new PairingError(`${files[twice + 1]!.file}: a second trace next to ${files[twice]!.file}: each trace goes next to its report`);
    throw new PairingError(`${files.find((f) => f.kind === "trace")!.file}: a trace without a report next to it`);
  }
  return all.reduce((best, g) => (g.traceAfter < best.traceAfter ? g : best)).runs;
}
