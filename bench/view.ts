/**
 * What the run page costs, measured:
 *
 * 1. Looking at predicted pages: hpager runs traced with the looks (as
 *    --trace and --html take them) against the same runs traced without,
 *    alternating, per mechanism and workload: medians of the wall time, and
 *    what the watcher spent following the trace and reading pagemap.
 * 2. The page of a 100 000-fault run (dpager, random order; and hpager on a
 *    sequential scan): file size, time to make it, time until it is drawn
 *    in headless Chromium, and how long the fault map takes to draw at
 *    once, zoomed out (bins) and zoomed in (marks one by one).
 * 3. The same 100 000 points in a Vega-Lite scatter with zoom bound to its
 *    scales, drawn by Vega in the same browser: the charting library the
 *    project uses for its SVG charts, which the page does not use.
 *
 *   bun run bench:view [--runs N] [--out FILE] [--screenshot FILE] [--quiet]
 *
 * Writes everything as JSON to --out (default bench/results/view.json) and
 * a screenshot of an hpager run's page to --screenshot (default
 * docs/view.png, the README's picture). Needs a Chromium (found as
 * test/support/browser.ts finds it); without one it says so and exits 1.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import type { RunReport } from "../src/run/report.ts";
import { userfaultfdAvailable } from "../src/shim/shim.ts";
import { buildRunView, markTimes, parseReport } from "../src/view/model.ts";
import { parseTrace } from "../src/view/trace.ts";
import { renderPage } from "../src/view/write.ts";
import { findChromium, noChromiumLine, openBrowser, openPage, type Browser } from "../test/support/browser.ts";
import { buildProgram } from "../test/support/programs.ts";
import { COMMON_OPTIONS, finish, Progress, readBenchLine, readLoad } from "./cli.ts";
import { median } from "./statistics.ts";

const { values: options } = readBenchLine({
  command: "bun run bench:view",
  summary:
    "What the run page costs: traced hpager runs with and without the looks at predicted pages (wall time in ms, and the ratio: 1.10x is 10% longer), the page of a 100 000-fault run in headless Chromium (its size in MiB, the time to make and draw it, in ms), and Vega drawing the same points. Writes the figures as JSON and a screenshot of a page. Needs a Chromium; takes about two minutes.",
  options: {
    runs: { kind: "count", value: "N", description: "runs of each traced workload each way (default 5)" },
    out: { kind: "text", value: "FILE", description: "where to write the figures as JSON (default bench/results/view.json)" },
    screenshot: { kind: "text", value: "FILE", description: "where to write the screenshot (default docs/view.png, the README's picture)" },
    ...COMMON_OPTIONS,
  },
});
const root = resolve(import.meta.dir, "..");
const runs = options.runs ?? 5;
const out = resolve(options.out ?? join(root, "bench", "results", "view.json"));
const screenshotPath = resolve(options.screenshot ?? join(root, "docs", "view.png"));
const chromium = findChromium();
if (chromium === null) {
  process.stderr.write(`bun run bench:view: ${noChromiumLine("the page cannot be measured")}\n`);
  process.exit(1);
}
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:view", options.quiet);
const work = mkdtempSync(join(tmpdir(), "faultline-bench-view-"));

async function bun(argv: string[]): Promise<string> {
  const proc = Bun.spawn([process.execPath, ...argv], { stdout: "ignore", stderr: "pipe", cwd: root });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`bun ${argv.join(" ")} ended with ${code}: ${stderr}`);
  return stderr;
}

// 1. What looking costs.
interface WatchRow {
  workload: string;
  mechanism: string;
  plainMs: number;
  looksMs: number;
  ratio: number;
  traceMs: number;
  pagemapMs: number;
  looks: number;
  lastLookShare: number;
  predicted: number;
  touched: number;
  untouched: number;
  unknown: number;
}

async function watchCost(bssTouch: string): Promise<WatchRow[]> {
  const workloads = [
    { name: "seq64", args: ["seq", "16384"] },
    { name: "stride", args: ["stride", "4"] },
    { name: "random", args: ["random"] },
  ];
  const mechanisms = userfaultfdAvailable() ? ["userfaultfd", "signal"] : ["signal"];
  const rows: WatchRow[] = [];
  const result = join(work, "run.json");
  for (const w of workloads) {
    for (const mechanism of mechanisms) {
      const plain: number[] = [];
      const looked: { wallMs: number; traceMs: number; pagemapMs: number; predictions: NonNullable<RunReport["predictions"]> }[] = [];
      for (let i = 0; i < runs; i++) {
        for (const mode of ["plain", "looks"]) {
          await bun([join(root, "bench", "view-run.ts"), result, mode, mechanism, "next", "2", bssTouch, ...w.args]);
          const r = JSON.parse(readFileSync(result, "utf8"));
          if (mode === "plain") plain.push(r.wallMs);
          else looked.push(r);
        }
      }
      const last = looked[looked.length - 1]!;
      const looksMs = median(looked.map((r) => r.wallMs));
      const plainMs = median(plain);
      rows.push({
        workload: w.name,
        mechanism,
        plainMs,
        looksMs,
        ratio: looksMs / plainMs,
        traceMs: median(looked.map((r) => r.traceMs)),
        pagemapMs: median(looked.map((r) => r.pagemapMs)),
        looks: last.predictions.looks,
        lastLookShare: (last.predictions.lastLookMs ?? 0) / last.wallMs,
        predicted: last.predictions.predicted,
        touched: last.predictions.touched,
        untouched: last.predictions.untouched,
        unknown: last.predictions.unknown,
      });
      process.stderr.write(`bench:view: looks, ${w.name} ${mechanism} done\n`);
    }
  }
  return rows;
}

// 2. The page of 100 000 faults.
interface PageRow {
  run: string;
  faults: number;
  marks: number;
  traceBytes: number;
  pageBytes: number;
  makeMs: number;
  readyMs: number;
  firstDrawMs: number;
  binsDrawMs: number;
  pointsDrawMs: number;
  /** From a wheel step to the frame after the redraw. */
  wheelMs: number;
}

