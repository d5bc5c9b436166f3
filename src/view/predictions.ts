/**
 * Did the program touch the pages hpager mapped by prediction? The trace
 * says which pages each fault predicted; the looks taken while the program
 * ran (src/view/watch.ts) say which of them were seen touched, and by when.
 * Judging them is pure: a page is "touched" if a look saw it so; "untouched"
 * if looks can see any touch (SIGSEGV paging) and one looked at it after it
 * was mapped without seeing a touch, up to the last look; "unknown"
 * otherwise (mapped after the last look, or under userfaultfd, where a look
 * sees writes only and the page was not written).
 */
import type { PredictionOutcome } from "../run/report-types.ts";
import type { Seen, TraceEvent, TraceLook } from "./trace.ts";

type PredictionVerdict = "touched" | "untouched" | "unknown";

/** A page mapped by prediction: by which event (its index in the trace's
 * events) and which page. */
export interface PredictedPage {
  event: number;
  page: number;
}

/** What looks can see under a paging mechanism (null: apager, no faults). */
export function seenUnder(paging: "signal" | "userfaultfd" | null): Seen | null {
  return paging === "signal" ? "touched" : paging === "userfaultfd" ? "written" : null;
}

/** The predicted pages of the events, in trace order: every page a fault
 * mapped after its faulting one. */
export function predictedPages(events: readonly Pick<TraceEvent, "kind" | "mapped">[]): PredictedPage[] {
  const pages: PredictedPage[] = [];
  events.forEach((e, event) => {
    if (e.kind !== "fault") return;
    for (let i = 1; i < e.mapped.length; i++) pages.push({ event, page: e.mapped[i]! });
  });
  return pages;
}

interface PredictionJudgement {
  /** One per predicted page, in the same order. */
  verdicts: PredictionVerdict[];
  /** The look that saw it touched (an index into the looks), else -1. */
  touchedBy: number[];
  summary: PredictionOutcome;
}

/** Judge each predicted page by the looks (see the module's comment). */
export function judgePredictions(predicted: readonly PredictedPage[], looks: readonly TraceLook[], seen: Seen): PredictionJudgement {
  // A page can be predicted more than once only when processes share the
  // trace (a program that forks); each look lists the pages it saw first.
  const sightings = new Map<number, number[]>();
  looks.forEach((look, index) => {
    for (const page of look.touched) {
      const list = sightings.get(page);
      if (list) list.push(index);
      else sightings.set(page, [index]);
    }
  });
  const complete = looks.filter((look) => look.complete);
  const lookedAfter = complete.reduce((n, look) => Math.max(n, look.events), 0);
  const verdicts: PredictionVerdict[] = [];
  const touchedBy: number[] = [];
  const counts = { touched: 0, untouched: 0, unknown: 0 };
  for (const p of predicted) {
    const sighting = sightings.get(p.page)?.find((index) => looks[index]!.events > p.event);
    const verdict: PredictionVerdict = sighting !== undefined ? "touched" : seen === "touched" && p.event < lookedAfter ? "untouched" : "unknown";
    verdicts.push(verdict);
    touchedBy.push(sighting ?? -1);
    counts[verdict]++;
  }
  const lastLookMs = complete.length > 0 ? complete[complete.length - 1]!.tMs : null;
  return {
    verdicts,
    touchedBy,
    summary: { seen, predicted: predicted.length, ...counts, looks: complete.length, lastLookMs: lastLookMs === null ? null : Math.round(lastLookMs * 1000) / 1000 },
  };
}
