/**
 * Lazy copy, end to end: every scenario of test/support/chunk-scenarios.ts
 * runs in a subprocess with a time limit (the fault handler runs inside the
 * process it serves; a bug there must not take the test runner with it),
 * and the bytes it read back are compared here with an eager model's.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { ROOT } from "../support/programs.ts";
import { canDropPrivilege, runProcess, unprivileged, type Ran } from "../support/run.ts";

// Each scenario runs in a subprocess with its own time limit (60 s); the
// test itself must outlast it on a loaded machine.
setDefaultTimeout(90_000);

const SCENARIOS = `${ROOT}/test/support/chunk-scenarios.ts`;
const SPLITS = ["chunk", "page"] as const;
const PAGE = 4096;

async function scenario(name: string, split = "chunk", timeout = 60_000, asUser = false): Promise<Ran> {
  const argv = [process.execPath, SCENARIOS, name, split];
  return runProcess(asUser ? unprivileged(argv) : argv, { timeout });
}

/** The scenario's JSON line, after checking it ended well; `asUser`: run
 * by an ordinary user (nobody) when this process can drop privilege. */
async function outcome(name: string, split = "chunk", timeout?: number, asUser = false): Promise<any> {
  const ran = await scenario(name, split, timeout, asUser);
  if (ran.exitCode !== 0) throw new Error(`${name} ${split} ended with ${ran.exitCode ?? ran.signal}: ${ran.stderr}`);
  return JSON.parse(ran.stdout.trim().split("\n").pop()!);
}

describe.each(SPLITS)("lazy copy, split by %s", (split) => {
  const unit = split === "chunk" ? 64 * 1024 : PAGE;

  test("the handout's test, strict: 2000 random chunks, eager and lazy copies, random writes, frees, every byte compared", async () => {
    const result = await outcome("handout", split);
    const total = 2000 * 3 * 64 * 1024;
    expect(result.readBack).toEqual({ comparedBytes: total, mismatches: 0 });
    expect(result.afterWrites).toEqual({ comparedBytes: total, mismatches: 0 });
    expect(result.afterFrees).toEqual({ comparedBytes: total / 2, mismatches: 0 });
    // Writes to lazy pairs split or went in place; every split copied a unit.
    expect(result.stats.splits).toBeGreaterThan(1000);
    expect(result.stats.bytesCopied).toBe(result.stats.splits * unit);
    expect(result.stats.faults).toBe(result.stats.splits + result.stats.inPlace);
  });

  test("five lazy copies of one chunk: five splits, the last sharer in place", async () => {
    const result = await outcome("severalCopies", split);
    expect(result.mismatches).toBe(0);
    expect(result.comparedBytes).toBe(6 * 16 * PAGE);
    expect(result.stats).toEqual({ faults: 6, splits: 5, inPlace: 1, bytesCopied: 5 * (split === "chunk" ? 16 * PAGE : PAGE), wholeFallbacks: 0 });
  });

  test("copies of copies, in a chain and a tree, written in every order", async () => {
    const result = await outcome("copiesOfCopies", split);
    expect(result.mismatches).toBe(0);
    expect(result.comparedBytes).toBe(6 * 8 * PAGE);
    // chunk: five sides split, the last sharer of the original writes in
    // place; page: the six writes land on six units each still shared.
    const expected = split === "chunk" ? { splits: 5, inPlace: 1 } : { splits: 6, inPlace: 0 };
    expect({ splits: result.stats.splits, inPlace: result.stats.inPlace }).toEqual(expected);
    expect(result.stats.bytesCopied).toBe(expected.splits * (split === "chunk" ? 8 * PAGE : PAGE));
  });

  test("a write to a chunk whose partner has split copies nothing", async () => {
    const result = await outcome("partnerSplit", split);
    expect(result.mismatches).toBe(0);
    expect(result.splitterCopied).toBe(unit);
    expect(result.partnerCopied).toBe(0);
    expect(result.partnerInPlace).toBe(1);
    // Another page of the partner is still shared when only a page split.
    expect(result.otherUnitCopied).toBe(split === "chunk" ? 0 : PAGE);
  });

  test("freeing chunks and copies returns their memory", async () => {
    const result = await outcome("freesReturnMemory", split);
    const slack = 1024; // KiB
    expect(result.bytesRight).toBe(true);
    expect(result.peak - result.baseline).toBeGreaterThanOrEqual(2 * result.sizeKiB - slack);
    // Two of the three freed: only the survivor's own memory is left.
    expect(result.afterTwo - result.baseline).toBeLessThan(result.sizeKiB + slack);
    expect(Math.abs(result.end - result.baseline)).toBeLessThan(slack);
  });

  test("chunk sizes from one page to 64 MiB", async () => {
    const result: Array<{ size: number; comparedBytes: number; mismatches: number }> = await outcome("sizes", split);
    expect(result.map((r) => r.size)).toEqual([PAGE, 3 * PAGE, (1 << 20) + PAGE, 64 << 20]);
    for (const r of result) expect(r).toEqual({ size: r.size, comparedBytes: 3 * r.size, mismatches: 0 });
  });

  test("a 1 GiB chunk and its lazy copy", async () => {
    const result = await outcome("gigabyte", split, 120_000);
    expect(result.mismatches).toBe(0);
    expect(result.checked).toBeGreaterThan(2 * 65536);
    expect(result.bytesCopied).toBe(split === "chunk" ? 1 << 30 : 16 * PAGE);
  }, 120_000);

  test("the kernel writing into a shared chunk gets EFAULT; makeWritable first lets it", async () => {
    const result = await outcome("kernelWrites", split);
    expect(result).toEqual({ before: "EFAULT", read: 4 * PAGE, copyMatchesFile: true, sourceUntouched: true });
  });

  test("Workers writing at once to chunks whose page tables are parked, and racing to take them back, lose nothing", async () => {
    const result = await outcome("workersParked", split);
    expect({ comparedBytes: result.comparedBytes, mismatches: result.mismatches }).toEqual({ comparedBytes: 16 << 20, mismatches: 0 });
    expect(result.own).toEqual(Array.from({ length: 4 }, () => ({ compared: 64 * 2 * 8 * PAGE, mismatches: 0 })));
  });

  test("a large lazy copy parks the source's page tables; a chunk left alone takes them back on its first write", async () => {
    expectParking(await outcome("parking", split), split);
  });

  test("Workers writing to the same chunks and to their own at once lose nothing", async () => {
    const result = await outcome("workers", split);
    expect(result.mismatches).toBe(0);
    expect(result.comparedBytes).toBe(48 * 3 * 16 * PAGE);
    expect(result.own).toEqual(Array.from({ length: 4 }, () => ({ compared: 64 * 2 * 8 * PAGE, mismatches: 0 })));
    expect(result.stats.faults).toBeGreaterThan(0);
  });
});