/**
 * From a wheel step over the middle of `selector` to the frame after the
 * chart has redrawn (`settle`, run in the page, resolves once it has): the
 * latency a reader feels, measured the same way for the page and for Vega.
 */
async function wheelLatencies(page: import("playwright-core").Page, selector: string, deltas: number[], settle: string): Promise<number[]> {
  const target = page.locator(selector).first();
  await target.scrollIntoViewIfNeeded();
  const box = (await target.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.5);
  const latencies: number[] = [];
  for (const delta of deltas) {
    await page.evaluate(() => ((window as unknown as { wheelStart: number }).wheelStart = performance.now()));
    await page.mouse.wheel(0, delta);
    latencies.push(await page.evaluate(`(async () => { await (${settle})(); await new Promise((r) => requestAnimationFrame(r)); return performance.now() - window.wheelStart; })()`));
  }
  return latencies;
}

/** Median drawing time of the fault map over `steps` wheel steps (towards
 * the middle of the run), and the mode it drew in last. */
async function drawTimes(browser: Browser, file: string) {
  const opened = await openPage(browser, file);
  const { page } = opened;
  const readyMs = await page.evaluate(() => window.faultlineView!.readyMs);
  const first = await page.evaluate(() => window.faultlineView!.state(0));
  const bins: number[] = [];
  const points: number[] = [];
  // In 16 steps to a few hundred marks, and back out.
  const deltas = Array.from({ length: 24 }, (_, i) => (i < 16 ? -250 : 500));
  const latencies = await wheelLatencies(page, "canvas.fault-map", deltas, "() => new Promise((r) => requestAnimationFrame(r))");
  // The drawing times of the states the steps left (one draw per step).
  for (let i = 0; i < deltas.length; i++) {
    await page.mouse.wheel(0, deltas[i]!);
    const state = await page.evaluate(() => new Promise<ReturnType<NonNullable<Window["faultlineView"]>["state"]>>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve(window.faultlineView!.state(0))))));
    (state.mode === "bins" ? bins : points).push(state.drawMs);
  }
  if (opened.errors.length > 0) throw new Error(`the page logged errors: ${opened.errors.join("; ")}`);
  await page.close();
  return { readyMs, firstDrawMs: first.drawMs, binsDrawMs: bins.length ? median(bins) : NaN, pointsDrawMs: points.length ? median(points) : NaN, wheelMs: median(latencies) };
}

