/**
 * The run page in a real browser (headless Chromium): pages made by --html
 * and by `bun run view` from real runs, checked against the runs' reports
 * and traces — the figures shown, the marks or bins drawn, no console
 * errors and nothing fetched — and driven: zoom, hover, filter, reset.
 *
 * Without a Chromium (support/browser.ts findChromium) these tests are
 * skipped, said in one line; where FAULTLINE_REQUIRE_CHROMIUM is set (CI),
 * a missing browser is a failure instead.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunReport } from "../../src/run/report.ts";
import { CAUSE_FAULT, CAUSE_PREDICTED, buildRunView, markTimes, type RunView } from "../../src/view/model.ts";
import { POINT_LIMIT, bandPosition, visibleMarks, type Viewport } from "../../src/view/plot.ts";
import { parseTrace } from "../../src/view/trace.ts";
import { chromiumRequired, findChromium, noChromiumLine, openBrowser, openPage, REQUIRE_CHROMIUM_VARIABLE, screenshot, type Browser, type OpenedPage } from "../support/browser.ts";
import { buildProgram, ROOT } from "../support/programs.ts";
import { runPager, runProcess } from "../support/run.ts";

// Each test makes a run (a second or two), then loads and drives its page.
setDefaultTimeout(90_000);

const chromium = findChromium();
if (chromium === null && !chromiumRequired()) console.warn(`view-page.test.ts: ${noChromiumLine("skipping the run page's browser tests")}`);
/** describe, or describe.skip when there is no browser to run in; its
 * tests are tagged [chromium] (docs/testing.md). */
const inBrowser = (name: string, tests: () => void) => describe.skipIf(chromium === null)(`${name} [chromium]`, tests);

if (chromiumRequired()) {
  test(`a Chromium is installed (${REQUIRE_CHROMIUM_VARIABLE} is set) [chromium]`, () => {
    expect(chromium === null ? noChromiumLine("the run page's browser tests cannot run") : chromium).not.toStartWith("no Chromium");
  });
}

let dir = "";
let browser: Browser;
let bssTouch = "";
let touchPages = "";
let exitCode = "";

beforeAll(async () => {
  if (chromium === null) return;
  dir = mkdtempSync(join(tmpdir(), "faultline-view-"));
  [bssTouch, touchPages, exitCode] = await Promise.all([buildProgram("bss_touch.c", "static"), buildProgram("touch_pages.c", "static"), buildProgram("exit_code.c", "static")]);
  browser = await openBrowser(chromium);
});
afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  html: string;
  report: RunReport;
  view: RunView;
  trace: string;
}

/** Run argv under pager with --html, --report and --trace, and read back
 * what it wrote. */
async function recordRun(name: string, pager: string, flags: string[], argv: string[]): Promise<Run> {
  const files = { html: join(dir, `${name}.html`), report: join(dir, `${name}.json`), trace: join(dir, `${name}.jsonl`) };
  const ran = await runPager(pager, argv, { flags: ["-q", "--html", files.html, "--report", files.report, "--trace", files.trace, ...flags] });
  expect(ran.stderr).toBe("");
  const report = JSON.parse(readFileSync(files.report, "utf8")) as RunReport;
  const trace = readFileSync(files.trace, "utf8");
  return { html: files.html, report, trace, view: buildRunView(report, parseTrace(trace)) };
}

/** The figures of run `run`'s summary, as the page holds them. */
async function figures(opened: OpenedPage, run = 0): Promise<Record<string, string>> {
  return opened.page.evaluate(
    (run) => Object.fromEntries([...document.querySelectorAll(`section[data-run="${run}"] dl.summary .figure`)].map((f) => [(f as HTMLElement).dataset.field!, (f as HTMLElement).dataset.value!])),
    run,
  );
}

/** The text of an element, digits only (numbers are grouped with spaces). */
async function digits(opened: OpenedPage, selector: string): Promise<string> {
  return (await opened.page.locator(selector).first().innerText()).replace(/[^\d]/g, "");
}

function mapState(opened: OpenedPage, run = 0) {
  return opened.page.evaluate((run) => window.faultlineView!.state(run), run);
}

