/**
 * The page file itself, without a browser: self-contained (no address to
 * fetch anything from, a policy that forbids fetching), its data intact
 * and unable to end the element it sits in; and the command lines.
 */
import { describe, expect, test } from "bun:test";
import { UsageError } from "../../src/loader/errors.ts";
import { parseCommandLine } from "../../src/cli/options.ts";
import { buildRunView, type ReportInput } from "../../src/view/model.ts";
import { pairRunFiles, parseViewCommandLine, type NamedRunFile } from "../../src/view/options.ts";
import { pageData, pageHtml, type PageData } from "../../src/view/page.ts";
import { pageScript } from "../../src/view/write.ts";

const report: ReportInput = {
  pager: "apager",
  paging: null,
  predictor: "none",
  pages: 1,
  program: "/tmp/</script><script>alert(1)</script>",
  argv: ["x"],
  exitCode: 0,
  signal: null,
  coreDumped: false,
  faults: 0,
  pagesMapped: 1,
  wallMs: 1,
  maxRssKiB: 1,
  differences: [],
  regions: [{ name: "x text", start: "0x401000", size: 4096, prot: "r-x", source: "file=/tmp/x", offset: 0, demand: false }],
  predictions: null,
};

describe("the page file", () => {
  test("holds its script, style and data inline, and forbids fetching anything", async () => {
    const data: PageData = { runs: [buildRunView(report, null)], faultline: "0.1.0", made: "2026-12-01T00:00:00.000Z" };
    const html = pageHtml(data, await pageScript());
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(html).toContain(`content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"`);
    // The data, gzipped in base64, cannot close its element, and the
    // program's name cannot either; it reads back whole.
    expect(html.match(/<\/script>/g)).toHaveLength(2);
    expect(pageData(html)).toEqual(data);
  });
});

describe("command lines", () => {
  test("--html FILE for every pager", () => {
    expect(parseCommandLine("apager", ["--html", "run.html", "/bin/true"]).html).toBe("run.html");
    expect(parseCommandLine("hpager", ["--html=run.html", "/bin/true"]).html).toBe("run.html");
    expect(() => parseCommandLine("dpager", ["--html"])).toThrow(/--html needs a value/);
  });

  test("view: files in order, -o required, options checked", () => {
    expect(parseViewCommandLine(["t.jsonl", "r.json", "-o", "p.html"])).toEqual({ files: ["t.jsonl", "r.json"], out: "p.html", help: false });
    expect(parseViewCommandLine(["--out=p.html", "r.json"]).out).toBe("p.html");
    expect(parseViewCommandLine(["--help"]).help).toBe(true);
    expect(() => parseViewCommandLine(["r.json"])).toThrow(new UsageError("no output file given (-o FILE)"));
    expect(() => parseViewCommandLine(["-o", "p.html"])).toThrow(/no REPORT given/);
    expect(() => parseViewCommandLine(["-x", "r.json"])).toThrow(/unknown option '-x'/);
    expect(parseViewCommandLine(["-o", "p.html", "--", "-odd.json"]).files).toEqual(["-odd.json"]);
  });

  test("view: unknown options and missing values are one line each (util.parseArgs)", () => {
    expect(() => parseViewCommandLine(["--bogus", "r.json", "-o", "p.html"])).toThrow(new UsageError("unknown option '--bogus'"));
    expect(() => parseViewCommandLine(["r.json", "-o"])).toThrow(new UsageError("--out needs a file name"));
    expect(() => parseViewCommandLine(["r.json", "--help=yes"])).toThrow(new UsageError("--help takes no value"));
    expect(() => parseViewCommandLine(["r.json", "--out="])).toThrow(new UsageError("--out needs a file name"));
    expect(parseViewCommandLine(["-h"]).help).toBe(true);
  });

  test("view: a trace goes with the report next to it, before or after", () => {
    const f = (...names: string[]): NamedRunFile[] => names.map((file) => ({ file, kind: file.startsWith("t") ? "trace" : "report" }));
    expect(pairRunFiles(f("t1", "r1"))).toEqual([{ report: "r1", trace: "t1" }]);
    expect(pairRunFiles(f("r1", "t1"))).toEqual([{ report: "r1", trace: "t1" }]);
    expect(pairRunFiles(f("r1", "t1", "r2", "t2"))).toEqual([{ report: "r1", trace: "t1" }, { report: "r2", trace: "t2" }]);
    expect(pairRunFiles(f("t1", "r1", "r2", "t2"))).toEqual([{ report: "r1", trace: "t1" }, { report: "r2", trace: "t2" }]);
    expect(pairRunFiles(f("r1", "r2"))).toEqual([{ report: "r1", trace: null }, { report: "r2", trace: null }]);
    // Between two reports, a trace goes with the one after it, as it did
    // when a trace had to come first.
    expect(pairRunFiles(f("r1", "t2", "r2"))).toEqual([{ report: "r1", trace: null }, { report: "r2", trace: "t2" }]);
  });

  test("view: two traces in a row, or a trace alone, name the file", () => {
    const f = (...names: string[]): NamedRunFile[] => names.map((file) => ({ file, kind: file.startsWith("t") ? "trace" : "report" }));
    expect(() => pairRunFiles(f("t1", "t2", "r1"))).toThrow("t2: a second trace next to t1: each trace goes next to its report");
    expect(() => pairRunFiles(f("r1", "t1", "t2"))).toThrow("t2: a second trace next to t1");
    expect(() => pairRunFiles(f("t1"))).toThrow("t1: a trace without a report next to it");
  });
});
