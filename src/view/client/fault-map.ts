/**
 * The fault map: every page mapped after the start, at its time (x) and
 * address (y), one band per demand-paged region. Drawn on a canvas: mark by
 * mark while a view holds at most POINT_LIMIT of them, else counted into
 * 4-pixel cells, each painted in the colour of the category most of its
 * marks belong to and as dark as it is full (log scale).
 *
 * Wheel: zoom time at the pointer (with Shift, or over the address axis:
 * zoom addresses); drag: pan; double-click: back to the whole run; hover: a
 * mark's details, or a cell's counts.
 */
import { hex } from "../../loader/errors.ts";
import { CAUSE_FAULT, PAGE_SIZE, markTimes, type RunView } from "../model.ts";
import {
  BAND_GAP,
  POINT_LIMIT,
  bandPosition,
  binMarks,
  dominantCategory,
  splitCell,
  formatMs,
  groupDigits,
  niceTicks,
  pageAt,
  tAt,
  uAt,
  visibleMarks,
  xOf,
  yOf,
  type Bins,
  type Viewport,
} from "../plot.ts";
import { CATEGORY_COUNT, CATEGORY_FAULT, CATEGORY_START, CATEGORY_TOUCHED, CATEGORY_UNKNOWN, CATEGORY_UNTOUCHED, COLORS } from "./categories.ts";
import { el, sizeCanvas } from "./dom.ts";

/** Room for the address labels, the time axis and a margin. */
const MARGIN = { left: 122, right: 14, top: 8, bottom: 34 };
const CELL_PIXELS = 4;
/** Marks' sizes: a fault's, and a predicted page's. */
const FAULT_PIXELS = 4;
const PREDICTED_PIXELS = 2;
/** How close (pixels) the pointer must be to a mark to show it. */
const HOVER_PIXELS = 6;
const MIN_TIME_SPAN_MS = 1e-6;
const MIN_U_SPAN = 1e-9;

export interface TimeRange {
  t0: number;
  t1: number;
}

/** What the map shows now, for the status line and for scripts. */
export interface MapState {
  mode: "points" | "bins" | "empty";
  /** Marks inside the view (of the regions shown). */
  visible: number;
  /** Marks drawn one by one, or cells drawn. */
  drawn: number;
  t0: number;
  t1: number;
  u0: number;
  u1: number;
  /** Region indices of the bands, lowest band first. */
  bands: number[];
  /** How long the last drawing took, in ms. */
  drawMs: number;
}

export class FaultMap {
  readonly element: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly tooltip: HTMLDivElement;
  private readonly status: HTMLParagraphElement;
  private context: CanvasRenderingContext2D | null = null;
  private width = 0;
  private height = 0;
  private readonly t: Float64Array;
  private u: Float64Array;
  private readonly shown: Uint8Array;
  private readonly eventFirstMark: Int32Array;
  private bands: number[] = [];
  private bandOfRegion = new Int32Array(0);
  private view: Viewport = { t0: 0, t1: 1, u0: 0, u1: 1, width: 1, height: 1 };
  private readonly fullTime: TimeRange;
  private frame = 0;
  private drag: { x: number; y: number; view: Viewport; moved: boolean } | null = null;
  private lastBins: Bins | null = null;
  private lastVisible: Int32Array = new Int32Array(0);
  private current: MapState = { mode: "empty", visible: 0, drawn: 0, t0: 0, t1: 1, u0: 0, u1: 1, bands: [], drawMs: 0 };

  constructor(
    private readonly run: RunView,
    private readonly category: Uint8Array,
    private readonly labels: string[],
    private readonly onTime: (range: TimeRange) => void,
  ) {
    const n = run.marks.event.length;
    this.t = markTimes(run);
    this.u = new Float64Array(n);
    this.shown = new Uint8Array(n);
    this.eventFirstMark = new Int32Array(run.events.t.length).fill(-1);
    run.marks.event.forEach((e, i) => {
      if (this.eventFirstMark[e] === -1) this.eventFirstMark[e] = i;
    });
    const end = Math.max(run.summary.wallMs, n > 0 ? this.t[n - 1]! : 0, 1e-3);
    this.fullTime = { t0: 0, t1: end };
    this.canvas = el("canvas", { className: "fault-map", role: "img", "aria-label": "faults over time: time across, address up, one band per demand-paged region" });
    this.tooltip = el("div", { className: "tooltip", role: "tooltip", hidden: true });
    this.status = el("p", { className: "status" });
    this.element = el("div", { className: "chart" }, this.canvas, this.tooltip);
    this.setShownRegions(new Set(run.regions.map((_, i) => i)));
    this.listen();
  }

