/**
 * The plan: where each part of the program (and its interpreter) goes in
 * memory, with which protection, from which file bytes. Pure: images, the
 * address space's kept ranges and a source of randomness in; regions out.
 *
 * Follows binfmt_elf's load_elf_binary and elf_load: file-backed pages for
 * each PT_LOAD's file bytes, the tail of its last file page zeroed, anonymous
 * pages for the rest of its bss, a load bias for ET_DYN programs, the
 * interpreter at a bias of its own, and the brk just past the program.
 */
import { LoadError, hex } from "./errors.ts";
import { PAGE_SIZE, PF_R, PF_W, PF_X, USER_ADDRESS_LIMIT, programHeaderAddress, type ElfImage, type Segment } from "./elf.ts";

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

/** ELF_ET_DYN_BASE on x86-64: two thirds of the 47-bit address space, where
 * the kernel puts PIE programs that have an interpreter. */
export const ET_DYN_BASE = 0x555555554000;
/** Where a static-pie's heap starts before randomization: ELF_ET_DYN_BASE
 * is DEFAULT_MAP_WINDOW / 3 * 2 = 0x555555554aaa, which a load bias rounds
 * down (ET_DYN_BASE) and the heap's start rounds up (ELF_PAGEALIGN). */
export const ET_DYN_HEAP_BASE = 0x555555555000;
/** arch_mmap_rnd: 28 bits of page-granular randomness (vm.mmap_rnd_bits). */
const MMAP_RANDOM_PAGES = 2 ** 28;
/** arch_randomize_brk: the heap starts up to 32 MiB past the program; 1 GiB
 * on x86-64 since Linux 6.9 (machine.ts tells which). */
export const BRK_RANDOM_BYTES = 0x2000000;
export const BRK_RANDOM_BYTES_WIDE = 0x40000000;
/** Interpreters and static-pie programs go where mmap would put them:
 * below the top of the address space. faultline picks from this window. */
const HIGH_WINDOW_START = 0x7e0000000000;
const HIGH_WINDOW_END = 0x7f0000000000;

export type FileRole = "program" | "interpreter";

/** One mapping. Page-aligned; anonymous when offset is null. */
export interface Region {
  start: number;
  length: number;
  offset: number | null;
  file: FileRole;
  prot: number;
  /** Bytes from here to the region's end are zeroed after mapping (0: none). */
  zeroFrom: number;
  /** The PT_LOAD it comes from (index among program headers). */
  segment: number;
  /** Faulted in before the jump (apager; hpager's text and data). */
  populate: boolean;
  /** Reserved at start, its pages enabled on first touch (dpager; hpager's bss). */
  demand: boolean;
  /** Where its addresses are: fixed, or relative to an image the kernel
   * places (`start` and `zeroFrom` then assume a bias of 0; the loader adds
   * the image's bias). */
  base: ImageBase;
}

/** Whose bias an address is relative to: none (fixed), or that of an image
 * the kernel places where mmap puts things, which only the loader learns. */
export type ImageBase = "fixed" | "program" | "interpreter";

/**
 * How a pager maps: eager (apager) maps and populates everything; demand
 * (dpager) reserves everything and pages it in on faults; hybrid (hpager)
 * maps and populates the file-backed text and data, and pages the bss in.
 */
export type Policy = "eager" | "demand" | "hybrid";

/**
 * Which pages a demand-paging policy may take from the kernel: all of them,
 * or only code (userfaultfd for an ordinary user serves the program's own
 * accesses only, and code is the one kind of page a system call does not
 * read first; an image whose first load is executable mixes headers and
 * read-only data into its code, so it has none).
 */
export type DemandScope = "all" | "code";

function applyPolicy(region: Region, policy: Policy, scope: DemandScope, separateCode: boolean): Region {
  const wanted = policy === "demand" || (policy === "hybrid" && region.offset === null);
  const code = region.offset !== null && (region.prot & PROT_EXEC) !== 0 && separateCode;
  const demand = wanted && (scope === "all" || code);
  // What the policy would page on demand but may not is left to the
  // kernel's own paging: mapped, not populated.
  return { ...region, demand, populate: !wanted };
}

