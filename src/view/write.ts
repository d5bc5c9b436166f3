/**
 * Making the page file: the effects around the pure model and page. The
 * page's script is bundled from src/view/client with Bun's bundler (once
 * per process); the output file is claimed before the program starts, so a
 * path that cannot be written is refused before anything runs, and written
 * once the run has ended.
 */
import { closeSync, constants as fsConstants, existsSync, fstatSync, ftruncateSync, openSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { buildRunView, type ReportInput } from "./model.ts";
import { pageHtml } from "./page.ts";
import type { Trace } from "./trace.ts";

let bundled: Promise<string> | null = null;

/** The page's script, bundled and minified for the browser. */
export function pageScript(): Promise<string> {
  bundled ??= (async () => {
    const result = await Bun.build({ entrypoints: [join(import.meta.dir, "client", "main.ts")], target: "browser", format: "iife", minify: true });
    if (!result.success || result.outputs.length !== 1) throw new Error(`bundling the page's script failed: ${result.logs.map(String).join("; ")}`);
    return result.outputs[0]!.text();
  })();
  return bundled;
}

/** One run for the page: its report and, for a demand-paged run, its trace. */
interface RunData {
  report: ReportInput;
  trace: Trace | null;
}

/** The page for these runs (one, or two side by side). */
export async function renderPage(runs: readonly RunData[]): Promise<string> {
  const views = runs.map((r) => buildRunView(r.report, r.trace));
  return pageHtml({ runs: views, faultline: packageJson.version, made: new Date().toISOString() }, await pageScript());
}

/** An output file that cannot be written, named by its option. */
export class OutputError extends Error {
  override name = "OutputError";
  constructor(
    readonly option: string,
    readonly path: string,
    reason: string,
  ) {
    super(`${option} ${path}: cannot write: ${reason}`);
  }
}

const REASONS: Record<string, string> = {
  ENOENT: "no such directory",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  ETXTBSY: "the file is a running program",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many levels of symbolic links",
  ENXIO: "no process has the FIFO open for reading",
  EFBIG: "the file would be too large",
  EIO: "input/output error",
  EPIPE: "the reading end is closed",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EINVAL: "the file takes no such writes",
};

/** Why a file could not be opened or written, in words and errno (an
 * error with a `code`, as Node's are). */
export function reasonOf(error: unknown): string {
  const code = (error as { code?: string }).code;
  return code ? `${REASONS[code] ?? "error"} (${code})` : error instanceof Error ? error.message : String(error);
}

/** A file the run will write, open since before the program started. */
export interface ClaimedOutput {
  option: string;
  path: string;
  fd: number;
  /** It did not exist before: removed again if nothing is written. */
  created: boolean;
}

/** Open `path` for writing now, without truncating it yet (a run that
 * cannot be loaded leaves an existing file as it was). A FIFO nobody reads
 * is refused rather than waited on: opening it would block until a reader
 * came, before the program even started. */
export function claimOutput(option: string, path: string): ClaimedOutput {
  const created = !existsSync(path);
  try {
    if (!created && statSync(path).isFIFO()) closeSync(openSync(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    return { option, path, fd: openSync(path, "a"), created };
  } catch (error) {
    // ENOENT where the directory is there: a file system that makes no
    // files (/proc, /sys), or a dangling symbolic link.
    const code = (error as { code?: string }).code;
    if (code === "ENOENT" && existsSync(dirname(path))) throw new OutputError(option, path, "the file cannot be created there (ENOENT)");
    throw new OutputError(option, path, reasonOf(error));
  }
}

/** Replace the claimed file's contents with `text` and close it. */
export function writeOutput(output: ClaimedOutput, text: string): void {
  try {
    // A regular file is emptied first; a device or pipe is just written.
    if (fstatSync(output.fd).isFile()) ftruncateSync(output.fd, 0);
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; ) at += writeSync(output.fd, bytes, at, bytes.length - at);
  } catch (error) {
    throw new OutputError(output.option, output.path, reasonOf(error));
  } finally {
    closeSync(output.fd);
  }
}

/** Give the file up unwritten (the program could not be run): one the
 * claim created is removed. */
export function abandonOutput(output: ClaimedOutput): void {
  closeSync(output.fd);
  if (output.created) {
    try {
      unlinkSync(output.path);
    } catch {
      // Already gone: nothing to undo.
    }
  }
}
