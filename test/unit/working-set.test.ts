/**
 * Learned working sets, the pure part: first touches from a trace's
 * events, a profile of them named to outlast address randomisation, the
 * profile checked against the files being loaded, its pages found again in
 * another run's plan, and its file read back.
 */
import { describe, expect, test } from "bun:test";
import {
  ProfileError,
  firstTouches,
  prefetchVerdict,
  parseProfile,
  prefetchPlan,
  profileMismatch,
  profileText,
  recordProfile,
  type PlacedRegion,
  type ProfileImage,
  type TargetRegion,
  type WorkingSetProfile,
} from "../../src/paging/working-set.ts";

const PAGE = 4096;
const SHA = "a".repeat(64);
const PROGRAM: ProfileImage = { role: "program", path: "/bin/prog", device: "2049", inode: "77", size: 90000, mtimeNs: "1700000000000000000", sha256: SHA };
const ORIGIN = { pager: "dpager", paging: "userfaultfd", argv: ["/bin/prog"], date: "2026-12-01T00:00:00.000Z", runs: 1 };

/** A PIE's text (file offset 0x1000 at link address 0x1000, 4 pages) and
 * bss (link address 0x10000, 8 pages), loaded at `bias`. */
function placed(bias: number): PlacedRegion[] {
  return [
    { role: "program", name: "prog text", address: bias + 0x1000, linkAddress: 0x1000, length: 4 * PAGE, offset: 0x1000, demand: true },
    { role: "program", name: "prog bss", address: bias + 0x10000, linkAddress: 0x10000, length: 8 * PAGE, offset: null, demand: true },
    { role: "program", name: "prog data", address: bias + 0x8000, linkAddress: 0x8000, length: PAGE, offset: 0x7000, demand: false },
  ];
}

function record(bias: number, pages: number[], carried: RecordCarried = null): WorkingSetProfile {
  return recordProfile({ origin: ORIGIN, images: [PROGRAM], regions: placed(bias), touches: pages.map((page, i) => ({ page: bias + page, tMs: i })), carried });
}
type RecordCarried = Parameters<typeof recordProfile>[0]["carried"];

describe("first touches", () => {
  test("the entry page and each fault's page, once each, in order; predicted pages only when counted", () => {
    const events = [
      { tMs: 0.5, kind: "start" as const, mapped: [0x401000] },
      { tMs: 1, kind: "fault" as const, mapped: [0x500000, 0x501000, 0x502000] },
      { tMs: 2, kind: "fault" as const, mapped: [0x401000] },
      { tMs: 3, kind: "fault" as const, mapped: [0x503000] },
    ];
    expect(firstTouches(events)).toEqual([
      { page: 0x401000, tMs: 0.5 },
      { page: 0x500000, tMs: 1 },
      { page: 0x503000, tMs: 3 },
    ]);
    expect(firstTouches(events, (page) => page === 0x502000).map((t) => t.page)).toEqual([0x401000, 0x500000, 0x502000, 0x503000]);
  });
});

describe("a profile of a run", () => {
  test("names pages by image and address as linked, so runs at other biases make the same profile", () => {
    const touched = [0x1000, 0x12000, 0x2000, 0x10000];
    const a = record(0x555555554000, touched);
    const b = record(0x7f0000000000, touched);
    expect(a.pages).toEqual(b.pages);
    expect(a.regions).toEqual([
      { image: 0, name: "prog text", address: 0x1000, offset: 0x1000, pages: 4 },
      { image: 0, name: "prog bss", address: 0x10000, offset: null, pages: 8 },
    ]);
    // First-touch order, each with its region and page.
    expect(a.pages.map((p) => [p.region, p.page])).toEqual([
      [0, 0],
      [1, 2],
      [0, 1],
      [1, 0],
    ]);
  });

  test("leaves out what the pager cannot see: pages outside its demand regions", () => {
    const profile = record(0, [0x8000, 0x1000, 0x900000]);
    expect(profile.pages.map((p) => p.page)).toEqual([0]);
    expect(profile.regions.map((r) => r.name)).toEqual(["prog text"]);
  });

  test("carries the prefetched profile's pages it keeps, merged by time, dropping the rest", () => {
    const earlier = recordProfile({
      origin: ORIGIN,
      images: [PROGRAM],
      regions: placed(0),
      touches: [
        { page: 0x1000, tMs: 0.1 },
        { page: 0x11000, tMs: 5 },
        { page: 0x12000, tMs: 9 },
      ],
    });
    const dropped = 0x10000 + 2 * PAGE;
    const profile = recordProfile({
      origin: ORIGIN,
      images: [PROGRAM],
      regions: placed(0x1000000),
      touches: [{ page: 0x1000000 + 0x2000, tMs: 7 }],
      carried: { profile: earlier, kept: (name) => name.linkAddress !== dropped },
    });
    expect(profile.pages).toEqual([
      { region: 0, page: 0, tMs: 0.1 },
      { region: 1, page: 1, tMs: 5 },
      { region: 0, page: 1, tMs: 7 },
    ]);
  });
});

