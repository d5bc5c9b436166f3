/**
 * What every run under a pager sets up around its launch and finishes once
 * the program has ended, whoever asked for it: the pagers' command line
 * (src/cli/cli.ts) or spawn() (src/run/subprocess.ts, and run() through it).
 *
 *   the profile it prefetches (--prefetch), read first: one that cannot be
 *   used is a warning, and the run goes on without it; the files it writes
 *   (--trace, --html, --report, --record), claimed before the program starts
 *   (src/view/record.ts); the source-line resolver a friendly crash report
 *   asks (--friendly); the launch's options these and the pager's choices
 *   make; and, once the program has ended, the files written and what is
 *   said of them.
 *
 *   const run = PagedRun.begin(request);            // may throw OutputError
 *   launch(argv, run.prepareLaunch({ log, handover, ... }));
 *   // the program has ended: run.programEnded(); then
 *   const report = await run.finish(outcome);     // or run.abandon() when it could not run
 */
import { resolve } from "node:path";
import { startStyledSourceResolver, type SourceResolver } from "../friendly/source-resolver.ts";
import { prefetchStopped, type LaunchOptions, type LaunchOutcome, type PagerName, type PagingChoice } from "../loader/launch.ts";
import { listenForRunsAgain } from "../loader/run-again.ts";
import { pagerChoices } from "../loader/pagers.ts";
import type { Mechanism, PredictorName } from "../loader/spec.ts";
import { readProfile } from "../paging/profile-file.ts";
import type { WorkingSetProfile } from "../paging/working-set.ts";
import { RunRecording } from "../view/record.ts";
import type { RunReport } from "./report.ts";

/** A run as its asker gives it: the pager's choices and the files, by the
 * names it was given them under. */
export interface RunRequest {
  pager: PagerName;
  /** Who says the run's warnings: the pager on the command line
   * ("apager: warning: ..."), "faultline" for spawn(). */
  speaker: string;
  /** What an option's name starts with where the run names it: "--" on the
   * command line ("--trace"), nothing for spawn() ("trace"). */
  optionPrefix: "--" | "";
  /** Where the run's warnings go (a line each). */
  warn: (line: string) => void;
  /** The directory a relative file name is found from (the caller's, under
   * `bun run`); null: this process's. */
  filesFrom: string | null;
  trace: string | null;
  html: string | null;
  report: string | null;
  record: string | null;
  prefetch: string | null;
  /** A crash report names source lines (asked of this process), coloured
   * or not. */
  friendly: { colour: boolean } | null;
  predictor: PredictorName | null;
  pages: number | null;
  paging: PagingChoice | null;
  /** The program's working directory; null: this process's. */
  cwd: string | null;
  /** The program's environment; null: this process's. */
  env: Record<string, string | undefined> | null;
}

/** A run under a pager, between its set-up and its finish. */
export class PagedRun {
  private resolver: SourceResolver | null = null;

  private constructor(
    private readonly request: RunRequest,
    private readonly profile: WorkingSetProfile | null,
    private readonly recording: RunRecording,
  ) {}

  /** Read the profile to prefetch and claim the files the run writes:
   * throws OutputError, with nothing claimed, when one cannot be written. */
  static begin(request: RunRequest): PagedRun {
    const found = (path: string | null) => (path === null || request.filesFrom === null ? path : resolve(request.filesFrom, path));
    const reading = request.prefetch === null ? null : readProfile(found(request.prefetch)!);
    if (reading?.problem) warnPrefetch(request, reading.problem);
    const profile = reading?.profile ?? null;
    const option = (name: string) => `${request.optionPrefix}${name}`;
    const recording = RunRecording.begin({
      trace: found(request.trace),
      html: found(request.html),
      report: found(request.report),
      record: found(request.record),
      prefetched: profile,
      traceOption: option("trace"),
      htmlOption: option("html"),
      reportOption: option("report"),
      recordOption: option("record"),
    });
    return new PagedRun(request, profile, recording);
  }

  /** The launch's options: the run's own, then `own` (the asker's: how it
   * logs, what the program is handed, its callbacks). Starts the source-line
   * resolver for a friendly run; from now on a program that runs itself
   * again through /proc/self/exe is run again from here, where that link
   * names the loader. */
  prepareLaunch(own: LaunchOptions): LaunchOptions {
    const { request, profile, recording } = this;
    if (request.friendly) this.resolver = startStyledSourceResolver(request.friendly);
    const resolver = this.resolver;
    const env = resolver ? resolver.environment(request.env ?? process.env) : request.env;
    listenForRunsAgain();
    return {
      pager: request.pager,
      traceFd: recording.traceFd,
      ...pagerChoices(request),
      ...(profile ? { prefetch: { profile, path: request.prefetch!, onRefused: (reason: string) => warnPrefetch(request, `made for other files: ${reason}`) } } : {}),
      ...(request.record !== null ? { record: true } : {}),
      ...(request.cwd !== null ? { cwd: request.cwd } : {}),
      ...(env !== null ? { env } : {}),
      ...(resolver ? { friendly: true } : {}),
      // An output that is one of the files run is refused.
      onFilesRead: (files) => recording.refuseInputs(files),
      ...own,
      onStart: (pid: number, paging: Mechanism | null) => {
        own.onStart?.(pid, paging);
        recording.started(pid, paging, request.pager);
      },
    };
  }

  /** The program has ended: no crash report asks for source lines any more. */
  programEnded(): void {
    this.resolver?.stop();
    this.resolver = null;
  }

  /** The program could not be run, or its run failed: the files claimed for
   * it are left as they were. */
  abandon(): void {
    this.programEnded();
    this.recording.abandon();
  }

  /** Write the files the run writes, saying what could not be written and
   * why a prefetch stopped; the run's report. */
  async finish(outcome: LaunchOutcome): Promise<RunReport> {
    const { speaker, optionPrefix, prefetch, warn } = this.request;
    const { report, warnings } = await this.recording.finish(outcome);
    for (const warning of warnings) warn(`${speaker}: ${warning}`);
    prefetchStopped(outcome, warn, `${speaker}: warning: ${optionPrefix}prefetch ${prefetch}`);
    return report;
  }
}

/** A profile to prefetch that cannot be used, said (even under --quiet). */
function warnPrefetch(request: RunRequest, problem: string): void {
  request.warn(`${request.speaker}: warning: ${request.optionPrefix}prefetch ${request.prefetch}: ${problem}; running without it`);
}
