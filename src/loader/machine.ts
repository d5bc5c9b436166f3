/**
 * Facts about this machine and the Bun process a launch starts from (the
 * auxiliary vector the kernel gives a program here, the limits in force,
 * whether addresses are randomized). Reading these is the only effect here;
 * parsing is pure and exported for tests.
 */
import { readFileSync } from "node:fs";
import { release } from "node:os";
import { parseAuxv } from "./auxv.ts";
import { PAGER_ADDRESS_SPACE_KIB, VDSO_PARTS } from "./contract.ts";
import { BRK_RANDOM_BYTES, BRK_RANDOM_BYTES_WIDE, type CommitRule } from "./plan.ts";
import type { AuxvEntry } from "./stack.ts";

/** "Max stack size" from /proc/PID/limits, in bytes; null when unlimited. */
export function parseStackLimit(limits: string): number | null {
  const match = /^Max stack size\s+(\S+)/m.exec(limits);
  if (!match || match[1] === "unlimited") return null;
  return Number(match[1]);
}

/** The soft "Max address space" (RLIMIT_AS, `ulimit -v`) from
 * /proc/PID/limits, in bytes; null when unlimited. */
export function parseAddressSpaceLimit(limits: string): number | null {
  const match = /^Max address space\s+(\S+)/m.exec(limits);
  if (!match || match[1] === "unlimited") return null;
  return Number(match[1]);
}

/** The address space the pager needs (contract.ts, where C shares it). */
export { PAGER_ADDRESS_SPACE_KIB };
const KIB = 1024;

/** The one line that says a limit leaves the pager too little address
 * space, or null when it does not. */
export function addressLimitProblem(limitBytes: number | null): string | null {
  if (limitBytes === null || limitBytes >= PAGER_ADDRESS_SPACE_KIB * KIB) return null;
  return `the address-space limit (ulimit -v) is ${Math.floor(limitBytes / KIB)} KiB, and the pager needs ${PAGER_ADDRESS_SPACE_KIB} KiB for Bun, which runs it and reserves its memory up front; the program would get your limit, but the pager cannot start under it`;
}

/** personality(2) flag that turns address randomization off (setarch -R). */
const ADDR_NO_RANDOMIZE = 0x0040000;
/** The capability that lets a process map pages below vm.mmap_min_addr. */
const CAP_SYS_RAWIO = 17;

/** Whether the effective capabilities in /proc/PID/status include `capability`. */
export function hasCapability(status: string, capability: number): boolean {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match !== null && ((BigInt(`0x${match[1]}`) >> BigInt(capability)) & 1n) === 1n;
}

/** /proc/meminfo's figures, in bytes (its "kB" are KiB). */
export function parseMeminfo(text: string): Map<string, number> {
  const figures = new Map<string, number>();
  for (const match of text.matchAll(/^(\w+):\s+(\d+)(?: kB)?$/gm)) figures.set(match[1]!, Number(match[2]) * (match[0].endsWith("kB") ? 1024 : 1));
  return figures;
}

export interface MachineFacts {
  auxvTemplate: AuxvEntry[];
  /** RLIMIT_STACK, null when unlimited. */
  stackLimit: number | null;
  mmapMinAddress: number;
  /** The kernel lets this process map below mmap_min_addr (CAP_SYS_RAWIO,
   * which root has): then a program may load at address 0. */
  mayMapLowPages: boolean;
  randomize: boolean;
  /** The window arch_randomize_brk picks the heap's start from. */
  brkWindow: number;
  /** The kernel lets this process name another file /proc/self/exe
   * (CAP_SYS_RESOURCE or CAP_CHECKPOINT_RESTORE). */
  mayReplaceExe: boolean;
  /** The kernel gives a 64-bit program READ_IMPLIES_EXEC when its
   * PT_GNU_STACK is missing or executable (plan.ts stackExecution). */
  legacyReadImpliesExec: boolean;
  /** The vDSO block, which the loader moves to where the kernel would have
   * mapped it for the program; null leaves it where it was mapped. */
  vdsoBlock: VdsoBlock | null;
}

/** One mapping of the vDSO block, from the block's start. */
interface VdsoPart {
  offset: number;
  length: number;
}

