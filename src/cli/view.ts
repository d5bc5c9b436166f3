#!/usr/bin/env bun
/**
 * `bun run view [TRACE] REPORT [[TRACE] REPORT] -o FILE`: the page --html
 * makes, from saved files, for one run or two side by side; a trace may be
 * named before or after its report (src/view/options.ts pairRunFiles).
 */
import { readFileSync, writeSync } from "node:fs";
import { EXIT_USAGE, UsageError } from "../loader/errors.ts";
import { parseReport, RunDataError, type ReportInput } from "../view/model.ts";
import { MAX_RUNS, PairingError, VIEW_USAGE, pairRunFiles, parseViewCommandLine, type NamedRunFile } from "../view/options.ts";
import { parseTrace, TraceError, type Trace } from "../view/trace.ts";
import { OutputError, claimOutput, renderPage, writeOutput } from "../view/write.ts";

const EXIT_BAD_INPUT = 1;

function say(line: string): void {
  writeSync(2, `${line}\n`);
}

/** A report is one JSON object naming its pager; a trace is JSON lines. */
function isReport(text: string): boolean {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === "object" && !Array.isArray(value) && "pager" in value;
  } catch {
    return false;
  }
}

/** Read the files and pair them into runs: each report with the trace
 * named next to it. */
function readRuns(files: readonly string[]): { report: ReportInput; trace: Trace | null }[] {
  // Pairing more files than two runs take is refused before it is tried.
  if (files.length > 2 * MAX_RUNS) throw new UsageError(`at most ${MAX_RUNS} runs side by side, not ${files.length} files`);
  const texts = new Map<string, string>();
  const named: NamedRunFile[] = files.map((file) => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new RunDataError(`${file}: cannot read: ${(error as { code?: string }).code ?? String(error)}`);
    }
    texts.set(file, text);
    return { file, kind: isReport(text) ? "report" : "trace" };
  });
  let paired;
  try {
    paired = pairRunFiles(named);
  } catch (error) {
    if (error instanceof PairingError) throw new RunDataError(error.message);
    throw error;
  }
  if (paired.length > MAX_RUNS) throw new UsageError(`at most ${MAX_RUNS} runs side by side, not ${paired.length}`);
  return paired.map((run) => ({ report: parseReport(texts.get(run.report)!, run.report), trace: run.trace === null ? null : parseTrace(texts.get(run.trace)!, run.trace) }));
}

async function main(args: string[]): Promise<number> {
  let line;
  try {
    line = parseViewCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    say(`view: ${error.message}`);
    say("Try 'bun run view --help'.");
    return EXIT_USAGE;
  }
  if (line.help) {
    process.stdout.write(`${VIEW_USAGE}\n`);
    return 0;
  }
  try {
    // Made before the file is touched: a bad input leaves it as it was.
    const page = await renderPage(readRuns(line.files));
    writeOutput(claimOutput("-o", line.out!), page);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof OutputError) {
      say(`view: ${error.message}`);
      return EXIT_USAGE;
    }
    if (error instanceof RunDataError || error instanceof TraceError) {
      say(`view: ${error.message}`);
      return EXIT_BAD_INPUT;
    }
    throw error;
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  say(`view: internal error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT_BAD_INPUT);
}
