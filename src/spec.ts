/**
 * The launch spec: the plan, the stack image and the process state the
 * loader sets, encoded in the layout of shim/launch.h for the loader to
 * execute. Every address in it is final: TypeScript made the plan for the
 * loader's own address space. Pure: the encoder writes bytes into the
 * memory it is given; making that memory is src/launch.ts's job.
 */
import { PAGE_SIZE } from "./elf.ts";
import { pageUp, type Placement, type Policy, type Region } from "./plan.ts";
import { AT_BASE, AT_ENTRY, AT_PHDR, AT_SYSINFO_EHDR, type StackImage } from "./stack.ts";
import type { IntervalTimers } from "./caller.ts";

export const SPEC_MAGIC = 0x32656e696c746c66n; // "fltline2"
const WORD = 8;
/** Words of struct fl_launch_spec before its status (see shim/launch.h). */
const HEADER_WORDS = 51;
const STATUS_WORDS = 19;
export const SPEC_HEADER_BYTES = (HEADER_WORDS + STATUS_WORDS) * WORD;
export const STATUS_OFFSET = HEADER_WORDS * WORD;
export const REGION_BYTES = 10 * WORD;
export const MM_MAP_BYTES = 13 * WORD;
export const RELOCATION_BYTES = 2 * WORD;
/** struct fl_prefetch_run: a start and a page count. */
export const PREFETCH_RUN_BYTES = 2 * WORD;
/** struct fl_spawn_descriptor and struct fl_spawn_request (shim/loader/spawn.h). */
export const SPAWN_DESCRIPTOR_BYTES = 3 * WORD;
export const SPAWN_REQUEST_WORDS = 14;
/** struct fl_ring and struct fl_event. */
export const RING_HEADER_BYTES = 15 * WORD;
/** Where the ring's counters and their check words are (struct fl_counters). */
const RING_COUNTS_OFFSET = 5 * WORD;
const RING_COUNTS = 5;
export const EVENT_BYTES = 22 * WORD;
/** Events the ring holds before a faulting thread waits for Bun to catch
 * up: at 128 bytes each, 128 KiB of the plan's memory. */
export const RING_CAPACITY = 1024;
/** The fault handler's alternate stack: room for a handler frame with the
 * largest signal frame x86-64 uses (AVX-512 state) several times over. */
export const ALTSTACK_BYTES = 64 * 1024;
const ANONYMOUS = 0xffffffffffffffffn;
const REGION_POPULATE = 1n;
const REGION_DEMAND = 2n;
const REGION_COPY = 4n;
const MICROS_PER_SECOND = 1_000_000;

/** hpager's predictor ("none": dpager and apager, which predict nothing). */
export type PredictorName = "none" | "next" | "stride" | "readahead";
/** How demand faults reach the pager (shim/launch.h, enum fl_mechanism). */
export type Mechanism = "signal" | "userfaultfd";
const MECHANISM_CODES: Record<Mechanism, number> = { signal: 0, userfaultfd: 1 };
const POLICY_CODES: Record<Policy, number> = { eager: 0, demand: 1, hybrid: 2 };
const PREDICTOR_CODES: Record<PredictorName, number> = { none: 0, next: 1, stride: 2, readahead: 3 };
const PROCESS_NAME_BYTES = 16;

/** The layout the shim was built with, as fl_spec_layout reports it. */
export const EXPECTED_LAYOUT = [
  SPEC_HEADER_BYTES,
  REGION_BYTES,
  MM_MAP_BYTES,
  STATUS_OFFSET,
  RELOCATION_BYTES,
  SPAWN_DESCRIPTOR_BYTES,
  SPAWN_REQUEST_WORDS * WORD,
  RING_CAPACITY,
  PREFETCH_RUN_BYTES,
] as const;

export interface MemoryDescription {
  startCode: number;
  endCode: number;
  startData: number;
  endData: number;
  startBrk: number;
  brk: number;
  startStack: number;
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
  /** Where the auxiliary vector is (in the stack image), for
   * /proc/self/auxv. */
  auxv: number;
}

