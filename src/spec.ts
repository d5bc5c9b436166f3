/**
 * The launch spec: the plan, the stack image and the process state the child
 * sets, encoded in the layout of shim/launch.h for the shim to execute.
 * Pure: the encoder returns bytes for a given base address; copying them into
 * kept memory is src/launch.ts's job.
 */
import { PAGE_SIZE, USER_ADDRESS_LIMIT } from "./elf.ts";
import { pageUp, type AddressRange, type Policy, type Region } from "./plan.ts";
import type { StackImage } from "./stack.ts";
import type { HandedDescriptor, IntervalTimers } from "./caller.ts";

export const SPEC_MAGIC = 0x31656e696c746c66n; // "fltline1"
const WORD = 8;
/** Words of struct fl_launch_spec before its status (see shim/launch.h). */
const HEADER_WORDS = 55;
const STATUS_WORDS = 13;
export const SPEC_HEADER_BYTES = (HEADER_WORDS + STATUS_WORDS) * WORD;
export const STATUS_OFFSET = HEADER_WORDS * WORD;
export const REGION_BYTES = 8 * WORD;
export const RANGE_BYTES = 2 * WORD;
export const DESCRIPTOR_BYTES = 2 * WORD;
export const MM_MAP_BYTES = 13 * WORD;
/** struct fl_ring and struct fl_event. */
export const RING_HEADER_BYTES = 5 * WORD;
export const EVENT_BYTES = 22 * WORD;
/** Events the ring holds before a faulting thread waits for the parent to
 * catch up: at 128 bytes each, 128 KiB of kept memory. */
export const RING_CAPACITY = 1024;
/** The fault handler's alternate stack: room for a handler frame with the
 * largest signal frame x86-64 uses (AVX-512 state) several times over. */
export const ALTSTACK_BYTES = 64 * 1024;
/** The child's own stack while it works; its deepest frame holds a 2 KiB
 * directory batch. */
export const CHILD_STACK_BYTES = 64 * 1024;
const ANONYMOUS = 0xffffffffffffffffn;
const REGION_POPULATE = 1n;
const REGION_DEMAND = 2n;

export type PredictorName = "none" | "next" | "stride" | "readahead";
/** How demand faults reach the pager (shim/launch.h, enum fl_mechanism). */
export type Mechanism = "signal" | "userfaultfd";
const MECHANISM_CODES: Record<Mechanism, number> = { signal: 0, userfaultfd: 1 };
const POLICY_CODES: Record<Policy, number> = { eager: 0, demand: 1, hybrid: 2 };
const PREDICTOR_CODES: Record<PredictorName, number> = { none: 0, next: 1, stride: 2, readahead: 3 };
const PROCESS_NAME_BYTES = 16;

/** The layout the shim was built with, as fl_spec_layout reports it. */
export const EXPECTED_LAYOUT = [SPEC_HEADER_BYTES, REGION_BYTES, RANGE_BYTES, MM_MAP_BYTES, STATUS_OFFSET] as const;

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
}

export interface SpecInput {
  kept: readonly AddressRange[];
  regions: readonly Region[];
  /** Descriptors of the program and its interpreter (-1 when none). */
  files: readonly [number, number];
  stack: StackImage;
  stackStart: number;
  stackProt: number;
  entry: number;
  processName: string;
  /** What the caller handed over (src/caller.ts). */
  ignoredSignals: readonly number[];
  signalMask: bigint;
  descriptors: readonly HandedDescriptor[];
  /** The soft RLIMIT_NOFILE to set; null leaves Bun's. */
  openFilesLimit: number | null;
  timers: IntervalTimers | null;
  memory: MemoryDescription | null;
  rssReset: boolean;
  unmapAtJump: boolean;
  policy: Policy;
  predictor: PredictorName;
  /** Pages a fault maps, the faulting one included. */
  predictPages: number;
  /** Whether the parent logs or traces faults (else none are published). */
  eventsWanted: boolean;
  mechanism: Mechanism;
  /** --friendly: a non-zero seed for choosing messages; 0 leaves it off. */
  friendlySeed: bigint;
  friendlyReraise: boolean;
}

