/**
 * faultline's scripting API for Bun.
 *
 *   import { run, spawn } from "faultline";
 *   const report = await run(["/bin/ls", "-l"], { pager: "apager" });
 *   console.log(report.exitCode, report.maxRssKiB);
 *
 *   const proc = spawn(["/bin/ls", "-l"], { pager: "dpager", onFault: (f) => console.error(f.address) });
 *   const listing = await new Response(proc.stdout).text();
 *   console.log(await proc.exited, (await proc.report).faults);
 */
import type { RunReport } from "./run/report.ts";
import type { EventOptions, PagerOptions, ProcessOptions } from "./run/spawn-options.ts";
import { spawn } from "./run/subprocess.ts";

export { spawn, type Subprocess, type StdinHandle, type OutputHandle } from "./run/subprocess.ts";
export type { SpawnOptions, PagerOptions, ProcessOptions, EventOptions, StdinOption, OutputOption } from "./run/spawn-options.ts";
export type { FaultEvent, MappingEvent, MappingCause, PredictorDecision, Protection } from "./run/events.ts";
export { pagesMappedBy } from "./run/events.ts";
export { LoadError, UsageError, EXIT_CANNOT_RUN, EXIT_NOT_FOUND, type Errno, type KernelVerdict } from "./loader/errors.ts";
/** Friendly crash reports: the library's path (built on first use), and an
 * environment that preloads it, for Bun.spawn. */
export { ensureFriendlyLibrary } from "./shim/shim-build.ts";
export { friendlyEnvironment } from "./friendly/friendly-options.ts";
/** Source lines in friendly crash reports: a resolver to run while the
 * program does; add its environment() to the program's. */
export { startSourceResolver, type SourceResolver } from "./friendly/source-resolver.ts";
export type { PagerName, PagingChoice } from "./loader/launch.ts";
export { prestartLoaders } from "./loader/launch.ts";
export type { PredictorName } from "./loader/spec.ts";
export type { RunReport, ReportRegion, PredictionOutcome } from "./run/report.ts";
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
} from "./chunks/chunks.ts";
export type { Chunk, ChunkOptions, ChunkHandle, ChunkStats, ChunkLimit, SplitGranularity } from "./chunks/chunks.ts";

/** run()'s options: the pagers', the process's (as Bun.spawn's, without
 * the standard streams: the program has this process's), and the live
 * event callbacks. */
export interface RunOptions extends PagerOptions, ProcessOptions, EventOptions {
  /** Called with the program's pid once it exists (to signal it, say). */
  onStart?: (pid: number) => void;
}

/**
 * Run argv[0] with arguments argv.slice(1) under a pager, with this
 * process's standard input, output and error. Resolves when the program has
 * ended, without blocking the event loop meanwhile, to its report; rejects
 * with a LoadError (exitCode 127 or 126) when it cannot be run, an
 * OutputError when a file the run writes cannot be written, a TypeError or
 * RangeError naming an option that is wrong. spawn() with every stream
 * "inherit", awaited.
 */
export async function run(argv: readonly string[], options: RunOptions = {}): Promise<RunReport> {
  const { onStart, ...rest } = options;
  const proc = spawn(argv, { ...rest, stdin: "inherit", stdout: "inherit", stderr: "inherit" });
  try {
    onStart?.(proc.pid);
  } catch (error) {
    // The program runs all the same: it is waited for, then this rejects.
    await proc.exited.catch(() => {});
    throw error;
  }
  return proc.report;
}
