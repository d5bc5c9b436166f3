/**
 * The run page's data, without a browser: reading traces and reports,
 * judging predicted pages, the regions' names and mapped counts, and the
 * marks the page draws.
 */
import { describe, expect, test } from "bun:test";
import type { Mapping } from "../../src/loader/launch.ts";
import { reportRegions, type ReportRegion } from "../../src/run/report.ts";
import { CAUSE_FAULT, CAUSE_PREDICTED, CAUSE_START, VERDICTS, buildRunView, markTimes, parseReport, RunDataError, type ReportInput } from "../../src/view/model.ts";
import { judgePredictions, predictedPages, seenUnder } from "../../src/view/predictions.ts";
import { lookLine, parseTrace, TraceError, type TraceLook } from "../../src/view/trace.ts";

const PAGE = 4096;
const BSS = 0x4a8000;
const hex = (n: number) => `0x${n.toString(16)}`;

function faultLine(t: number, fault: number, mapped: number[], decision = "next"): string {
  const page = fault - (fault % PAGE);
  return JSON.stringify({ t_ms: t, kind: "fault", fault: hex(fault), page: hex(page), mapped: mapped.map(hex), predicted: mapped.length - 1, decision });
}

describe("reading a trace", () => {
  test("the shim's fault and start lines, the pager's prefetch lines and looks, other kinds skipped", () => {
    const text = [
      JSON.stringify({ t_ms: 0, kind: "prefetch", mapped: [`0x${(BSS + 2 * PAGE).toString(16)}`, `0x${(BSS + 3 * PAGE).toString(16)}`] }),
      JSON.stringify({ t_ms: 0.5, kind: "start", mapped: ["0x401000"] }),
      faultLine(1.25, BSS + 0x10, [BSS, BSS + PAGE]),
      JSON.stringify({ t_ms: 2, kind: "a later kind", mapped: [] }),
      lookLine({ tMs: 3.0004, events: 2, seen: "touched", touched: [BSS + PAGE], complete: true }),
      "",
    ].join("\n");
    const trace = parseTrace(text);
    expect(trace.events).toEqual([
      { tMs: 0.5, kind: "start", fault: null, mapped: [0x401000], decision: "none" },
      { tMs: 1.25, kind: "fault", fault: BSS + 0x10, mapped: [BSS, BSS + PAGE], decision: "next" },
    ]);
    expect(trace.looks).toEqual([{ tMs: 3, events: 2, seen: "touched", touched: [BSS + PAGE], complete: true }]);
    expect(trace.prefetched).toEqual([BSS + 2 * PAGE, BSS + 3 * PAGE]);
    expect(trace.skipped).toBe(1);
  });

  test("a look cut short by the program's end says so, and reads back", () => {
    const look: TraceLook = { tMs: 9, events: 5, seen: "written", touched: [], complete: false };
    expect(JSON.parse(lookLine(look))).toMatchObject({ kind: "look", complete: false, seen: "written" });
    expect(parseTrace(lookLine(look)).looks).toEqual([look]);
  });

  test("a malformed line is refused with its file and line number", () => {
    expect(() => parseTrace(`${faultLine(1, BSS, [BSS])}\nnot json`, "t.jsonl")).toThrow(new TraceError("t.jsonl:2: not a JSON object"));
    expect(() => parseTrace(JSON.stringify({ t_ms: 1, kind: "fault", fault: "4096", mapped: [] }), "t")).toThrow(/t:1: fault is not a hexadecimal address/);
    expect(() => parseTrace(JSON.stringify({ t_ms: -1, kind: "start", mapped: [] }), "t")).toThrow(/t_ms is not a time/);
    expect(() => parseTrace(JSON.stringify({ t_ms: 1, kind: "look", events: 1, seen: "maybe", touched: [] }))).toThrow(/seen is neither/);
  });
});

