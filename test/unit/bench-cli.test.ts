/**
 * The benchmark scripts' shared command line (bench/cli.ts), pure parts:
 * parsing by util.parseArgs with counts checked, the usage text, when the
 * machine is too busy, and the closing line on the targets.
 */
import { describe, expect, test } from "bun:test";
import { COMMON_OPTIONS, exitStatus, loadLines, parseBenchLine, targetsLine, tooBusy, usageText, wrap, type BenchCommand } from "../../bench/cli.ts";

const spec = {
  command: "bun run bench:example",
  summary: "Measures an example.",
  options: { runs: { kind: "count", value: "N", description: "runs of each" }, out: { kind: "text", value: "FILE", description: "where to write" }, json: { kind: "flag", description: "as JSON" }, ...COMMON_OPTIONS },
  notes: "Columns: times in ms.",
} satisfies BenchCommand;

describe("parseBenchLine", () => {
  test("reads flags, counts as numbers and words, with defaults left undefined", () => {
    expect(parseBenchLine(spec, ["--runs", "7", "--json", "--out=x.json"]).values).toEqual({ runs: 7, out: "x.json", json: true, help: false, quiet: false });
    expect(parseBenchLine(spec, []).values).toEqual({ runs: undefined, out: undefined, json: false, help: false, quiet: false });
  });

  test("refuses unknown options, positionals, missing values and values given to flags, in one line each", () => {
    expect(() => parseBenchLine(spec, ["--bogus"])).toThrow("unknown option '--bogus'");
    expect(() => parseBenchLine(spec, ["-x"])).toThrow("unknown option '-x'");
    expect(() => parseBenchLine(spec, ["extra"])).toThrow("unexpected argument 'extra'");
    expect(() => parseBenchLine(spec, ["--runs"])).toThrow("--runs needs a value");
    expect(() => parseBenchLine(spec, ["--runs", "--json"])).toThrow("--runs needs a value");
    expect(() => parseBenchLine(spec, ["--json=yes"])).toThrow("--json takes no value");
  });

  test("a count is a whole number of at least 1", () => {
    for (const bad of ["0", "-3", "2.5", "ten", "1e3", ""]) expect(() => parseBenchLine(spec, [`--runs=${bad}`])).toThrow(`--runs: expected a whole number of at least 1, not '${bad}'`);
  });

  test("positionals, where a script takes them, are counted", () => {
    const withFiles = { ...spec, positionals: { usage: "REPORT [TRACE]", min: 1, max: 2 } };
    expect(parseBenchLine(withFiles, ["r.json"]).positionals).toEqual(["r.json"]);
    expect(() => parseBenchLine(withFiles, [])).toThrow("missing REPORT");
    expect(() => parseBenchLine(withFiles, ["a", "b", "c"])).toThrow("unexpected argument 'c'");
    expect(parseBenchLine(withFiles, ["--help"]).values.help).toBe(true);
  });
});

describe("usageText", () => {
  test("names the command, every option with its value, and the notes", () => {
    const text = usageText(spec);
    expect(text.split("\n")[0]).toBe("Usage: bun run bench:example [options]");
    for (const option of ["--runs N", "--out FILE", "--json", "--help", "--quiet"]) expect(text).toContain(`  ${option}`);
    expect(text).toContain("Columns: times in ms.");
  });

  test("wraps paragraphs at 78 columns, keeping them apart", () => {
    const text = wrap(`${"word ".repeat(40)}\n\nsecond`);
    expect(text.split("\n").every((line) => line.length <= 78)).toBe(true);
    expect(text).toEndWith("\n\nsecond");
    expect(text.replace(/\s+/g, " ")).toBe(`${"word ".repeat(40)}second`);
  });
});

describe("machine load", () => {
  test("busy when other work already had every CPU, or, with the benchmark's own, more than every CPU", () => {
    expect(tooBusy({ load: 0.5, cpus: 2 }, { load: 1.4, cpus: 2 })).toBe(false);
    expect(tooBusy({ load: 2.1, cpus: 2 }, { load: 1.4, cpus: 2 })).toBe(true);
    expect(tooBusy({ load: 0.5, cpus: 2 }, { load: 3.2, cpus: 2 })).toBe(true);
    expect(tooBusy({ load: 7.9, cpus: 8 }, { load: 8.9, cpus: 8 })).toBe(false);
  });

  test("the load is one line, the note a second only when busy", () => {
    expect(loadLines({ load: 0.5, cpus: 2 }, { load: 1.25, cpus: 2 })).toEqual(["machine load (1-minute average): 0.50 at the start, 1.25 at the end, on 2 CPUs"]);
    const busy = loadLines({ load: 3, cpus: 2 }, { load: 3, cpus: 2 });
    expect(busy).toHaveLength(2);
    expect(busy[1]).toStartWith("note: the machine was busy");
  });
});

describe("targetsLine", () => {
  test("says all were met, or which were missed, each with its meaning and figure", () => {
    expect(targetsLine([{ meaning: "a", measured: "1x", met: true }])).toBe("all 1 target met");
    const line = targetsLine([
      { meaning: "a 64 MiB lazy copy at least 500x faster", measured: "320x", met: false },
      { meaning: "b", measured: "2", met: true },
      { meaning: "reads within 1.1x", measured: "1.3x at worst", met: false },
    ]);
    expect(line).toBe("2 of 3 targets missed: a 64 MiB lazy copy at least 500x faster (measured 320x); reads within 1.1x (measured 1.3x at worst)");
  });
});

describe("exitStatus", () => {
  test("is 1 only under --check with a target missed", () => {
    const missed = [{ meaning: "a", measured: "1", met: false }];
    const met = [{ meaning: "a", measured: "1", met: true }];
    expect(exitStatus(true, missed)).toBe(1);
    expect(exitStatus(false, missed)).toBe(0);
    expect(exitStatus(true, met)).toBe(0);
    expect(exitStatus(true, [])).toBe(0);
  });
});