async function pageCost(browser: Browser, touchPages: string): Promise<PageRow[]> {
  const rows: PageRow[] = [];
  const cases = [
    { run: "dpager, 100 000 pages in random order", pager: "dpager", flags: [] as string[], args: ["100000", "random"] },
    { run: "hpager next 2, 200 000 pages in order", pager: "hpager", flags: ["--predict", "next", "--pages", "2"], args: ["200000", "seq"] },
  ];
  for (const c of cases) {
    const files = { html: join(work, "page.html"), trace: join(work, "page.jsonl"), report: join(work, "page.json") };
    await bun([join(root, "src", "cli", "cli.ts"), c.pager, "-q", "--html", files.html, "--trace", files.trace, "--report", files.report, ...c.flags, touchPages, ...c.args]);
    const started = performance.now();
    const report = parseReport(readFileSync(files.report, "utf8"), files.report);
    const trace = parseTrace(readFileSync(files.trace, "utf8"), files.trace);
    await renderPage([{ report, trace }]);
    const makeMs = performance.now() - started;
    const times: Awaited<ReturnType<typeof drawTimes>>[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) times.push(await drawTimes(browser, files.html));
    rows.push({
      run: c.run,
      faults: report.faults,
      marks: buildRunView(report, trace).marks.event.length,
      traceBytes: statSync(files.trace).size,
      pageBytes: statSync(files.html).size,
      makeMs,
      readyMs: median(times.map((t) => t.readyMs)),
      firstDrawMs: median(times.map((t) => t.firstDrawMs)),
      binsDrawMs: median(times.map((t) => t.binsDrawMs)),
      pointsDrawMs: median(times.map((t) => t.pointsDrawMs)),
      wheelMs: median(times.map((t) => t.wheelMs)),
    });
    process.stderr.write(`bench:view: page, ${c.run} done\n`);
  }
  return rows;
}

// 3. The same points drawn by Vega.
interface VegaRow {
  points: number;
  pageBytes: number;
  firstRenderMs: number;
  zoomRenderMs: number;
}

async function vegaCost(browser: Browser, touchPages: string): Promise<VegaRow> {
  const files = { trace: join(work, "vega.jsonl"), report: join(work, "vega.json") };
  await bun([join(root, "src", "cli", "cli.ts"), "dpager", "-q", "--trace", files.trace, "--report", files.report, touchPages, "100000", "random"]);
  const view = buildRunView(parseReport(readFileSync(files.report, "utf8")), parseTrace(readFileSync(files.trace, "utf8")));
  const times = markTimes(view);
  const values = view.marks.event.map((_, i) => ({ t: times[i]!, page: view.marks.page[i]!, region: view.marks.region[i]! }));
  const { compile } = await import("vega-lite");
  const spec = compile({
    width: 1150,
    height: 420,
    data: { values },
    params: [{ name: "zoom", select: "interval", bind: "scales" }],
    mark: { type: "point", filled: true, size: 6 },
    encoding: {
      x: { field: "t", type: "quantitative", title: "ms" },
      y: { field: "page", type: "quantitative", title: "page" },
      color: { field: "region", type: "nominal" },
      tooltip: [{ field: "t" }, { field: "page" }],
    },
  }).spec;
  const vega = readFileSync(join(root, "node_modules", "vega", "build", "vega.min.js"), "utf8").replace(/<\/script/gi, "<\\/script");
  const html = `<!doctype html><html><head><meta charset="utf-8"><script>${vega}</script></head><body><div id="chart"></div><script>
    const started = performance.now();
    const view = new vega.View(vega.parse(${JSON.stringify(spec).replace(/</g, "\\u003c")}), { renderer: "canvas", container: "#chart", hover: true });
    view.runAsync().then(() => { window.firstRenderMs = performance.now() - started; window.vegaView = view; document.body.dataset.ready = "true"; });
  </script></body></html>`;
  const file = join(work, "vega.html");
  writeFileSync(file, html);
  const opened = await openPage(browser, file);
  const firstRenderMs = await opened.page.evaluate(() => (window as unknown as { firstRenderMs: number }).firstRenderMs);
  const deltas = Array.from({ length: 8 }, (_, i) => (i < 5 ? -250 : 400));
  const zooms = await wheelLatencies(opened.page, "canvas", deltas, "() => window.vegaView.runAsync()");
  await opened.page.close();
  return { points: values.length, pageBytes: html.length, firstRenderMs, zoomRenderMs: median(zooms) };
}

