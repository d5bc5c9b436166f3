/**
 * The report of one run: what `--report FILE` writes and `run()` resolves to.
 */
import { hex } from "../loader/errors.ts";
import { protString, type LaunchOutcome, type Mapping } from "../loader/launch.ts";
import { PROT_EXEC, PROT_WRITE } from "../loader/plan.ts";
import type { PrefetchSeen, PrefetchUse } from "../paging/working-set.ts";
import type { PredictionOutcome, ReportRegion } from "./report-types.ts";

export type { PredictionOutcome, ReportRegion } from "./report-types.ts";

/** What became of a --prefetch profile in a run: used or refused, how
 * much of it this run mapped ahead, and what the program did with it. */
export interface PrefetchReport extends PrefetchUse {
  /** What could be seen of the prefetched pages once the program had ended
   * (docs/pagers.md, Learned working sets): "touched" (any touch shows), "written" (only
   * writes show), or null (no look could be taken). */
  seen: PrefetchSeen | null;
  /** Prefetched pages seen touched (or written); seen not touched (waste);
   * neither. */
  touched: number;
  wasted: number;
  unknown: number;
}

/** The outcome as written out: the mappings counted, not listed; the signal
 * by name only; the unseen-fault explanation kept among the differences.
 * `regions` lists the plan; `predictions` is set for hpager runs that were
 * traced (--trace or --html), null otherwise. */
export type RunReport = Omit<LaunchOutcome, "signalNumber" | "mappings" | "unseenFault" | "pagerFailure" | "delivery" | "prefetch" | "placedRegions" | "images" | "usage"> & {
  mappings: number;
  regions: ReportRegion[];
  predictions: PredictionOutcome | null;
  /** Prefetched pages the program did not touch, where that could be seen
   * (null: no --prefetch, or nothing could be seen). */
  prefetchWasted: number | null;
  prefetch: PrefetchReport | null;
};


/** The last component of a path, as the mapping log's bss(...) names it. */
function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** What a mapping holds, from its source and protection. */
function regionRole(m: Mapping): string {
  if (m.source === "anon=stack") return "stack";
  const bss = /^anon=bss\((.*)\)$/.exec(m.source);
  if (bss) return `${bss[1]} bss`;
  const image = baseName(m.source.replace(/^file=/, ""));
  const role = m.prot & PROT_WRITE ? "data" : m.prot & PROT_EXEC ? "text" : "read-only";
  return `${image} ${role}`;
}

/** The plan's regions with names (see ReportRegion.name). */
export function reportRegions(mappings: readonly Mapping[]): ReportRegion[] {
  const seen = new Map<string, number>();
  return mappings.map((m) => {
    const role = regionRole(m);
    const count = (seen.get(role) ?? 0) + 1;
    seen.set(role, count);
    return {
      name: count === 1 ? role : `${role} (${count})`,
      start: hex(m.address),
      size: m.size,
      prot: protString(m.prot),
      source: m.source,
      offset: m.offset,
      demand: m.demand,
    };
  });
}

/** The prefetch's part of the report: what the outcome says, and what the
 * end look saw of the pages (nothing, without one). */
function prefetchReport(outcome: LaunchOutcome): PrefetchReport | null {
  const p = outcome.prefetch;
  if (!p) return null;
  const seen = p.seen;
  const touched = p.touched;
  const wasted = p.untouched.length;
  return {
    profile: p.profile,
    refused: p.refused,
    profilePages: p.profilePages,
    planned: p.planned,
    skipped: p.skipped,
    runs: p.runs,
    error: p.error,
    seen,
    touched,
    wasted,
    unknown: outcome.prefetched - touched - wasted,
  };
}

export function toReport(outcome: LaunchOutcome, predictions: PredictionOutcome | null = null): RunReport {
  const { signalNumber: _signalNumber, mappings, differences, unseenFault: _unseenFault, pagerFailure: _pagerFailure, delivery: _delivery, prefetch: _prefetch, placedRegions: _placed, images: _images, usage: _usage, ...figures } = outcome;
  const prefetch = prefetchReport(outcome);
  return {
    ...figures,
    wallMs: Math.round(outcome.wallMs * 1000) / 1000,
    mappings: mappings.length,
    differences,
    regions: reportRegions(mappings),
    predictions,
    // Waste shows only where any touch does (SIGSEGV paging).
    prefetchWasted: prefetch && prefetch.seen === "touched" ? prefetch.wasted : null,
    prefetch,
  };
}