  /** The status line that goes under the chart. */
  statusLine(): HTMLParagraphElement {
    return this.status;
  }

  /** Show only these regions' bands (their marks), and all of each. */
  setShownRegions(shown: ReadonlySet<number>): void {
    const regions = this.run.regions;
    this.bands = regions
      .map((_, i) => i)
      .filter((i) => regions[i]!.demand && shown.has(i))
      .sort((a, b) => regions[a]!.base - regions[b]!.base);
    this.bandOfRegion = new Int32Array(regions.length).fill(-1);
    this.bands.forEach((region, band) => (this.bandOfRegion[region] = band));
    const { region, page } = this.run.marks;
    this.u = new Float64Array(this.t.length);
    for (let i = 0; i < this.t.length; i++) {
      const band = this.bandOfRegion[region[i]!]!;
      this.shown[i] = band >= 0 ? 1 : 0;
      if (band >= 0) this.u[i] = bandPosition(band, page[i]!, regions[region[i]!]!.pages);
    }
    this.view = { ...this.view, u0: 0, u1: Math.max(1, this.bands.length) };
    this.schedule();
  }

  /** Show this time range (another chart's, when time axes are linked). */
  setTime(range: TimeRange): void {
    this.view = { ...this.view, t0: range.t0, t1: range.t1 };
    this.schedule();
  }

  timeRange(): TimeRange {
    return { t0: this.view.t0, t1: this.view.t1 };
  }

  wholeRun(): TimeRange {
    return { ...this.fullTime };
  }

  reset(): void {
    this.view = { ...this.view, ...this.fullTime, u0: 0, u1: Math.max(1, this.bands.length) };
    this.schedule();
    this.onTime(this.timeRange());
  }

  /** Lay the canvas out at this width (CSS pixels). */
  resize(width: number): void {
    const height = Math.max(220, Math.min(520, 120 * Math.max(1, this.bands.length)));
    this.context = sizeCanvas(this.canvas, width, height);
    this.width = width;
    this.height = height;
    if (this.view.t1 === 1 && this.view.t0 === 0) this.view = { ...this.view, ...this.fullTime };
    this.view = { ...this.view, width: width - MARGIN.left - MARGIN.right, height: height - MARGIN.top - MARGIN.bottom };
    this.draw();
  }

  state(): MapState {
    return { ...this.current, bands: [...this.current.bands] };
  }

  /** Where mark i is drawn, in CSS pixels from the canvas's corner; null
   * when it is not in view. */
  markPoint(i: number): { x: number; y: number } | null {
    if (this.shown[i] !== 1) return null;
    const x = xOf(this.t[i]!, this.view);
    const y = yOf(this.u[i]!, this.view);
    if (x < 0 || x > this.view.width || y < 0 || y > this.view.height) return null;
    return { x: x + MARGIN.left, y: y + MARGIN.top };
  }