/** The README's picture: an hpager run learning a stride, paged by SIGSEGV
 * so the looks can tell untouched pages too. */
async function screenshot(browser: Browser, bssTouch: string): Promise<void> {
  const html = join(work, "shot.html");
  await bun([join(root, "src", "cli", "cli.ts"), "hpager", "-q", "--paging", "signal", "--predict", "stride", "--pages", "3", "--html", html, bssTouch, "stride", "4"]);
  const opened = await openPage(browser, html);
  mkdirSync(dirname(screenshotPath), { recursive: true });
  await opened.page.screenshot({ path: screenshotPath, fullPage: true });
  await opened.page.close();
}

progress.say("building the programs");
const [bssTouch, touchPages] = await Promise.all([buildProgram("bss_touch.c", "static"), buildProgram("touch_pages.c", "static")]);
const browser = await openBrowser(chromium);
try {
  progress.say(`what looking at predicted pages costs, ${runs} runs each way`);
  const watch = await watchCost(bssTouch);
  progress.say("the page of 100 000 faults in Chromium");
  const pages = await pageCost(browser, touchPages);
  progress.say("Vega drawing the same points");
  const vega = await vegaCost(browser, touchPages);
  progress.say("the screenshot");
  await screenshot(browser, bssTouch);
  progress.done();
  const machine = { cpus: navigator.hardwareConcurrency, kernel: (await Bun.$`uname -r`.text()).trim(), chromium: (await Bun.$`${chromium} --version`.text()).trim(), date: new Date().toISOString() };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ benchmark: "view", runs, machine, watch, pages, vega }, null, 2)}\n`);

  console.log(`run page benchmark: medians of ${runs} runs (${machine.cpus} CPUs, Linux ${machine.kernel}, ${machine.chromium})`);
  console.log("\nlooking at predicted pages (hpager next 2, traced): wall ms without looks, with looks");
  console.log("  workload  mechanism     plain ms   looks ms   ratio  trace ms  pagemap ms  looks  last look  predicted  touched  untouched  unknown");
  for (const r of watch) {
    console.log(
      `  ${r.workload.padEnd(9)} ${r.mechanism.padEnd(12)} ${r.plainMs.toFixed(1).padStart(9)} ${r.looksMs.toFixed(1).padStart(10)} ${r.ratio.toFixed(2).padStart(6)}x ${r.traceMs.toFixed(1).padStart(8)} ${r.pagemapMs.toFixed(1).padStart(11)} ${String(r.looks).padStart(6)} ${(100 * r.lastLookShare).toFixed(0).padStart(8)}% ${String(r.predicted).padStart(10)} ${String(r.touched).padStart(8)} ${String(r.untouched).padStart(10)} ${String(r.unknown).padStart(8)}`,
    );
  }
  console.log("\nthe page (Chromium, 1400x1000 viewport)");
  for (const p of pages) {
    console.log(`  ${p.run}: ${p.faults} faults, ${p.marks} marks; trace ${(p.traceBytes / 2 ** 20).toFixed(1)} MiB, page ${(p.pageBytes / 2 ** 20).toFixed(1)} MiB, made in ${p.makeMs.toFixed(0)} ms`);
    console.log(`    drawn ${p.readyMs.toFixed(0)} ms after loading began; the fault map drawn in ${p.firstDrawMs.toFixed(1)} ms at first, then ${p.binsDrawMs.toFixed(1)} ms as bins, ${p.pointsDrawMs.toFixed(1)} ms as marks; ${p.wheelMs.toFixed(0)} ms from a wheel step to the next frame`);
  }
  console.log(`\nVega-Lite scatter of the same ${vega.points} points (vega ${JSON.parse(readFileSync(join(root, "node_modules", "vega", "package.json"), "utf8")).version}, canvas): page ${(vega.pageBytes / 2 ** 20).toFixed(1)} MiB, first render ${vega.firstRenderMs.toFixed(0)} ms, ${vega.zoomRenderMs.toFixed(0)} ms from a wheel step to the next frame`);
  console.log(`\nJSON: ${relative(root, out)}; screenshot: ${relative(root, screenshotPath)}`);
} finally {
  await browser.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(finish({ json: false, check: false }, loadBefore));