describe("prefetching a profile", () => {
  const profile = record(0x555555554000, [0x2000, 0x1000, 0x13000, 0x12000, 0x14000, 0x3000]);
  /** The same image planned at another bias, fixed; or placed by the kernel
   * (addresses relative to it). */
  const targets = (start: number, base: TargetRegion["base"], bssDemand = true): TargetRegion[] => [
    { start: start + 0x1000, base, length: 4 * PAGE, file: "program", offset: 0x1000, demand: true, linkStart: 0x1000 },
    { start: start + 0x10000, base, length: 8 * PAGE, file: "program", offset: null, demand: bssDemand, linkStart: 0x10000 },
  ];

  test("finds every page at this run's addresses, in as few contiguous runs as they make", () => {
    const plan = prefetchPlan(profile, targets(0x560000000000, "fixed"));
    expect(plan).toEqual({
      runs: [
        { start: 0x560000001000, base: "fixed", pages: 3, region: 0 },
        { start: 0x560000012000, base: "fixed", pages: 3, region: 1 },
      ],
      pages: 6,
      skipped: 0,
    });
    // Relative to an image the kernel places: the same runs, relative.
    expect(prefetchPlan(profile, targets(0, "program")).runs.map((r) => [r.start, r.base])).toEqual([
      [0x1000, "program"],
      [0x12000, "program"],
    ]);
  });

  test("skips pages this run does not page on demand (hpager maps text at start), or has elsewhere", () => {
    const hybrid = targets(0, "fixed").map((r) => ({ ...r, demand: r.offset === null }));
    expect(prefetchPlan(profile, hybrid)).toMatchObject({ pages: 3, skipped: 3 });
    // Another build's layout: the text's file offset moved by a page.
    const moved = targets(0, "fixed").map((r) => (r.offset === null ? r : { ...r, offset: 0x2000 }));
    expect(prefetchPlan(profile, moved)).toMatchObject({ pages: 3, skipped: 3 });
  });
});

describe("a profile against the files being loaded", () => {
  const now = { role: "program" as const, path: "/bin/prog", device: "2049", inode: "77", size: 90000, mtimeNs: "1700000000000000000" };
  const profile = record(0, [0x1000]);
  const hashOnly = (sha: string) => () => sha;

  test("fits the same file without hashing it", () => {
    expect(profileMismatch(profile, [now], () => { throw new Error("hashed"); })).toBeNull();
  });
  test("fits a copy or a reinstall with the same bytes, by their hash", () => {
    expect(profileMismatch(profile, [{ ...now, path: "/opt/prog", inode: "99" }], hashOnly(SHA))).toBeNull();
    expect(profileMismatch(profile, [{ ...now, mtimeNs: "1" }], hashOnly(SHA))).toBeNull();
  });
  test("refuses another build: other bytes, another size, another interpreter", () => {
    expect(profileMismatch(profile, [{ ...now, mtimeNs: "1" }], hashOnly("b".repeat(64)))).toMatch(/holds other bytes than the program it was recorded for/);
    expect(profileMismatch(profile, [{ ...now, size: 5 }], hashOnly(SHA))).toMatch(/is 5 bytes, the program it was recorded for \(\/bin\/prog\) 90000/);
    const interpreter = { ...now, role: "interpreter" as const, path: "/lib/ld.so" };
    expect(profileMismatch(profile, [now, interpreter], hashOnly(SHA))).toMatch(/without an interpreter/);
    const dynamic = { ...profile, images: [PROGRAM, { ...PROGRAM, role: "interpreter" as const, path: "/lib/ld.so" }] };
    expect(profileMismatch(dynamic, [now], hashOnly(SHA))).toMatch(/\/lib\/ld.so as the interpreter, which this run does not load/);
  });
});

describe("the profile's file", () => {
  test("reads back what was written", () => {
    const profile = record(0x400000, [0x1000, 0x13000, 0x10000]);
    expect(parseProfile(profileText(profile))).toEqual(profile);
  });

  test("refuses what a run could not rely on, saying why", () => {
    const good = JSON.parse(profileText(record(0, [0x1000])));
    const bad = (change: (p: Record<string, unknown>) => void) => {
      const copy = structuredClone(good);
      change(copy);
      return () => parseProfile(JSON.stringify(copy));
    };
    expect(() => parseProfile("{")).toThrow(new ProfileError("not JSON"));
    expect(bad((p) => (p.format = "trace"))).toThrow(/not a working-set profile/);
    expect(bad((p) => (p.version = 2))).toThrow(/version 2, where this faultline reads version 1/);
    expect(bad((p) => ((p.pages as number[][])[0]![1] = 4))).toThrow(/page 0 lies outside its region/);
    expect(bad((p) => ((p.regions as Record<string, unknown>[])[0]!.address = "0x1001"))).toThrow(/region 0: address 0x1001 is not page-aligned/);
    expect(bad((p) => ((p.images as Record<string, unknown>[])[0]!.sha256 = "xyz"))).toThrow(/image 0: sha256 is not a SHA-256/);
    expect(bad((p) => ((p.regions as Record<string, unknown>[])[0]!.image = 3))).toThrow(/region 0: no image 3/);
  });
});

describe("the end look's verdict on a prefetched page", () => {
  const PRESENT = 2 ** 31;
  const SWAPPED = 2 ** 30;
  const FILE = 2 ** 29;
  const EXCLUSIVE = 2 ** 24;
  test("SIGSEGV paging: present or swapped is touched, absent untouched", () => {
    expect(prefetchVerdict(PRESENT + FILE, "touched")).toBe("touched");
    expect(prefetchVerdict(SWAPPED, "touched")).toBe("touched");
    expect(prefetchVerdict(0, "touched")).toBe("untouched");
  });
  test("userfaultfd: a page of its own is written; the copy's page or the zero page tell nothing", () => {
    expect(prefetchVerdict(PRESENT + EXCLUSIVE, "written")).toBe("touched");
    // The image copy's page, mapped by this process alone, unwritten.
    expect(prefetchVerdict(PRESENT + EXCLUSIVE + FILE, "written")).toBe("unknown");
    // The zero page: no page of its own.
    expect(prefetchVerdict(PRESENT, "written")).toBe("unknown");
    expect(prefetchVerdict(0, "written")).toBe("unknown");
  });
});