/** Whether an image keeps its code apart (ld -z separate-code, the default
 * on x86-64 since binutils 2.31): its first PT_LOAD, which holds the ELF
 * headers, is not executable. */
function separateCode(image: ElfImage): boolean {
  const first = image.segments[0];
  return first !== undefined && (first.flags & PF_X) === 0;
}

/** An address range [start, end) with a name for messages. */
export interface AddressRange {
  start: number;
  end: number;
  name: string;
}

/** Ranges sorted by start and joined where they overlap or touch; a joined
 * range's name lists its parts' ("loader+plan"). */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: AddressRange[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) {
      last.end = Math.max(last.end, r.end);
      if (!last.name.split("+").includes(r.name)) last.name = `${last.name}+${r.name}`;
    } else merged.push({ ...r });
  }
  return merged;
}

export interface Placement {
  image: ElfImage;
  /** The load bias; 0 for an image the kernel places (`byKernel`), whose
   * addresses in the plan are then relative to it. */
  bias: number;
  /** Placed by the kernel where mmap puts an image it may place anywhere,
   * at this alignment (the loader reserves the image's extent there). */
  byKernel: { alignment: number; extent: { start: number; end: number } } | null;
}

export interface Plan {
  program: Placement;
  interpreter: Placement | null;
  regions: Region[];
  /** Where execution starts: the interpreter's entry if there is one. */
  entry: number;
  /** The program's own entry (AT_ENTRY). */
  programEntry: number;
  /** AT_PHDR */
  programHeaders: number;
  /** The start of the heap (brk), page aligned, and what it is relative to
   * (a static-pie's is at ELF_ET_DYN_BASE, fixed, wherever its image goes). */
  brk: number;
  brkBase: ImageBase;
  /** Code and data extents for /proc/self/stat (start_code and friends). */
  startCode: number;
  endCode: number;
  startData: number;
  endData: number;
  /** Whether the program's [stack] is executable (stackExecution). */
  executableStack: boolean;
  /** Whether the program runs with READ_IMPLIES_EXEC in its personality
   * (stackExecution): every readable mapping is executable too, the
   * regions' protections say so already. */
  readImpliesExec: boolean;
}

/**
 * What binfmt_elf makes of PT_GNU_STACK for a 64-bit x86 program
 * (load_elf_binary, setup_arg_pages). Its flags with PF_X ask for an
 * executable stack, without PF_X for one that is not. Without the header the
 * stack gets VM_DATA_DEFAULT_FLAGS, executable only under READ_IMPLIES_EXEC.
 * That personality flag never survives into a 64-bit program from its caller
 * (set_personality_64bit clears it: `setarch -X` has no effect), and the
 * kernel sets it itself only before Linux 5.8 (elf_read_implies_exec: a
 * PT_GNU_STACK missing or executable); since 5.8 never for 64-bit programs.
 */
export function stackExecution(stackFlags: number | null, legacyReadImpliesExec: boolean): { executableStack: boolean; readImpliesExec: boolean } {
  const asked = stackFlags !== null && (stackFlags & PF_X) !== 0;
  const readImpliesExec = legacyReadImpliesExec && (stackFlags === null || asked);
  return { executableStack: stackFlags === null ? readImpliesExec : asked, readImpliesExec };
}

/** A region as mmap maps it under READ_IMPLIES_EXEC: readable is executable. */
function readImplyingExec(region: Region): Region {
  return region.prot & PROT_READ ? { ...region, prot: region.prot | PROT_EXEC } : region;
}

/** A source of uniformly random integers in [0, bound). */
export type Random = (bound: number) => number;

export const noRandomness: Random = () => 0;

export function pageDown(n: number): number {
  return n - (n % PAGE_SIZE);
}

export function pageUp(n: number): number {
  return pageDown(n + PAGE_SIZE - 1);
}

