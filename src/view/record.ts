/**
 * What a run writes besides its report, for the command line and run():
 * the trace (the --trace file, or a temporary one when only --html needs
 * it), the looks at hpager's predicted pages taken while the program runs
 * (appended to the trace once it has ended), and the --html page.
 *
 *   const recording = RunRecording.begin({ trace, html });   // before the launch: may throw OutputError
 *   launch(argv, { traceFd: recording.traceFd, onStart: (pid, paging) => recording.started(pid, paging) })
 *   const { report, warnings } = await recording.finish(outcome);
 *   // or, when the program could not be run: recording.abandon();
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LaunchOutcome } from "../launch.ts";
import { toReport, type RunReport } from "../report.ts";
import type { Mechanism } from "../spec.ts";
import { seenUnder } from "./predictions.ts";
import { lookLine, parseTrace } from "./trace.ts";
import { PredictionWatch, type WatchResult } from "./watch.ts";
import { OutputError, abandonOutput, claimOutput, reasonOf, renderPage, writeOutput, type ClaimedOutput } from "./write.ts";

export interface RecordingOptions {
  /** The --trace file, or null. */
  trace: string | null;
  /** The --html file, or null. */
  html: string | null;
  /** How the options are named in messages ("--html" and "--trace" on the
   * command line, "html" and "trace" for run()). */
  htmlOption?: string;
  traceOption?: string;
}

export class RunRecording {
  private watch: PredictionWatch | null = null;
  private finished = false;

  private constructor(
    private readonly tracePath: string | null,
    /** A directory made for a trace only the page needs, removed at the end. */
    private readonly temporary: string | null,
    readonly traceFd: number,
    private readonly html: ClaimedOutput | null,
  ) {}

  /** Claim the page's file and open the trace, before the program starts:
   * throws OutputError when either path cannot be written. */
  static begin(options: RecordingOptions): RunRecording {
    const html = options.html === null ? null : claimOutput(options.htmlOption ?? "--html", options.html);
    let temporary: string | null = null;
    let tracePath = options.trace;
    if (tracePath === null && html !== null) {
      temporary = mkdtempSync(join(tmpdir(), "faultline-page-"));
      tracePath = join(temporary, "trace.jsonl");
    }
    try {
      return new RunRecording(tracePath, temporary, tracePath === null ? -1 : openSync(tracePath, "w"), html);
    } catch (error) {
      if (html) abandonOutput(html);
      if (temporary) rmSync(temporary, { recursive: true, force: true });
      throw temporary === null ? new OutputError(options.traceOption ?? "--trace", tracePath!, reasonOf(error)) : error;
    }
  }

  /** Whether started() has anything to do for a run under this pager. */
  watchesFrom(pager: string): boolean {
    return pager === "hpager" && this.tracePath !== null;
  }

  /** The program runs as `pid`, paged by `paging`: under hpager, with a
   * trace, watch what becomes of its predicted pages. */
  started(pid: number, paging: Mechanism | null, pager: string): void {
    const seen = seenUnder(paging);
    if (pager !== "hpager" || seen === null || this.tracePath === null) return;
    try {
      this.watch = new PredictionWatch(this.tracePath, pid, seen);
    } catch {
      // Without the trace to follow there is nothing to look for: the
      // predictions are then reported as not observed.
      this.watch = null;
    }
  }

  private stopWatching(): WatchResult | null {
    const watch = this.watch;
    this.watch = null;
    return watch ? watch.stop() : null;
  }

  /** The program has ended: add the looks to the trace, close it, make the
   * report and write the page. A page that cannot be written is a warning
   * (the run itself went as it went). */
  async finish(outcome: LaunchOutcome): Promise<{ report: RunReport; warnings: string[]; watched: WatchResult | null }> {
    this.finished = true;
    const watched = this.stopWatching();
    const warnings: string[] = [];
    try {
      if (watched && this.traceFd >= 0) {
        const lines = watched.looks.map((look) => `${lookLine(look)}\n`).join("");
        if (lines) writeSync(this.traceFd, lines);
      }
    } finally {
      if (this.traceFd >= 0) closeSync(this.traceFd);
    }
    const report = toReport(outcome, watched?.summary ?? null);
    if (this.html) {
      const warn = (error: unknown) => warnings.push(`warning: ${error instanceof Error ? error.message : String(error)}; the run itself is unaffected`);
      let page: string | null = null;
      try {
        const trace = this.tracePath === null ? null : parseTrace(readFileSync(this.tracePath, "utf8"), this.tracePath);
        page = await renderPage([{ report, trace }]);
      } catch (error) {
        warn(error);
        abandonOutput(this.html);
      }
      if (page !== null) {
        try {
          writeOutput(this.html, page);
        } catch (error) {
          warn(error);
        }
      }
    }
    this.removeTemporary();
    return { report, warnings, watched };
  }

  /** The program could not be run: undo what begin() made. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopWatching();
    if (this.traceFd >= 0) closeSync(this.traceFd);
    if (this.html) abandonOutput(this.html);
    this.removeTemporary();
  }

  private removeTemporary(): void {
    if (this.temporary) rmSync(this.temporary, { recursive: true, force: true });
  }
}
