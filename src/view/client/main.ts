/**
 * The page's script: reads the runs embedded in the page, lays out one
 * panel per run (side by side when there are two), keeps their time axes
 * together when asked, and exposes what is drawn as `window.faultlineView`
 * for scripts and tests.
 */
import type { PageData } from "../model.ts";
import { el } from "./dom.ts";
import type { MapState, TimeRange } from "./fault-map.ts";
import { RunPanel } from "./panel.ts";

/** What a script can ask the page (tests drive the page through it). */
export interface PageApi {
  runs: number;
  /** When the page was drawn, in ms since it began loading. */
  readyMs: number;
  /** The fault map's state of run `run`. */
  state(run: number): MapState;
  /** Where mark `mark` of run `run` is drawn, in CSS pixels from the fault
   * map canvas's corner, or null when out of view. */
  markPoint(run: number, mark: number): { x: number; y: number } | null;
  /** Pages mapped by time t (ms) in run `run`, for the regions shown. */
  pagesAt(run: number, t: number): number;
  /** The tooltip of mark `mark` of run `run`, as the page words it. */
  describeMark(run: number, mark: number): string[];
}

declare global {
  interface Window {
    faultlineView?: PageApi;
  }
}

/** The runs' data: JSON, gzipped, in base64 (see src/view/page.ts). */
async function readData(): Promise<PageData> {
  const source = document.getElementById("faultline-data");
  if (!source?.textContent) throw new Error("the page holds no run data");
  const binary = atob(source.textContent);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const text = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  return JSON.parse(text) as PageData;
}

async function start(): Promise<void> {
  const data = await readData();
  const root = document.getElementById("runs")!;
  let linked = data.runs.length > 1;
  const panels: RunPanel[] = [];
  const follow = (from: RunPanel, range: TimeRange) => {
    if (!linked) return;
    for (const panel of panels) if (panel !== from) panel.setTime(range);
  };
  data.runs.forEach((run, i) => panels.push(new RunPanel(run, i, follow)));
  if (panels.length > 1) {
    const box = el("input", { type: "checkbox", checked: true, id: "link-time" });
    box.addEventListener("change", () => {
      linked = box.checked;
      if (linked) follow(panels[0]!, panels[0]!.map.timeRange());
    });
    root.before(el("p", { className: "link" }, box, el("label", { for: "link-time" }, " same time axis for both runs (zoom and pan move both)")));
    // Both runs on one time scale from the start: the longer run's.
    const end = Math.max(...panels.map((p) => p.map.wholeRun().t1));
    for (const panel of panels) panel.setTime({ t0: 0, t1: end });
  }
  root.style.gridTemplateColumns = `repeat(${panels.length}, minmax(0, 1fr))`;
  root.append(...panels.map((p) => p.element));
  const layout = () => {
    for (const panel of panels) panel.resize(Math.max(320, Math.floor(panel.element.clientWidth)));
  };
  layout();
  let pending = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(layout);
  }).observe(root);
  window.faultlineView = {
    runs: panels.length,
    readyMs: performance.now(),
    state: (run) => panels[run]!.map.state(),
    markPoint: (run, mark) => panels[run]!.map.markPoint(mark),
    pagesAt: (run, t) => panels[run]!.pages.pagesAt(t),
    describeMark: (run, mark) => panels[run]!.map.describeMark(mark),
  };
  document.body.dataset.ready = "true";
}

start().catch((error: unknown) => {
  document.getElementById("runs")?.replaceChildren(el("p", { className: "error" }, `This page could not be drawn: ${error instanceof Error ? error.message : String(error)}`));
  throw error;
});