/** What the parking scenario must report, whoever runs it. */
function expectParking(result: any, split: "chunk" | "page"): void {
  const bytes = result.sizeKiB * 1024;
  expect(result.populated).toEqual({ mappings: 1, residentKiB: result.sizeKiB });
  // Parked: still one mapping, but no page-table entries left to protect.
  expect(result.copied).toEqual({ mappings: 1, residentKiB: 0 });
  expect(result.readBack).toEqual({ comparedBytes: 2 * bytes, mismatches: 0 });
  // page: b splits three pages, a one still shared, and writes in place
  // the page b split; chunk: b splits whole, a is then alone.
  const writes = split === "chunk" ? { faults: 2, splits: 1, inPlace: 1, bytesCopied: bytes } : { faults: 5, splits: 4, inPlace: 1, bytesCopied: 4 * PAGE };
  expect(result.writes).toEqual({ comparedBytes: 2 * bytes, mismatches: 0, stats: { ...writes, wholeFallbacks: 0 } });
  // Every page written after the copy was freed: one fault for all.
  expect(result.rewritten).toEqual({
    comparedBytes: bytes,
    mismatches: 0,
    stats: { faults: 1, splits: 0, inPlace: 1, bytesCopied: 0, wholeFallbacks: 0 },
    after: { mappings: 1, residentKiB: result.sizeKiB },
  });
}

