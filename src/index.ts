/**
 * faultline's scripting API for Bun.
 *
 *   import { run } from "faultline";
 *   const report = await run(["/bin/ls", "-l"], { pager: "apager", quiet: true });
 *   console.log(report.exitCode, report.maxRssKiB);
 */
import { writeFileSync } from "node:fs";
import { launch, type PagerName } from "./launch.ts";
import { toReport, type RunReport } from "./report.ts";

export { LoadError, UsageError, EXIT_CANNOT_RUN, EXIT_NOT_FOUND } from "./errors.ts";
export type { PagerName } from "./launch.ts";
export type { RunReport } from "./report.ts";

export interface RunOptions {
  /** "apager" (default), "dpager" or "hpager". */
  pager?: PagerName;
  /** Do not log mappings (by default they go to stderr, as with the CLI). */
  quiet?: boolean;
  /** Also write the report as JSON to this file. */
  report?: string;
  /** The program's environment (default: this process's). */
  env?: Record<string, string | undefined>;
  /** Receives each mapping line instead of stderr. */
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
  const outcome = await launch(argv, {
    pager: options.pager ?? "apager",
    log,
    ...(options.env ? { env: options.env } : {}),
    ...(options.onStart ? { onStart: options.onStart } : {}),
  });
  const report = toReport(outcome);
  if (options.report) writeFileSync(options.report, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
