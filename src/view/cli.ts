#!/usr/bin/env bun
/**
 * `bun run view [TRACE] REPORT [[TRACE] REPORT] -o FILE`: the page --html
 * makes, from saved files, for one run or two side by side.
 */
import { readFileSync, writeSync } from "node:fs";
import { EXIT_USAGE, UsageError } from "../loader/errors.ts";
import { parseReport, RunDataError, type ReportInput } from "./model.ts";
import { MAX_RUNS, VIEW_USAGE, parseViewCommandLine } from "./options.ts";
import { parseTrace, TraceError, type Trace } from "./trace.ts";
import { OutputError, claimOutput, renderPage, writeOutput } from "./write.ts";

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

/** Pair the files into runs: each report with the trace named before it. */
function readRuns(files: readonly string[]): { report: ReportInput; trace: Trace | null }[] {
  const runs: { report: ReportInput; trace: Trace | null }[] = [];
  let trace: Trace | null = null;
  let traceFile: string | null = null;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw new RunDataError(`${file}: cannot read: ${(error as { code?: string }).code ?? String(error)}`);
    }
    if (isReport(text)) {
      runs.push({ report: parseReport(text, file), trace });
      trace = null;
      traceFile = null;
    } else {
      if (traceFile !== null) throw new RunDataError(`${file}: a second trace before a report (${traceFile} has no report)`);
      trace = parseTrace(text, file);
      traceFile = file;
    }
  }
  if (traceFile !== null) throw new RunDataError(`${traceFile}: a trace without a report after it`);
  if (runs.length > MAX_RUNS) throw new UsageError(`at most ${MAX_RUNS} runs side by side, not ${runs.length}`);
  return runs;
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
