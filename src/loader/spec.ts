/**
 * The launch spec: the plan, the stack image and the process state the
 * loader sets, encoded in the layout of shim/contract.h (by field name,
 * through src/loader/contract.ts) for the loader to execute. Every address in it is final: TypeScript made the plan for the
 * loader's own address space. Pure: the encoder writes bytes into the
 * memory it is given; making that memory is src/loader/launch.ts's job.
 */
import { PAGE_SIZE } from "./elf.ts";
import { pageUp, type Placement, type Policy, type Region } from "./plan.ts";
import { AT_BASE, AT_ENTRY, AT_PHDR, AT_SYSINFO_EHDR, type StackImage } from "./stack.ts";
import type { IntervalTimers } from "./caller.ts";
import type { VdsoBlock } from "./machine.ts";
import { COUNTERS, EVENT, INTERVAL_TIMER, LAUNCH_SPEC, VDSO_PART, MM_MAP, PLACEMENT, PREFETCH_RUN, START_LINE, PROCESS_NAME_BYTES, REGION, RELOCATION, RING, RING_CAPACITY, STAGE, STAGE_WORDS, STATUS, stageNamed, type Layout, type StageName } from "./contract.ts";

export { STAGE, STAGE_WORDS, stageNamed, type StageName };

export const SPEC_MAGIC = 0x32656e696c746c66n; // "fltline2"
const WORD = 8;
/** struct fl_launch_spec, its status last (shim/contract.h). */
const SPEC_HEADER_BYTES = LAUNCH_SPEC.size;
export const STATUS_OFFSET = LAUNCH_SPEC.fields.status.offset;
const REGION_BYTES = REGION.size;
const MM_MAP_BYTES = MM_MAP.size;
const RELOCATION_BYTES = RELOCATION.size;
/** struct fl_prefetch_run: a start and a page count. */
const PREFETCH_RUN_BYTES = PREFETCH_RUN.size;
/** struct fl_ring and struct fl_event. */
const RING_HEADER_BYTES = RING.size;
const EVENT_BYTES = EVENT.size;
/** Events the ring holds before a faulting thread waits for Bun to catch
 * up (contract.ts RING_CAPACITY): at 128 bytes each, 128 KiB of the plan's
 * memory. */
export { RING_CAPACITY };
/** The fault handler's alternate stack: room for a handler frame with the
 * largest signal frame x86-64 uses (AVX-512 state) several times over. */
const ALTSTACK_BYTES = 64 * 1024;
const ANONYMOUS = 0xffffffffffffffffn;
const REGION_POPULATE = 1n;
const REGION_DEMAND = 2n;
const REGION_COPY = 4n;
const MICROS_PER_SECOND = 1_000_000;

/** hpager's predictor ("none": dpager and apager, which predict nothing). */
export type PredictorName = "none" | "next" | "stride" | "readahead";
/** How demand faults reach the pager (shim/contract.h, enum fl_mechanism). */
export type Mechanism = "signal" | "userfaultfd";
const MECHANISM_CODES: Record<Mechanism, number> = { signal: 0, userfaultfd: 1 };
const POLICY_CODES: Record<Policy, number> = { eager: 0, demand: 1, hybrid: 2 };
const PREDICTOR_CODES: Record<PredictorName, number> = { none: 0, next: 1, stride: 2, readahead: 3 };

