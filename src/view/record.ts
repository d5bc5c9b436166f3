/**
 * What a run writes besides the program's own output, for the command line,
 * run() and spawn(): the report, the trace (the --trace file, or a
 * temporary one when only --html or --record needs it), the looks at
 * hpager's predicted pages taken while the program runs (appended to the
 * trace once it has ended), the --html page, and the --record profile of
 * the run's working set (made from the trace).
 *
 * Every file is claimed before the program starts, so a path that cannot
 * be written is refused with nothing run; a failure to write once the
 * program has run is a warning, never the run's outcome.
 *
 *   const recording = RunRecording.begin({ trace, html, report, record });   // may throw OutputError
 *   launch(argv, { traceFd: recording.traceFd, onFilesRead: (files) => recording.refuseInputs(files),
 *                  onStart: (pid, paging) => recording.started(pid, paging, pager) })
 *   const { report, warnings } = await recording.finish(outcome);
 *   // or, when the program could not be run: recording.abandon();
 */
import { closeSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LaunchOutcome, ReadFile } from "../loader/launch.ts";
import { toReport, type RunReport } from "../run/report.ts";
import { errnoName } from "../shim/shim.ts";
import type { Mechanism } from "../loader/spec.ts";
import { firstTouches, profileText, recordProfile, type ProfilePageName, type WorkingSetProfile } from "../paging/working-set.ts";
import { judgePredictions, predictedPages, seenUnder } from "./predictions.ts";
import { lookLine, parseTrace, type Trace } from "./trace.ts";
import { PredictionWatch, type WatchResult } from "./watch.ts";
import { OutputError, abandonOutput, claimOutput, reasonOf, renderPage, writeOutput, type ClaimedOutput } from "./write.ts";

interface RecordingOptions {
  /** The --trace file, or null. */
  trace: string | null;
  /** The --html file, or null. */
  html: string | null;
  /** The --report file, or null. */
  report?: string | null;
  /** The --record file, or null. */
  record?: string | null;
  /** The profile the run prefetches (--prefetch), whose pages it maps
   * ahead: a recording carries them into the new profile. */
  prefetched?: WorkingSetProfile | null;
  /** How the options are named in messages ("--html", "--trace",
   * "--report" and "--record" on the command line, "html", "trace",
   * "report" and "record" for run() and spawn()). */
  htmlOption?: string;
  traceOption?: string;
  reportOption?: string;
  recordOption?: string;
}

/** Where a claimed file is, as the kernel tells: "st_dev:st_ino". */
function inodeOf(fd: number): string {
  const stat = fstatSync(fd, { bigint: true });
  return `${stat.dev}:${stat.ino}`;
}

/** The roles of the files a launch reads, in words for a refusal. */
const ROLE_WORDS: Record<ReadFile["role"], string> = {
  script: "a #! script the program is run through",
  program: "the program to be run",
  interpreter: "the program's ELF interpreter",
};

export class RunRecording {
  private watch: PredictionWatch | null = null;
  private finished = false;

  private constructor(
    private readonly tracePath: string | null,
    /** A directory made for a trace only the page needs, removed at the end. */
    private readonly temporary: string | null,
    /** The --trace file as claimed (null: none, or a temporary one). */
    private readonly traceOutput: ClaimedOutput | null,
    readonly traceFd: number,
    private readonly html: ClaimedOutput | null,
    private readonly report: ClaimedOutput | null,
    private readonly record: ClaimedOutput | null,
    private readonly prefetched: WorkingSetProfile | null,
  ) {}

  /** Claim every file the run writes before the program starts: throws
   * OutputError when a path cannot be written, or when two options name
   * the same file. Nothing is emptied yet. */
  static begin(options: RecordingOptions): RunRecording {
    const claimed: ClaimedOutput[] = [];
    let temporary: string | null = null;
    try {
      const claim = (option: string, path: string | null | undefined): ClaimedOutput | null => {
        if (path === null || path === undefined) return null;
        const output = claimOutput(option, path);
        claimed.push(output);
        const inode = inodeOf(output.fd);
        const twin = claimed.find((other) => other !== output && inodeOf(other.fd) === inode);
        if (twin) throw new OutputError(option, path, `${twin.option} names the same file`);
        return output;
      };
      const report = claim(options.reportOption ?? "--report", options.report);
      const traceOutput = claim(options.traceOption ?? "--trace", options.trace);
      const html = claim(options.htmlOption ?? "--html", options.html);
      const record = claim(options.recordOption ?? "--record", options.record);
      let tracePath = options.trace;
      let traceFd = traceOutput?.fd ?? -1;
      if (tracePath === null && (html !== null || record !== null)) {
        temporary = mkdtempSync(join(tmpdir(), "faultline-page-"));
        tracePath = join(temporary, "trace.jsonl");
        traceFd = openSync(tracePath, "w");
      }
      return new RunRecording(tracePath, temporary, traceOutput, traceFd, html, report, record, options.prefetched ?? null);
    } catch (error) {
      for (const output of claimed) abandonOutput(output);
      if (temporary) rmSync(temporary, { recursive: true, force: true });
      throw error;
    }
  }

