/**
 * The charts' geometry, shared with the page's script: bands, ticks, which
 * marks a view shows, and their aggregation into bins.
 */
import { describe, expect, test } from "bun:test";
import { BAND_GAP, bandPosition, binMarks, countUpTo, dominantCategory, formatBytes, groupDigits, niceTicks, pageAt, splitCell, tAt, uAt, visibleMarks, xOf, yOf, type Viewport } from "../../src/view/plot.ts";

const view: Viewport = { t0: 0, t1: 100, u0: 0, u1: 2, width: 200, height: 100 };

describe("bands and coordinates", () => {
  test("a region's pages fill its band, lowest page lowest, the gap kept clear", () => {
    expect(bandPosition(0, 0, 1)).toBeCloseTo(0.5);
    expect(bandPosition(1, 0, 100)).toBeGreaterThan(1 + BAND_GAP / 2);
    expect(bandPosition(1, 99, 100)).toBeLessThan(2 - BAND_GAP / 2);
    expect(bandPosition(1, 10, 100)).toBeLessThan(bandPosition(1, 11, 100));
  });

  test("pageAt inverts bandPosition, and finds no page in a gap", () => {
    for (const page of [0, 1, 57, 99]) expect(pageAt(bandPosition(1, page, 100), [4, 100])).toEqual({ band: 1, page });
    expect(pageAt(1 + BAND_GAP / 4, [4, 100])).toEqual({ band: 1, page: -1 });
    expect(pageAt(5, [4, 100])).toEqual({ band: -1, page: -1 });
  });

  test("pixels and values convert both ways; higher addresses are further up", () => {
    expect(xOf(25, view)).toBe(50);
    expect(tAt(50, view)).toBe(25);
    expect(yOf(2, view)).toBe(0);
    expect(yOf(0, view)).toBe(100);
    expect(uAt(yOf(1.3, view), view)).toBeCloseTo(1.3);
  });
});

describe("ticks and text", () => {
  test("round steps of 1, 2 or 5 covering the range", () => {
    expect(niceTicks(0, 100, 5)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0.13, 0.61, 4)).toEqual([0.2, 0.4, 0.6]);
    expect(niceTicks(0.13, 0.61, 10)).toEqual([0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]);
    expect(niceTicks(3, 3, 4)).toEqual([3]);
  });
  test("numbers, sizes", () => {
    expect(groupDigits(65536)).toBe("65\u202f536");
    expect(groupDigits(999)).toBe("999");
    expect(formatBytes(4096)).toBe("4 KiB");
    expect(formatBytes(256 * 1024 * 1024 + 7 * 4096)).toBe("256.0 MiB");
  });
});

describe("marks in view, and bins", () => {
  // Four marks at the corners of the view and one outside it.
  const t = Float64Array.from([0, 100, 0, 100, 150]);
  const u = Float64Array.from([0, 0, 2, 2, 1]);
  const all = new Uint8Array(5).fill(1);

  test("the visible marks are counted whole and listed up to the limit", () => {
    const visible = visibleMarks(t, u, all, view, 3);
    expect(visible.count).toBe(4);
    expect([...visible.indices]).toEqual([0, 1, 2]);
    const shown = Uint8Array.from([1, 0, 1, 1, 1]);
    expect(visibleMarks(t, u, shown, view, 10).count).toBe(3);
  });

  test("every visible mark lands in exactly one cell, counted by category", () => {
    const category = Uint8Array.from([0, 1, 1, 2, 2]);
    const bins = binMarks(t, u, all, category, 3, view, 10);
    expect(bins.columns).toBe(20);
    expect(bins.rows).toBe(10);
    expect(bins.total).toBe(4);
    expect(bins.used).toBe(4);
    expect(bins.counts.reduce((a, b) => a + b, 0)).toBe(4);
    // The bottom-left mark (t 0, u 0) is in the last row's first cell.
    const corner = 9 * bins.columns;
    expect([...bins.counts.subarray(corner * 3, corner * 3 + 3)]).toEqual([1, 0, 0]);
  });

  test("a crowded cell: its most common category, and both kinds when faults and predictions share it", () => {
    const many = 60;
    const tt = new Float64Array(many).fill(50);
    const uu = new Float64Array(many).fill(1);
    const category = Uint8Array.from({ length: many }, (_, i) => (i < 10 ? 1 : i < 30 ? 3 : 2));
    const bins = binMarks(tt, uu, new Uint8Array(many).fill(1), category, 5, view, 4);
    const cell = [...bins.counts].findIndex((n) => n > 0);
    const c = Math.floor(cell / 5);
    expect(bins.used).toBe(1);
    expect(bins.max).toBe(60);
    expect(dominantCategory(bins, c)).toBe(2);
    expect(splitCell(bins, c)).toEqual({ faults: 1, predicted: 2 });
    const onlyFaults = binMarks(tt, uu, new Uint8Array(many).fill(1), new Uint8Array(many).fill(1), 5, view, 4);
    expect(splitCell(onlyFaults, c)).toBeNull();
  });

  test("pages mapped by a time: a count of the sorted times at or before it", () => {
    const times = Float64Array.from([1, 2, 2, 5]);
    expect(countUpTo(times, [0, 1, 2, 4.9, 5, 99])).toEqual([0, 1, 3, 3, 4, 4]);
  });
});
