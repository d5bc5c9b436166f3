/**
 * The geometry of the page's charts, pure so it is unit tested and shared
 * by the page's script: ticks, the region bands of the fault map, which
 * marks a view shows, and their aggregation into bins when there are too
 * many to draw one by one.
 *
 * The fault map's vertical coordinate `u` gives each shown region a band
 * of height 1, lowest addresses at the bottom: region k's pages spread over
 * [k + BAND_GAP/2, k + 1 - BAND_GAP/2), so zooming addresses zooms inside
 * the bands and every region keeps its own scale however large it is.
 */

/** The share of each band left empty between regions. */
export const BAND_GAP = 0.12;

/** Most marks drawn one by one; past it, the view is drawn as bins. */
export const POINT_LIMIT = 20_000;

/** What the fault map shows: a time range, a range of `u`, and its size in
 * pixels. */
export interface Viewport {
  t0: number;
  t1: number;
  u0: number;
  u1: number;
  width: number;
  height: number;
}

/** The `u` of page `page` of a region of `pages` pages shown in band `band`. */
export function bandPosition(band: number, page: number, pages: number): number {
  return band + BAND_GAP / 2 + ((page + 0.5) / pages) * (1 - BAND_GAP);
}

/** The band and the page within it at `u` (page -1 in a gap). */
export function pageAt(u: number, pagesOfBand: readonly number[]): { band: number; page: number } {
  const band = Math.floor(u);
  const pages = pagesOfBand[band];
  if (pages === undefined) return { band: -1, page: -1 };
  const within = (u - band - BAND_GAP / 2) / (1 - BAND_GAP);
  if (within < 0 || within >= 1) return { band, page: -1 };
  return { band, page: Math.floor(within * pages) };
}

export function xOf(t: number, v: Viewport): number {
  return ((t - v.t0) / (v.t1 - v.t0)) * v.width;
}

/** Higher `u` (higher addresses) further up. */
export function yOf(u: number, v: Viewport): number {
  return v.height - ((u - v.u0) / (v.u1 - v.u0)) * v.height;
}

export function tAt(x: number, v: Viewport): number {
  return v.t0 + (x / v.width) * (v.t1 - v.t0);
}

export function uAt(y: number, v: Viewport): number {
  return v.u0 + ((v.height - y) / v.height) * (v.u1 - v.u0);
}

/**
 * Ticks at round values (1, 2 or 5 times a power of ten) covering
 * [lo, hi], about `count` of them.
 */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo) || count < 1) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i++) ticks.push(Math.round(i * step * 1e9) / 1e9);
  return ticks;
}

/** The marks a view shows: how many, and (up to `limit` of them) which. */
interface Visible {
  count: number;
  /** Indices of the first `limit` visible marks, in mark order. */
  indices: Int32Array;
}

/** Marks inside the viewport among those `shown` (a 0/1 per mark: its
 * region is not filtered out). */
export function visibleMarks(t: Float64Array, u: Float64Array, shown: Uint8Array, v: Viewport, limit: number): Visible {
  const indices = new Int32Array(Math.min(limit, t.length));
  let count = 0;
  for (let i = 0; i < t.length; i++) {
    if (shown[i] === 0) continue;
    const ti = t[i]!;
    const ui = u[i]!;
    if (ti < v.t0 || ti > v.t1 || ui < v.u0 || ui > v.u1) continue;
    if (count < indices.length) indices[count] = i;
    count++;
  }
  return { count, indices: indices.subarray(0, Math.min(count, indices.length)) };
}

/** Visible marks counted in square cells of `cell` pixels, per category. */
export interface Bins {
  columns: number;
  rows: number;
  cell: number;
  categories: number;
  /** columns × rows × categories counts, cell-major. */
  counts: Uint32Array;
  /** Cells holding at least one mark, and the most any cell holds. */
  used: number;
  max: number;
  /** Marks counted (the visible ones). */
  total: number;
}

/** Aggregate the visible marks into cells (`category` per mark, below
 * `categories`). */
export function binMarks(t: Float64Array, u: Float64Array, shown: Uint8Array, category: Uint8Array, categories: number, v: Viewport, cell: number): Bins {
  const columns = Math.max(1, Math.ceil(v.width / cell));
  const rows = Math.max(1, Math.ceil(v.height / cell));
  const counts = new Uint32Array(columns * rows * categories);
  const perCell = new Uint32Array(columns * rows);
  let total = 0;
  for (let i = 0; i < t.length; i++) {
    if (shown[i] === 0) continue;
    const ti = t[i]!;
    const ui = u[i]!;
    if (ti < v.t0 || ti > v.t1 || ui < v.u0 || ui > v.u1) continue;
    const column = Math.min(columns - 1, Math.floor(xOf(ti, v) / cell));
    const row = Math.min(rows - 1, Math.max(0, Math.floor(yOf(ui, v) / cell)));
    const c = row * columns + column;
    perCell[c]!++;
    counts[c * categories + category[i]!]!++;
    total++;
  }
  let used = 0;
  let max = 0;
  for (const n of perCell) {
    if (n > 0) used++;
    if (n > max) max = n;
  }
  return { columns, rows, cell, categories, counts, used, max, total };
}

/** The category with most marks in cell `c` (ties: the lower code). */
export function dominantCategory(bins: Bins, c: number): number {
  let best = 0;
  for (let k = 1; k < bins.categories; k++) if (bins.counts[c * bins.categories + k]! > bins.counts[c * bins.categories + best]!) best = k;
  return best;
}

/** For a cell holding both pages mapped by faults (categories below
 * `firstPredicted`) and predicted pages: the most common category of each
 * kind; null when the cell holds only one kind. */
export function splitCell(bins: Bins, c: number, firstPredicted = 2): { faults: number; predicted: number } | null {
  let faults = -1;
  let predicted = -1;
  for (let k = 0; k < bins.categories; k++) {
    const n = bins.counts[c * bins.categories + k]!;
    if (n === 0) continue;
    if (k < firstPredicted) {
      if (faults < 0 || n > bins.counts[c * bins.categories + faults]!) faults = k;
    } else if (predicted < 0 || n > bins.counts[c * bins.categories + predicted]!) predicted = k;
  }
  return faults >= 0 && predicted >= 0 ? { faults, predicted } : null;
}

/** How many of the sorted times are at most each of `at` (a step series:
 * pages mapped by then, when each time is one page). */
export function countUpTo(sortedTimes: Float64Array, at: readonly number[]): number[] {
  return at.map((x) => {
    let lo = 0;
    let hi = sortedTimes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sortedTimes[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  });
}

/** A time in ms as the axes write it: enough decimals for the step. */
export function formatMs(ms: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(step))));
  return `${ms.toFixed(decimals)}`;
}

/** 65536 → "65 536". */
export function groupDigits(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

/** Bytes as the region table writes them: "4 KiB", "256 MiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

