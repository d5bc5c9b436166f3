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

const [result, mode, mechanism, predictor, pages, ...argv] = process.argv.slice(2);
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