const MICROS_PER_SECOND = 1_000_000;

function emptyTimers(): IntervalTimers {
  const off = { intervalMicros: 0, valueMicros: 0 };
  return [off, off, off];
}

function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

interface Offsets {
  kept: number;
  regions: number;
  descriptors: number;
  mmMap: number;
  auxv: number;
  stackImage: number;
  childStackTop: number;
  ring: number;
  length: number;
}

/** Sizes that decide a spec's layout. Only SIGSEGV paging needs the event
 * ring (the userfaultfd server logs what it does itself). */
export interface SpecSizes {
  keptCount: number;
  regionCount: number;
  descriptorCount: number;
  auxvEntries: number;
  stackImageBytes: number;
  eventRing: boolean;
}

function offsetsFor(sizes: SpecSizes): Offsets {
  const kept = SPEC_HEADER_BYTES;
  const regions = kept + sizes.keptCount * RANGE_BYTES;
  const descriptors = regions + sizes.regionCount * REGION_BYTES;
  const mmMap = descriptors + sizes.descriptorCount * DESCRIPTOR_BYTES;
  const auxv = mmMap + MM_MAP_BYTES;
  const stackImage = align(auxv + sizes.auxvEntries * 2 * WORD, WORD);
  const childStackBottom = align(stackImage + sizes.stackImageBytes, PAGE_SIZE);
  const childStackTop = childStackBottom + CHILD_STACK_BYTES;
  const ring = childStackTop;
  const end = ring + (sizes.eventRing ? RING_HEADER_BYTES + RING_CAPACITY * EVENT_BYTES : 0);
  return { kept, regions, descriptors, mmMap, auxv, stackImage, childStackTop, ring, length: pageUp(end) };
}

/** Bytes of kept memory a spec needs, given upper bounds of its parts. */
export function specLength(sizes: SpecSizes): number {
  return offsetsFor(sizes).length;
}

/**
 * Encode the spec into `target`, the kept memory at address `base`. Writes
 * only the spec's own bytes (header, status cleared, tables, stack image);
 * the child's stack above them is left as it is.
 */