function protectionOf(flags: number): number {
  return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

/** The largest p_align among the loads, at least a page, as binfmt_elf's
 * maximum_alignment computes it: Segment.align is already 0 where p_align
 * is not a power of two, which the kernel ignores, and exact where it is
 * (every power of two up to 2^63 is a double). */
function maximumAlignment(segments: readonly Segment[]): number {
  let alignment = PAGE_SIZE;
  for (const s of segments) if (s.align > alignment) alignment = s.align;
  return alignment;
}

function alignDown(n: number, alignment: number): number {
  return n - (n % alignment);
}

/** The bytes a placed image spans, from its lowest page to its highest, as
 * total_mapping_size measures it (segments need not be sorted). */
export function imageExtent(image: ElfImage, bias: number): { start: number; end: number } {
  let start = Infinity;
  let end = -Infinity;
  for (const s of image.segments) {
    start = Math.min(start, pageDown(s.vaddr + bias));
    end = Math.max(end, pageUp(s.vaddr + s.memsz + bias));
  }
  return { start, end };
}

/** A region cut down to [start, end): its file offset moves with its start,
 * and its zeroed tail stays only if it is still inside. */
function trimmed(region: Region, start: number, end: number): Region {
  return {
    ...region,
    start,
    length: end - start,
    offset: region.offset === null ? null : region.offset + (start - region.start),
    zeroFrom: region.zeroFrom >= start && region.zeroFrom < end ? region.zeroFrom : 0,
  };
}

/**
 * Lay `region` over `regions` (sorted, disjoint) as a later MAP_FIXED
 * mapping lands on earlier ones: whatever it covers is cut away, splitting a
 * region it lands in the middle of. Returns the regions sorted by start.
 */
function overlay(regions: readonly Region[], region: Region): Region[] {
  const end = region.start + region.length;
  const result: Region[] = [];
  for (const r of regions) {
    const rEnd = r.start + r.length;
    if (rEnd <= region.start || r.start >= end) {
      result.push(r);
      continue;
    }
    if (r.start < region.start) result.push(trimmed(r, r.start, region.start));
    if (rEnd > end) result.push(trimmed(r, end, rEnd));
  }
  result.push(region);
  return result.sort((a, b) => a.start - b.start);
}

/**
 * The regions for one image at one bias, as elf_load maps them: the file
 * pages, with the tail of the last zeroed when the bss starts inside it (only
 * for writable segments: the kernel ignores the failed zeroing otherwise), then
 * anonymous pages for the rest of the bss. Those are read-write whatever the
 * segment says (vm_brk_flags), executable if the segment is.
 *
 * Segments are mapped in the order of the program header table, each over
 * what is already there: Linux neither sorts them nor refuses overlaps, and
 * its MAP_FIXED mapping of a later segment replaces the pages under it (so
 * where two segments share a page, the later one gets it).
 */
export function regionsForImage(image: ElfImage, bias: number, file: FileRole, policy: Policy, base: ImageBase = "fixed", scope: DemandScope = "all"): Region[] {
  let regions: Region[] = [];
  for (const segment of image.segments) {
    const prot = protectionOf(segment.flags);
    const start = segment.vaddr + bias;
    let anonymousStart = pageDown(start);
    if (segment.filesz > 0) {
      const fileEnd = start + segment.filesz;
      const mappedEnd = pageUp(fileEnd);
      const zeroTail = segment.memsz > segment.filesz && (segment.flags & PF_W) !== 0 && fileEnd !== mappedEnd;
      regions = overlay(regions, {
        start: pageDown(start),
        length: mappedEnd - pageDown(start),
        offset: pageDown(segment.offset),
        file,
        prot,
        zeroFrom: zeroTail ? fileEnd : 0,
        segment: segment.index,
        populate: true,
        demand: false,
        base,
      });
      anonymousStart = mappedEnd;
    }
    const memoryEnd = pageUp(start + segment.memsz);
    if (segment.memsz > segment.filesz && memoryEnd > anonymousStart) {
      regions = overlay(regions, {
        start: anonymousStart,
        length: memoryEnd - anonymousStart,
        offset: null,
        file,
        prot: PROT_READ | PROT_WRITE | (prot & PROT_EXEC),
        zeroFrom: 0,
        segment: segment.index,
        populate: true,
        demand: false,
        base,
      });
    }
  }
  const apart = separateCode(image);
  return regions.map((r) => applyPolicy(r, policy, scope, apart));
}

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start < b.end && b.start < a.end;
}

