import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseElf, type ElfImage } from "../../src/loader/elf.ts";
import { LoadError } from "../../src/loader/errors.ts";
import {
  ET_DYN_BASE,
  ET_DYN_HEAP_BASE,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
  checkCommit,
  checkClearOfLoader,
  checkPlacement,
  checkPopulation,
  imageExtent,
  noRandomness,
  planAgain,
  planLoad,
  regionsForImage,
  stackExecution,
  type AddressRange,
} from "../../src/loader/plan.ts";
import { PF_R, PF_W, PF_X, PT_LOAD, craftElf, type CraftedSegment } from "../support/craft.ts";

const seg = (over: Partial<CraftedSegment>): CraftedSegment => ({ type: PT_LOAD, flags: PF_R, offset: 0, vaddr: 0x400000, filesz: 0x100, memsz: 0x100, align: 0x1000, ...over });

function image(segments: CraftedSegment[], type = 2, extra: { interp?: boolean } = {}): ElfImage {
  const parsed = parseElf("img", craftElf({ type, entry: segments[0]!.vaddr, segments, size: 0x20000 }));
  return extra.interp ? { ...parsed, interpreter: "/lib/ld.so" } : parsed;
}

/** A fixed sequence of "random" numbers, to see where randomness goes. */
const fixedRandom = (fraction: number) => (bound: number) => Math.floor(bound * fraction);

describe("regionsForImage", () => {
  test("text, then data ending mid-page with its bss: zeroed tail and anonymous pages", () => {
    const img = image([
      seg({ flags: PF_R | PF_X, offset: 0, vaddr: 0x400000, filesz: 0x1800, memsz: 0x1800 }),
      seg({ flags: PF_R | PF_W, offset: 0x2e10, vaddr: 0x402e10, filesz: 0x1234, memsz: 0x5000 }),
    ]);
    const regions = regionsForImage(img, 0, "program", "eager");
    expect(regions).toEqual([
      { start: 0x400000, length: 0x2000, offset: 0, file: "program", prot: PROT_READ | PROT_EXEC, zeroFrom: 0, segment: 0, populate: true, demand: false, base: "fixed" },
      { start: 0x402000, length: 0x3000, offset: 0x2000, file: "program", prot: PROT_READ | PROT_WRITE, zeroFrom: 0x404044, segment: 1, populate: true, demand: false, base: "fixed" },
      { start: 0x405000, length: 0x3000, offset: null, file: "program", prot: PROT_READ | PROT_WRITE, zeroFrom: 0, segment: 1, populate: true, demand: false, base: "fixed" },
    ]);
  });

  test("a bss-only segment is all anonymous", () => {
    const regions = regionsForImage(image([seg({ flags: PF_R | PF_W, filesz: 0, memsz: 0x3000, vaddr: 0x600000, offset: 0 })]), 0, "program", "demand");
    expect(regions).toEqual([{ start: 0x600000, length: 0x3000, offset: null, file: "program", prot: PROT_READ | PROT_WRITE, zeroFrom: 0, segment: 0, populate: false, demand: true, base: "fixed" }]);
  });

  test("a read-only segment with bss keeps its file tail (the kernel's padzero fails silently) and gets writable anonymous pages", () => {
    const regions = regionsForImage(image([seg({ flags: PF_R, filesz: 0x100, memsz: 0x3000 })]), 0, "program", "demand");
    expect(regions[0]!.zeroFrom).toBe(0);
    expect(regions[1]).toMatchObject({ start: 0x401000, length: 0x2000, prot: PROT_READ | PROT_WRITE });
  });

  test("when two segments share a page, the later one gets it", () => {
    const img = image([
      seg({ flags: PF_R | PF_X, offset: 0, vaddr: 0x400000, filesz: 0x1100, memsz: 0x1100 }),
      seg({ flags: PF_R | PF_W, offset: 0x1100, vaddr: 0x401100, filesz: 0x100, memsz: 0x100 }),
    ]);
    const regions = regionsForImage(img, 0, "program", "demand");
    expect(regions.map((r) => [r.start, r.length, r.prot])).toEqual([
      [0x400000, 0x1000, PROT_READ | PROT_EXEC],
      [0x401000, 0x1000, PROT_READ | PROT_WRITE],
    ]);
  });

  test("segments are mapped in table order, each over the last: unsorted, overlapping, splitting", () => {
    const img = image([
      seg({ flags: PF_R | PF_W, offset: 0, vaddr: 0x600000, filesz: 0x100, memsz: 0x100 }),
      seg({ flags: PF_R | PF_X, offset: 0, vaddr: 0x400000, filesz: 0x5000, memsz: 0x5000 }),
      seg({ flags: PF_R, offset: 0x2000, vaddr: 0x402000, filesz: 0x1000, memsz: 0x1000 }),
    ]);
    expect(regionsForImage(img, 0, "program", "eager").map((r) => [r.start, r.length, r.offset, r.prot, r.segment])).toEqual([
      [0x400000, 0x2000, 0, PROT_READ | PROT_EXEC, 1],
      [0x402000, 0x1000, 0x2000, PROT_READ, 2],
      [0x403000, 0x2000, 0x3000, PROT_READ | PROT_EXEC, 1],
      [0x600000, 0x1000, 0, PROT_READ | PROT_WRITE, 0],
    ]);
  });

  test("a later segment over a zeroed tail takes the tail's page, zeroing and all", () => {
    const img = image([
      seg({ flags: PF_R | PF_W, offset: 0, vaddr: 0x400000, filesz: 0x1800, memsz: 0x4000 }),
      seg({ flags: PF_R, offset: 0x1000, vaddr: 0x401000, filesz: 0x100, memsz: 0x100 }),
    ]);
    const regions = regionsForImage(img, 0, "program", "eager");
    expect(regions.map((r) => [r.start, r.length, r.zeroFrom])).toEqual([
      [0x400000, 0x1000, 0],
      [0x401000, 0x1000, 0],
      [0x402000, 0x2000, 0],
    ]);
  });

  test("a bias moves every region", () => {
    const img = image([seg({ vaddr: 0, offset: 0 })], 3);
    expect(regionsForImage(img, 0x555555554000, "program", "demand")[0]!.start).toBe(0x555555554000);
  });
});