/** What the loader adds to a relative word (enum fl_base in shim/launch.h). */
export type Base = "fixed" | "stack" | "vdso" | "program" | "interpreter";
export const BASES: readonly Base[] = ["fixed", "stack", "vdso", "program", "interpreter"];
const BASE_CODES: Record<Base, number> = { fixed: 0, stack: 1, vdso: 2, program: 3, interpreter: 4 };
/** The stack top the stack image is built for; the loader moves it to the
 * kernel's (FL_NOMINAL_STACK_TOP). */
export const NOMINAL_STACK_TOP = 0x7ff000000000;
/** Where the loader maps the plan, beside its own image (FL_PLAN_ADDRESS). */
export const PLAN_ADDRESS = 0x200100000000;
/** The loader's own stack, below its image (FL_LOADER_STACK_ADDRESS). */
export const LOADER_STACK_BYTES = 0x10000;

/** An image's placement as the loader reads it (struct fl_placement). */
function placementWords(placement: Placement | null): number[] {
  const k = placement?.byKernel;
  return k ? [1, k.extent.start, k.extent.end - k.extent.start, k.alignment] : [0, 0, 0, 0];
}

/** A value and what it is relative to. */
export interface Located {
  at: number;
  base: Base;
}

/** A region as the loader maps it: from the image copy (userfaultfd
 * paging's file pages) or as the plan says (src/image-copy.ts). */
export type SpecRegion = Region & { fromCopy?: boolean };

/** Pages the loader maps before the jump (--prefetch), inside one demand
 * region, at the plan's coordinates (src/working-set.ts). */
export interface SpecPrefetchRun {
  start: number;
  base: Base;
  pages: number;
}

export interface SpecInput {
  regions: readonly SpecRegion[];
  program: Placement;
  interpreter: Placement | null;
  stack: StackImage;
  /** Where execution starts (relative to the interpreter's or the
   * program's base where the kernel places it). */
  entry: Located;
  /** The base of the program's own addresses (AT_PHDR, AT_ENTRY, code and
   * data extents) and of the interpreter's (AT_BASE). */
  programBase: Base;
  interpreterBase: Base;
  brkBase: Base;
  /** The loader reports the placement and waits for Bun's go (Bun logs the
   * mappings first). */
  waitForGo: boolean;
  processName: string;
  memory: MemoryDescription | null;
  /** The loader may name the program's file /proc/self/exe. */
  replaceExe: boolean;
  /** The caller's interval timers, armed just before the jump. */
  timers: IntervalTimers | null;
  policy: Policy;
  predictor: PredictorName;
  /** Pages a fault maps, the faulting one included. */
  predictPages: number;
  /** Whether Bun logs or traces faults (else none are published). */
  eventsWanted: boolean;
  mechanism: Mechanism;
  /** --friendly: a non-zero seed for choosing messages; 0 leaves it off. */
  friendlySeed: bigint;
  friendlyReraise: boolean;
  /** userfaultfd serving the program's own accesses only (no privilege). */
  userModeOnly: boolean;
  /** Pages to map before the jump (--prefetch); none when empty. */
  prefetch: readonly SpecPrefetchRun[];
}

const TWO_TO_32 = 2 ** 32;

/** A little-endian 64-bit word: a non-negative integer number as two
 * 32-bit halves (no BigInt to allocate), a bigint as it is. */
export function putWord(view: DataView, at: number, value: number | bigint): void {
  if (typeof value === "bigint") {
    view.setBigUint64(at, BigInt.asUintN(64, value), true);
    return;
  }
  view.setUint32(at, value % TWO_TO_32, true);
  view.setUint32(at + 4, Math.floor(value / TWO_TO_32), true);
}

