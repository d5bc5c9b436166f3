/**
 * The report of one run: what `--report FILE` writes and `run()` resolves to.
 */
import type { LaunchOutcome } from "./launch.ts";

/** The outcome as written out: the mappings counted, not listed; the signal
 * by name only; the unseen-fault explanation kept among the differences. */
export type RunReport = Omit<LaunchOutcome, "signalNumber" | "mappings" | "unseenFault"> & { mappings: number };

export function toReport(outcome: LaunchOutcome): RunReport {
  const { signalNumber: _signalNumber, mappings, differences, unseenFault: _unseenFault, ...figures } = outcome;
  return { ...figures, wallMs: Math.round(outcome.wallMs * 1000) / 1000, mappings: mappings.length, differences };
}
