/**
 * Charts of the loader benchmark, as SVG files a code-hosting site displays.
 *
 * Everything but `renderSvg` is pure: benchmark rows and fault traces in,
 * Vega-Lite specifications out, so the shape of each chart is unit tested
 * without rendering anything. `renderSvg` compiles a specification with
 * vega-lite and renders it with vega's headless `View.toSVG()`, which needs
 * neither a browser nor a canvas.
 */
import type { TopLevelSpec } from "vega-lite";

/** One line of the benchmark's table: medians of one configuration
 * (native, a pager and its settings) on one workload. */
export interface BenchRow {
  workload: string;
  config: string;
  wallMs: number;
  faults: number;
  pagesMapped: number;
  maxRssKiB: number;
  wallRatio: number;
  rssRatio: number;
}

/** One demand fault inside the traced region: when it happened and which
 * page of the region it was for. */
export interface FaultPoint {
  tMs: number;
  page: number;
}

/** A fault trace reduced for charting: the faults in one region, at most a
 * bounded number of them kept (every `keptEvery`-th), the first few of them
 * all kept (to show the pattern close up), and how many there were. */
export interface FaultTrace {
  workload: string;
  config: string;
  regionBase: string;
  regionPages: number;
  faults: number;
  keptEvery: number;
  points: FaultPoint[];
  first: FaultPoint[];
}

/** Faults shown in the close-up row of a fault-address chart. */
export const CLOSE_UP_FAULTS = 48;

const PAGE_SIZE = 4096n;

/**
 * The faults of a --trace file (one JSON object a line) that fall in the
 * region of `regionPages` pages at `regionBase`, as page indices in that
 * region: faults elsewhere (the program's text, data and stack) are left
 * out, as are the start and any other event kinds.
 */
export function faultsInRegion(traceText: string, regionBase: bigint, regionPages: number): FaultPoint[] {
  const end = regionBase + BigInt(regionPages) * PAGE_SIZE;
  const points: FaultPoint[] = [];
  for (const line of traceText.split("\n")) {
    if (line.trim() === "") continue;
    const event = JSON.parse(line) as { t_ms: number; kind: string; page?: string };
    if (event.kind !== "fault" || event.page === undefined) continue;
    const page = BigInt(event.page);
    if (page < regionBase || page >= end) continue;
    points.push({ tMs: Math.round(event.t_ms * 1000) / 1000, page: Number((page - regionBase) / PAGE_SIZE) });
  }
  return points;
}

/** Every k-th item, with k the smallest that keeps at most `max` items; the
 * last item is always kept, so a chart shows where a series ends. */
export function thin<T>(items: readonly T[], max: number): { kept: T[]; every: number } {
  if (max < 2) throw new RangeError("thin: keep at least two items");
  if (items.length <= max) return { kept: [...items], every: 1 };
  const every = Math.ceil((items.length - 1) / (max - 1));
  const kept = items.filter((_, i) => i % every === 0);
  if ((items.length - 1) % every !== 0) kept.push(items[items.length - 1]!);
  return { kept, every };
}

/** A fault trace reduced to at most `maxPoints` points for one chart panel. */
export function reduceTrace(workload: string, config: string, points: FaultPoint[], regionBase: bigint, regionPages: number, maxPoints: number): FaultTrace {
  const { kept, every } = thin(points, maxPoints);
  return { workload, config, regionBase: `0x${regionBase.toString(16)}`, regionPages, faults: points.length, keptEvery: every, points: kept, first: points.slice(0, CLOSE_UP_FAULTS) };
}

/** A measure of the benchmark table that gets a bar chart. */
export interface Measure {
  field: "wallMs" | "faults" | "maxRssKiB";
  title: string;
  /** log where the figures span orders of magnitude; a log scale has no
   * zero, so zero figures get no bar and are named under the title. */
  scale: "log" | "linear";
}

export const MEASURES: Record<"time" | "faults" | "rss", Measure> = {
  time: { field: "wallMs", title: "wall time, ms (median, log scale)", scale: "log" },
  faults: { field: "faults", title: "page faults (median, log scale)", scale: "log" },
  rss: { field: "maxRssKiB", title: "peak RSS of the program, KiB (median, log scale)", scale: "log" },
};

/** Source tag shown under every chart: where and how the figures were made. */
export interface Provenance {
  command: string;
  date: string;
  cpus: number;
  kernel: string;
  runs: number;
}

function subtitle(p: Provenance): string[] {
  return [`${p.command} — medians of ${p.runs} runs, ${p.date.slice(0, 10)}, ${p.cpus} CPUs, Linux ${p.kernel}`];
}