describe("placement", () => {
  const kept: AddressRange[] = [{ start: 0x7f0000000000, end: 0x7f0000100000, name: "shim" }];

  test("ET_EXEC loads at its own addresses", () => {
    const plan = planLoad(image([seg({ flags: PF_R | PF_X })]), null, { policy: "eager", kept, minAddress: 0x10000, random: noRandomness });
    expect(plan.program.bias).toBe(0);
    expect(plan.entry).toBe(0x400000);
    expect(plan.regions.every((r) => r.populate)).toBe(true);
  });

  test("PIE goes at ELF_ET_DYN_BASE plus randomness, aligned to its largest p_align", () => {
    const pie = image([seg({ vaddr: 0, offset: 0, align: 0x200000, flags: PF_R | PF_X })], 3, { interp: true });
    const loader = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X })], 3);
    const plan = planLoad(pie, loader, { policy: "demand", kept, minAddress: 0x10000, random: fixedRandom(0.5) });
    expect(plan.program.bias % 0x200000).toBe(0);
    expect(plan.program.bias).toBeGreaterThan(ET_DYN_BASE);
    expect(plan.program.bias).toBeLessThan(ET_DYN_BASE + 2 ** 40);
    const fixed = planLoad(pie, loader, { policy: "demand", kept, minAddress: 0x10000, random: noRandomness });
    expect(fixed.program.bias).toBe(0x555555400000);
  });

  test("an ET_DYN interpreter is placed by the kernel: planned at bias 0, its regions and the entry relative to it", () => {
    const pie = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X })], 3, { interp: true });
    const loader = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X, memsz: 0x30000, filesz: 0x100 })], 3);
    const plan = planLoad(pie, loader, { policy: "demand", kept, minAddress: 0x10000, random: noRandomness });
    expect(plan.interpreter!.bias).toBe(0);
    expect(plan.interpreter!.byKernel).toEqual({ alignment: 0x1000, extent: { start: 0, end: 0x30000 } });
    expect(plan.entry).toBe(loader.entry);
    expect(plan.programEntry).toBe(plan.program.bias + pie.entry);
    expect(plan.regions.filter((r) => r.file === "interpreter").every((r) => r.base === "interpreter")).toBe(true);
    expect(plan.regions.filter((r) => r.file === "program").every((r) => r.base === "fixed")).toBe(true);
  });

  test("a static-pie program is placed by the kernel at its largest alignment; its heap is fixed, at ELF_ET_DYN_BASE", () => {
    const img = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X, align: 0x200000 })], 3);
    const plan = planLoad(img, null, { policy: "demand", kept, minAddress: 0x10000, random: noRandomness });
    expect(plan.program.bias).toBe(0);
    expect(plan.program.byKernel?.alignment).toBe(0x200000);
    expect(plan.regions.every((r) => r.base === "program")).toBe(true);
    expect(plan.brk).toBe(ET_DYN_HEAP_BASE);
    expect(plan.brkBase).toBe("fixed");
  });

  test("a PIE that would land on the loader is left to the kernel too", () => {
    const pie = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X })], 3, { interp: true });
    const loader = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X })], 3);
    const onTheLoader: AddressRange[] = [{ start: 0x555555554000, end: 0x555555564000, name: "code" }];
    const plan = planLoad(pie, loader, { policy: "demand", kept: onTheLoader, minAddress: 0x10000, random: noRandomness });
    expect(plan.program.byKernel).not.toBeNull();
    expect(plan.brkBase).toBe("program");
  });

  test("brk starts past the program's last page, randomized by up to 32 MiB", () => {
    const img = image([seg({ flags: PF_R | PF_W, filesz: 0x100, memsz: 0x2100 })]);
    expect(planLoad(img, null, { policy: "demand", kept, minAddress: 0x10000, random: noRandomness }).brk).toBe(0x403000);
    const randomized = planLoad(img, null, { policy: "demand", kept, minAddress: 0x10000, random: fixedRandom(0.999) }).brk;
    expect(randomized).toBeGreaterThan(0x403000);
    expect(randomized).toBeLessThan(0x403000 + 0x2000000);
    expect(randomized % 0x1000).toBe(0);
  });

  test("a segment over a kept range is refused, naming both ranges", () => {
    const img = image([seg({ vaddr: 0x7f0000080000, offset: 0, flags: PF_R | PF_X })]);
    let error: unknown;
    try {
      checkClearOfLoader(img, 0, kept);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).message).toMatch(/PT_LOAD 0 at 0x7f0000080000-0x7f0000081000 would overlap the loader's shim at 0x7f0000000000-0x7f0000100000/);
    expect((error as LoadError).exitCode).toBe(126);
  });

  test("a PT_LOAD with no memory maps nothing, so it lies nowhere", () => {
    const img = image([seg({ flags: PF_R | PF_X }), seg({ vaddr: 0, offset: 0, filesz: 0, memsz: 0 })]);
    expect(() => checkPlacement(img, 0, 0x10000)).not.toThrow();
    expect(() => checkClearOfLoader(img, 0, [{ start: 0, end: 0x1000, name: "low" }])).not.toThrow();
  });

  test("a segment below vm.mmap_min_addr is refused", () => {
    const img = image([seg({ vaddr: 0x1000, offset: 0, flags: PF_R | PF_X })]);
    expect(() => checkPlacement(img, 0, 0x10000)).toThrow(/below vm.mmap_min_addr \(0x10000\)/);
  });

  test("a program naming an interpreter needs one", () => {
    const dynamic = image([seg({ vaddr: 0, offset: 0 })], 3, { interp: true });
    expect(() => planLoad(dynamic, null, { policy: "demand", kept, minAddress: 0, random: noRandomness })).toThrow(/needs interpreter/);
  });

  test("an ET_EXEC interpreter is mapped at its own addresses, over the program where they meet", () => {
    const program = image([seg({ flags: PF_R | PF_X })], 2, { interp: true });
    const interpreter = parseElf("ld", craftElf({ type: 2, entry: 0x400010, segments: [seg({ flags: PF_R | PF_X | PF_W })], size: 0x1000 }), undefined, "interpreter");
    const plan = planLoad(program, interpreter, { policy: "eager", kept, minAddress: 0x10000, random: noRandomness });
    expect(plan.regions).toHaveLength(1);
    expect(plan.regions[0]).toMatchObject({ start: 0x400000, file: "interpreter", prot: PROT_READ | PROT_WRITE | PROT_EXEC });
    expect(plan.entry).toBe(0x400010);
  });

  test("an entry point beyond user space fails as the kernel's BAD_ADDR check does, past the point of no return", () => {
    const img = parseElf("img", craftElf({ entry: 0xffff800000000000, segments: [seg({ flags: PF_R | PF_X })], size: 0x1000 }));
    let error: unknown;
    try {
      planLoad(img, null, { policy: "eager", kept, minAddress: 0x10000, random: noRandomness });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ errno: "EINVAL", kernel: "after-exec" });
    expect((error as Error).message).toMatch(/entry point 0xffff800000000000 lies beyond the user address space/);
  });

  test("below vm.mmap_min_addr is fine for a caller the kernel lets map low pages (minAddress 0)", () => {
    expect(planLoad(image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X })]), null, { policy: "eager", kept, minAddress: 0, random: noRandomness }).regions[0]!.start).toBe(0);
  });

  test("a p_align larger than the placement window rounds the address down, as the kernel does", () => {
    const img = image([seg({ vaddr: 0, offset: 0, align: 2 ** 47, flags: PF_R | PF_X })], 3);
    expect(planLoad(img, null, { policy: "eager", kept, minAddress: 0, random: noRandomness }).program.bias).toBe(0);
    // Above 2^53 too, where doubles are no longer safe integers.
    const pie = image([seg({ vaddr: 0, offset: 0, align: 2 ** 53, flags: PF_R | PF_X })], 3, { interp: true });
    const loader = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X })], 3);
    expect(() => planLoad(pie, loader, { policy: "eager", kept, minAddress: 0x10000, random: fixedRandom(0.5) })).toThrow(/segments at 0x0-0x1000 lie below vm.mmap_min_addr/);
  });

  test("a real PIE program and its interpreter plan without overlaps", () => {
    const ls = parseElf("/bin/ls", readFileSync("/bin/ls"));
    const ld = parseElf(ls.interpreter!, readFileSync(ls.interpreter!), undefined, "interpreter");
    const plan = planLoad(ls, ld, { policy: "eager", kept, minAddress: 0x10000, random: fixedRandom(0.7) });
    // Each image's regions are sorted and disjoint; the interpreter's are
    // relative to where the kernel will put it.
    for (const base of ["fixed", "interpreter"] as const) {
      const regions = plan.regions.filter((r) => r.base === base);
      expect(regions.length).toBeGreaterThan(0);
      for (let i = 1; i < regions.length; i++) expect(regions[i]!.start).toBeGreaterThanOrEqual(regions[i - 1]!.start + regions[i - 1]!.length);
    }
    for (const r of plan.regions) {
      expect(r.start % 0x1000).toBe(0);
      expect(r.length % 0x1000).toBe(0);
      if (r.base === "fixed") expect(r.start + r.length <= kept[0]!.start || r.start >= kept[0]!.end).toBe(true);
    }
  });
});

