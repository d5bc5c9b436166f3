/**
 * What a run writes besides its report, for the command line and run():
 * the trace (the --trace file, or a temporary one when only --html or
 * --record needs it), the looks at hpager's predicted pages taken while the
 * program runs (appended to the trace once it has ended), the --html page,
 * and the --record profile of the run's working set (made from the trace).
 *
 *   const recording = RunRecording.begin({ trace, html, record });   // before the launch: may throw OutputError
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
import { firstTouches, profileText, recordProfile, type WorkingSetProfile } from "../working-set.ts";
import { judgePredictions, predictedPages, seenUnder } from "./predictions.ts";
import { lookLine, parseTrace, type Trace } from "./trace.ts";
import { PredictionWatch, type WatchResult } from "./watch.ts";
import { OutputError, abandonOutput, claimOutput, reasonOf, renderPage, writeOutput, type ClaimedOutput } from "./write.ts";

export interface RecordingOptions {
  /** The --trace file, or null. */
  trace: string | null;
  /** The --html file, or null. */
  html: string | null;
  /** The --record file, or null. */
  record?: string | null;
  /** The profile the run prefetches (--prefetch), whose pages it maps
   * ahead: a recording carries them into the new profile. */
  prefetched?: WorkingSetProfile | null;
  /** How the options are named in messages ("--html", "--trace" and
   * "--record" on the command line, "html", "trace" and "record" for run()). */
  htmlOption?: string;
  traceOption?: string;
  recordOption?: string;
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
    private readonly record: ClaimedOutput | null,
    private readonly prefetched: WorkingSetProfile | null,
  ) {}

  /** Claim the page's file and open the trace, before the program starts:
   * throws OutputError when either path cannot be written. */
  static begin(options: RecordingOptions): RunRecording {
    const html = options.html === null ? null : claimOutput(options.htmlOption ?? "--html", options.html);
    let record: ClaimedOutput | null = null;
    try {
      record = options.record ? claimOutput(options.recordOption ?? "--record", options.record) : null;
    } catch (error) {
      if (html) abandonOutput(html);
      throw error;
    }
    let temporary: string | null = null;
    let tracePath = options.trace;
    if (tracePath === null && (html !== null || record !== null)) {
      temporary = mkdtempSync(join(tmpdir(), "faultline-page-"));
      tracePath = join(temporary, "trace.jsonl");
    }
    try {
      return new RunRecording(tracePath, temporary, tracePath === null ? -1 : openSync(tracePath, "w"), html, record, options.prefetched ?? null);
    } catch (error) {
      if (html) abandonOutput(html);
      if (record) abandonOutput(record);
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
    const warn = (error: unknown) => warnings.push(`warning: ${error instanceof Error ? error.message : String(error)}; the run itself is unaffected`);
    let trace: Trace | null = null;
    const readTrace = (): Trace | null => (trace ??= this.tracePath === null ? null : parseTrace(readFileSync(this.tracePath, "utf8"), this.tracePath));
    if (this.record) {
      let text: string | null = null;
      try {
        text = profileText(this.profileOf(outcome, readTrace()));
      } catch (error) {
        warn(error);
        abandonOutput(this.record);
      }
      if (text !== null) {
        try {
          writeOutput(this.record, text);
        } catch (error) {
          warn(error);
        }
      }
    }
    if (this.html) {
      let page: string | null = null;
      try {
        page = await renderPage([{ report, trace: readTrace() }]);
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

  /**
   * The run's working set as a profile: the pages its trace shows first
   * touched (the start page, each fault's page), with hpager's predicted
   * pages unless a look saw them go untouched, and, when it prefetched, the
   * profile's pages it mapped ahead (their touches are never faults: they
   * stay, at their earlier time).
   */
  private profileOf(outcome: LaunchOutcome, trace: Trace | null): WorkingSetProfile {
    if (trace === null) throw new Error("no trace of the run to record its working set from");
    const seen = seenUnder(outcome.paging);
    const predicted = predictedPages(trace.events);
    const untouched = new Set<number>();
    if (seen && predicted.length > 0) {
      const { verdicts } = judgePredictions(predicted, trace.looks, seen);
      predicted.forEach((p, i) => {
        if (verdicts[i] === "untouched") untouched.add(p.page);
      });
    }
    const touches = firstTouches(trace.events, (page) => !untouched.has(page));
    const prefetch = outcome.prefetch;
    const carried = this.prefetched && prefetch && prefetch.refused === null ? { profile: this.prefetched, kept: () => true } : null;
    return recordProfile({
      origin: {
        pager: outcome.pager,
        paging: outcome.paging,
        argv: outcome.argv,
        date: new Date().toISOString(),
        runs: carried ? this.prefetched!.origin.runs + 1 : 1,
      },
      images: outcome.images,
      regions: outcome.placedRegions,
      touches,
      carried,
    });
  }

  /** The program could not be run: undo what begin() made. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    this.stopWatching();
    if (this.traceFd >= 0) closeSync(this.traceFd);
    if (this.html) abandonOutput(this.html);
    if (this.record) abandonOutput(this.record);
    this.removeTemporary();
  }

  private removeTemporary(): void {
    if (this.temporary) rmSync(this.temporary, { recursive: true, force: true });
  }
}