describe.skipIf(!canDropPrivilege())("lazy copy, run by an ordinary user (nobody) [root]", () => {
  test.each(SPLITS)("parking and taking back page tables, split by %s", async (split) => {
    expectParking(await outcome("parking", split, undefined, true), split);
  });

  test("chunk sizes from one page to 64 MiB, split by page", async () => {
    const result: Array<{ size: number; comparedBytes: number; mismatches: number }> = await outcome("sizes", "page", undefined, true);
    for (const r of result) expect(r).toEqual({ size: r.size, comparedBytes: 3 * r.size, mismatches: 0 });
  });

  test("the kernel writing into a shared chunk gets EFAULT; makeWritable first lets it", async () => {
    expect(await outcome("kernelWrites", "page", undefined, true)).toEqual({ before: "EFAULT", read: 4 * PAGE, copyMatchesFile: true, sourceUntouched: true });
  });
});

describe("freed chunks fail safely", () => {
  test("a freed chunk reads as empty and every function refuses it", async () => {
    const result = await outcome("freedChunks");
    const notLive = (operation: string) => `ChunkError: ${operation}: not a live chunk (freed, or not made by allocChunk/copyEager/copyLazy/attachChunk)`;
    expect(result.outcomes).toEqual({
      freeTwice: notLive("freeChunk"),
      copyLazyFreed: notLive("copyLazy"),
      copyEagerFreed: notLive("copyEager"),
      makeWritableFreed: notLive("makeWritable"),
      freeAttachedTwin: notLive("freeChunk"),
      attachFreed: "ChunkError: attachChunk: the chunk has been freed",
      notAChunk: notLive("copyLazy"),
      // Arguments of the wrong kind or out of range: as elsewhere.
      badSize: "RangeError: allocChunk: size must be a multiple of the page size (4096), not 1000",
      badSplit: 'TypeError: allocChunk: split must be "chunk" or "page", not "word"',
      badRange: "RangeError: makeWritable: range 10+1048576 is outside the chunk's 65536 bytes",
      notAnArray: "TypeError: copyLazy: the chunk must be a Uint8Array made by allocChunk, copyEager, copyLazy or attachChunk, not string",
    });
    expect(result.stale).toEqual({ length: 0, twinLength: 0, first: "undefined", twinFirst: "undefined" });
    expect(result.sourceIntact).toBe(true);
  });

  test("a Worker's array over a chunk freed elsewhere ends the process with a message, never reaching other memory", async () => {
    const ran = await scenario("staleWorkerView");
    expect(JSON.parse(ran.stdout.trim().split("\n")[0]!)).toEqual({ seenBeforeFree: 3 });
    expect(ran.stderr).toMatch(/^faultline: lazy copy: access to a chunk freed with freeChunk\(\) through a view still in use at 0x[0-9a-f]+; ending the process$/m);
    expect(ran.signal).toBe("SIGSEGV");
  });
});

describe("limits are errors, not crashes", () => {
  test("near vm.max_map_count: a clear refusal, shared chunks still split, and allocation works again after frees", async () => {
    const result = await outcome("mapLimit");
    expect(result.refusal.name).toBe("ChunkLimitError");
    expect(result.refusal.limit).toBe("vm.max_map_count");
    expect(result.refusal.message).toMatch(/^allocChunk: too many memory mappings: this process has \d+ of vm.max_map_count \d+ \(chunks hold about \d+\); free chunks or raise vm.max_map_count$/);
    expect(result.chunksBeforeRefusal).toBeGreaterThan(1000);
    expect(result.mismatches).toBe(0);
    expect(result.comparedBytes).toBe(400 * 16 * PAGE);
    expect(result.stats.wholeFallbacks).toBeGreaterThan(0);
    expect(result.again).toBe("ok");
  });

  test("out of memory: a clear refusal, and smaller chunks still work", async () => {
    const result = await outcome("outOfMemory");
    expect(result.refusal).toEqual({
      name: "ChunkLimitError",
      limit: "memory",
      message: "allocChunk: out of memory: the kernel refused 1073741824 bytes of shared memory (ENOMEM)",
    });
    expect(result.smallStillWorks).toBe(true);
  });
});

test("a fault outside any chunk still reaches Bun's own crash handler", async () => {
  const ran = await scenario("foreignFault");
  expect(ran.stderr).toContain("panic(main thread): Segmentation fault at address 0x8");
  expect(ran.stderr).not.toContain("faultline:");
  expect(ran.signal).toBe("SIGSEGV");
});
