/**
 * The page's data: a run's report and trace turned into what the page
 * shows — the summary, the plan's regions and how much of each got mapped,
 * one mark per page mapped after the start (a demand fault's page, or a
 * page mapped by prediction) and the predictor's record. Pure: text in,
 * plain data out, embedded in the page as JSON.
 *
 * Marks are stored column by column (one array per field), which keeps the
 * JSON of 100 000 faults to a few megabytes and lets the page walk them
 * with typed arrays.
 */
import type { PredictionOutcome, ReportRegion } from "../run/report-types.ts";
import { judgePredictions, predictedPages, seenUnder } from "./predictions.ts";
import type { Trace } from "./trace.ts";

export const PAGE_SIZE = 4096;

/** Why a page was mapped after the start: the entry point's page, a fault,
 * a prediction. */
export const CAUSE_START = 0;
export const CAUSE_FAULT = 1;
export const CAUSE_PREDICTED = 2;

/** What became of a predicted page. Codes index VERDICTS ("" for marks
 * that were not predicted). */
export const VERDICTS = ["", "touched", "untouched", "unknown"] as const;

/** A region of the plan as the page shows it. */
interface RegionView extends ReportRegion {
  /** First address, as a number (exact: user addresses are below 2^47). */
  base: number;
  pages: number;
  /** Pages mapped by the end: all of them unless demand-paged, else those
   * the trace shows mapped. */
  mappedPages: number;
  /** Mapped at start (not demand-paged): no marks of its own. */
  atStart: boolean;
}

/** Every trace event, one entry per field. */
interface Events {
  /** ms since the pager started waiting for the program. */
  t: number[];
  /** For a fault, the faulting address's offset in its page; -1 for the start. */
  offset: number[];
  /** The predictor's decision: an index into RunView.decisionNames. */
  decision: number[];
}

/** Every page mapped after the start, in trace order, one entry per field. */
interface Marks {
  /** The trace event that mapped it (index into RunView.events). */
  event: number[];
  /** Index into RunView.regions. */
  region: number[];
  /** The page's index in its region. */
  page: number[];
  /** CAUSE_START, CAUSE_FAULT or CAUSE_PREDICTED. */
  cause: number[];
  /** Index into VERDICTS (predicted pages; 0 otherwise). */
  verdict: number[];
  /** For a predicted page seen touched: the look that saw it (index into
   * RunView.lookTimes); -1 otherwise. */
  look: number[];
}

interface RunSummary {
  program: string;
  argv: string[];
  pager: string;
  /** "userfaultfd", "signal", or "none" (apager). */
  mechanism: string;
  /** "next 2" (hpager's predictor and pages per fault) or "none". */
  predictor: string;
  /** "0", "exit 3", "SIGSEGV (core dumped)". */
  exit: string;
  faults: number;
  pagesMapped: number;
  wallMs: number;
  maxRssKiB: number;
}

export interface RunView {
  title: string;
  summary: RunSummary;
  regions: RegionView[];
  events: Events;
  marks: Marks;
  decisionNames: string[];
  /** When each look at predicted pages was taken, ms. */
  lookTimes: number[];
  /** Pages mapped before the first event: every region mapped at start. */
  pagesAtStart: number;
  predictions: PredictionOutcome | null;
  /** Things the reader should know: differences from a native run, and
   * where the trace and the report disagree. */
  notes: string[];
}

/** The report's fields the page reads: a ReportInput (src/run/report.ts) is one. */
export interface ReportInput {
  pager: string;
  paging: "signal" | "userfaultfd" | null;
  predictor: string;
  pages: number;
  program: string;
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  coreDumped: boolean;
  faults: number;
  pagesMapped: number;
  wallMs: number;
  maxRssKiB: number;
  differences: string[];
  regions: ReportRegion[];
  predictions: PredictionOutcome | null;
}

/** What a page holds: the runs it shows, side by side. */
export interface PageData {
  runs: RunView[];
  /** faultline's version and when the page was made (ISO 8601). */
  faultline: string;
  made: string;
}

/** The time of every mark: its event's. */
export function markTimes(view: Pick<RunView, "events" | "marks">): Float64Array {
  const { event } = view.marks;
  const times = new Float64Array(event.length);
  for (let i = 0; i < event.length; i++) times[i] = view.events.t[event[i]!]!;
  return times;
}

/** A report or trace that cannot be shown, with why. */
export class RunDataError extends Error {
  override name = "RunDataError";
}

function exitText(report: ReportInput): string {
  if (report.signal !== null) return `${report.signal}${report.coreDumped ? " (core dumped)" : ""}`;
  return report.exitCode === 0 ? "0" : `exit ${report.exitCode}`;
}