/**
 * Refuse an image whose pages would lie below vm.mmap_min_addr or beyond
 * the user address space (the kernel's mmap fails there, past execve's point
 * of no return). `minAddress` is 0 for a caller the kernel lets map low
 * pages (CAP_SYS_RAWIO).
 */
export function checkPlacement(image: ElfImage, bias: number, minAddress: number): void {
  // A PT_LOAD with no memory maps nothing (elf_load), wherever it says it is.
  const mapping = { ...image, segments: image.segments.filter((s) => s.memsz > 0) };
  if (mapping.segments.length === 0) return;
  const extent = imageExtent(mapping, bias);
  if (extent.start < minAddress) {
    throw new LoadError(image.file, `segments at ${hex(extent.start)}-${hex(extent.end)} lie below vm.mmap_min_addr (${hex(minAddress)})`, "EPERM", "after-exec");
  }
  if (extent.end > USER_ADDRESS_LIMIT) {
    throw new LoadError(image.file, `segments at ${hex(extent.start)}-${hex(extent.end)} lie beyond the user address space`, "ENOMEM", "after-exec");
  }
}

/**
 * Refuse an image that would land on memory the loader keeps (faultline's
 * own limit: natively nothing is there); the message names both ranges.
 * Checked after everything the kernel checks, so a file the kernel refuses
 * gets the kernel's verdict.
 */
export function checkClearOfLoader(image: ElfImage, bias: number, kept: readonly AddressRange[]): void {
  for (const segment of image.segments.filter((s) => s.memsz > 0)) {
    const range = { start: pageDown(segment.vaddr + bias), end: pageUp(segment.vaddr + segment.memsz + bias) };
    for (const k of kept) {
      if (overlaps(range, k)) {
        throw new LoadError(
          image.file,
          `PT_LOAD ${segment.index} at ${hex(range.start)}-${hex(range.end)} would overlap the loader's ${k.name} at ${hex(k.start)}-${hex(k.end)}`,
          "EEXIST",
          "runs",
        );
      }
    }
  }
}

/** An image's placement: at a bias, or left to the kernel. */
interface BiasChoice {
  bias: number;
  byKernel: Placement["byKernel"];
}

function byKernel(image: ElfImage, alignment: number): BiasChoice {
  return { bias: 0, byKernel: { alignment, extent: imageExtent(image, 0) } };
}

/**
 * Choose the program's load bias. ET_EXEC loads where it says (bias 0).
 * ET_DYN with an interpreter (PIE) goes at ELF_ET_DYN_BASE plus the kernel's
 * mmap randomness, aligned down to its largest p_align, where its first
 * PT_LOAD in table order lands (as load_elf_binary computes the bias),
 * unless that lands on the loader; without one (static-pie, or ld.so run
 * directly) it goes where mmap puts it, top down: the kernel places it
 * (the loader's mmap), at its alignment. An alignment larger than the mmap
 * area is applied as the kernel applies it: by rounding the address down
 * (to 0, for an absurd one), and the placement checks judge the result.
 */
function chooseProgramBias(image: ElfImage, avoid: readonly AddressRange[], random: Random): BiasChoice {
  if (image.type === "exec") return { bias: 0, byKernel: null };
  const first = image.segments[0]!;
  const alignment = maximumAlignment(image.segments);
  const extent = imageExtent(image, 0);
  const size = extent.end - extent.start;
  const hugeAlignment = alignment > HIGH_WINDOW_END - HIGH_WINDOW_START;
  if (image.interpreter !== null) {
    const bias = alignDown(ET_DYN_BASE + random(MMAP_RANDOM_PAGES) * PAGE_SIZE, alignment) - pageDown(first.vaddr);
    const clear = !avoid.some((a) => overlaps({ start: extent.start + bias, end: extent.end + bias }, a));
    if (clear || hugeAlignment) return { bias, byKernel: null };
  }
  if (hugeAlignment) return { bias: alignDown(Math.max(0, HIGH_WINDOW_END - size), alignment) - extent.start, byKernel: null };
  return byKernel(image, alignment);
}