  private schedule(): void {
    if (this.frame !== 0 || this.context === null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  private draw(): void {
    const ctx = this.context;
    if (ctx === null) return;
    const started = performance.now();
    const v = this.view;
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.save();
    ctx.translate(MARGIN.left, MARGIN.top);
    ctx.beginPath();
    ctx.rect(0, 0, v.width, v.height);
    ctx.clip();
    ctx.fillStyle = "#fbfbfd";
    ctx.fillRect(0, 0, v.width, v.height);
    this.bands.forEach((_, band) => {
      const top = yOf(band + 1 - BAND_GAP / 2, v);
      const bottom = yOf(band + BAND_GAP / 2, v);
      ctx.fillStyle = band % 2 === 0 ? "#eef2f8" : "#f3f0f7";
      ctx.fillRect(0, top, v.width, bottom - top);
    });
    const visible = visibleMarks(this.t, this.u, this.shown, v, POINT_LIMIT);
    let state: Omit<MapState, "drawMs">;
    if (this.bands.length === 0) {
      state = { mode: "empty", visible: 0, drawn: 0, ...this.range(), bands: [] };
      this.lastBins = null;
      this.lastVisible = new Int32Array(0);
    } else if (visible.count <= POINT_LIMIT) {
      // A fault's predicted pages sit right next to it: faults are drawn
      // larger, the predicted pages smaller on top, so both show.
      const order = [CATEGORY_START, CATEGORY_FAULT, CATEGORY_UNTOUCHED, CATEGORY_UNKNOWN, CATEGORY_TOUCHED];
      for (const category of order) {
        const size = category <= CATEGORY_FAULT ? FAULT_PIXELS : PREDICTED_PIXELS;
        ctx.fillStyle = COLORS[category]!;
        for (const i of visible.indices) {
          if (this.category[i] !== category) continue;
          ctx.fillRect(xOf(this.t[i]!, v) - size / 2, yOf(this.u[i]!, v) - size / 2, size, size);
        }
      }
      this.lastBins = null;
      this.lastVisible = visible.indices;
      state = { mode: "points", visible: visible.count, drawn: visible.indices.length, ...this.range(), bands: [...this.bands] };
    } else {
      const bins = binMarks(this.t, this.u, this.shown, this.category, CATEGORY_COUNT, v, CELL_PIXELS);
      const scale = Math.log1p(bins.max);
      for (let c = 0; c < bins.columns * bins.rows; c++) {
        let n = 0;
        for (let k = 0; k < CATEGORY_COUNT; k++) n += bins.counts[c * CATEGORY_COUNT + k]!;
        if (n === 0) continue;
        ctx.globalAlpha = 0.3 + (0.7 * Math.log1p(n)) / scale;
        const x = (c % bins.columns) * CELL_PIXELS;
        const y = Math.floor(c / bins.columns) * CELL_PIXELS;
        // A cell holding both faults and predicted pages shows both: the
        // faults' colour on its left half, the predictions' on its right.
        const split = splitCell(bins, c);
        if (split === null) {
          ctx.fillStyle = COLORS[dominantCategory(bins, c)]!;
          ctx.fillRect(x, y, CELL_PIXELS, CELL_PIXELS);
        } else {
          ctx.fillStyle = COLORS[split.faults]!;
          ctx.fillRect(x, y, CELL_PIXELS / 2, CELL_PIXELS);
          ctx.fillStyle = COLORS[split.predicted]!;
          ctx.fillRect(x + CELL_PIXELS / 2, y, CELL_PIXELS / 2, CELL_PIXELS);
        }
      }
      ctx.globalAlpha = 1;
      this.lastBins = bins;
      this.lastVisible = new Int32Array(0);
      state = { mode: "bins", visible: bins.total, drawn: bins.used, ...this.range(), bands: [...this.bands] };
    }
    this.drawBandNames(ctx);
    ctx.restore();
    this.drawAxes(ctx);
    this.current = { ...state, drawMs: performance.now() - started };
    this.canvas.dataset.mode = state.mode;
    this.canvas.dataset.visible = String(state.visible);
    this.canvas.dataset.drawn = String(state.drawn);
    this.status.textContent =
      state.mode === "empty"
        ? this.run.summary.pager === "apager"
          ? "apager maps every page before the program starts: there are no faults to show."
          : "No demand-paged region is shown: tick one in the table above."
        : state.mode === "points"
          ? `${groupDigits(state.visible)} pages mapped in view, each drawn. Wheel: zoom time · Shift+wheel: zoom addresses · drag: pan · double-click: whole run.`
          : `${groupDigits(state.visible)} pages mapped in view, too many to draw one by one: counted in ${groupDigits(state.drawn)} cells of ${CELL_PIXELS}×${CELL_PIXELS} pixels, each in the colour of most of its pages, darker when fuller. Zoom in for single faults.`;
  }

  private range(): { t0: number; t1: number; u0: number; u1: number } {
    return { t0: this.view.t0, t1: this.view.t1, u0: this.view.u0, u1: this.view.u1 };
  }

  private drawBandNames(ctx: CanvasRenderingContext2D): void {
    const v = this.view;
    ctx.font = "12px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    this.bands.forEach((region, band) => {
      const top = Math.max(0, yOf(band + 1 - BAND_GAP / 2, v));
      const bottom = yOf(band + BAND_GAP / 2, v);
      if (bottom < 14 || top > v.height - 14) return;
      const name = this.run.regions[region]!.name;
      const width = ctx.measureText(name).width;
      ctx.fillStyle = "rgba(255,255,255,0.8)";
      ctx.fillRect(4, top + 2, width + 8, 16);
      ctx.fillStyle = "#333";
      ctx.fillText(name, 8, top + 4);
    });
  }