/** The vDSO and the data pages beside it, as this kernel lays them out. */
export interface VdsoBlock {
  parts: VdsoPart[];
  /** Where the vDSO itself is, from the block's start. */
  vdsoOffset: number;
}

/**
 * The [vdso] mapping and the data mappings next to it ([vvar], and
 * [vvar_vclock] since Linux 6.13) from /proc/PID/maps: every process of
 * this kernel has the same block. null when there is no vDSO, or a block
 * of more mappings than the loader moves.
 */
export function parseVdsoBlock(maps: string): VdsoBlock | null {
  const entries = maps.split("\n").filter((line) => line !== "").map((line) => {
    const fields = line.split(/\s+/);
    const [start, end] = fields[0]!.split("-").map((n) => parseInt(n, 16));
    return { start: start!, end: end!, name: fields[5] ?? "" };
  });
  const vdso = entries.findIndex((e) => e.name === "[vdso]");
  if (vdso < 0) return null;
  const special = (i: number) => entries[i] !== undefined && entries[i]!.name.startsWith("[vvar");
  let first = vdso;
  while (special(first - 1) && entries[first - 1]!.end === entries[first]!.start) first--;
  let last = vdso;
  while (special(last + 1) && entries[last + 1]!.start === entries[last]!.end) last++;
  if (last - first + 1 > VDSO_PARTS) return null;
  const base = entries[first]!.start;
  const parts = entries.slice(first, last + 1).map((e) => ({ offset: e.start - base, length: e.end - e.start }));
  return { parts, vdsoOffset: entries[vdso]!.start - base };
}

/** Linux's release as [major, minor], from uname's "6.18.44-..." form. */
export function kernelVersion(release: string): [number, number] {
  const match = /^(\d+)\.(\d+)/.exec(release);
  return match ? [Number(match[1]), Number(match[2])] : [0, 0];
}

/** x86-64 randomizes the heap's start over 1 GiB since Linux 6.9, over
 * 32 MiB before. */
export function brkWindowOf(release: string): number {
  const [major, minor] = kernelVersion(release);
  return major > 6 || (major === 6 && minor >= 9) ? BRK_RANDOM_BYTES_WIDE : BRK_RANDOM_BYTES;
}

/** x86-64 kernels before 5.8 set READ_IMPLIES_EXEC for a 64-bit program
 * whose PT_GNU_STACK is missing or executable (elf_read_implies_exec). */
export function legacyReadImpliesExecOf(release: string): boolean {
  const [major, minor] = kernelVersion(release);
  return major < 5 || (major === 5 && minor < 8);
}

/** Memory figures that change from one launch to the next. */
interface MemoryFacts {
  commit: CommitRule;
  /** MemAvailable: what populating pages before the jump may take. */
  available: number;
}

/** Capabilities that let a process replace its /proc/self/exe. */
const CAP_SYS_RESOURCE = 24;
const CAP_CHECKPOINT_RESTORE = 40;

/** What a process tells of itself that a plan depends on: the installed
 * command's client sends it in its hello (it is the process the program
 * will be). */
export interface ProcessFacts {
  auxv: Uint8Array;
  /** RLIMIT_STACK's soft limit; null when unlimited. */
  stackLimit: number | null;
  /** Effective capabilities, bit n for capability n. */
  capabilities: bigint;
  personality: number;
}

/** The machine's own settings, read at most once a second: a service
 * plans many programs in a row. */
interface MachineWide {
  at: number;
  randomizeSetting: number;
  mmapMinAddress: number;
}
let machineWide: MachineWide | null = null;
const MACHINE_WIDE_MS = 1000;
/** The vDSO block is the kernel's, the same in every process: read once. */
let ownVdsoBlock: VdsoBlock | null | undefined;

function machineWideFacts(): MachineWide {
  const now = Date.now();
  if (!machineWide || now - machineWide.at >= MACHINE_WIDE_MS) {
    machineWide = {
      at: now,
      randomizeSetting: Number(readFileSync("/proc/sys/kernel/randomize_va_space", "utf8").trim()),
      mmapMinAddress: Number(readFileSync("/proc/sys/vm/mmap_min_addr", "utf8").trim()),
    };
  }
  return machineWide;
}

