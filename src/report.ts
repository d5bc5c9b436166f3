/**
 * The report of one run: what `--report FILE` writes and `run()` resolves to.
 */
import type { LaunchOutcome } from "./launch.ts";

export interface RunReport {
  pager: LaunchOutcome["pager"];
  /** How demand faults were caught ("userfaultfd" or "signal"); null for apager. */
  paging: LaunchOutcome["paging"];
  /** hpager's predictor and pages per fault ("none" and 1 otherwise). */
  predictor: LaunchOutcome["predictor"];
  pages: number;
  program: string;
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  coreDumped: boolean;
  faults: number;
  pagesMapped: number;
  wallMs: number;
  /** The program's own peak resident set, in KiB (Bun's memory excluded). */
  maxRssKiB: number;
  userMs: number;
  systemMs: number;
  mappings: number;
  differences: string[];
}

export function toReport(outcome: LaunchOutcome): RunReport {
  return {
    pager: outcome.pager,
    paging: outcome.paging,
    predictor: outcome.predictor,
    pages: outcome.pages,
    program: outcome.program,
    argv: outcome.argv,
    exitCode: outcome.exitCode,
    signal: outcome.signal,
    coreDumped: outcome.coreDumped,
    faults: outcome.faults,
    pagesMapped: outcome.pagesMapped,
    wallMs: Math.round(outcome.wallMs * 1000) / 1000,
    maxRssKiB: outcome.maxRssKiB,
    userMs: outcome.userMs,
    systemMs: outcome.systemMs,
    mappings: outcome.mappings.length,
    differences: outcome.differences,
  };
}
