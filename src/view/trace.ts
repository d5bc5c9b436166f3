/**
 * A run's --trace file read back: one JSON object a line. The shim writes a
 * line per demand fault (and one for dpager's start page); the pager writes,
 * before those, a line per run of pages it prefetched from a learned working
 * set (--prefetch), and adds, after the program has ended, a line per look
 * it took at hpager's predicted pages (src/view/watch.ts). Lines of other kinds are counted and skipped, so
 * a trace from a later faultline still reads. Pure.
 */
import { hex } from "../loader/errors.ts";

/** What the shim wrote for one event: the start (dpager maps the entry
 * point's page) or a demand fault and the pages it mapped. */
export interface TraceEvent {
  /** Milliseconds since the plan was sent to the loader. */
  tMs: number;
  kind: "start" | "fault";
  /** The faulting address; null for the start. */
  fault: number | null;
  /** Pages mapped, lowest address of each: the faulting (or entry) page
   * first, then the predicted ones. */
  mapped: number[];
  /** The predictor's decision ("none" without one, and for the start). */
  decision: string;
}

/** What can be seen of a predicted page in a look at the program's page
 * tables (see PredictionOutcome in src/run/report.ts). */
export type Seen = "touched" | "written";

/** One look at the predicted pages while the program ran. */
export interface TraceLook {
  tMs: number;
  /** The predicted pages of the first `events` events were looked at. */
  events: number;
  seen: Seen;
  /** Pages seen touched (or written) for the first time in this look. */
  touched: number[];
  /** False when the program ended during the look: its sightings hold, but
   * not every page of those events was looked at. */
  complete: boolean;
}

/** Pages the loader mapped before the jump from a learned working set
 * (--prefetch): one contiguous run of them. */
interface TracePrefetch {
  kind: "prefetch";
  tMs: number;
  mapped: number[];
}

export interface Trace {
  events: TraceEvent[];
  looks: TraceLook[];
  /** Pages prefetched (--prefetch), from the pager's prefetch lines. */
  prefetched: number[];
  /** Lines of kinds this version does not know, skipped. */
  skipped: number;
}

/** A line that is not what the trace format says, with where it is. */
export class TraceError extends Error {
  override name = "TraceError";
}

/** An address as the trace writes it ("0x4ab220"). */
function address(value: unknown, what: string, where: string): number {
  if (typeof value !== "string" || !/^0x[0-9a-f]{1,16}$/i.test(value)) throw new TraceError(`${where}: ${what} is not a hexadecimal address`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new TraceError(`${where}: ${what} ${value} is beyond user space`);
  return n;
}

function addresses(value: unknown, what: string, where: string): number[] {
  if (!Array.isArray(value)) throw new TraceError(`${where}: ${what} is not a list of addresses`);
  return value.map((v) => address(v, what, where));
}

function time(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw new TraceError(`${where}: t_ms is not a time`);
  return value;
}

/** One line of a trace: an event, a look, a line of a kind this version
 * does not know ("skipped"), or null for a blank line. `where` (file:line)
 * prefixes errors. */
export function parseTraceLine(line: string, where: string): TraceEvent | ({ kind: "look" } & TraceLook) | TracePrefetch | "skipped" | null {
  if (line.trim() === "") return null;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new TraceError(`${where}: not a JSON object`);
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) throw new TraceError(`${where}: not a JSON object`);
  const kind = record.kind;
  if (kind === "start" || kind === "fault") {
    const mapped = addresses(record.mapped, "mapped", where);
    return {
      tMs: time(record.t_ms, where),
      kind,
      fault: kind === "fault" ? address(record.fault, "fault", where) : null,
      mapped,
      decision: typeof record.decision === "string" ? record.decision : "none",
    };
  }
  if (kind === "prefetch") return { kind, tMs: time(record.t_ms, where), mapped: addresses(record.mapped, "mapped", where) };
  if (kind === "look") {
    const events = record.events;
    if (typeof events !== "number" || !Number.isInteger(events) || events < 0) throw new TraceError(`${where}: events is not a count`);
    if (record.seen !== "touched" && record.seen !== "written") throw new TraceError(`${where}: seen is neither "touched" nor "written"`);
    return { kind: "look", tMs: time(record.t_ms, where), events, seen: record.seen, touched: addresses(record.touched, "touched", where), complete: record.complete !== false };
  }
  return "skipped";
}

/** Read a trace; `name` (the file's) prefixes the line number in errors. */
export function parseTrace(text: string, name = "trace"): Trace {
  const trace: Trace = { events: [], looks: [], prefetched: [], skipped: 0 };
  let lineNumber = 0;
  for (const line of text.split("\n")) {
    lineNumber++;
    const parsed = parseTraceLine(line, `${name}:${lineNumber}`);
    if (parsed === null) continue;
    if (parsed === "skipped") trace.skipped++;
    else if (parsed.kind === "look") {
      const { kind: _kind, ...look } = parsed;
      trace.looks.push(look);
    } else if (parsed.kind === "prefetch") trace.prefetched.push(...parsed.mapped);
    else trace.events.push(parsed);
  }
  return trace;
}

/** One look as a trace line (without the newline). */
export function lookLine(look: TraceLook): string {
  const line = { t_ms: Math.round(look.tMs * 1000) / 1000, kind: "look", events: look.events, seen: look.seen, touched: look.touched.map(hex) };
  return JSON.stringify(look.complete ? line : { ...line, complete: false });
}
