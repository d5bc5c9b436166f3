import { describe, expect, test } from "bun:test";
import { barChartSpec, barValues, CLOSE_UP_FAULTS, faultsInRegion, MEASURES, reduceTrace, thin, tracePanels, tracePoints, type BenchRow } from "../../bench/charts.ts";

const BASE = 0x4a8000n;

function traceLine(t: number, kind: string, page?: bigint): string {
  return JSON.stringify(page === undefined ? { t_ms: t, kind, mapped: [] } : { t_ms: t, kind, fault: `0x${(page + 0x10n).toString(16)}`, page: `0x${page.toString(16)}`, mapped: [], predicted: 0, decision: "none" });
}

describe("fault traces for charts", () => {
  test("keeps only faults inside the region, as page indices, in order", () => {
    const text = [
      traceLine(0.5, "start"),
      traceLine(1, "fault", 0x401000n), // text: outside
      traceLine(2, "fault", BASE),
      traceLine(3, "fault", BASE + 3n * 4096n),
      traceLine(4, "fault", BASE + 4n * 4096n), // one past a 4-page region
      "",
    ].join("\n");
    expect(faultsInRegion(text, BASE, 4)).toEqual([
      { tMs: 2, page: 0 },
      { tMs: 3, page: 3 },
    ]);
  });

  test("thinning keeps every k-th item and always the last", () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    expect(thin(items, 20)).toEqual({ kept: items, every: 1 });
    const { kept, every } = thin(items, 4);
    expect(every).toBe(3);
    expect(kept).toEqual([0, 3, 6, 9]);
    expect(thin(items, 3).kept.at(-1)).toBe(9);
    expect(thin(items, 3).kept.length).toBeLessThanOrEqual(4);
    expect(() => thin(items, 1)).toThrow(RangeError);
  });

  test("a reduced trace counts every fault and keeps the first ones whole", () => {
    const points = Array.from({ length: 1000 }, (_, i) => ({ tMs: i, page: i * 3 }));
    const trace = reduceTrace("seq64", "hpager-next-3", points, BASE, 65536, 100);
    expect(trace.faults).toBe(1000);
    expect(trace.points.length).toBeLessThanOrEqual(101);
    expect(trace.first).toEqual(points.slice(0, CLOSE_UP_FAULTS));
    expect(trace.regionBase).toBe("0x4a8000");
    const both = [trace, { ...trace, config: "dpager" }];
    // Reading order: the whole runs in a row, then the close-ups.
    expect(tracePanels(both)).toEqual(["hpager-next-3: all 1000 faults (every 11th shown)", "dpager: all 1000 faults (every 11th shown)", "hpager-next-3: the first 48", "dpager: the first 48"]);
    expect(new Set(tracePoints(both).map((p) => p.panel))).toEqual(new Set(tracePanels(both)));
  });
});

describe("bar charts", () => {
  const row = (workload: string, config: string, faults: number): BenchRow => ({ workload, config, wallMs: 1, faults, pagesMapped: 1, maxRssKiB: 1, wallRatio: 1, rssRatio: 1 });
  const rows = [row("seq64", "native", 100), row("seq64", "apager", 0), row("one", "native", 3), row("one", "apager", 0)];

  test("zero figures get no bar on a log scale and are named instead", () => {
    const { values, zero } = barValues(rows, MEASURES.faults);
    expect(values.map((v) => v.config)).toEqual(["native", "native"]);
    expect(zero).toEqual(["apager"]);
    expect(barValues(rows, { ...MEASURES.faults, scale: "linear" }).values.length).toBe(4);
  });

  test("groups by workload in the benchmark's order and names the provenance", () => {
    const spec = barChartSpec(rows, MEASURES.faults, "faults", { command: "bun run bench:loader", date: "2026-01-02T00:00:00Z", cpus: 2, kernel: "6.1", runs: 3 }) as unknown as {
      title: { subtitle: string[] };
      encoding: { x: { sort: string[] }; xOffset: { scale: { domain: string[] } }; color: { scale: { domain: string[] } } };
    };
    expect(spec.encoding.x.sort).toEqual(["seq64", "one"]);
    // apager has no bar here but keeps its place and color.
    expect(spec.encoding.xOffset.scale.domain).toEqual(["native", "apager"]);
    expect(spec.encoding.color.scale.domain).toEqual(["native", "apager"]);
    expect(spec.title.subtitle[0]).toContain("bun run bench:loader");
    expect(spec.title.subtitle[0]).toContain("2 CPUs, Linux 6.1");
    expect(spec.title.subtitle[1]).toContain("apager");
  });
});