describe("judging predicted pages", () => {
  // Three faults, each predicting the next page: pages 1, 3 and 5.
  const events = [0, 2, 4].map((p, i) => ({ tMs: i, kind: "fault" as const, mapped: [BSS + p * PAGE, BSS + (p + 1) * PAGE], fault: BSS + p * PAGE, decision: "next" }));
  const predicted = predictedPages(events);

  test("the predicted pages are every page a fault mapped after its own", () => {
    expect(predicted).toEqual([
      { event: 0, page: BSS + PAGE },
      { event: 1, page: BSS + 3 * PAGE },
      { event: 2, page: BSS + 5 * PAGE },
    ]);
    expect(predictedPages([{ kind: "start", mapped: [1, 2] }])).toEqual([]);
  });

  test("seen touched, not seen by a later look, or mapped after the last look", () => {
    const looks: TraceLook[] = [
      { tMs: 10, events: 1, seen: "touched", touched: [], complete: true },
      { tMs: 20, events: 2, seen: "touched", touched: [BSS + 3 * PAGE], complete: true },
    ];
    const judged = judgePredictions(predicted, looks, "touched");
    expect(judged.verdicts).toEqual(["untouched", "touched", "unknown"]);
    expect(judged.touchedBy).toEqual([-1, 1, -1]);
    expect(judged.summary).toEqual({ seen: "touched", predicted: 3, touched: 1, untouched: 1, unknown: 1, looks: 2, lastLookMs: 20 });
  });

  test("under userfaultfd a page not seen written is unknown, never untouched", () => {
    const looks: TraceLook[] = [{ tMs: 10, events: 3, seen: "written", touched: [BSS + 5 * PAGE], complete: true }];
    const judged = judgePredictions(predicted, looks, "written");
    expect(judged.verdicts).toEqual(["unknown", "unknown", "touched"]);
    expect(judged.summary.untouched).toBe(0);
  });

  test("a look cut short keeps its sightings but vouches for no page it missed", () => {
    const looks: TraceLook[] = [{ tMs: 10, events: 3, seen: "touched", touched: [BSS + PAGE], complete: false }];
    const judged = judgePredictions(predicted, looks, "touched");
    expect(judged.verdicts).toEqual(["touched", "unknown", "unknown"]);
    expect(judged.summary).toMatchObject({ looks: 0, lastLookMs: null });
  });

  test("a sighting counts only for a page mapped before the look", () => {
    // The same page predicted again later (a forked child's fault): the
    // earlier sighting says nothing about the later mapping.
    const again = [...predicted, { event: 5, page: BSS + PAGE }];
    const looks: TraceLook[] = [{ tMs: 10, events: 3, seen: "touched", touched: [BSS + PAGE], complete: true }];
    expect(judgePredictions(again, looks, "touched").verdicts).toEqual(["touched", "untouched", "untouched", "unknown"]);
  });

  test("what a look can see follows the paging mechanism", () => {
    expect(seenUnder("signal")).toBe("touched");
    expect(seenUnder("userfaultfd")).toBe("written");
    expect(seenUnder(null)).toBeNull();
  });
});

describe("the report's regions", () => {
  const mapping = (address: number, pages: number, prot: number, source: string, demand = false, offset: number | null = 0): Mapping => ({ address, size: pages * PAGE, offset, prot, source, demand });
  const mappings = [
    mapping(0x400000, 1, 1, "file=/opt/prog"),
    mapping(0x401000, 4, 5, "file=/opt/prog"),
    mapping(0x405000, 2, 1, "file=/opt/prog"),
    mapping(0x407000, 1, 3, "file=/opt/prog"),
    mapping(0x408000, 16, 3, "anon=bss(prog)", true, null),
    mapping(0x7f0000000000, 1, 5, "file=/lib64/ld-linux-x86-64.so.2"),
    mapping(0x7ffc00000000, 33, 3, "anon=stack", false, null),
  ];

  test("each is named by its image and what it holds, a repeated name numbered", () => {
    const regions = reportRegions(mappings);
    expect(regions.map((r) => r.name)).toEqual(["prog read-only", "prog text", "prog read-only (2)", "prog data", "prog bss", "ld-linux-x86-64.so.2 text", "stack"]);
    expect(regions[4]).toEqual({ name: "prog bss", start: "0x408000", size: 16 * PAGE, prot: "rw-", source: "anon=bss(prog)", offset: null, demand: true });
  });
});

function report(regions: ReportRegion[], over: Partial<ReportInput> = {}): ReportInput {
  return {
    pager: "hpager",
    paging: "signal",
    predictor: "next",
    pages: 2,
    program: "/opt/prog",
    argv: ["/opt/prog", "seq"],
    exitCode: 0,
    signal: null,
    coreDumped: false,
    faults: 2,
    pagesMapped: 0,
    wallMs: 12.5,
    maxRssKiB: 900,
    differences: [],
    regions,
    predictions: null,
    ...over,
  };
}

