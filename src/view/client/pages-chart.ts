/**
 * Pages mapped over time: the pages mapped at start, then one more for
 * every page a fault or a prediction mapped, for the regions shown. Shares
 * the fault map's time axis: zooming or panning either moves both.
 */
import { markTimes, type RunView } from "../model.ts";
import { countUpTo, formatMs, groupDigits, niceTicks, tAt, xOf, type Viewport } from "../plot.ts";
import { el, sizeCanvas } from "./dom.ts";
import type { TimeRange } from "./fault-map.ts";

const MARGIN = { left: 122, right: 14, top: 10, bottom: 34 };
const HEIGHT = 190;

export class PagesChart {
  readonly element: HTMLDivElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly tooltip: HTMLDivElement;
  private context: CanvasRenderingContext2D | null = null;
  private width = 0;
  private range: TimeRange;
  private times = new Float64Array(0);
  private readonly markTime: Float64Array;
  private atStart = 0;
  private frame = 0;
  private drag: { x: number; range: TimeRange } | null = null;

  constructor(
    private readonly run: RunView,
    wholeRun: TimeRange,
    private readonly onTime: (range: TimeRange) => void,
    private readonly onReset: () => void,
  ) {
    this.range = { ...wholeRun };
    this.markTime = markTimes(run);
    this.canvas = el("canvas", { className: "pages-chart", role: "img", "aria-label": "pages mapped over time" });
    this.tooltip = el("div", { className: "tooltip", role: "tooltip", hidden: true });
    this.element = el("div", { className: "chart" }, this.canvas, this.tooltip);
    this.setShownRegions(new Set(run.regions.map((_, i) => i)));
    this.listen();
  }

  setShownRegions(shown: ReadonlySet<number>): void {
    const { region } = this.run.marks;
    this.atStart = this.run.regions.reduce((n, r, i) => n + (r.atStart && shown.has(i) ? r.pages : 0), 0);
    this.times = this.markTime.filter((_, i) => shown.has(region[i]!)).sort();
    this.canvas.dataset.pagesAtEnd = String(this.atStart + this.times.length);
    this.schedule();
  }

  setTime(range: TimeRange): void {
    this.range = { ...range };
    this.schedule();
  }

  resize(width: number): void {
    this.context = sizeCanvas(this.canvas, width, HEIGHT);
    this.width = width;
    this.draw();
  }

  /** Pages mapped by time t, for the regions shown. */
  pagesAt(t: number): number {
    return this.atStart + countUpTo(this.times, [t])[0]!;
  }

  private viewport(): Viewport {
    return { t0: this.range.t0, t1: this.range.t1, u0: 0, u1: 1, width: this.width - MARGIN.left - MARGIN.right, height: HEIGHT - MARGIN.top - MARGIN.bottom };
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
    const v = this.viewport();
    const total = this.atStart + this.times.length;
    const yTicks = niceTicks(0, Math.max(1, total), 4);
    const top = Math.max(yTicks[yTicks.length - 1]!, total, 1);
    const yOf = (pages: number) => MARGIN.top + v.height - (pages / top) * v.height;
    ctx.clearRect(0, 0, this.width, HEIGHT);
    ctx.fillStyle = "#fbfbfd";
    ctx.fillRect(MARGIN.left, MARGIN.top, v.width, v.height);
    // One value per pixel column: the pages mapped by its right edge.
    const columns = Math.max(1, Math.ceil(v.width));
    const at = Array.from({ length: columns + 1 }, (_, c) => tAt(c, v));
    const counts = countUpTo(this.times, at);
    ctx.beginPath();
    ctx.moveTo(MARGIN.left, yOf(0));
    counts.forEach((n, c) => {
      const pages = at[c]! < 0 ? 0 : this.atStart + n;
      ctx.lineTo(MARGIN.left + c, yOf(pages));
    });
    ctx.lineTo(MARGIN.left + columns, yOf(0));
    ctx.closePath();
    ctx.fillStyle = "rgba(31,119,180,0.25)";
    ctx.fill();
    ctx.beginPath();
    counts.forEach((n, c) => {
      const pages = at[c]! < 0 ? 0 : this.atStart + n;
      if (c === 0) ctx.moveTo(MARGIN.left, yOf(pages));
      else ctx.lineTo(MARGIN.left + c, yOf(pages));
    });
    ctx.strokeStyle = "#1f77b4";
    ctx.lineWidth = 1.5;
    ctx.stroke();
    // Axes.
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#888";
    ctx.fillStyle = "#333";
    ctx.font = "11px ui-monospace, monospace";
    ctx.beginPath();
    const bottom = MARGIN.top + v.height;
    ctx.moveTo(MARGIN.left, bottom + 0.5);
    ctx.lineTo(MARGIN.left + v.width, bottom + 0.5);
    ctx.moveTo(MARGIN.left - 0.5, MARGIN.top);
    ctx.lineTo(MARGIN.left - 0.5, bottom);
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
    ctx.textAlign = "right";
    ctx.fillText("ms", MARGIN.left + v.width, bottom + 20);
    ctx.textBaseline = "middle";
    for (const tick of yTicks) {
      const y = yOf(tick);
      ctx.moveTo(MARGIN.left - 4, y + 0.5);
      ctx.lineTo(MARGIN.left, y + 0.5);
      ctx.fillText(groupDigits(tick), MARGIN.left - 6, y);
    }
    ctx.stroke();
    ctx.save();
    ctx.translate(14, MARGIN.top + v.height / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("pages mapped", 0, 0);
    ctx.restore();
  }

  private listen(): void {
    const canvas = this.canvas;
    const plotX = (event: MouseEvent) => event.clientX - canvas.getBoundingClientRect().left - MARGIN.left;
    canvas.addEventListener("wheel", (event) => {
      event.preventDefault();
      const v = this.viewport();
      const at = tAt(plotX(event), v);
      const factor = Math.exp((event.deltaY || event.deltaX) * (event.deltaMode === 1 ? 16 : 1) * 0.002);
      const span = Math.max(1e-6, (v.t1 - v.t0) * factor);
      const share = (at - v.t0) / (v.t1 - v.t0);
      this.range = { t0: at - share * span, t1: at - share * span + span };
      this.schedule();
      this.onTime(this.range);
    });
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      this.drag = { x: event.clientX, range: { ...this.range } };
      canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (this.drag) {
        const v = this.viewport();
        const dt = (-(event.clientX - this.drag.x) / v.width) * (this.drag.range.t1 - this.drag.range.t0);
        this.range = { t0: this.drag.range.t0 + dt, t1: this.drag.range.t1 + dt };
        this.schedule();
        this.onTime(this.range);
        return;
      }
      const x = plotX(event);
      const v = this.viewport();
      if (x < 0 || x > v.width) {
        this.tooltip.hidden = true;
        return;
      }
      const t = tAt(x, v);
      const pages = t < 0 ? 0 : this.pagesAt(t);
      this.tooltip.textContent = `${groupDigits(pages)} pages mapped by ${t.toFixed(3)} ms`;
      this.tooltip.hidden = false;
      this.tooltip.style.left = `${Math.min(x + MARGIN.left + 14, this.width - 260)}px`;
      this.tooltip.style.top = `${MARGIN.top + 8}px`;
    });
    const endDrag = () => {
      this.drag = null;
    };
    canvas.addEventListener("pointerup", endDrag);
    canvas.addEventListener("pointercancel", endDrag);
    canvas.addEventListener("pointerleave", () => (this.tooltip.hidden = true));
    canvas.addEventListener("dblclick", () => this.onReset());
  }
}