/** The facts for a program that the process telling `own` becomes. */
export function machineFactsOf(own: ProcessFacts): MachineFacts {
  const { randomizeSetting, mmapMinAddress } = machineWideFacts();
  const has = (capability: number) => ((own.capabilities >> BigInt(capability)) & 1n) === 1n;
  return {
    auxvTemplate: parseAuxv(own.auxv),
    stackLimit: own.stackLimit,
    mmapMinAddress,
    mayMapLowPages: has(CAP_SYS_RAWIO),
    randomize: randomizeSetting > 0 && (own.personality & ADDR_NO_RANDOMIZE) === 0,
    brkWindow: brkWindowOf(release()),
    mayReplaceExe: has(CAP_SYS_RESOURCE) || has(CAP_CHECKPOINT_RESTORE),
    legacyReadImpliesExec: legacyReadImpliesExecOf(release()),
    vdsoBlock: ownVdsoBlock === undefined ? (ownVdsoBlock = parseVdsoBlock(readFileSync("/proc/self/maps", "utf8"))) : ownVdsoBlock,
  };
}

/** The facts for a program started from this process. */
export function readMachineFacts(): MachineFacts {
  const proc = "/proc/self";
  const personality = parseInt(readFileSync(`${proc}/personality`, "utf8").trim(), 16);
  const randomizeSetting = Number(readFileSync("/proc/sys/kernel/randomize_va_space", "utf8").trim());
  const status = readFileSync(`${proc}/status`, "utf8");
  return {
    auxvTemplate: parseAuxv(readFileSync(`${proc}/auxv`)),
    stackLimit: parseStackLimit(readFileSync(`${proc}/limits`, "utf8")),
    mmapMinAddress: Number(readFileSync("/proc/sys/vm/mmap_min_addr", "utf8").trim()),
    mayMapLowPages: hasCapability(status, CAP_SYS_RAWIO),
    randomize: randomizeSetting > 0 && (personality & ADDR_NO_RANDOMIZE) === 0,
    brkWindow: brkWindowOf(release()),
    mayReplaceExe: hasCapability(status, CAP_SYS_RESOURCE) || hasCapability(status, CAP_CHECKPOINT_RESTORE),
    legacyReadImpliesExec: legacyReadImpliesExecOf(release()),
    vdsoBlock: parseVdsoBlock(readFileSync("/proc/self/maps", "utf8")),
  };
}

/** Images that ask for less memory than this, on a machine that does not
 * account commitments strictly, cannot fail the memory checks (they would
 * need a machine with less than this free): the figures are not read. */
const SMALL_IMAGE_BYTES = 64 * 1024 * 1024;
/** vm.overcommit_memory's strict mode, where every commitment counts. */
const OVERCOMMIT_NEVER = 2;

function readOvercommitMode(): number {
  return Number(readFileSync("/proc/sys/vm/overcommit_memory", "utf8").trim());
}

/** vm.overcommit_memory as it was when this process first asked: an
 * administrator's setting, read once. */
let overcommitMode: number | null = null;

/** The memory figures a plan is checked against, or null when the images'
 * `bytes` are too few for any check to fail (see SMALL_IMAGE_BYTES);
 * reading /proc/meminfo is a good part of a small program's launch. */
export function memoryFactsFor(bytes: number): MemoryFacts | null {
  overcommitMode ??= readOvercommitMode();
  if (bytes < SMALL_IMAGE_BYTES && overcommitMode !== OVERCOMMIT_NEVER) return null;
  return readMemoryFacts();
}

function readMemoryFacts(): MemoryFacts {
  const meminfo = parseMeminfo(readFileSync("/proc/meminfo", "utf8"));
  const figure = (name: string) => meminfo.get(name) ?? 0;
  return {
    commit: {
      overcommit: readOvercommitMode(),
      ramAndSwap: figure("MemTotal") + figure("SwapTotal"),
      commitFree: figure("CommitLimit") - figure("Committed_AS"),
    },
    available: meminfo.get("MemAvailable") ?? figure("MemFree"),
  };
}
