/**
 * Live events of a run, as spawn()'s onMapping and onFault receive them:
 * what the --trace lines carry (src/view/trace.ts reads them), made into
 * typed objects, with each page mapped placed in the region of the plan
 * that holds it. Pure: lines and the plan's mappings in, events out.
 */
import { PAGE_SIZE } from "../loader/elf.ts";
import { protString, type Mapping } from "../loader/launch.ts";
import { parseTraceLine, type TraceEvent } from "../view/trace.ts";

/** A region's protection as the mapping log writes it: read, write and
 * execute, or "-" for each one missing. */
export type Protection = `${"r" | "-"}${"w" | "-"}${"x" | "-"}`;

/** What hpager's predictor made of a fault (the trace's "decision"):
 * "next" maps the pages after the faulting one; "stride-learning" has not
 * yet seen a stride twice; "stride" repeats a stride seen twice;
 * "readahead-hit" and "readahead-miss" say whether the fault came where the
 * read-ahead window expected it. "none" without a predictor (dpager). */
export type PredictorDecision = "none" | "next" | "stride-learning" | "stride" | "readahead-hit" | "readahead-miss";

const DECISIONS: ReadonlySet<string> = new Set<PredictorDecision>(["none", "next", "stride-learning", "stride", "readahead-hit", "readahead-miss"]);

/** One demand fault the pager resolved (dpager; hpager's bss). */
export interface FaultEvent {
  /** Milliseconds since the plan was sent to the loader (the
   * trace's t_ms). */
  timeMs: number;
  /** The address the program touched. */
  address: number;
  /** The page that holds it (its lowest address). */
  page: number;
  /** Every page mapped for this fault, lowest address of each: the
   * faulting page first, then the predicted ones. */
  mapped: readonly number[];
  /** How many of `mapped` the predictor added (mapped.length - 1). */
  predicted: number;
  decision: PredictorDecision;
}

/** Why a mapping was made. */
export type MappingCause =
  /** Mapped by the loader before the program started (dpager: also the
   * entry point's page, mapped as it starts). */
  | "start"
  /** Reserved by the loader at start; its pages come on demand, each one
   * an event of its own when mapped. */
  | "reserve"
  /** The page of a demand fault. */
  | "fault"
  /** A page hpager's predictor mapped along with a fault's. */
  | "predicted";

/** One mapping the pager made (or reserved), as the mapping log line
 * gives it. Pages mapped on demand are one event each. */
export interface MappingEvent {
  /** Milliseconds since the plan was sent to the loader. */
  timeMs: number;
  /** Its first address. */
  address: number;
  /** Bytes, a whole number of pages. */
  size: number;
  /** Offset in the file of its first byte; null for anonymous memory. */
  offset: number | null;
  /** What its pages allow once mapped (for "reserve", once each is). */
  protection: Protection;
  /** Where its bytes come from: "file=PATH", "anon=bss(IMAGE)" or
   * "anon=stack". */
  source: string;
  cause: MappingCause;
  /** The address whose fault mapped it ("fault" and "predicted"), else
   * null. */
  fault: number | null;
}

/** Pages in a mapping event, as the report counts them: a reservation maps
 * none until its pages come. */
export function pagesMappedBy(event: MappingEvent): number {
  return event.cause === "reserve" ? 0 : event.size / PAGE_SIZE;
}

/** The mappings made or reserved at start, as events at `timeMs`. */
export function startMappingEvents(mappings: readonly Mapping[], timeMs: number): MappingEvent[] {
  return mappings.map((m) => ({
    timeMs,
    address: m.address,
    size: m.size,
    offset: m.offset,
    protection: protString(m.prot),
    source: m.source,
    cause: m.demand ? "reserve" : "start",
    fault: null,
  }));
}

/** The plan's mappings by address, to find the one that holds a page. */
export class MappingIndex {
  private readonly sorted: readonly Mapping[];

  constructor(mappings: readonly Mapping[]) {
    this.sorted = [...mappings].sort((a, b) => a.address - b.address);
  }

  /** The mapping that holds `address`, if any. */
  holding(address: number): Mapping | null {
    let low = 0;
    let high = this.sorted.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const m = this.sorted[middle]!;
      if (address < m.address) high = middle - 1;
      else if (address >= m.address + m.size) low = middle + 1;
      else return m;
    }
    return null;
  }
}

/** A trace line's fault and the pages it mapped, as events: the fault
 * (null for dpager's start), then one mapping per page that a region of
 * the plan holds. Lines of other kinds give nothing. Throws TraceError on a
 * line that is not a trace line. */
export function eventsOfLine(line: string, index: MappingIndex): { fault: FaultEvent | null; mappings: MappingEvent[] } {
  const parsed = parseTraceLine(line, "event");
  if (parsed === null || parsed === "skipped" || parsed.kind === "look" || parsed.kind === "prefetch") return { fault: null, mappings: [] };
  return { fault: faultEventOf(parsed), mappings: pageMappings(parsed, index) };
}

function faultEventOf(event: TraceEvent): FaultEvent | null {
  if (event.kind !== "fault" || event.fault === null) return null;
  return {
    timeMs: event.tMs,
    address: event.fault,
    page: event.fault - (event.fault % PAGE_SIZE),
    mapped: event.mapped,
    predicted: Math.max(0, event.mapped.length - 1),
    decision: DECISIONS.has(event.decision) ? (event.decision as PredictorDecision) : "none",
  };
}

function pageMappings(event: TraceEvent, index: MappingIndex): MappingEvent[] {
  const events: MappingEvent[] = [];
  event.mapped.forEach((page, i) => {
    const region = index.holding(page);
    if (!region) return;
    events.push({
      timeMs: event.tMs,
      address: page,
      size: PAGE_SIZE,
      offset: region.offset === null ? null : region.offset + (page - region.address),
      protection: protString(region.prot),
      source: region.source,
      cause: event.kind === "start" ? "start" : i === 0 ? "fault" : "predicted",
      fault: event.fault,
    });
  });
  return events;
}