/** The marks a viewport shows, computed here from the trace as the page
 * must: the same bands, the same rule. */
function expectedVisible(view: RunView, state: { t0: number; t1: number; u0: number; u1: number; bands: number[] }): number {
  const t = markTimes(view);
  const u = new Float64Array(t.length);
  const shown = new Uint8Array(t.length);
  view.marks.region.forEach((region, i) => {
    const band = state.bands.indexOf(region);
    if (band < 0) return;
    shown[i] = 1;
    u[i] = bandPosition(band, view.marks.page[i]!, view.regions[region]!.pages);
  });
  const v: Viewport = { t0: state.t0, t1: state.t1, u0: state.u0, u1: state.u1, width: 1, height: 1 };
  return visibleMarks(t, u, shown, v, 0).count;
}

/** Wheel `steps` times over the middle of run `run`'s fault map, or until
 * `done` says so. */
async function zoomIn(opened: OpenedPage, run: number, steps: number, done: () => Promise<boolean> = async () => false): Promise<void> {
  const canvas = opened.page.locator(`section[data-run="${run}"] canvas.fault-map`);
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  await opened.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  for (let i = 0; i < steps && !(await done()); i++) {
    await opened.page.mouse.wheel(0, -400);
    await opened.page.waitForFunction(() => new Promise((resolve) => requestAnimationFrame(() => resolve(true))));
  }
}

/** Zoom into run `run`'s fault map until it draws marks one by one and at
 * most `marks` of them. */
function zoomToPoints(opened: OpenedPage, run = 0, marks = POINT_LIMIT): Promise<void> {
  return zoomIn(opened, run, 30, async () => {
    const state = await mapState(opened, run);
    return state.mode === "points" && state.visible <= marks;
  });
}

