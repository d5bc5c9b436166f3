/**
 * The shim's functions, through bun:ffi. The library is built on first use
 * (src/shim-build.ts) and checked against the spec layout this TypeScript
 * writes, so a stale build can never misread a plan.
 */
import { dlopen, FFIType, ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import { close, read } from "node:fs";
import { ensureShim } from "./shim-build.ts";
import { EXPECTED_LAYOUT } from "./spec.ts";
import type { IntervalTimers } from "./caller.ts";

const symbols = {
  fl_kept_map: { args: [FFIType.u64], returns: FFIType.i64 },
  fl_kept_unmap: { args: [FFIType.u64, FFIType.u64], returns: FFIType.i64 },
  fl_shim_extent: { args: [FFIType.ptr], returns: FFIType.void },
  fl_spec_layout: { args: [FFIType.ptr], returns: FFIType.void },
  fl_launch: { args: [FFIType.u64], returns: FFIType.i64 },
  fl_wait_start: { args: [FFIType.i64, FFIType.u64, FFIType.i64, FFIType.i64, FFIType.ptr], returns: FFIType.i64 },
  fl_exit_size: { args: [], returns: FFIType.u64 },
  fl_end_with_signal: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_userfaultfd_available: { args: [], returns: FFIType.i64 },
  fl_signal: { args: [FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_take_descriptor: { args: [FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_take_interval_timers: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_relay_start: { args: [FFIType.u64, FFIType.i64], returns: FFIType.i64 },
  fl_relay_target: { args: [FFIType.i64], returns: FFIType.i64 },
} as const;

type Library = ReturnType<typeof dlopen<typeof symbols>>;
let library: Library | null = null;

function load(): Library["symbols"] {
  if (library) return library.symbols;
  const opened = dlopen(ensureShim(), symbols);
  const layout = new BigUint64Array(EXPECTED_LAYOUT.length);
  opened.symbols.fl_spec_layout(ptr(layout));
  EXPECTED_LAYOUT.forEach((expected, i) => {
    if (Number(layout[i]) !== expected) {
      throw new Error(`faultline: the shim's spec layout (${layout.join(",")}) differs from src/spec.ts (${EXPECTED_LAYOUT.join(",")}); rebuild with 'bun run build:shim --force'`);
    }
  });
  library = opened;
  return opened.symbols;
}

/** A negative errno from the shim, as a message. */
export class ShimError extends Error {
  override name = "ShimError";
  constructor(
    readonly operation: string,
    readonly errno: number,
  ) {
    super(`${operation} failed: ${errnoName(errno)}`);
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 4: "EINTR", 7: "E2BIG", 9: "EBADF", 10: "ECHILD", 11: "EAGAIN", 12: "ENOMEM",
  13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 24: "EMFILE", 38: "ENOSYS",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

function check(operation: string, result: number | bigint): number {
  const value = Number(result);
  if (value < 0) throw new ShimError(operation, -value);
  return value;
}

/** Memory shared with launched children; kept through the child's cleanup. */
export interface KeptMemory {
  address: number;
  length: number;
  view: DataView;
  bytes: Uint8Array;
}

export function mapKept(length: number): KeptMemory {
  const address = check("mmap of kept memory", load().fl_kept_map(length));
  const buffer = toArrayBuffer(address as Pointer, 0, length);
  return { address, length, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
}

export function unmapKept(memory: KeptMemory): void {
  check("munmap of kept memory", load().fl_kept_unmap(memory.address, memory.length));
}

/** [start, end) of the shim's own mapping. */
export function shimExtent(): { start: number; end: number } {
  const out = new BigUint64Array(2);
  load().fl_shim_extent(ptr(out));
  return { start: Number(out[0]), end: Number(out[1]) };
}

/** Fork; the child runs the spec at `address`. Returns the child's pid. */
export function forkAndLaunch(address: number): number {
  return check("fork", load().fl_launch(address));
}

/** How a child ended, as the waiter thread reports it. */
export interface ChildExit {
  waitStatus: number;
  maxRssKiB: number;
  userMicros: number;
  systemMicros: number;
}

export interface WaitOptions {
  /** Where demand-paging mappings are logged (-1: nowhere). */
  logFd: number;
  /** Where fault events go as JSON lines (-1: nowhere). */
  traceFd: number;
  /** The pager's name, the program's path and the interpreter's ("" if none). */
  labels: [string, string, string];
}

/** Wait for pid on a shim thread (draining its fault events meanwhile, for
 * a demand-paged spec at specAddress); resolves without blocking the event
 * loop. */
export async function waitForExit(pid: number, specAddress: number, options: WaitOptions): Promise<ChildExit> {
  const shim = load();
  const labels = Buffer.from(`${options.labels.join("\0")}\0`);
  const fd = check("starting the waiter", shim.fl_wait_start(pid, specAddress, options.logFd, options.traceFd, ptr(labels)));
  const size = Number(shim.fl_exit_size());
  const bytes = await readExactly(fd, size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const error = Number(view.getBigInt64(0, true));
  if (error < 0) throw new ShimError("wait4", -error);
  return {
    waitStatus: Number(view.getBigInt64(8, true)),
    maxRssKiB: Number(view.getBigInt64(16, true)),
    userMicros: Number(view.getBigInt64(24, true)),
    systemMicros: Number(view.getBigInt64(32, true)),
  };
}

async function readExactly(fd: number, size: number): Promise<Uint8Array> {
  const buffer = Buffer.alloc(size);
  let filled = 0;
  try {
    while (filled < size) {
      const n = await new Promise<number>((resolve, reject) =>
        read(fd, buffer, filled, size - filled, null, (error, count) => (error ? reject(error) : resolve(count))),
      );
      if (n === 0) throw new Error("faultline: the waiter closed its pipe early");
      filled += n;
    }
  } finally {
    close(fd, () => {});
  }
  return buffer;
}

/** End this process the way a child ended: by the same signal. Returns only
 * if the signal did not end it. */
export function endWithSignal(signal: number): void {
  load().fl_end_with_signal(signal);
}

export function sendSignal(pid: number, signal: number): void {
  check("kill", load().fl_signal(pid, signal));
}

/** A close-on-exec copy of another process's descriptor (pidfd_getfd), or
 * a negative errno. */
export function takeDescriptor(pid: number, fd: number): number {
  return Number(load().fl_take_descriptor(pid, fd));
}

/** Take (and disarm here) this process's interval timers; null when none
 * was armed. */
export function takeIntervalTimers(): IntervalTimers | null {
  const words = new BigInt64Array(12);
  const armed = check("taking the interval timers", load().fl_take_interval_timers(ptr(words)));
  if (armed === 0) return null;
  const timer = (i: number) => ({
    intervalMicros: Number(words[i * 4]!) * 1_000_000 + Number(words[i * 4 + 1]!),
    valueMicros: Number(words[i * 4 + 2]!) * 1_000_000 + Number(words[i * 4 + 3]!),
  });
  return [timer(0), timer(1), timer(2)];
}

/** Relay the signals in `signals` (bit sig - 1) to the program once
 * relayTo names it (shim/relay.c). */
export function startRelay(signals: bigint, underBunRun: boolean): void {
  check("starting the signal relay", load().fl_relay_start(signals, underBunRun ? 1 : 0));
}

export function relayTo(pid: number): void {
  check("relaying signals", load().fl_relay_target(pid));
}

let userfaultfd: boolean | null = null;
/** Whether demand paging may use userfaultfd here (asked once). */
export function userfaultfdAvailable(): boolean {
  userfaultfd ??= Number(load().fl_userfaultfd_available()) === 1;
  return userfaultfd;
}