  /** The launch has read these files: refuse to write over any of them
   * (the program, a script, the interpreter), then empty the trace, which
   * is written while the program runs. Throws OutputError. */
  refuseInputs(files: readonly ReadFile[]): void {
    for (const output of [this.report, this.traceOutput, this.html, this.record]) {
      if (!output) continue;
      const inode = inodeOf(output.fd);
      const file = files.find((f) => f.inode === inode);
      if (file) throw new OutputError(output.option, output.path, `it is ${ROLE_WORDS[file.role]}`);
    }
    if (this.traceOutput && fstatSync(this.traceOutput.fd).isFile()) ftruncateSync(this.traceOutput.fd, 0);
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
   * report, and write it and the page. A file that cannot be written, now
   * or while the program ran (the trace), is a warning: the run itself went
   * as it went. */
  async finish(outcome: LaunchOutcome): Promise<{ report: RunReport; warnings: string[]; watched: WatchResult | null }> {
    this.finished = true;
    const watched = this.stopWatching();
    const warnings: string[] = [];
    const warn = (error: unknown, consequence = "") =>
      warnings.push(`warning: ${error instanceof Error ? error.message : String(error)}${consequence}; the run itself is unaffected`);
    const traceName = this.traceOutput ? { option: this.traceOutput.option, path: this.traceOutput.path } : null;
    if (traceName && outcome.delivery.traceError !== 0) {
      const code = errnoName(outcome.delivery.traceError);
      warn(new OutputError(traceName.option, traceName.path, reasonOf({ code })), ", so the trace lacks the events from then on");
    }
    try {
      if (watched && this.traceFd >= 0) {
        const lines = watched.looks.map((look) => `${lookLine(look)}\n`).join("");
        const bytes = Buffer.from(lines);
        for (let at = 0; at < bytes.length; ) at += writeSync(this.traceFd, bytes, at, bytes.length - at);
      }
    } catch (error) {
      if (traceName && outcome.delivery.traceError === 0) warn(new OutputError(traceName.option, traceName.path, reasonOf(error)), ", so the trace lacks the looks at predicted pages");
    } finally {
      if (this.traceFd >= 0) closeSync(this.traceFd);
    }
    const report = toReport(outcome, watched?.summary ?? null);
    if (this.report) {
      try {
        writeOutput(this.report, `${JSON.stringify(report, null, 2)}\n`);
      } catch (error) {
        warn(error);
      }
    }
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
    // Prefetched pages the end look saw untouched are dropped; the others
    // (touched, or not seen either way) stay.
    const unused = new Set(prefetch?.untouched ?? []);
    const addressOf = (name: ProfilePageName): number | null => {
      const region = outcome.placedRegions.find((r) => r.demand && r.role === name.role && name.linkAddress >= r.linkAddress && name.linkAddress < r.linkAddress + r.length);
      return region ? region.address + (name.linkAddress - region.linkAddress) : null;
    };
    const kept = (name: ProfilePageName) => {
      const address = addressOf(name);
      return address === null || !unused.has(address);
    };
    const carried = this.prefetched && prefetch && prefetch.refused === null ? { profile: this.prefetched, kept } : null;
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
    if (this.traceOutput) abandonOutput(this.traceOutput);
    else if (this.traceFd >= 0) closeSync(this.traceFd);
    if (this.html) abandonOutput(this.html);
    if (this.report) abandonOutput(this.report);
    if (this.record) abandonOutput(this.record);
    this.removeTemporary();
  }

  private removeTemporary(): void {
    if (this.temporary) rmSync(this.temporary, { recursive: true, force: true });
  }
}