/** The bars a chart can draw, and the configurations left out of it
 * because a log scale cannot show their zero (apager resolves no faults). */
export function barValues(rows: readonly BenchRow[], measure: Measure): { values: { workload: string; config: string; value: number }[]; zero: string[] } {
  const all = rows.map((r) => ({ workload: r.workload, config: r.config, value: r[measure.field] }));
  if (measure.scale !== "log") return { values: all, zero: [] };
  const zero = [...new Set(all.filter((v) => v.value <= 0).map((v) => v.config))];
  return { values: all.filter((v) => v.value > 0), zero };
}

/**
 * Grouped bars of one measure: a group per workload (in the benchmark's
 * order), a bar per configuration (native, then the pagers in the
 * benchmark's order), one color per configuration.
 */
export function barChartSpec(rows: readonly BenchRow[], measure: Measure, heading: string, provenance: Provenance): TopLevelSpec {
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const configs = [...new Set(rows.map((r) => r.config))];
  const { values, zero } = barValues(rows, measure);
  const notes = zero.length > 0 ? [`no bar: 0 for ${zero.join(", ")} (a log scale has no zero)`] : [];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: heading, subtitle: [...subtitle(provenance), ...notes], anchor: "start" },
    width: { step: 9, for: "offset" } as unknown as number,
    height: 320,
    background: "white",
    data: { values },
    mark: { type: "bar", aria: false },
    encoding: {
      x: { field: "workload", type: "nominal", sort: workloads, title: "workload", axis: { labelAngle: 0 } },
      // Every configuration keeps its place and color in every chart, even
      // one that has no bar for it.
      xOffset: { field: "config", type: "nominal", scale: { domain: configs } },
      y: { field: "value", type: "quantitative", title: measure.title, scale: { type: measure.scale }, stack: null },
      color: { field: "config", type: "nominal", title: "loader", scale: { domain: configs, scheme: "tableau20" }, legend: { labelLimit: 240 } },
    },
  } as TopLevelSpec;
}

/** The panels of a fault-address chart, in reading order: the whole run
 * under each configuration (thinned), then the first faults under each
 * (all of them), so each column is one configuration. */
export function tracePanels(traces: readonly FaultTrace[]): string[] {
  const whole = (t: FaultTrace) => `${t.config}: all ${t.faults} faults${t.keptEvery > 1 ? ` (every ${ordinal(t.keptEvery)} shown)` : ""}`;
  const first = (t: FaultTrace) => `${t.config}: the first ${t.first.length}`;
  return [...traces.map(whole), ...traces.map(first)];
}

/** The points of a fault-address chart, each labelled with its panel. */
export function tracePoints(traces: readonly FaultTrace[]): { panel: string; config: string; tMs: number; page: number }[] {
  const panels = tracePanels(traces);
  return traces.flatMap((t, i) => [
    ...t.points.map((p) => ({ panel: panels[i]!, config: t.config, ...p })),
    ...t.first.map((p) => ({ panel: panels[traces.length + i]!, config: t.config, ...p })),
  ]);
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" } as Record<number, string>)[n % 10] ?? "th";
  return `${n}${suffix}`;
}

/**
 * Fault address over time for one workload: a column per configuration,
 * each point one fault (its page's index in the region against the time
 * since the program started); the top row is the whole run, the bottom row
 * its first faults close up, where the gaps the predictors fill show.
 */
export function traceChartSpec(traces: readonly FaultTrace[], heading: string, provenance: Omit<Provenance, "runs">): TopLevelSpec {
  const configs = traces.map((t) => t.config);
  const values = tracePoints(traces);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: heading,
      subtitle: [`${provenance.command} — one traced run each, ${provenance.date.slice(0, 10)}, ${provenance.cpus} CPUs, Linux ${provenance.kernel}`],
      anchor: "start",
    },
    background: "white",
    data: { values },
    facet: { field: "panel", type: "nominal", sort: tracePanels(traces), title: null },
    columns: traces.length,
    resolve: { scale: { x: "independent", y: "independent" } },
    spec: {
      width: 260,
      height: 180,
      mark: { type: "square", size: 6, opacity: 0.7, aria: false },
      encoding: {
        x: { field: "tMs", type: "quantitative", title: "time since start, ms", scale: { zero: false } },
        y: { field: "page", type: "quantitative", title: "page in the bss array", scale: { zero: true } },
        color: { field: "config", type: "nominal", sort: configs, legend: null },
      },
    },
  } as TopLevelSpec;
}

/** Render a Vega-Lite specification to an SVG document, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