/** The interpreter's bias: ET_EXEC at its own addresses; ET_DYN where mmap
 * puts it, which the kernel decides (load_elf_interp ignores p_align). */
function chooseInterpreterBias(image: ElfImage): BiasChoice {
  if (image.type === "exec") return { bias: 0, byKernel: null };
  return byKernel(image, PAGE_SIZE);
}

/**
 * How the kernel commits memory to a new mapping (vm.overcommit_memory),
 * which decides whether a huge bss can be loaded at all. In mode 0 one
 * request may not exceed RAM and swap together; in mode 2 all of them may not
 * exceed what the commit limit leaves (less the kernel's small reserves,
 * which this ignores); mode 1 grants everything.
 */
export interface CommitRule {
  overcommit: number;
  /** MemTotal + SwapTotal, in bytes. */
  ramAndSwap: number;
  /** CommitLimit - Committed_AS, in bytes. */
  commitFree: number;
}

/** One mapping the kernel charges while it loads an image: a writable
 * segment's file pages (a private writable mapping is charged whole) and
 * every bss (vm_brk_flags). */
interface CommitRequest {
  segment: number;
  what: string;
  bytes: number;
}

function commitRequests(image: ElfImage): CommitRequest[] {
  const requests: CommitRequest[] = [];
  for (const s of image.segments) {
    if (s.filesz > 0 && s.flags & PF_W) requests.push({ segment: s.index, what: "file pages", bytes: pageUp((s.vaddr % PAGE_SIZE) + s.filesz) });
    const anonymousStart = s.filesz > 0 ? pageUp(s.vaddr + s.filesz) : pageDown(s.vaddr);
    const anonymousEnd = pageUp(s.vaddr + s.memsz);
    if (s.memsz > s.filesz && anonymousEnd > anonymousStart) requests.push({ segment: s.index, what: "bss", bytes: anonymousEnd - anonymousStart });
  }
  return requests;
}

/** Refuse an image whose memory the kernel would not commit (ENOMEM, past
 * the point of no return); `committed` is what earlier images took. */
export function checkCommit(image: ElfImage, rule: CommitRule, committed = 0): number {
  for (const request of commitRequests(image)) {
    committed += request.bytes;
    const what = `PT_LOAD ${request.segment}: its ${request.what} (${hex(request.bytes)} bytes)`;
    if (rule.overcommit === 0 && request.bytes > rule.ramAndSwap) {
      throw new LoadError(image.file, `${what} exceed RAM and swap together (${hex(rule.ramAndSwap)} bytes), the most the kernel commits at once`, "ENOMEM", "after-exec");
    }
    if (rule.overcommit === 2 && committed > rule.commitFree) {
      throw new LoadError(image.file, `${what} exceed the memory left to commit (${hex(rule.commitFree)} bytes under vm.overcommit_memory 2)`, "ENOMEM", "after-exec");
    }
  }
  return committed;
}

/** Refuse a plan whose pages populated before the jump would not fit in
 * the memory available: the kernel maps a bss lazily and would run the
 * program; populating it whole would stall the machine or wake the OOM
 * killer instead. */
export function checkPopulation(plan: Plan, available: number): void {
  const bytes = plan.regions.reduce((n, r) => n + (r.populate ? r.length : 0), 0);
  if (bytes > available) {
    throw new LoadError(
      plan.program.image.file,
      `populating ${hex(bytes)} bytes before the program starts would exceed the ${hex(available)} bytes of memory available; dpager maps pages only when they are touched`,
      "ENOMEM",
      "runs",
    );
  }
}

