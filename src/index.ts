/**
 * faultline's scripting API for Bun.
 *
 *   import { run } from "faultline";
 *   const report = await run(["/bin/ls", "-l"], { pager: "apager", quiet: true });
 *   console.log(report.exitCode, report.maxRssKiB);
 */
import { writeFileSync } from "node:fs";
import { UsageError } from "./errors.ts";
import { launch, prefetchStopped, type PagerName, type PagingChoice } from "./launch.ts";
import { readProfile } from "./profile-file.ts";
import type { Mechanism } from "./spec.ts";
import type { PredictorName } from "./spec.ts";
import type { RunReport } from "./report.ts";
import { startSourceResolver } from "./source-resolver.ts";
import { RunRecording } from "./view/record.ts";

export { LoadError, UsageError, EXIT_CANNOT_RUN, EXIT_NOT_FOUND } from "./errors.ts";
/** Friendly segfaults: the library's path (built on first use), and an
 * environment that preloads it, for Bun.spawn. */
export { ensureFriendlyLibrary } from "./shim-build.ts";
export { friendlyEnvironment } from "./friendly-options.ts";
/** Source lines in friendly crash reports: a resolver to run while the
 * program does; add its environment() to the program's. */
export { startSourceResolver, type SourceResolver } from "./source-resolver.ts";
export type { PagerName, PagingChoice } from "./launch.ts";
export { prestartLoaders } from "./launch.ts";
export type { PredictorName } from "./spec.ts";
export type { RunReport, ReportRegion, PredictionOutcome } from "./report.ts";
export { OutputError } from "./view/write.ts";
export {
  allocChunk,
  copyEager,
  copyLazy,
  freeChunk,
  detachChunk,
  makeWritable,
  chunkHandle,
  attachChunk,
  isChunk,
  chunkStats,
  ChunkError,
  ChunkLimitError,
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  CHUNK_PAGE_SIZE,
} from "./chunks.ts";
export type { Chunk, ChunkOptions, ChunkHandle, ChunkStats, ChunkLimit, SplitGranularity } from "./chunks.ts";

export interface RunOptions {
  /** "apager" (default), "dpager" or "hpager". */
  pager?: PagerName;
  /** A genuine segfault ends with a friendly message and a diagnosis. */
  friendly?: boolean;
  /** dpager, hpager: "auto" (default), "userfaultfd" or "signal". */
  paging?: PagingChoice;
  /** hpager: "next" (default), "stride" or "readahead". */
  predictor?: PredictorName;
  /** hpager: pages each fault maps, the faulting one included (default 2). */
  pages?: number;
  /** Write every page fault as one JSON line to this file (opened before
   * the program starts: run() rejects with an OutputError if it cannot be
   * written). */
  trace?: string;
  /** Write a page of the run to this file (see --html): checked before the
   * program starts (run() rejects with an OutputError if it cannot be
   * written); a failure to write it afterwards is one warning line. */
  html?: string;
  /** dpager, hpager: write the run's working set (every page it first
   * touched, in order) to this file, as a profile for `prefetch` (checked
   * before the program starts, like `html`). */
  record?: string;
  /** dpager, hpager: map the working set recorded in this file before the
   * program needs it. A file that cannot be used (none yet, or made for
   * other files) is one warning line, and the run goes on without it. */
  prefetch?: string;
  /** Do not log mappings (by default they go to stderr, as with the CLI). */
  quiet?: boolean;
  /** Also write the report as JSON to this file. */
  report?: string;
  /** The program's environment (default: this process's). */
  env?: Record<string, string | undefined>;
  /** Receives each mapping line made at start instead of stderr (mappings
   * made on demand are logged to stderr by the shim, unless quiet). */
  log?: (line: string) => void;
  /** Called with the program's pid once it runs (to signal it, say). */
  onStart?: (pid: number) => void;
}

/**
 * Run argv[0] with arguments argv.slice(1) under a pager. Resolves when the
 * program has ended, without blocking the event loop meanwhile; rejects with
 * a LoadError (exitCode 127 or 126) when it cannot be run.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunReport> {
  const log = options.quiet ? null : (options.log ?? ((line: string) => process.stderr.write(`${line}\n`)));
  const pager = options.pager ?? "apager";
  const warn = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (pager === "apager" && (options.record !== undefined || options.prefetch !== undefined)) {
    throw new UsageError("record and prefetch apply to dpager and hpager, not apager (it maps every page at start)");
  }
  const prefetchWarning = (problem: string) => warn(`faultline: warning: prefetch ${options.prefetch}: ${problem}; running without it`);
  const reading = options.prefetch === undefined ? null : readProfile(options.prefetch);
  if (reading?.problem) prefetchWarning(reading.problem);
  const profile = reading?.profile ?? null;
  const recording = RunRecording.begin({
    trace: options.trace ?? null,
    html: options.html ?? null,
    record: options.record ?? null,
    prefetched: profile,
    htmlOption: "html",
    traceOption: "trace",
    recordOption: "record",
  });
  // friendly: a crash report names source lines, asked of this process.
  const resolver = options.friendly ? startSourceResolver() : null;
  let outcome;
  try {
    outcome = await launch(argv, {
      pager,
      log,
      traceFd: recording.traceFd,
      ...(options.predictor ? { predictor: options.predictor } : {}),
      ...(options.pages ? { pages: options.pages } : {}),
      ...(options.paging ? { paging: options.paging } : {}),
      ...(options.friendly ? { friendly: true } : {}),
      ...(profile ? { prefetch: { profile, path: options.prefetch!, onRefused: (reason: string) => prefetchWarning(`made for other files: ${reason}`) } } : {}),
      ...(options.record ? { record: true } : {}),
      ...(options.env || resolver ? { env: resolver ? resolver.environment(options.env ?? process.env) : options.env } : {}),
      // Knowing the pid as soon as the program exists costs a notice: only
      // when someone needs it.
      ...(options.onStart || recording.watchesFrom(pager)
        ? {
            onStart: (pid: number, paging: Mechanism | null) => {
              recording.started(pid, paging, pager);
              options.onStart?.(pid);
            },
          }
        : {}),
    });
  } catch (error) {
    recording.abandon();
    throw error;
  } finally {
    resolver?.stop();
  }
  const { report, warnings } = await recording.finish(outcome);
  for (const warning of warnings) warn(`faultline: ${warning}`);
  prefetchStopped(outcome, warn, `faultline: warning: prefetch ${options.prefetch}`);
  if (options.report) writeFileSync(options.report, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
