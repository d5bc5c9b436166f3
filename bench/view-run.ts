/**
 * One traced hpager run for bench:view, in a process of its own (the
 * program's output goes to this process's stdout, which the benchmark
 * discards): with the looks at predicted pages the pagers take (as
 * --trace does), or without them (launch() alone), to tell what looking
 * costs.
 *
 *   bun bench/view-run.ts RESULT.json looks|plain MECHANISM PREDICTOR PAGES PROGRAM [ARGS...]
 *
 * Writes the run's wall time, and with looks the watcher's figures, as JSON
 * to RESULT.json.
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch } from "../src/loader/launch.ts";
import type { Mechanism, PredictorName } from "../src/loader/spec.ts";
import { RunRecording } from "../src/view/record.ts";

const USAGE = "Usage: bun bench/view-run.ts RESULT.json looks|plain MECHANISM PREDICTOR PAGES PROGRAM [ARGS...]\n\nOne traced hpager run for bun run bench:view (which runs it): writes its wall time, and with looks the watcher's figures, as JSON to RESULT.json.";
// Words after PROGRAM are the program's, so only the first word can ask
// for help; the rest is checked by position.
const words = process.argv.slice(2);
if (words[0] === "--help" || words[0] === "-h") {
  console.log(USAGE);
  process.exit(0);
}
if (words.length < 6 || !["looks", "plain"].includes(words[1]!) || !/^\d+$/.test(words[4]!) || words[0]!.startsWith("-")) {
  process.stderr.write(`bench/view-run.ts: expected RESULT.json looks|plain MECHANISM PREDICTOR PAGES PROGRAM [ARGS...]\nTry 'bun bench/view-run.ts --help'.\n`);
  process.exit(2);
}
const [result, mode, mechanism, predictor, pages, ...argv] = words;
const options = { pager: "hpager" as const, paging: mechanism as Mechanism, predictor: predictor as PredictorName, pages: Number(pages), log: null };
const dir = mkdtempSync(join(tmpdir(), "faultline-bench-view-"));
const trace = join(dir, "trace.jsonl");
try {
  if (mode === "plain") {
    const fd = openSync(trace, "w");
    const outcome = await launch(argv, { ...options, traceFd: fd });
    closeSync(fd);
    writeFileSync(result!, JSON.stringify({ wallMs: outcome.wallMs, faults: outcome.faults, paging: outcome.paging }));
  } else {
    const recording = RunRecording.begin({ trace, html: null });
    const outcome = await launch(argv, { ...options, traceFd: recording.traceFd, onStart: (pid, paging) => recording.started(pid, paging, "hpager") });
    const { report, watched } = await recording.finish(outcome);
    writeFileSync(result!, JSON.stringify({ wallMs: outcome.wallMs, faults: outcome.faults, paging: outcome.paging, predictions: report.predictions, traceMs: watched?.traceMs ?? 0, pagemapMs: watched?.pagemapMs ?? 0 }));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