  private drawAxes(ctx: CanvasRenderingContext2D): void {
    const v = this.view;
    ctx.strokeStyle = "#888";
    ctx.fillStyle = "#333";
    ctx.lineWidth = 1;
    ctx.font = "11px ui-monospace, monospace";
    // Time, across the bottom.
    const bottom = MARGIN.top + v.height;
    ctx.beginPath();
    ctx.moveTo(MARGIN.left, bottom + 0.5);
    ctx.lineTo(MARGIN.left + v.width, bottom + 0.5);
    const ticks = niceTicks(v.t0, v.t1, Math.max(2, Math.floor(v.width / 90)));
    const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : v.t1 - v.t0;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const tick of ticks) {
      const x = MARGIN.left + xOf(tick, v);
      if (x < MARGIN.left - 1 || x > MARGIN.left + v.width + 1) continue;
      ctx.moveTo(x + 0.5, bottom);
      ctx.lineTo(x + 0.5, bottom + 4);
      ctx.fillText(formatMs(tick, step), x, bottom + 6);
    }
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText("ms", MARGIN.left + v.width, bottom + 20);
    // Addresses, up the left, per band.
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.beginPath();
    ctx.moveTo(MARGIN.left - 0.5, MARGIN.top);
    ctx.lineTo(MARGIN.left - 0.5, bottom);
    this.bands.forEach((regionIndex, band) => {
      const region = this.run.regions[regionIndex]!;
      const lo = Math.max(v.u0, band + BAND_GAP / 2);
      const hi = Math.min(v.u1, band + 1 - BAND_GAP / 2);
      if (hi <= lo) return;
      const pixels = yOf(lo, v) - yOf(hi, v);
      const pageOf = (u: number) => ((u - band - BAND_GAP / 2) / (1 - BAND_GAP)) * region.pages;
      const pages = niceTicks(pageOf(lo), pageOf(hi), Math.max(1, Math.floor(pixels / 36))).filter((p) => Number.isInteger(p) && p >= 0 && p <= region.pages);
      for (const page of pages) {
        const y = MARGIN.top + yOf(band + BAND_GAP / 2 + (page / region.pages) * (1 - BAND_GAP), v);
        ctx.moveTo(MARGIN.left - 4, y + 0.5);
        ctx.lineTo(MARGIN.left, y + 0.5);
        ctx.fillText(hex(region.base + page * PAGE_SIZE), MARGIN.left - 6, y);
      }
    });
    ctx.stroke();
  }

  private listen(): void {
    const canvas = this.canvas;
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      const { x, y } = this.plotPoint(event);
      const delta = (event.deltaY || event.deltaX) * (event.deltaMode === 1 ? 16 : 1);
      const factor = Math.exp(delta * 0.002);
      const v = this.view;
      if (event.shiftKey || x < 0) {
        const at = uAt(y, v);
        const span = Math.max(MIN_U_SPAN, (v.u1 - v.u0) * factor);
        const share = (at - v.u0) / (v.u1 - v.u0);
        this.view = { ...v, u0: at - share * span, u1: at - share * span + span };
      } else {
        const at = tAt(x, v);
        const span = Math.max(MIN_TIME_SPAN_MS, (v.t1 - v.t0) * factor);
        const share = (at - v.t0) / (v.t1 - v.t0);
        this.view = { ...v, t0: at - share * span, t1: at - share * span + span };
        this.onTime(this.timeRange());
      }
      this.hideTooltip();
      this.schedule();
    });
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      this.drag = { x: event.clientX, y: event.clientY, view: { ...this.view }, moved: false };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      const drag = this.drag;
      if (drag) {
        const dx = event.clientX - drag.x;
        const dy = event.clientY - drag.y;
        if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
        drag.moved = true;
        const v = drag.view;
        const dt = (-dx / v.width) * (v.t1 - v.t0);
        const du = (dy / v.height) * (v.u1 - v.u0);
        this.view = { ...this.view, t0: v.t0 + dt, t1: v.t1 + dt, u0: v.u0 + du, u1: v.u1 + du };
        this.hideTooltip();
        this.schedule();
        this.onTime(this.timeRange());
        return;
      }
      this.hover(event);
    });
    const endDrag = () => {
      this.drag = null;
    };
    canvas.addEventListener("pointerup", endDrag);
    canvas.addEventListener("pointercancel", endDrag);
    canvas.addEventListener("pointerleave", () => this.hideTooltip());
    canvas.addEventListener("dblclick", () => this.reset());
  }

  private plotPoint(event: MouseEvent): { x: number; y: number } {
    const box = this.canvas.getBoundingClientRect();
    return { x: event.clientX - box.left - MARGIN.left, y: event.clientY - box.top - MARGIN.top };
  }

  private hideTooltip(): void {
    this.tooltip.hidden = true;
  }

  private hover(event: MouseEvent): void {
    const { x, y } = this.plotPoint(event);
    const v = this.view;
    if (x < 0 || y < 0 || x > v.width || y > v.height) return this.hideTooltip();
    let lines: string[] | null = null;
    if (this.lastBins) {
      lines = this.describeCell(this.lastBins, Math.floor(x / CELL_PIXELS), Math.floor(y / CELL_PIXELS));
    } else {
      let best = -1;
      let bestDistance = HOVER_PIXELS * HOVER_PIXELS;
      for (const i of this.lastVisible) {
        const dx = xOf(this.t[i]!, v) - x;
        const dy = yOf(this.u[i]!, v) - y;
        const d = dx * dx + dy * dy;
        if (d <= bestDistance) {
          best = i;
          bestDistance = d;
        }
      }
      if (best >= 0) lines = this.describeMark(best);
    }
    if (lines === null) return this.hideTooltip();
    this.tooltip.replaceChildren(...lines.map((line) => el("div", {}, line)));
    this.tooltip.hidden = false;
    const left = Math.min(x + MARGIN.left + 14, this.width - 300);
    this.tooltip.style.left = `${Math.max(0, left)}px`;
    this.tooltip.style.top = `${y + MARGIN.top + 14}px`;
  }

  /** A mark's tooltip: what was mapped, where, when, why. */
  describeMark(i: number): string[] {
    const m = this.run.marks;
    const region = this.run.regions[m.region[i]!]!;
    const page = region.base + m.page[i]! * PAGE_SIZE;
    const where = `${region.name}, page ${groupDigits(m.page[i]!)} of ${groupDigits(region.pages)}`;
    const event = m.event[i]!;
    const events = this.run.events;
    const t = events.t[event]!;
    const decision = this.run.decisionNames[events.decision[event]!] ?? "none";
    const first = this.eventFirstMark[event]!;
    const category = this.category[i]!;
    if (category === CATEGORY_START) return [`entry page ${hex(page)}`, where, `mapped at start (${t} ms)`];
    if (category === CATEGORY_FAULT) {
      const count = this.pagesOfEvent(event);
      return [
        `demand fault at ${hex(page + events.offset[event]!)}`,
        `page ${hex(page)}: ${where}`,
        `at ${t} ms; mapped ${count} page${count === 1 ? "" : "s"}${count > 1 ? ` (${count - 1} predicted: ${decision})` : ""}`,
      ];
    }
    const faultPage = first >= 0 && m.cause[first] === CAUSE_FAULT ? this.run.regions[m.region[first]!]!.base + m.page[first]! * PAGE_SIZE : null;
    const by = faultPage === null ? "a fault" : `the fault at ${hex(faultPage + events.offset[event]!)}`;
    const seen = this.run.predictions?.seen ?? "touched";
    const lastLook = this.run.predictions?.lastLookMs;
    const outcome =
      category === CATEGORY_TOUCHED
        ? `${seen === "written" ? "written" : "touched"} later: seen by the look at ${this.run.lookTimes[m.look[i]!]} ms`
        : category === CATEGORY_UNTOUCHED
          ? `not touched as of the last look (${lastLook} ms)`
          : seen === "written"
            ? "not written: whether it was read is unknown (userfaultfd)"
            : "unknown: mapped after the last look";
    return [`predicted page ${hex(page)}`, where, `mapped at ${t} ms with ${by} (${decision})`, outcome];
  }

  private pagesOfEvent(event: number): number {
    let count = 0;
    const first = this.eventFirstMark[event]!;
    for (let i = first; i >= 0 && i < this.run.marks.event.length && this.run.marks.event[i] === event; i++) count++;
    return count;
  }

  private describeCell(bins: Bins, column: number, row: number): string[] | null {
    if (column < 0 || row < 0 || column >= bins.columns || row >= bins.rows) return null;
    const c = row * bins.columns + column;
    const counts = Array.from({ length: CATEGORY_COUNT }, (_, k) => bins.counts[c * CATEGORY_COUNT + k]!);
    const total = counts.reduce((a, b) => a + b, 0);
    if (total === 0) return null;
    const v = this.view;
    const t0 = tAt(column * CELL_PIXELS, v);
    const t1 = tAt((column + 1) * CELL_PIXELS, v);
    const at = pageAt(uAt((row + 0.5) * CELL_PIXELS, v), this.bands.map((r) => this.run.regions[r]!.pages));
    const region = at.band >= 0 ? this.run.regions[this.bands[at.band]!] : undefined;
    return [
      `${groupDigits(total)} page${total === 1 ? "" : "s"} mapped between ${t0.toFixed(3)} and ${t1.toFixed(3)} ms`,
      region ? `in ${region.name}${at.page >= 0 ? `, near ${hex(region.base + at.page * PAGE_SIZE)}` : ""}` : "",
      ...counts.flatMap((n, k) => (n > 0 ? [`${groupDigits(n)} ${this.labels[k]}`] : [])),
    ].filter((line) => line !== "");
  }
}