/** Read a --report file's JSON, checking it has what the page needs. */
export function parseReport(text: string, name = "report"): ReportInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RunDataError(`${name}: not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new RunDataError(`${name}: not a report (a JSON object)`);
  const report = value as Partial<ReportInput>;
  for (const field of ["pager", "program", "faults", "pagesMapped", "wallMs", "maxRssKiB"] as const) {
    if (report[field] === undefined) throw new RunDataError(`${name}: not a faultline report (no ${field})`);
  }
  if (!Array.isArray(report.regions)) throw new RunDataError(`${name}: no regions (made by a faultline before 0.2? run the program again)`);
  for (const r of report.regions) {
    if (typeof r?.start !== "string" || !Number.isSafeInteger(Number(r.start)) || typeof r.size !== "number" || r.size <= 0 || r.size % PAGE_SIZE !== 0) {
      throw new RunDataError(`${name}: a region without a page-aligned start and size`);
    }
  }
  return { argv: [], paging: null, predictor: "none", pages: 1, exitCode: null, signal: null, coreDumped: false, differences: [], predictions: null, ...report } as ReportInput;
}

/** Index of the region holding address, or -1; regions sorted by base. */
function regionOf(sorted: readonly RegionView[], order: readonly number[], address: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = sorted[mid]!;
    if (address < r.base) hi = mid - 1;
    else if (address >= r.base + r.size) lo = mid + 1;
    else return order[mid]!;
  }
  return -1;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/**
 * The page's view of one run. `trace` is null for a run without one
 * (apager resolves no faults; dpager and hpager without --trace): the
 * regions are then shown with what the report knows.
 */
export function buildRunView(report: ReportInput, trace: Trace | null): RunView {
  const regions: RegionView[] = report.regions.map((r) => ({
    ...r,
    base: Number(r.start),
    pages: r.size / PAGE_SIZE,
    mappedPages: r.demand ? 0 : r.size / PAGE_SIZE,
    atStart: !r.demand,
  }));
  const order = regions.map((_, i) => i).sort((a, b) => regions[a]!.base - regions[b]!.base);
  const sorted = order.map((i) => regions[i]!);
  const notes = [...report.differences];
  const events: Events = { t: [], offset: [], decision: [] };
  const marks: Marks = { event: [], region: [], page: [], cause: [], verdict: [], look: [] };
  const decisionNames: string[] = [];
  const lookTimes = trace ? trace.looks.map((look) => round3(look.tMs)) : [];
  let predictions: PredictionOutcome | null = report.predictions ?? null;

  if (trace) {
    const seen = seenUnder(report.paging);
    const predicted = predictedPages(trace.events);
    const judged = seen && predicted.length > 0 ? judgePredictions(predicted, trace.looks, seen) : null;
    if (judged && trace.looks.length > 0) {
      const agree = predictions === null || (["predicted", "touched", "untouched", "unknown"] as const).every((k) => predictions![k] === judged.summary[k]);
      if (!agree) notes.push("the report's count of predicted pages touched differs from the trace's looks; the page shows the report's counts and the trace's pages");
      predictions ??= judged.summary;
    }
    const mappedIn = regions.map(() => new Set<number>());
    let outside = 0;
    let p = 0;
    trace.events.forEach((e, event) => {
      let code = decisionNames.indexOf(e.decision);
      if (code < 0) code = decisionNames.push(e.decision) - 1;
      events.t.push(round3(e.tMs));
      events.offset.push(e.kind === "fault" && e.fault !== null && e.mapped.length > 0 ? e.fault - e.mapped[0]! : -1);
      events.decision.push(code);
      e.mapped.forEach((page, i) => {
        const predictedHere = e.kind === "fault" && i > 0;
        const verdict = predictedHere && judged ? judged.verdicts[p]! : null;
        const look = predictedHere && judged ? judged.touchedBy[p]! : -1;
        if (predictedHere) p++;
        const region = regionOf(sorted, order, page);
        if (region < 0) {
          outside++;
          return;
        }
        mappedIn[region]!.add(page);
        marks.event.push(event);
        marks.region.push(region);
        marks.page.push((page - regions[region]!.base) / PAGE_SIZE);
        marks.cause.push(e.kind === "start" ? CAUSE_START : i === 0 ? CAUSE_FAULT : CAUSE_PREDICTED);
        marks.verdict.push(VERDICTS.indexOf(verdict ?? (predictedHere ? "unknown" : "")));
        marks.look.push(look);
      });
    });
    regions.forEach((r, i) => {
      if (r.demand) r.mappedPages = mappedIn[i]!.size;
    });
    const faultEvents = trace.events.filter((e) => e.kind === "fault").length;
    if (faultEvents !== report.faults) notes.push(`the trace holds ${faultEvents} faults, the report counts ${report.faults}`);
    if (outside > 0) notes.push(`${outside} mapped pages in the trace lie outside every region of the plan`);
    if (trace.skipped > 0) notes.push(`${trace.skipped} trace lines of kinds this page does not know were skipped`);
  }
  const mapped = regions.reduce((n, r) => n + r.mappedPages, 0);
  if (trace && mapped !== report.pagesMapped) notes.push(`the plan and the trace account for ${mapped} pages mapped, the report counts ${report.pagesMapped}`);
  if (!trace && report.pager !== "apager") notes.push("no trace was given: faults over time and the predictor's record cannot be shown");

  const summary: RunSummary = {
    program: report.program,
    argv: report.argv,
    pager: report.pager,
    mechanism: report.paging ?? "none",
    predictor: report.predictor === "none" ? "none" : `${report.predictor} ${report.pages}`,
    exit: exitText(report),
    faults: report.faults,
    pagesMapped: report.pagesMapped,
    wallMs: report.wallMs,
    maxRssKiB: report.maxRssKiB,
  };
  const name = report.program.slice(report.program.lastIndexOf("/") + 1);
  const title = [report.pager, summary.mechanism !== "none" ? summary.mechanism : null, summary.predictor !== "none" ? summary.predictor : null].filter((s) => s !== null).join(" ");
  return {
    title: `${title}: ${[name, ...report.argv.slice(1)].join(" ")}`,
    summary,
    regions,
    events,
    marks,
    decisionNames,
    lookTimes,
    pagesAtStart: regions.reduce((n, r) => n + (r.atStart ? r.pages : 0), 0),
    predictions,
    notes,
  };
}