describe("planning the same images again", () => {
  const kept: AddressRange[] = [{ start: 0x7f0000000000, end: 0x7f0000100000, name: "shim" }];
  /** Draws from a list, so two plans can be given the same draws. */
  const draws = (values: number[]) => {
    let i = 0;
    return (bound: number) => Math.floor(bound * values[i++ % values.length]!);
  };
  const pie = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X, filesz: 0x1800, memsz: 0x1800 }), seg({ vaddr: 0x3000, offset: 0x2000, flags: PF_R | PF_W, filesz: 0x100, memsz: 0x5000 })], 3, { interp: true });
  const loader = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X, memsz: 0x30000, filesz: 0x100 })], 3);
  const fixed = image([seg({ flags: PF_R | PF_X }), seg({ vaddr: 0x402000, offset: 0x1000, flags: PF_R | PF_W, memsz: 0x3000 })]);
  const staticPie = image([seg({ vaddr: 0, offset: 0, flags: PF_R | PF_X, align: 0x200000 })], 3);

  for (const [name, program, interpreter] of [["a PIE", pie, loader], ["an ET_EXEC program", fixed, null], ["a static-pie", staticPie, null]] as const) {
    test(`${name}: the plan made again from the last one equals a fresh plan with the same draws`, () => {
      for (const policy of ["eager", "demand", "hybrid"] as const) {
        const first = planLoad(program, interpreter, { policy, kept, minAddress: 0x10000, random: draws([0.25, 0.75]) });
        const again = planAgain(first, program, interpreter, { policy, kept, minAddress: 0x10000, random: draws([0.6, 0.1]) });
        const fresh = planLoad(program, interpreter, { policy, kept, minAddress: 0x10000, random: draws([0.6, 0.1]) });
        expect(again).toEqual(fresh);
      }
    });
  }

  test("a PIE moved by the new draw moves every program address, and no interpreter address", () => {
    const first = planLoad(pie, loader, { policy: "demand", kept, minAddress: 0x10000, random: draws([0.25]) });
    const again = planAgain(first, pie, loader, { policy: "demand", kept, minAddress: 0x10000, random: draws([0.5]) });
    const delta = again.program.bias - first.program.bias;
    expect(delta).not.toBe(0);
    first.regions.forEach((r, i) => expect(again.regions[i]!.start - r.start).toBe(r.file === "program" ? delta : 0));
    expect(again.entry).toBe(first.entry);
    expect(again.programEntry - first.programEntry).toBe(delta);
  });

  test("the checks still run: a move onto the loader's memory is refused", () => {
    const first = planLoad(pie, loader, { policy: "demand", kept, minAddress: 0x10000, random: draws([0.25]) });
    const onLoader: AddressRange[] = [{ start: ET_DYN_BASE, end: ET_DYN_BASE + 2 ** 41, name: "code" }];
    // Clear of the loader the kernel's choice applies (placed by the kernel),
    // which a moved plan cannot express: planned afresh.
    const again = planAgain(first, pie, loader, { policy: "demand", kept: onLoader, minAddress: 0x10000, random: draws([0.5]) });
    expect(again).toEqual(planLoad(pie, loader, { policy: "demand", kept: onLoader, minAddress: 0x10000, random: draws([0.5]) }));
    expect(again.program.byKernel).not.toBeNull();
  });

  test("memory checks are made afresh each time", () => {
    const first = planLoad(fixed, null, { policy: "eager", kept, minAddress: 0x10000, random: noRandomness });
    expect(() => planAgain(first, fixed, null, { policy: "eager", kept, minAddress: 0x10000, random: noRandomness, available: 0x1000 })).toThrow(LoadError);
  });
});