describe("the run's view", () => {
  const regions: ReportRegion[] = [
    { name: "prog text", start: "0x401000", size: 2 * PAGE, prot: "r-x", source: "file=/opt/prog", offset: 0x1000, demand: false },
    { name: "prog bss", start: hex(BSS), size: 8 * PAGE, prot: "rw-", source: "anon=bss(prog)", offset: null, demand: true },
  ];
  const text = [
    faultLine(1, BSS + 0x123, [BSS, BSS + PAGE]),
    faultLine(2, BSS + 5 * PAGE + 8, [BSS + 5 * PAGE, BSS + 6 * PAGE]),
    lookLine({ tMs: 1.5, events: 1, seen: "touched", touched: [BSS + PAGE], complete: true }),
    lookLine({ tMs: 3, events: 2, seen: "touched", touched: [], complete: true }),
  ].join("\n");

  test("one mark per page mapped after the start, with why and what became of it", () => {
    const view = buildRunView(report(regions, { pagesMapped: 2 + 4 }), parseTrace(text));
    expect(view.marks).toEqual({
      event: [0, 0, 1, 1],
      region: [1, 1, 1, 1],
      page: [0, 1, 5, 6],
      cause: [CAUSE_FAULT, CAUSE_PREDICTED, CAUSE_FAULT, CAUSE_PREDICTED],
      verdict: [0, VERDICTS.indexOf("touched"), 0, VERDICTS.indexOf("untouched")],
      look: [-1, 0, -1, -1],
    });
    expect(view.events).toEqual({ t: [1, 2], offset: [0x123, 8], decision: [0, 0] });
    expect(view.lookTimes).toEqual([1.5, 3]);
    expect([...markTimes(view)]).toEqual([1, 1, 2, 2]);
    expect(view.decisionNames).toEqual(["next"]);
    expect(view.regions.map((r) => [r.mappedPages, r.pages, r.atStart])).toEqual([
      [2, 2, true],
      [4, 8, false],
    ]);
    expect(view.pagesAtStart).toBe(2);
    expect(view.predictions).toEqual({ seen: "touched", predicted: 2, touched: 1, untouched: 1, unknown: 0, looks: 2, lastLookMs: 3 });
    expect(view.notes).toEqual([]);
    expect(view.title).toBe("hpager signal next 2: prog seq");
    expect(view.summary).toMatchObject({ exit: "0", faults: 2, pagesMapped: 6, mechanism: "signal", predictor: "next 2" });
  });

  test("where the trace and the report disagree, a note says so", () => {
    const view = buildRunView(report(regions, { faults: 3, pagesMapped: 9 }), parseTrace(text));
    expect(view.notes).toEqual(["the trace holds 2 faults, the report counts 3", "the plan and the trace account for 6 pages mapped, the report counts 9"]);
  });

  test("the report's count of predicted pages is shown, and a difference noted", () => {
    const counted = { seen: "touched" as const, predicted: 2, touched: 2, untouched: 0, unknown: 0, looks: 2, lastLookMs: 3 };
    const view = buildRunView(report(regions, { pagesMapped: 6, predictions: counted }), parseTrace(text));
    expect(view.predictions).toEqual(counted);
    expect(view.notes[0]).toMatch(/differs from the trace's looks/);
  });

  test("a run without a trace shows its regions; an apager run has nothing missing", () => {
    const apager = buildRunView(report(regions.map((r) => ({ ...r, demand: false })), { pager: "apager", paging: null, predictor: "none", faults: 0, pagesMapped: 10 }), null);
    expect(apager.marks.event).toEqual([]);
    expect(apager.regions.map((r) => r.mappedPages)).toEqual([2, 8]);
    expect(apager.notes).toEqual([]);
    expect(apager.summary.mechanism).toBe("none");
    const untraced = buildRunView(report(regions), null);
    expect(untraced.notes).toEqual(["no trace was given: faults over time and the predictor's record cannot be shown"]);
  });

  test("a killed program's exit reads as its signal", () => {
    expect(buildRunView(report(regions, { exitCode: null, signal: "SIGSEGV", coreDumped: true }), null).summary.exit).toBe("SIGSEGV (core dumped)");
    expect(buildRunView(report(regions, { exitCode: 3 }), null).summary.exit).toBe("exit 3");
  });

  test("a report is checked for what the page needs", () => {
    const good = JSON.stringify(report(regions));
    expect(parseReport(good, "r.json").regions).toHaveLength(2);
    expect(() => parseReport("[]", "r.json")).toThrow(new RunDataError("r.json: not a report (a JSON object)"));
    expect(() => parseReport(JSON.stringify({ ...report(regions), regions: undefined }), "r.json")).toThrow(/no regions/);
    expect(() => parseReport(JSON.stringify({ ...report(regions), faults: undefined }), "r.json")).toThrow(/no faults/);
    expect(() => parseReport(JSON.stringify(report([{ ...regions[0]!, size: 100 }])), "r.json")).toThrow(/page-aligned/);
  });

  test("marks are kept by trace order and starts are marked as such", () => {
    const start = JSON.stringify({ t_ms: 0.25, kind: "start", mapped: [hex(BSS + 7 * PAGE)] });
    const view = buildRunView(report(regions, { pager: "dpager", predictor: "none", faults: 0, pagesMapped: 3 }), parseTrace(start));
    expect(view.marks.cause).toEqual([CAUSE_START]);
    expect(view.marks.page).toEqual([7]);
  });
});
