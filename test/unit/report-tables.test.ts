import { describe, expect, test } from "bun:test";
import { costTable, crossTable, loaderTables, table, type LoaderResults } from "../../bench/report-tables.ts";

const results: LoaderResults = {
  runs: 3,
  machine: { cpus: 2, kernel: "6.1.0", date: "2026-01-02T03:04:05.000Z" },
  workloads: [
    { name: "one", description: "one page" },
    { name: "seq64", description: "sequential" },
  ],
  rows: [
    { workload: "one", config: "native", wallMs: 2, faults: 39, pagesMapped: 39, maxRssKiB: 548, wallRatio: 1, rssRatio: 1 },
    { workload: "one", config: "dpager", wallMs: 5, faults: 69, pagesMapped: 103, maxRssKiB: 256, wallRatio: 2.5, rssRatio: 0.467 },
    { workload: "seq64", config: "native", wallMs: 100, faults: 1, pagesMapped: 1, maxRssKiB: 1, wallRatio: 1, rssRatio: 1 },
  ],
  targets: { costPerFaultMicros: { dpager: 3.456, kernel: 1 }, costPerSyscallMicros: { native: 0.5, dpager: 0.51, "hpager-next-2": 0.7 } },
};

describe("report tables", () => {
  test("a markdown table right-aligns every column but the first", () => {
    expect(table(["a", "b"], [["x", 1]])).toBe("| a | b |\n| --- | ---: |\n| x | 1 |");
  });

  test("loader tables name the command, the date and the machine, and keep the benchmark's order", () => {
    const text = loaderTables(results, ["one"]);
    expect(text).toContain("`bun run bench:loader` — medians of 3 runs");
    expect(text).toContain("2026-01-02 03:04 UTC, 2 CPUs, Linux 6.1.0");
    expect(text).toContain("| dpager | 5.0 | 2.50× | 69 | 103 | 256 | 0.47× |");
    expect(text).not.toContain("seq64");
    expect(text.indexOf("| native")).toBeLessThan(text.indexOf("| dpager"));
  });

  test("the cost table has a row per loader, a dash where a figure was not derived", () => {
    const text = costTable(results);
    expect(text).toContain("| dpager | 3.46 | 0.510 |");
    expect(text).toContain("| native | 1.00 | 0.500 |");
    expect(text).toContain("| hpager-next-2 | — | 0.700 |");
  });

  test("a cross table puts workloads down and configurations across, a dash where there is no row", () => {
    const text = crossTable(results, ["one", "seq64"], ["native", "dpager"], (r) => String(r.faults));
    expect(text.split("\n")).toEqual(["| workload | native | dpager |", "| --- | ---: | ---: |", "| one | 39 | 69 |", "| seq64 | 1 | — |"]);
  });
});