describe("PT_GNU_STACK", () => {
  const kept: AddressRange[] = [];
  const planWithStack = (flags: number | null, legacyReadImpliesExec = false) => {
    const segments = [seg({ flags: PF_R | PF_X }), seg({ flags: PF_R | PF_W, offset: 0x1000, vaddr: 0x401000, filesz: 0x100, memsz: 0x100 })];
    if (flags !== null) segments.push({ type: 0x6474e551, flags, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 });
    return planLoad(image(segments), null, { policy: "demand", kept, minAddress: 0x10000, random: noRandomness, legacyReadImpliesExec });
  };
  const withStack = (flags: number | null) => planWithStack(flags).executableStack;
  test("asks for an executable stack only with PF_X", () => {
    expect(withStack(PF_R | PF_W | PF_X)).toBe(true);
    expect(withStack(PF_R | PF_W)).toBe(false);
    expect(withStack(null)).toBe(false);
  });
  test("since Linux 5.8 a 64-bit program never reads as executable, whatever its PT_GNU_STACK", () => {
    for (const flags of [PF_R | PF_W | PF_X, PF_R | PF_W, null]) {
      expect(stackExecution(flags, false).readImpliesExec).toBe(false);
      expect(planWithStack(flags).regions.map((r) => r.prot)).toEqual([PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE]);
    }
  });
  test("before 5.8, a missing or executable PT_GNU_STACK makes every readable mapping executable, the stack too", () => {
    expect(stackExecution(null, true)).toEqual({ executableStack: true, readImpliesExec: true });
    expect(stackExecution(PF_R | PF_W | PF_X, true)).toEqual({ executableStack: true, readImpliesExec: true });
    expect(stackExecution(PF_R | PF_W, true)).toEqual({ executableStack: false, readImpliesExec: false });
    const plan = planWithStack(null, true);
    expect(plan.readImpliesExec).toBe(true);
    expect(plan.regions.map((r) => r.prot)).toEqual([PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC]);
    expect(planWithStack(PF_R | PF_W, true).regions.map((r) => r.prot)).toEqual([PROT_READ | PROT_EXEC, PROT_READ | PROT_WRITE]);
  });
});