inBrowser("a page made by --html from an hpager run (SIGSEGV paging)", () => {
  let run: Run;
  let opened: OpenedPage;
  beforeAll(async () => {
    // Every 4th page with the next-page predictor: the predicted pages are
    // the ones the program never touches.
    run = await recordRun("hpager-signal", "hpager", ["--paging", "signal", "--predict", "next", "--pages", "2"], [bssTouch, "stride", "4"]);
    opened = await openPage(browser, run.html);
    await screenshot(opened.page, "hpager-signal");
  });

  test("is one self-contained file that loads without errors or requests", () => {
    expect(statSync(run.html).size).toBeLessThan(20 * 1024 * 1024);
    expect(opened.errors).toEqual([]);
    expect(opened.requests).toEqual([]);
  });

  test("its summary shows the report's figures", async () => {
    const r = run.report;
    expect(await figures(opened)).toEqual({
      program: r.program,
      pager: "hpager",
      mechanism: "signal",
      predictor: "next 2",
      exit: "0",
      faults: String(r.faults),
      pagesMapped: String(r.pagesMapped),
      wallMs: String(r.wallMs),
      maxRssKiB: String(r.maxRssKiB),
    });
    expect(await digits(opened, '.figure[data-field="faults"] dd')).toBe(String(r.faults));
    expect(await digits(opened, '.figure[data-field="pagesMapped"] dd')).toBe(String(r.pagesMapped));
  });

  test("its address-space map lists the report's regions, with the pages the trace shows mapped", async () => {
    const rows = await opened.page.$$eval("table.regions tbody tr", (trs) => trs.map((tr) => ({ name: tr.querySelector(".name")!.textContent, prot: tr.querySelector(".prot")!.textContent, mapped: Number((tr as HTMLElement).dataset.mapped), pages: Number((tr as HTMLElement).dataset.pages) })));
    const regions = [...run.report.regions].sort((a, b) => Number(a.start) - Number(b.start));
    expect(rows.map((r) => [r.name, r.prot, r.pages])).toEqual(regions.map((r) => [r.name, r.prot, r.size / 4096]));
    // All at start but the bss, whose mapped pages are the trace's: and the
    // whole adds up to the report's pages mapped.
    const bss = rows.find((r) => r.name === "bss_touch bss")!;
    const traced = new Set(run.trace.split("\n").filter((l) => l.includes('"kind":"fault"')).flatMap((l) => JSON.parse(l).mapped as string[]));
    expect(bss.mapped).toBe(traced.size);
    expect(rows.reduce((n, r) => n + r.mapped, 0)).toBe(run.report.pagesMapped);
  });

  test("the fault map draws every mapped page, as bins while there are too many to draw one by one", async () => {
    const marks = run.view.marks.event.length;
    expect(marks).toBe(run.report.pagesMapped - run.view.pagesAtStart);
    const state = await mapState(opened);
    expect(state.visible).toBe(marks);
    expect(state.mode).toBe(marks > POINT_LIMIT ? "bins" : "points");
    const canvas = opened.page.locator("canvas.fault-map");
    expect(await canvas.getAttribute("data-visible")).toBe(String(marks));
    const legend = await opened.page.$$eval("ul.legend li", (items) => items.map((li) => [Number((li as HTMLElement).dataset.category), Number((li as HTMLElement).dataset.count)]));
    expect(Object.fromEntries(legend)[1]).toBe(run.report.faults);
  });

  test("the predictor's record is the report's: no predicted page touched is one the program never touches", async () => {
    const p = run.report.predictions!;
    expect(p.seen).toBe("touched");
    expect(p.touched + p.untouched + p.unknown).toBe(p.predicted);
    expect(p.untouched).toBeGreaterThan(0);
    const shown = await opened.page.$$eval(".predictions [data-field]", (items) => Object.fromEntries(items.map((i) => [(i as HTMLElement).dataset.field!, Number((i as HTMLElement).dataset.value)])));
    expect(shown).toEqual({ predicted: p.predicted, touched: p.touched, untouched: p.untouched, unknown: p.unknown });
    // bss_touch stride 4 touches pages 0, 4, 8, ... of its array; the
    // predictor maps 1, 5, 9, ...: not one of those may be judged touched.
    const big = Number(`0x${/([0-9a-f]+) B big$/m.exec((await runProcess(["nm", bssTouch])).stdout)![1]}`);
    const m = run.view.marks;
    const touchedInBig = m.event.map((_, i) => i).filter((i) => m.cause[i] === CAUSE_PREDICTED && m.verdict[i] === 1).map((i) => run.view.regions[m.region[i]!]!.base + m.page[i]! * 4096 - big).filter((offset) => offset >= 0 && offset < 256 << 20);
    expect(touchedInBig.filter((offset) => (offset / 4096) % 4 !== 0)).toEqual([]);
  });

  test("zooming shows fewer marks, each drawn, the same ones the trace puts there", async () => {
    await zoomToPoints(opened);
    const state = await mapState(opened);
    expect(state.mode).toBe("points");
    expect(state.t1 - state.t0).toBeLessThan(run.view.summary.wallMs);
    expect(state.visible).toBeLessThan(run.view.marks.event.length);
    expect(state.visible).toBeLessThanOrEqual(POINT_LIMIT);
    expect(state.drawn).toBe(state.visible);
    expect(state.visible).toBe(expectedVisible(run.view, state));
    // The pages chart follows the fault map's time axis.
    const pagesAtEnd = await opened.page.evaluate((t) => window.faultlineView!.pagesAt(0, t), run.view.summary.wallMs);
    expect(pagesAtEnd).toBe(run.report.pagesMapped);
  });

  test("a predicted page's details name the fault that mapped it and what became of it", async () => {
    const m = run.view.marks;
    const i = m.event.findIndex((_, k) => m.cause[k] === CAUSE_PREDICTED && m.verdict[k] === 2);
    const event = parseTrace(run.trace).events[m.event[i]!]!;
    const page = run.view.regions[m.region[i]!]!.base + m.page[i]! * 4096;
    const lines = await opened.page.evaluate((i) => window.faultlineView!.describeMark(0, i), i);
    expect(lines[0]).toBe(`predicted page 0x${page.toString(16)}`);
    expect(lines[2]).toBe(`mapped at ${run.view.events.t[m.event[i]!]} ms with the fault at 0x${event.fault!.toString(16)} (next)`);
    expect(lines[3]).toBe(`not touched as of the last look (${run.report.predictions!.lastLookMs} ms)`);
  });

  test("unticking the bss leaves it out of both charts; ticking it brings it back", async () => {
    const bssRow = opened.page.locator("table.regions tbody tr", { hasText: "bss_touch bss" });
    const pagesChart = opened.page.locator("canvas.pages-chart");
    await bssRow.locator("input").uncheck();
    await opened.page.waitForFunction(() => window.faultlineView!.state(0).visible === 0);
    expect((await mapState(opened)).mode).toBe("empty");
    expect(Number(await pagesChart.getAttribute("data-pages-at-end"))).toBe(run.view.pagesAtStart);
    await bssRow.locator("input").check();
    await opened.page.waitForFunction(() => window.faultlineView!.state(0).mode !== "empty");
    expect(Number(await pagesChart.getAttribute("data-pages-at-end"))).toBe(run.report.pagesMapped);
  });

  test("a double-click goes back to the whole run", async () => {
    await opened.page.locator("canvas.fault-map").dblclick();
    await opened.page.waitForFunction((marks) => window.faultlineView!.state(0).visible === marks, run.view.marks.event.length);
    const state = await mapState(opened);
    expect(state.t0).toBe(0);
    expect(state.t1).toBeGreaterThanOrEqual(run.report.wallMs);
    expect(opened.errors).toEqual([]);
  });
});