interface MemoryDescription {
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

/** What the loader adds to a relative word (enum fl_base in shim/contract.h). */
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
function placementFields(placement: Placement | null): Record<keyof typeof PLACEMENT.fields, number> {
  const k = placement?.byKernel;
  return k ? { by_kernel: 1, extent_start: k.extent.start, extent_size: k.extent.end - k.extent.start, alignment: k.alignment } : { by_kernel: 0, extent_start: 0, extent_size: 0, alignment: 0 };
}

/** Write `values` into the struct `layout` at `at`, each by its field's
 * name; a field of a word or two halves (a number or a bigint). */
function putFields<Name extends string>(view: DataView, at: number, layout: Layout<Name>, values: Partial<Record<Name, number | bigint>>): void {
  // for...in, not Object.entries: no array of pairs to make per struct.
  for (const name in values) {
    const value = values[name];
    if (value === undefined) continue;
    const field = layout.fields[name];
    if (field.size === WORD) putWord(view, at + field.offset, value);
    else if (field.size === 4) view.setUint32(at + field.offset, Number(value), true);
    else throw new Error(`${layout.struct}.${name} is ${field.size} bytes: not a word to write`);
  }
}

/** A value and what it is relative to. */
interface Located {
  at: number;
  base: Base;
}

/** A region as the loader maps it: from the image copy (userfaultfd
 * paging's file pages) or as the plan says (src/loader/image-copy.ts). */
export type SpecRegion = Region & { fromCopy?: boolean };

/** Pages the loader maps before the jump (--prefetch), inside one demand
 * region, at the plan's coordinates (src/paging/working-set.ts). */
export interface SpecPrefetchRun {
  start: number;
  base: Base;
  pages: number;
}

/** A start mapping's line, which the loader writes itself before the jump
 * (struct fl_start_line): `head`, the address where it is in this run (in
 * hexadecimal, as the log writes it), then `tail`. */
export interface SpecStartLine {
  address: number;
  base: Base;
  head: string;
  tail: string;
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
  /** The loader reports the placement and waits for Bun's go (--gdb
   * attaches first; --prefetch's end look holds the program's memory). */
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
  /** The start mappings' lines the loader writes to the mapping log (none:
   * it writes nothing): the first `startLinesSorted` in the order of their
   * final addresses, the rest after them. */
  startLines: readonly SpecStartLine[];
  startLinesSorted: number;
  /** The [stack]'s protection (PROT_*): executable where PT_GNU_STACK (or
   * READ_IMPLIES_EXEC) asks. */
  stackProt: number;
  /** Run the program with READ_IMPLIES_EXEC in its personality. */
  readImpliesExec: boolean;
  /** The vDSO block to move where the kernel maps it for a program; null
   * leaves it where the kernel mapped it for the loader. */
  vdso: VdsoBlock | null;
}

const TWO_TO_32 = 2 ** 32;

/** A little-endian 64-bit word: a non-negative integer number as two
 * 32-bit halves (no BigInt to allocate), a bigint as it is. */
function putWord(view: DataView, at: number, value: number | bigint): void {
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
  startLines: number;
  startText: number;
  startLog: number;
  /** Bytes the loader formats the start lines in, from startLog. */
  startLogSize: number;
  stackImage: number;
  ring: number;
  length: number;
}

/** Sizes that decide a spec's layout. Only SIGSEGV paging needs the event
 * ring (the userfaultfd server logs what it does itself). */
interface SpecSizes {
  regionCount: number;
  /** Words to relocate: at most two per region, one per stack pointer and
   * auxiliary vector entry, and the header's and memory description's. */
  relocationCount: number;
  stackImageBytes: number;
  eventRing: boolean;
  /** Prefetch runs, at most (0: none). */
  prefetchRuns?: number;
  /** Start mapping lines the loader writes, and their text's bytes, at
   * most (0: none). */
  startLines?: number;
  startTextBytes?: number;
}

/** What the loader adds to a start line's text: "0x", the address's
 * hexadecimal digits (16 at most) and the newline (START_LINE_ADDED in
 * shim/loader/loader.c). */
const START_LINE_ADDED = 2 + 16 + 1;
/** Bytes of a start line's text besides its file names: the pager's name,
 * the fields' names, the size and offset in hexadecimal, the protections
 * and what a reserved or prefetched line adds, with room to spare. */
const START_LINE_FIXED_BYTES = 192;
/** A printable() file name's bytes per byte of the name, at most (a C1
 * control character's two bytes become "\x9b"). */
const PRINTABLE_GROWTH = 4;

function offsetsFor(sizes: SpecSizes): Offsets {
  const regions = SPEC_HEADER_BYTES;
  const relocations = regions + sizes.regionCount * REGION_BYTES;
  const mmMap = relocations + sizes.relocationCount * RELOCATION_BYTES;
  const prefetch = mmMap + MM_MAP_BYTES;
  const startLines = prefetch + (sizes.prefetchRuns ?? 0) * PREFETCH_RUN_BYTES;
  const startText = startLines + (sizes.startLines ?? 0) * START_LINE.size;
  const startLog = startText + (sizes.startTextBytes ?? 0);
  const startLogSize = startLogBytes(sizes);
  const stackImage = align(startLog + startLogSize, WORD);
  const ring = align(stackImage + sizes.stackImageBytes, PAGE_SIZE);
  const end = ring + (sizes.eventRing ? RING_HEADER_BYTES + RING_CAPACITY * EVENT_BYTES : 0);
  return { regions, relocations, mmMap, prefetch, startLines, startText, startLog, startLogSize, stackImage, ring, length: pageUp(end) };
}

/** Room the loader formats the start lines in: their text and what each
 * line adds. */
function startLogBytes(sizes: SpecSizes): number {
  return (sizes.startTextBytes ?? 0) + (sizes.startLines ?? 0) * START_LINE_ADDED;
}

/** Bytes of the plan's memory a spec needs, given upper bounds of its parts. */
export function specLength(sizes: SpecSizes): number {
  return offsetsFor(sizes).length;
}

/** arch_align_stack's random offset is below 8 KiB. */
export const STACK_ALIGN_RANDOM_BYTES = 8192;
/** Upper bound of the stack image's bytes besides the strings: the random
 * gap, platform string, random bytes, padding and a page of slack. */
const STACK_IMAGE_OVERHEAD = STACK_ALIGN_RANDOM_BYTES + 2 * PAGE_SIZE;
/** Entries the loader's auxiliary vector may add to this machine's. */
const AUXV_ADDED = 12;

/** What a launch knows before planning that bounds its spec's size. */
interface SpecBounds {
  argv: readonly string[];
  envp: readonly string[];
  execfn: string;
  /** Entries of this machine's auxiliary vector. */
  auxvEntries: number;
  /** The program's and the interpreter's segments. */
  segments: number;
  /** Pages of a --prefetch profile this run may map (0: none). */
  prefetchPages: number;
  /** Demand paging: room for the SIGSEGV mechanism's event ring. */
  eventRing: boolean;
  /** The loader logs the start mappings: the bytes of the longest file
   * name a line may hold (the program's or the interpreter's); null: it
   * logs nothing. */
  startLogNameBytes: number | null;
}

/** Bytes of the plan's memory a launch needs at most, before its plan is
 * made: every part of the spec at its largest. */
export function specBound(b: SpecBounds): number {
  const stringBytes = [...b.argv, ...b.envp, b.execfn].reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  const auxvBound = b.auxvEntries + AUXV_ADDED;
  const pointerBytes = (b.argv.length + b.envp.length + 3 + 2 * auxvBound) * WORD;
  // Two regions a segment (file pages, bss), and one more where an image
  // copy splits off the page its bss starts in.
  const regionBound = 3 * b.segments;
  // A line a region, the stack's, and one a prefetch run.
  const startLines = b.startLogNameBytes === null ? 0 : regionBound + 1 + b.prefetchPages;
  return specLength({
    regionCount: regionBound,
    // A run a profile page, at most, before they are joined; a start
    // line's address is relocated too.
    relocationCount: relocationBound(regionBound, b.argv.length, b.envp.length, auxvBound, b.prefetchPages) + startLines,
    startLines,
    startTextBytes: startLines * (START_LINE_FIXED_BYTES + PRINTABLE_GROWTH * (b.startLogNameBytes ?? 0)),
    stackImageBytes: stringBytes + pointerBytes + STACK_IMAGE_OVERHEAD,
    // The mechanism is chosen once the plan is known; room for the SIGSEGV
    // mechanism's event ring is kept either way (untouched, it costs nothing).
    eventRing: b.eventRing,
    prefetchRuns: b.prefetchPages,
  });
}

/** Relocations a stack image and its memory description need at most, on
 * top of the regions'. */
const FIXED_RELOCATIONS = 4 + 12;

/** The relocations a spec needs at most: see SpecSizes.relocationCount
 * (and one per prefetch run). */
function relocationBound(regionCount: number, argc: number, envc: number, auxvEntries: number, prefetchRuns = 0): number {
  return 2 * regionCount + argc + envc + auxvEntries + FIXED_RELOCATIONS + prefetchRuns;
}

/** Whether a run pages by the SIGSEGV handler, which reads the spec (and
 * writes its ring) while the program runs. */
export function pagesBySignal(regions: readonly Region[], mechanism: Mechanism): boolean {
  return mechanism === "signal" && regions.some((r) => r.demand);
}

/** A spec being written: the plan's memory, where each of its parts goes,
 * and `relocate`, which records a word the loader makes final by adding its
 * base's value. */
interface SpecWriter {
  target: Uint8Array;
  view: DataView;
  at: Offsets;
  relocate: (offset: number, base: Base) => void;
}

/**
 * Encode the spec into `target`, the plan's memory. Writes only the spec's
 * own bytes (header, status cleared, tables, stack image, the ring's header
 * and slots when there is one).
 */
export function encodeSpec(input: SpecInput, target: Uint8Array): void {
  const paging = pagesBySignal(input.regions, input.mechanism);
  const startTexts = input.startLines.map((line) => ({ head: Buffer.from(line.head), tail: Buffer.from(line.tail) }));
  const sizes = {
    regionCount: input.regions.length,
    relocationCount: relocationBound(input.regions.length, 0, 0, 0, input.prefetch.length) + input.stack.stackPointers.length + input.stack.auxvValues.size + input.startLines.length,
    stackImageBytes: input.stack.bytes.length,
    eventRing: paging,
    prefetchRuns: input.prefetch.length,
    startLines: input.startLines.length,
    startTextBytes: startTexts.reduce((n, t) => n + t.head.length + t.tail.length, 0),
  };
  const at = offsetsFor(sizes);
  if (at.length > target.byteLength) throw new Error(`launch spec needs ${at.length} bytes, only ${target.byteLength} made`);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const relocations: Array<{ offset: number; base: Base }> = [];
  const spec: SpecWriter = {
    target,
    view,
    at,
    relocate: (offset, base) => {
      if (base !== "fixed") relocations.push({ offset, base });
    },
  };
  writeHeader(spec, input, paging);
  writeRegions(spec, input.regions);
  writePrefetchRuns(spec, input.prefetch);
  writeStartLines(spec, input.startLines, startTexts);
  if (paging) startRing(spec);
  if (input.memory) writeMemoryDescription(spec, input, input.memory);
  writeStackImage(spec, input);
  if (relocations.length > sizes.relocationCount) throw new Error("more relocations than room for them");
  // A word each, written directly: a plan has dozens (putFields would
  // make an object of each).
  const { offset: offsetField, base: baseField } = RELOCATION.fields;
  relocations.forEach((r, i) => {
    const offset = at.relocations + i * RELOCATION_BYTES;
    putWord(view, offset + offsetField.offset, r.offset);
    putWord(view, offset + baseField.offset, BASE_CODES[r.base]);
  });
  putFields(view, 0, LAUNCH_SPEC, { relocation_count: relocations.length });
}

/** The header's words: what the loader does, and where the spec's parts are. */
function headerFields(input: SpecInput, at: Offsets, paging: boolean): Partial<Record<keyof typeof LAUNCH_SPEC.fields, number | bigint>> {
  const demandPages = input.regions.reduce((n, r) => n + (r.demand ? r.length / PAGE_SIZE : 0), 0);
  return {
    magic: SPEC_MAGIC,
    spec_size: SPEC_HEADER_BYTES,
    region_count: input.regions.length,
    region_offset: at.regions,
    // relocation_count: known once everything is written
    relocation_count: 0,
    relocation_offset: at.relocations,
    wait_for_go: input.waitForGo ? 1 : 0,
    stack_low: input.stack.mappingStart,
    stack_top: input.stack.top,
    stack_image_offset: at.stackImage,
    stack_image_size: input.stack.bytes.length,
    entry: input.entry.at,
    initial_sp: input.stack.sp,
    mm_map_offset: input.memory ? at.mmMap : 0,
    replace_exe: input.replaceExe ? 1 : 0,
    timers_set: input.timers === null ? 0 : 1,
    policy: POLICY_CODES[input.policy],
    predictor: PREDICTOR_CODES[input.predictor],
    predict_pages: input.predictPages,
    demand_pages: demandPages,
    altstack_size: demandPages > 0 ? ALTSTACK_BYTES : 0,
    ring_offset: paging ? at.ring : 0,
    events_wanted: input.eventsWanted ? 1 : 0,
    mechanism: MECHANISM_CODES[input.mechanism],
    friendly_seed: input.friendlySeed,
    friendly_reraise: input.friendlyReraise ? 1 : 0,
    uffd_user_mode_only: input.userModeOnly ? 1 : 0,
    prefetch_count: input.prefetch.length,
    prefetch_offset: input.prefetch.length > 0 ? at.prefetch : 0,
    start_line_count: input.startLines.length,
    start_lines_sorted: input.startLinesSorted,
    start_line_offset: at.startLines,
    start_log_offset: at.startLog,
    start_log_size: at.startLogSize,
    stack_prot: input.stackProt,
    read_implies_exec: input.readImpliesExec ? 1 : 0,
    vdso_part_count: input.vdso?.parts.length ?? 0,
    vdso_offset: input.vdso?.vdsoOffset ?? 0,
  };
}

/** The header and the structs in it (vDSO parts, placements, process name,
 * timers), with the status cleared for the loader to write. */
function writeHeader({ target, view, at, relocate }: SpecWriter, input: SpecInput, paging: boolean): void {
  const spec = LAUNCH_SPEC.fields;
  putFields(view, 0, LAUNCH_SPEC, headerFields(input, at, paging));
  target.fill(0, spec.vdso_parts.offset, spec.vdso_parts.offset + spec.vdso_parts.size);
  (input.vdso?.parts ?? []).forEach((part, i) => putFields(view, spec.vdso_parts.offset + i * VDSO_PART.size, VDSO_PART, { offset: part.offset, length: part.length }));
  putFields(view, spec.program.offset, PLACEMENT, placementFields(input.program));
  putFields(view, spec.interpreter.offset, PLACEMENT, placementFields(input.interpreter));
  const name = new TextEncoder().encode(input.processName).subarray(0, PROCESS_NAME_BYTES - 1);
  target.fill(0, spec.process_name.offset, spec.process_name.offset + spec.process_name.size);
  target.set(name, spec.process_name.offset);
  (input.timers ?? emptyTimers()).forEach((timer, i) =>
    putFields(view, spec.timers.offset + i * INTERVAL_TIMER.size, INTERVAL_TIMER, {
      interval_seconds: Math.floor(timer.intervalMicros / MICROS_PER_SECOND),
      interval_micros: timer.intervalMicros % MICROS_PER_SECOND,
      value_seconds: Math.floor(timer.valueMicros / MICROS_PER_SECOND),
      value_micros: timer.valueMicros % MICROS_PER_SECOND,
    }),
  );
  target.fill(0, spec.status.offset, spec.status.offset + spec.status.size);
  relocate(spec.stack_low.offset, "stack");
  relocate(spec.stack_top.offset, "stack");
  relocate(spec.entry.offset, input.entry.base);
  relocate(spec.initial_sp.offset, "stack");
}

/** The region table; a demand region's pages are numbered on from the
 * previous one's. */
function writeRegions({ view, at, relocate }: SpecWriter, regions: readonly SpecRegion[]): void {
  let pageIndex = 0;
  regions.forEach((region, i) => {
    const offset = at.regions + i * REGION_BYTES;
    const base: Base = region.base;
    putFields(view, offset, REGION, {
      start: region.start,
      length: region.length,
      offset: region.offset === null ? ANONYMOUS : region.offset,
      file: region.file === "program" ? 0 : 1,
      prot: region.prot,
      flags: (region.populate ? REGION_POPULATE : 0n) | (region.demand ? REGION_DEMAND : 0n) | (region.fromCopy ? REGION_COPY : 0n),
      zero_from: region.zeroFrom,
      page_index: region.demand ? pageIndex : 0,
      base: BASE_CODES[base],
      // The copy holds the file's bytes at the file's own offsets.
      copy_offset: region.fromCopy && region.offset !== null ? region.offset : 0,
    });
    relocate(offset + REGION.fields.start.offset, base);
    if (region.zeroFrom) relocate(offset + REGION.fields.zero_from.offset, base);
    if (region.demand) pageIndex += region.length / PAGE_SIZE;
  });
}

/** The runs of pages to map before the jump (--prefetch). */
function writePrefetchRuns({ view, at, relocate }: SpecWriter, runs: readonly SpecPrefetchRun[]): void {
  runs.forEach((run, i) => {
    const offset = at.prefetch + i * PREFETCH_RUN_BYTES;
    putFields(view, offset, PREFETCH_RUN, { start: run.start, pages: run.pages });
    relocate(offset + PREFETCH_RUN.fields.start.offset, run.base);
  });
}

/** The start mappings' lines the loader writes itself: each line's text,
 * and its address, relocated. */
function writeStartLines({ target, view, at, relocate }: SpecWriter, lines: readonly SpecStartLine[], texts: ReadonlyArray<{ head: Buffer; tail: Buffer }>): void {
  let textAt = at.startText;
  lines.forEach((line, i) => {
    const offset = at.startLines + i * START_LINE.size;
    const { head, tail } = texts[i]!;
    target.set(head, textAt);
    target.set(tail, textAt + head.length);
    putFields(view, offset, START_LINE, { address: line.address, text_offset: textAt, head_length: head.length, text_length: head.length + tail.length });
    relocate(offset + START_LINE.fields.address.offset, line.base);
    textAt += head.length + tail.length;
  });
}

/** SIGSEGV paging's event ring, empty. */
function startRing({ target, view, at }: SpecWriter): void {
  // Reused memory holds the last run's ring: start afresh.
  target.fill(0, at.ring, at.ring + RING_HEADER_BYTES);
  // Each count's check word holds its complement: ~0 to start with.
  const checks = at.ring + RING.fields.counters.offset + COUNTERS.fields.check.offset;
  target.fill(0xff, checks, checks + COUNTERS.fields.check.size);
  const sequence = EVENT.fields.sequence.offset;
  for (let i = 0; i < RING_CAPACITY; i++) putWord(view, at.ring + RING_HEADER_BYTES + i * EVENT_BYTES + sequence, 0);
  putFields(view, at.ring, RING, { capacity: RING_CAPACITY });
}

/** The memory description the loader gives the kernel (PR_SET_MM_MAP). */
function writeMemoryDescription({ view, at, relocate }: SpecWriter, input: SpecInput, m: MemoryDescription): void {
  const words: Array<[keyof typeof MM_MAP.fields, number, Base]> = [
    ["start_code", m.startCode, input.programBase],
    ["end_code", m.endCode, input.programBase],
    ["start_data", m.startData, input.programBase],
    ["end_data", m.endData, input.programBase],
    ["start_brk", m.startBrk, input.brkBase],
    ["brk", m.brk, input.brkBase],
    ["start_stack", m.startStack, "stack"],
    ["arg_start", m.argStart, "stack"],
    ["arg_end", m.argEnd, "stack"],
    ["env_start", m.envStart, "stack"],
    ["env_end", m.envEnd, "stack"],
    ["auxv", m.auxv, "stack"],
  ];
  for (const [field, value, base] of words) {
    putFields(view, at.mmMap, MM_MAP, { [field]: value });
    relocate(at.mmMap + MM_MAP.fields[field].offset, base);
  }
  // exe_fd: none (-1); the loader names the program's file itself.
  putFields(view, at.mmMap, MM_MAP, { auxv_size: input.stack.auxv.length * 2 * WORD, exe_fd: 0xffffffff });
}

/** The stack image, its pointers and the auxiliary vector's addresses
 * relocated to where the stack and the images are placed. */
function writeStackImage({ target, at, relocate }: SpecWriter, input: SpecInput): void {
  target.set(input.stack.bytes, at.stackImage);
  for (const slot of input.stack.stackPointers) relocate(at.stackImage + slot, "stack");
  const auxvBases: Array<[number, Base]> = [
    [AT_PHDR, input.programBase],
    [AT_ENTRY, input.programBase],
    [AT_BASE, input.interpreterBase],
    [AT_SYSINFO_EHDR, "vdso"],
  ];
  for (const [type, base] of auxvBases) {
    const slot = input.stack.auxvValues.get(type);
    if (slot !== undefined) relocate(at.stackImage + slot, base);
  }
}

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

/** The status the loader wrote in the plan's memory, field by field. */
export function readStatus(memory: DataView): LaunchStatus {
  const at = (field: keyof typeof STATUS.fields) => STATUS_OFFSET + STATUS.fields[field].offset;
  const word = (field: keyof typeof STATUS.fields) => Number(memory.getBigUint64(at(field), true));
  return {
    launched: word("launched") === 1,
    stage: word("stage"),
    error: word("error"),
    detail: word("detail"),
    mmMapError: word("mm_map_error"),
    exeError: word("exe_error"),
    faults: word("faults"),
    pagesEnabled: word("pages_enabled"),
    handlerError: word("handler_error"),
    eventsDropped: word("events_dropped"),
    genuineFaults: word("genuine_faults"),
    bases: BASES.map((_, i) => Number(BigInt.asIntN(64, memory.getBigUint64(at("bases") + i * WORD, true)))),
    tampered: word("tampered") === 1,
    prefetched: word("prefetched"),
    prefetchError: word("prefetch_error"),
  };
}