describe("policies", () => {
  const img = () =>
    image([
      seg({ flags: PF_R | PF_X, offset: 0, vaddr: 0x400000, filesz: 0x1800, memsz: 0x1800 }),
      seg({ flags: PF_R | PF_W, offset: 0x2e10, vaddr: 0x402e10, filesz: 0x1234, memsz: 0x5000 }),
    ]);
  const flags = (policy: "eager" | "demand" | "hybrid") => regionsForImage(img(), 0, "program", policy).map((r) => [r.offset === null ? "bss" : "file", r.populate, r.demand]);
  test("apager populates everything", () => {
    expect(flags("eager")).toEqual([["file", true, false], ["file", true, false], ["bss", true, false]]);
  });
  test("dpager pages everything in on demand", () => {
    expect(flags("demand")).toEqual([["file", false, true], ["file", false, true], ["bss", false, true]]);
  });
  test("hpager maps text and data at start and pages the bss in", () => {
    expect(flags("hybrid")).toEqual([["file", true, false], ["file", true, false], ["bss", false, true]]);
  });
});

describe("memory the kernel would not commit, and memory apager cannot populate", () => {
  const GiB = 2 ** 30;
  const bss = (memsz: number) => image([seg({ flags: PF_R | PF_X }), seg({ flags: PF_R | PF_W, vaddr: 0x600000, filesz: 0, memsz })]);
  const guess = { overcommit: 0, ramAndSwap: 24 * GiB, commitFree: 12 * GiB };

  test("mode 0: one bss larger than RAM and swap is ENOMEM, past the point of no return; up to that it is granted", () => {
    expect(() => checkCommit(bss(24 * GiB), guess)).not.toThrow();
    let error: unknown;
    try {
      checkCommit(bss(24 * GiB + 0x1000), guess);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ errno: "ENOMEM", kernel: "after-exec" });
    expect((error as Error).message).toMatch(/PT_LOAD 1: its bss \(0x600001000 bytes\) exceed RAM and swap together \(0x600000000 bytes\)/);
  });

  test("mode 2 counts every request against what the commit limit leaves; mode 1 grants all", () => {
    expect(() => checkCommit(bss(13 * GiB), { ...guess, overcommit: 2 })).toThrow(/memory left to commit/);
    expect(() => checkCommit(bss(64 * GiB), { ...guess, overcommit: 1 })).not.toThrow();
  });

  test("populated pages must fit in the memory available: faultline's own limit, not the kernel's", () => {
    const plan = planLoad(bss(GiB), null, { policy: "eager", kept: [], minAddress: 0x10000, random: noRandomness });
    expect(() => checkPopulation(plan, 2 * GiB)).not.toThrow();
    let error: unknown;
    try {
      checkPopulation(plan, GiB / 2);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ errno: "ENOMEM", kernel: "runs" });
    expect((error as Error).message).toMatch(/dpager maps pages only when they are touched.*the kernel would run it/);
    expect(() => planLoad(bss(GiB), null, { policy: "demand", kept: [], minAddress: 0x10000, random: noRandomness })).not.toThrow();
  });

  test("an image's extent runs from its lowest page to its highest, whatever the order", () => {
    const img = image([seg({ vaddr: 0x600000, flags: PF_R | PF_W, memsz: 0x2100 }), seg({ vaddr: 0x400000, flags: PF_R | PF_X })]);
    expect(imageExtent(img, 0)).toEqual({ start: 0x400000, end: 0x603000 });
  });
});