inBrowser("a page made by --html from an hpager run paged the default way", () => {
  test("says what a look can see under the mechanism chosen, and the report's counts", async () => {
    const run = await recordRun("hpager-auto", "hpager", ["--predict", "stride", "--pages", "3"], [bssTouch, "stride", "4"]);
    const opened = await openPage(browser, run.html);
    const p = run.report.predictions!;
    const seen = run.report.paging === "userfaultfd" ? "written" : "touched";
    expect(p.seen).toBe(seen);
    expect(await opened.page.locator(".predictions").getAttribute("data-seen")).toBe(seen);
    const shown = await opened.page.$$eval(".predictions [data-field]", (items) => Object.fromEntries(items.map((i) => [(i as HTMLElement).dataset.field!, Number((i as HTMLElement).dataset.value)])));
    // Under userfaultfd no look can tell a page was not touched: the page
    // does not offer the figure at all.
    expect(shown).toEqual(seen === "written" ? { predicted: p.predicted, touched: p.touched, unknown: p.unknown } : { predicted: p.predicted, touched: p.touched, untouched: p.untouched, unknown: p.unknown });
    // The stride predictor learns every 4th page: most predictions pay.
    expect(p.touched).toBeGreaterThan(p.predicted / 2);
    expect(opened.errors).toEqual([]);
    await opened.page.close();
  });
});

inBrowser("a page of 100 000 faults", () => {
  test("stays under 20 MB, draws them as bins, and single faults once zoomed in", async () => {
    const run = await recordRun("dpager-100k", "dpager", [], [touchPages, "100000", "random"]);
    expect(run.report.faults).toBeGreaterThanOrEqual(100_000);
    const size = statSync(run.html).size;
    expect(size).toBeLessThan(20 * 1024 * 1024);
    const opened = await openPage(browser, run.html);
    const state = await mapState(opened);
    expect(state.mode).toBe("bins");
    expect(state.visible).toBe(run.view.marks.event.length);
    // Far fewer cells than marks: that is what keeps it responsive.
    expect(state.drawn).toBeLessThan(state.visible / 4);
    await zoomToPoints(opened);
    const zoomed = await mapState(opened);
    expect(zoomed.mode).toBe("points");
    expect(zoomed.visible).toBe(expectedVisible(run.view, zoomed));
    // Hovering a fault shows its address, its time and its page.
    await zoomToPoints(opened, 0, 2000);
    const m = run.view.marks;
    const points = await opened.page.evaluate((count) => {
      const found: { i: number; x: number; y: number }[] = [];
      for (let i = 0; i < count; i++) {
        const p = window.faultlineView!.markPoint(0, i);
        if (p) found.push({ i, ...p });
      }
      return found;
    }, m.event.length);
    const lonely = points.find((p) => m.cause[p.i] === CAUSE_FAULT && points.every((q) => q.i === p.i || Math.hypot(q.x - p.x, q.y - p.y) > 10))!;
    expect(lonely).toBeDefined();
    const canvas = opened.page.locator("canvas.fault-map");
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox())!;
    await opened.page.mouse.move(box.x + lonely.x, box.y + lonely.y);
    const text = await opened.page.locator(".tooltip:not([hidden])").first().innerText();
    const event = parseTrace(run.trace).events[m.event[lonely.i]!]!;
    const region = run.view.regions[m.region[lonely.i]!]!;
    expect(text).toContain(`demand fault at 0x${event.fault!.toString(16)}`);
    expect(text).toContain(`page 0x${event.mapped[0]!.toString(16)}: ${region.name}, page`);
    expect(text).toContain(`at ${run.view.events.t[m.event[lonely.i]!]} ms; mapped 1 page`);
    expect(opened.errors).toEqual([]);
    await screenshot(opened.page, "dpager-100k");
    console.log(`page of ${run.report.faults} faults: ${(size / 1024 / 1024).toFixed(1)} MB; last drawing ${zoomed.drawMs.toFixed(1)} ms`);
    await opened.page.close();
  });
});