/**
 * Where the heap begins before randomization: right after the program, but
 * for an ET_DYN program without an interpreter (static-pie, or ld.so run
 * directly), whose image went where mmap puts things: load_elf_binary moves
 * its heap to ELF_ET_DYN_BASE, page-aligned up, out of the mmap area.
 */
export function heapBase(program: ElfImage, programEnd: number): number {
  return program.type === "dyn" && program.interpreter === null ? ET_DYN_HEAP_BASE : programEnd;
}

interface PlanOptions {
  policy: Policy;
  /** Ranges the loader keeps (shim, spec memory, vDSO, the stack's reach). */
  kept: readonly AddressRange[];
  /** vm.mmap_min_addr, or 0 when the kernel lets the caller map low pages. */
  minAddress: number;
  random: Random;
  /** The kernel's commit rule; unchecked when absent. */
  commit?: CommitRule;
  /** Bytes of memory available for populated pages; unchecked when absent. */
  available?: number;
  /** The window the heap's start is randomized over (arch_randomize_brk);
   * BRK_RANDOM_BYTES when absent. */
  brkWindow?: number;
  /** Which pages the policy may page on demand ("all" when absent). */
  scope?: DemandScope;
  /** The kernel gives a 64-bit program READ_IMPLIES_EXEC when its
   * PT_GNU_STACK is missing or executable (Linux before 5.8: machine.ts);
   * false when absent. */
  legacyReadImpliesExec?: boolean;
}

/**
 * Place the program (and its interpreter) and list every region to map,
 * with the kernel's checks in its order: the program's placement and
 * commitment, the interpreter's, the entry point; then faultline's own limit
 * on populated memory.
 */
export function planLoad(program: ElfImage, interpreter: ElfImage | null, options: PlanOptions): Plan {
  if (program.interpreter !== null && interpreter === null) {
    throw new LoadError(program.file, `needs interpreter ${program.interpreter}, which was not supplied`, "ENOENT");
  }
  const programChoice = chooseProgramBias(program, options.kept, options.random);
  const bias = programChoice.bias;
  // An image the kernel places lands where there is room, in user space.
  if (!programChoice.byKernel) checkPlacement(program, bias, options.minAddress);
  const committed = options.commit ? checkCommit(program, options.commit) : 0;
  const programExtent = imageExtent(program, bias);
  const programBase: ImageBase = programChoice.byKernel ? "program" : "fixed";
  let regions = regionsForImage(program, bias, "program", options.policy, programBase, options.scope);

  let interpreterPlacement: Placement | null = null;
  if (interpreter !== null) {
    // An ET_DYN interpreter goes where the kernel finds room; an ET_EXEC one
    // is mapped MAP_FIXED at its own addresses, over the program if they
    // meet.
    const choice = chooseInterpreterBias(interpreter);
    if (!choice.byKernel) checkPlacement(interpreter, choice.bias, options.minAddress);
    if (options.commit) checkCommit(interpreter, options.commit, committed);
    interpreterPlacement = { image: interpreter, bias: choice.bias, byKernel: choice.byKernel };
    const interpreterRegions = regionsForImage(interpreter, choice.bias, "interpreter", options.policy, choice.byKernel ? "interpreter" : "fixed", options.scope);
    if (choice.byKernel) regions = [...regions, ...interpreterRegions];
    else for (const region of interpreterRegions) regions = overlay(regions, region);
  }

  const entry = interpreterPlacement ? interpreterPlacement.image.entry + interpreterPlacement.bias : program.entry + bias;
  if (entry >= USER_ADDRESS_LIMIT) {
    const owner = interpreterPlacement ? interpreterPlacement.image.file : program.file;
    throw new LoadError(owner, `entry point ${hex(entry)} lies beyond the user address space`, "EINVAL", "after-exec");
  }

  // As load_elf_binary computes them: start_data is the highest segment's
  // address, not the lowest data address.
  let startCode = Number.MAX_SAFE_INTEGER;
  let endCode = 0;
  let startData = 0;
  let endData = 0;
  for (const s of program.segments) {
    const start = s.vaddr + bias;
    if (s.flags & PF_X) {
      startCode = Math.min(startCode, start);
      endCode = Math.max(endCode, start + s.filesz);
    }
    startData = Math.max(startData, start);
    endData = Math.max(endData, start + s.filesz);
  }
  if (startCode === Number.MAX_SAFE_INTEGER) startCode = endCode = programExtent.start;
  const stack = stackExecution(program.stackFlags, options.legacyReadImpliesExec ?? false);
  if (stack.readImpliesExec) regions = regions.map(readImplyingExec);

  const plan: Plan = {
    program: { image: program, bias, byKernel: programChoice.byKernel },
    interpreter: interpreterPlacement,
    regions,
    entry,
    programEntry: program.entry + bias,
    programHeaders: programHeaderAddress(program) + bias,
    brk: heapBase(program, programExtent.end) + options.random((options.brkWindow ?? BRK_RANDOM_BYTES) / PAGE_SIZE) * PAGE_SIZE,
    brkBase: programChoice.byKernel && heapBase(program, programExtent.end) !== ET_DYN_HEAP_BASE ? "program" : "fixed",
    startCode,
    endCode,
    startData,
    endData,
    ...stack,
  };
  if (!programChoice.byKernel) checkClearOfLoader(program, bias, options.kept);
  if (interpreterPlacement && !interpreterPlacement.byKernel) checkClearOfLoader(interpreter!, interpreterPlacement.bias, options.kept);
  if (options.available !== undefined) checkPopulation(plan, options.available);
  return plan;
}