function emptyTimers(): IntervalTimers {
  const off = { intervalMicros: 0, valueMicros: 0 };
  return [off, off, off];
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

interface Offsets {
  regions: number;
  relocations: number;
  mmMap: number;
  prefetch: number;
  stackImage: number;
  ring: number;
  length: number;
}

/** Sizes that decide a spec's layout. Only SIGSEGV paging needs the event
 * ring (the userfaultfd server logs what it does itself). */
export interface SpecSizes {
  regionCount: number;
  /** Words to relocate: at most two per region, one per stack pointer and
   * auxiliary vector entry, and the header's and memory description's. */
  relocationCount: number;
  stackImageBytes: number;
  eventRing: boolean;
  /** Prefetch runs, at most (0: none). */
  prefetchRuns?: number;
}

function offsetsFor(sizes: SpecSizes): Offsets {
  const regions = SPEC_HEADER_BYTES;
  const relocations = regions + sizes.regionCount * REGION_BYTES;
  const mmMap = relocations + sizes.relocationCount * RELOCATION_BYTES;
  const prefetch = mmMap + MM_MAP_BYTES;
  const stackImage = align(prefetch + (sizes.prefetchRuns ?? 0) * PREFETCH_RUN_BYTES, WORD);
  const ring = align(stackImage + sizes.stackImageBytes, PAGE_SIZE);
  const end = ring + (sizes.eventRing ? RING_HEADER_BYTES + RING_CAPACITY * EVENT_BYTES : 0);
  return { regions, relocations, mmMap, prefetch, stackImage, ring, length: pageUp(end) };
}

/** Bytes of the plan's memory a spec needs, given upper bounds of its parts. */
export function specLength(sizes: SpecSizes): number {
  return offsetsFor(sizes).length;
}

/** Relocations a stack image and its memory description need at most, on
 * top of the regions'. */
export const FIXED_RELOCATIONS = 4 + 12;

/** The relocations a spec needs at most: see SpecSizes.relocationCount
 * (and one per prefetch run). */
export function relocationBound(regionCount: number, argc: number, envc: number, auxvEntries: number, prefetchRuns = 0): number {
  return 2 * regionCount + argc + envc + auxvEntries + FIXED_RELOCATIONS + prefetchRuns;
}

/** Whether a run pages by the SIGSEGV handler, which reads the spec (and
 * writes its ring) while the program runs. */
export function pagesBySignal(regions: readonly Region[], mechanism: Mechanism): boolean {
  return mechanism === "signal" && regions.some((r) => r.demand);
}

/**
 * Encode the spec into `target`, the plan's memory. Writes only the spec's
 * own bytes (header, status cleared, tables, stack image, the ring's header
 * and slots when there is one).
 */
export function encodeSpec(input: SpecInput, target: Uint8Array): void {
  const demandPages = input.regions.reduce((n, r) => n + (r.demand ? r.length / PAGE_SIZE : 0), 0);
  const paging = pagesBySignal(input.regions, input.mechanism);
  const relocations: Array<{ offset: number; base: Base }> = [];
  const sizes = {
    regionCount: input.regions.length,
    relocationCount: relocationBound(input.regions.length, 0, 0, 0, input.prefetch.length) + input.stack.stackPointers.length + input.stack.auxvValues.size,
    stackImageBytes: input.stack.bytes.length,
    eventRing: paging,
    prefetchRuns: input.prefetch.length,
  };
  const o = offsetsFor(sizes);
  if (o.length > target.byteLength) throw new Error(`launch spec needs ${o.length} bytes, only ${target.byteLength} made`);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const put = (at: number, value: number | bigint) => putWord(view, at, value);
  /** A word the loader makes final by adding its base's value. */
  const relocate = (offset: number, base: Base) => {
    if (base !== "fixed") relocations.push({ offset, base });
  };

  const name = new TextEncoder().encode(input.processName).subarray(0, PROCESS_NAME_BYTES - 1);
  const nameWords = new Uint8Array(PROCESS_NAME_BYTES);
  nameWords.set(name);
  const nameView = new DataView(nameWords.buffer);

  const header: Array<number | bigint> = [
    SPEC_MAGIC,
    SPEC_HEADER_BYTES,
    input.regions.length,
    o.regions,
    ...placementWords(input.program),
    ...placementWords(input.interpreter),
    0, // relocation_count: known once everything is written
    o.relocations,
    input.waitForGo ? 1 : 0,
    input.stack.mappingStart,
    input.stack.top,
    o.stackImage,
    input.stack.bytes.length,
    input.entry.at,
    input.stack.sp,
    nameView.getBigUint64(0, true),
    nameView.getBigUint64(8, true),
    input.memory ? o.mmMap : 0,
    input.replaceExe ? 1 : 0,
    input.timers === null ? 0 : 1,
    ...(input.timers ?? emptyTimers()).flatMap((timer) => [
      Math.floor(timer.intervalMicros / MICROS_PER_SECOND),
      timer.intervalMicros % MICROS_PER_SECOND,
      Math.floor(timer.valueMicros / MICROS_PER_SECOND),
      timer.valueMicros % MICROS_PER_SECOND,
    ]),
    POLICY_CODES[input.policy],
    PREDICTOR_CODES[input.predictor],
    input.predictPages,
    demandPages,
    demandPages > 0 ? ALTSTACK_BYTES : 0,
    paging ? o.ring : 0,
    input.eventsWanted ? 1 : 0,
    MECHANISM_CODES[input.mechanism],
    input.friendlySeed,
    input.friendlyReraise ? 1 : 0,
    input.userModeOnly ? 1 : 0,
    input.prefetch.length,
    input.prefetch.length > 0 ? o.prefetch : 0,
  ];
  if (header.length !== HEADER_WORDS) throw new Error("spec header out of step with shim/launch.h");
  header.forEach((value, i) => put(i * WORD, value));
  for (let i = 0; i < STATUS_WORDS; i++) put(STATUS_OFFSET + i * WORD, 0);
  // stack_low, stack_top, entry, initial_sp (header words 15, 16, 19, 20).
  relocate(HEADER_STACK_LOW * WORD, "stack");
  relocate((HEADER_STACK_LOW + 1) * WORD, "stack");
  relocate(HEADER_ENTRY * WORD, input.entry.base);
  relocate((HEADER_ENTRY + 1) * WORD, "stack");

  let pageIndex = 0;
  input.regions.forEach((region, i) => {
    const at = o.regions + i * REGION_BYTES;
    const base: Base = region.base;
    put(at, region.start);
    put(at + 8, region.length);
    put(at + 16, region.offset === null ? ANONYMOUS : region.offset);
    put(at + 24, region.file === "program" ? 0 : 1);
    put(at + 32, region.prot);
    put(at + 40, (region.populate ? REGION_POPULATE : 0n) | (region.demand ? REGION_DEMAND : 0n) | (region.fromCopy ? REGION_COPY : 0n));
    put(at + 48, region.zeroFrom);
    put(at + 56, region.demand ? pageIndex : 0);
    put(at + 64, BASE_CODES[base]);
    // The copy holds the file's bytes at the file's own offsets.
    put(at + 72, region.fromCopy && region.offset !== null ? region.offset : 0);
    relocate(at, base);
    if (region.zeroFrom) relocate(at + 48, base);
    if (region.demand) pageIndex += region.length / PAGE_SIZE;
  });
  input.prefetch.forEach((run, i) => {
    const at = o.prefetch + i * PREFETCH_RUN_BYTES;
    put(at, run.start);
    put(at + WORD, run.pages);
    relocate(at, run.base);
  });
  if (paging) {
    // Reused memory holds the last run's ring: start afresh.
    target.fill(0, o.ring, o.ring + RING_HEADER_BYTES);
    // Each count's check word holds its complement: ~0 to start with.
    target.fill(0xff, o.ring + RING_COUNTS_OFFSET + RING_COUNTS * WORD, o.ring + RING_COUNTS_OFFSET + 2 * RING_COUNTS * WORD);
    for (let i = 0; i < RING_CAPACITY; i++) put(o.ring + RING_HEADER_BYTES + i * EVENT_BYTES, 0);
    put(o.ring + 3 * WORD, RING_CAPACITY);
  }
  if (input.memory) {
    const m = input.memory;
    const words: Array<[number, Base]> = [
      [m.startCode, input.programBase],
      [m.endCode, input.programBase],
      [m.startData, input.programBase],
      [m.endData, input.programBase],
      [m.startBrk, input.brkBase],
      [m.brk, input.brkBase],
      [m.startStack, "stack"],
      [m.argStart, "stack"],
      [m.argEnd, "stack"],
      [m.envStart, "stack"],
      [m.envEnd, "stack"],
      [m.auxv, "stack"],
    ];
    words.forEach(([value, base], i) => {
      put(o.mmMap + i * WORD, value);
      relocate(o.mmMap + i * WORD, base);
    });
    view.setUint32(o.mmMap + 12 * WORD, input.stack.auxv.length * 2 * WORD, true);
    view.setUint32(o.mmMap + 12 * WORD + 4, 0xffffffff, true);
  }
  target.set(input.stack.bytes, o.stackImage);
  for (const slot of input.stack.stackPointers) relocate(o.stackImage + slot, "stack");
  const auxvBases: Array<[number, Base]> = [
    [AT_PHDR, input.programBase],
    [AT_ENTRY, input.programBase],
    [AT_BASE, input.interpreterBase],
    [AT_SYSINFO_EHDR, "vdso"],
  ];
  for (const [type, base] of auxvBases) {
    const slot = input.stack.auxvValues.get(type);
    if (slot !== undefined) relocate(o.stackImage + slot, base);
  }
  if (relocations.length > sizes.relocationCount) throw new Error("more relocations than room for them");
  relocations.forEach((r, i) => {
    put(o.relocations + i * RELOCATION_BYTES, r.offset);
    put(o.relocations + i * RELOCATION_BYTES + WORD, BASE_CODES[r.base]);
  });
  put(HEADER_RELOCATION_COUNT * WORD, relocations.length);
}

/** Header words the loader relocates, by index (struct fl_launch_spec). */
const HEADER_RELOCATION_COUNT = 12;
const HEADER_STACK_LOW = 15;
const HEADER_ENTRY = 19;

/** Loader stages, in the order of enum fl_stage in shim/launch.h. */
export const STAGES = [
  "none",
  "starting",
  "mapping its plan",
  "placing the program",
  "mapping a region",
  "zeroing the end of a file page",
  "protecting a region",
  "placing the stack",
  "naming the process",
  "naming the program's file /proc/self/exe",
  "closing the program's files",
  "starting demand paging",
  "installing the friendly fault reporter",
  "setting the signal mask",
  "arming interval timers",
  "launched",
] as const;

export interface LaunchStatus {
  launched: boolean;
  stage: number;
  error: number;
  detail: number;
  mmMapError: number;
  exeError: number;
  faults: number;
  pagesEnabled: number;
  handlerError: number;
  eventsDropped: number;
  genuineFaults: number;
  /** What the loader added to each base's addresses (index: BASES). */
  bases: number[];
  /** The program wrote over the pager's memory it shares (SIGSEGV paging's
   * event ring): its log and counts may be garbled. */
  tampered: boolean;
  /** Pages the loader mapped before the jump from the prefetch runs, and the
   * errno that stopped it early (0: none). */
  prefetched: number;
  prefetchError: number;
}

export function readStatus(memory: DataView): LaunchStatus {
  const word = (i: number) => Number(memory.getBigUint64(STATUS_OFFSET + i * WORD, true));
  return {
    launched: word(0) === 1,
    stage: word(1),
    error: word(2),
    detail: word(3),
    mmMapError: word(4),
    exeError: word(5),
    faults: word(6),
    pagesEnabled: word(7),
    handlerError: word(8),
    eventsDropped: word(9),
    genuineFaults: word(10),
    bases: BASES.map((_, i) => Number(BigInt.asIntN(64, memory.getBigUint64(STATUS_OFFSET + (11 + i) * WORD, true)))),
    tampered: word(11 + BASES.length) === 1,
    prefetched: word(12 + BASES.length),
    prefetchError: word(13 + BASES.length),
  };
}