inBrowser("bun run view", () => {
  test("puts dpager and hpager on the same program side by side, on one time axis", async () => {
    const d = await recordRun("side-dpager", "dpager", [], [bssTouch, "stride", "4"]);
    const h = await recordRun("side-hpager", "hpager", ["--predict", "stride", "--pages", "3"], [bssTouch, "stride", "4"]);
    const out = join(dir, "side.html");
    const made = await runProcess([process.execPath, `${ROOT}/src/cli/view.ts`, d.html.replace(/html$/, "jsonl"), d.html.replace(/html$/, "json"), h.html.replace(/html$/, "jsonl"), h.html.replace(/html$/, "json"), "-o", out]);
    expect(made.stderr).toBe("");
    expect(made.exitCode).toBe(0);
    const opened = await openPage(browser, out);
    expect(await opened.page.locator("section.run").count()).toBe(2);
    expect(await figures(opened, 0)).toMatchObject({ pager: "dpager", faults: String(d.report.faults), pagesMapped: String(d.report.pagesMapped) });
    expect(await figures(opened, 1)).toMatchObject({ pager: "hpager", faults: String(h.report.faults), pagesMapped: String(h.report.pagesMapped) });
    // Both start on the longer run's scale, and zooming one moves the other.
    const [a, b] = [await mapState(opened, 0), await mapState(opened, 1)];
    expect([a.t0, a.t1]).toEqual([b.t0, b.t1]);
    await zoomIn(opened, 1, 3);
    const [c, e] = [await mapState(opened, 0), await mapState(opened, 1)];
    expect(e.t1 - e.t0).toBeLessThan(b.t1 - b.t0);
    expect([c.t0, c.t1]).toEqual([e.t0, e.t1]);
    expect(c.visible).toBe(expectedVisible(d.view, c));
    expect(opened.errors).toEqual([]);
    expect(opened.requests).toEqual([]);
    await screenshot(opened.page, "side-by-side");
    await opened.page.close();
  });
});

inBrowser("a page made by --html from an apager run", () => {
  test("shows the run and its regions, all mapped at start, and no faults", async () => {
    const html = join(dir, "apager.html");
    const report = join(dir, "apager.json");
    const ran = await runPager("apager", [exitCode, "3"], { flags: ["-q", "--html", html, "--report", report] });
    expect(ran.exitCode).toBe(3);
    const r = JSON.parse(readFileSync(report, "utf8")) as RunReport;
    const opened = await openPage(browser, html);
    expect(await figures(opened)).toMatchObject({ pager: "apager", mechanism: "none", exit: "exit 3", faults: "0", pagesMapped: String(r.pagesMapped) });
    const mapped = await opened.page.$$eval("table.regions tbody tr", (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.mapped)));
    expect(mapped.reduce((a, b) => a + b, 0)).toBe(r.pagesMapped);
    expect((await mapState(opened)).mode).toBe("empty");
    expect(await opened.page.locator(".status").first().innerText()).toContain("apager maps every page before the program starts");
    expect(opened.errors).toEqual([]);
    await opened.page.close();
  });
});