/**
 * The plan for another launch of the same images with the same options: the
 * previous plan with the program moved to a newly drawn bias and a newly
 * drawn heap start, its placement checks run again. Everything else (the
 * regions, the interpreter's placement, the commit check) depends only on
 * the images and the options. Falls back to planLoad where moving is not
 * enough: the bias changed how the program is placed, an interpreter at
 * fixed addresses was laid over the program, or memory is checked (commit,
 * populated pages), which changes from one launch to the next.
 */
export function planAgain(previous: Plan, program: ElfImage, interpreter: ElfImage | null, options: PlanOptions): Plan {
  const choice = chooseProgramBias(program, options.kept, options.random);
  const fixedInterpreter = interpreter !== null && previous.interpreter !== null && !previous.interpreter.byKernel;
  const memoryChecked = options.available !== undefined || options.commit !== undefined;
  if ((choice.byKernel === null) !== (previous.program.byKernel === null) || fixedInterpreter || memoryChecked) {
    return planLoad(program, interpreter, options);
  }
  const bias = choice.bias;
  if (!choice.byKernel) checkPlacement(program, bias, options.minAddress);
  const delta = bias - previous.program.bias;
  const moved = (n: number) => n + delta;
  const regions = delta === 0 ? previous.regions : previous.regions.map((r) =>
    r.file === "program" && r.base === "fixed" ? { ...r, start: moved(r.start), zeroFrom: r.zeroFrom && moved(r.zeroFrom) } : r,
  );
  const programExtent = imageExtent(program, bias);
  const plan: Plan = {
    ...previous,
    program: { image: program, bias, byKernel: choice.byKernel },
    regions,
    entry: previous.interpreter ? previous.entry : moved(previous.entry),
    programEntry: moved(previous.programEntry),
    programHeaders: moved(previous.programHeaders),
    brk: heapBase(program, programExtent.end) + options.random((options.brkWindow ?? BRK_RANDOM_BYTES) / PAGE_SIZE) * PAGE_SIZE,
    startCode: moved(previous.startCode),
    endCode: moved(previous.endCode),
    startData: moved(previous.startData),
    endData: moved(previous.endData),
  };
  if (plan.entry >= USER_ADDRESS_LIMIT) {
    throw new LoadError(program.file, `entry point ${hex(plan.entry)} lies beyond the user address space`, "EINVAL", "after-exec");
  }
  if (!choice.byKernel) checkClearOfLoader(program, bias, options.kept);
  return plan;
}