export function encodeSpec(input: SpecInput, base: number, target: Uint8Array): void {
  const auxvWords = input.stack.auxv.length * 2;
  const demandPages = input.regions.reduce((n, r) => n + (r.demand ? r.length / PAGE_SIZE : 0), 0);
  const paging = demandPages > 0 && input.mechanism === "signal";
  const o = offsetsFor({
    keptCount: input.kept.length,
    regionCount: input.regions.length,
    descriptorCount: input.descriptors.length,
    auxvEntries: input.stack.auxv.length,
    stackImageBytes: input.stack.bytes.length,
    eventRing: paging,
  });
  const length = target.byteLength;
  if (o.length > length) throw new Error(`launch spec needs ${o.length} bytes, only ${length} kept`);
  const bytes = target;
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const put = (at: number, value: number | bigint) => view.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true);

  const name = new TextEncoder().encode(input.processName).subarray(0, PROCESS_NAME_BYTES - 1);
  const nameWords = new Uint8Array(PROCESS_NAME_BYTES);
  nameWords.set(name);
  const nameView = new DataView(nameWords.buffer);

  const header: Array<number | bigint> = [
    SPEC_MAGIC,
    SPEC_HEADER_BYTES,
    input.kept.length,
    o.kept,
    USER_ADDRESS_LIMIT,
    input.regions.length,
    o.regions,
    input.files[0],
    input.files[1],
    input.stackStart,
    input.stack.top,
    input.stackProt,
    o.stackImage,
    input.stack.bytes.length,
    input.entry,
    input.stack.sp,
    nameView.getBigUint64(0, true),
    nameView.getBigUint64(8, true),
    input.ignoredSignals.reduce((set, sig) => set | (1n << BigInt(sig - 1)), 0n),
    input.signalMask,
    input.descriptors.length,
    o.descriptors,
    input.openFilesLimit === null ? 0 : 1,
    input.openFilesLimit ?? 0,
    input.timers === null ? 0 : 1,
    ...(input.timers ?? emptyTimers()).flatMap((timer) => [
      Math.floor(timer.intervalMicros / MICROS_PER_SECOND),
      timer.intervalMicros % MICROS_PER_SECOND,
      Math.floor(timer.valueMicros / MICROS_PER_SECOND),
      timer.valueMicros % MICROS_PER_SECOND,
    ]),
    input.memory ? o.mmMap : 0,
    input.rssReset ? 1 : 0,
    input.unmapAtJump ? 1 : 0,
    length,
    base + o.childStackTop,
    0,
    0,
    0,
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
  ];
  if (header.length !== HEADER_WORDS) throw new Error("spec header out of step with shim/launch.h");
  header.forEach((value, i) => put(i * WORD, value));
  for (let i = 0; i < STATUS_WORDS; i++) put(STATUS_OFFSET + i * WORD, 0);

  input.kept.forEach((range, i) => {
    put(o.kept + i * RANGE_BYTES, range.start);
    put(o.kept + i * RANGE_BYTES + WORD, range.end);
  });
  input.descriptors.forEach((descriptor, i) => {
    put(o.descriptors + i * DESCRIPTOR_BYTES, descriptor.source);
    put(o.descriptors + i * DESCRIPTOR_BYTES + WORD, descriptor.target);
  });
  let pageIndex = 0;
  input.regions.forEach((region, i) => {
    const at = o.regions + i * REGION_BYTES;
    put(at, region.start);
    put(at + 8, region.length);
    put(at + 16, region.offset === null ? ANONYMOUS : region.offset);
    put(at + 24, region.file === "program" ? 0 : 1);
    put(at + 32, region.prot);
    put(at + 40, (region.populate ? REGION_POPULATE : 0n) | (region.demand ? REGION_DEMAND : 0n));
    put(at + 48, region.zeroFrom);
    put(at + 56, region.demand ? pageIndex : 0);
    if (region.demand) pageIndex += region.length / PAGE_SIZE;
  });
  if (paging) {
    // A reused kept memory holds the last run's ring: start afresh.
    bytes.fill(0, o.ring, o.ring + RING_HEADER_BYTES);
    for (let i = 0; i < RING_CAPACITY; i++) put(o.ring + RING_HEADER_BYTES + i * EVENT_BYTES, 0);
    put(o.ring + 3 * WORD, RING_CAPACITY);
  }
  if (input.memory) {
    const m = input.memory;
    [m.startCode, m.endCode, m.startData, m.endData, m.startBrk, m.brk, m.startStack, m.argStart, m.argEnd, m.envStart, m.envEnd].forEach(
      (value, i) => put(o.mmMap + i * WORD, value),
    );
    put(o.mmMap + 11 * WORD, base + o.auxv);
    view.setUint32(o.mmMap + 12 * WORD, auxvWords * WORD, true);
    view.setUint32(o.mmMap + 12 * WORD + 4, 0xffffffff, true);
    input.stack.auxv.forEach(([type, value], i) => {
      put(o.auxv + i * 2 * WORD, type);
      put(o.auxv + (i * 2 + 1) * WORD, value);
    });
  }
  bytes.set(input.stack.bytes, o.stackImage);
}

/** Loader stages, in the order of enum fl_stage in shim/launch.h. */
export const STAGES = [
  "none",
  "starting",
  "unregistering rseq",
  "disabling the alternate signal stack",
  "resetting signal dispositions",
  "handing over descriptors",
  "unmapping Bun",
  "resetting the peak RSS",
  "mapping a region",
  "zeroing the end of a file page",
  "protecting a region",
  "mapping the stack",
  "naming the process",
  "closing the program's files",
  "starting demand paging",
  "installing the friendly fault reporter",
  "setting the open-files limit",
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
  rssResetError: number;
  faults: number;
  pagesEnabled: number;
  handlerError: number;
  eventsDropped: number;
  genuineFaults: number;
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
    rssResetError: word(6),
    faults: word(7),
    pagesEnabled: word(8),
    handlerError: word(9),
    eventsDropped: word(10),
    genuineFaults: word(11),
  };
}
