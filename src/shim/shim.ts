/**
 * The shim's functions, through bun:ffi. The library is built on first use
 * (src/shim/shim-build.ts) and, when opened, checked field by field against
 * the contract this TypeScript writes (shim/contract.h, src/loader/contract.ts),
 * so a stale build can never misread a plan.
 */
import { dlopen, FFIType, ptr, toArrayBuffer, type Pointer } from "bun:ffi";
import type { Socket } from "bun";
import { closeSync } from "node:fs";
import { ensureShim } from "./shim-build.ts";
import { errnoName } from "../loader/errors.ts";

export { errnoName };
import { COMMAND_NAME_BYTES, INTERVAL_TIMER, INTERVAL_TIMERS, NOTICE, SERVICE_REQUEST, SPAWN_DESCRIPTOR, SPAWN_REQUEST, checkContract } from "../loader/contract.ts";
import type { IntervalTimers } from "../loader/caller.ts";

const symbols = {
  fl_spec_memory: { args: [FFIType.u64, FFIType.ptr], returns: FFIType.i64 },
  fl_spec_memory_free: { args: [FFIType.i64, FFIType.u64, FFIType.u64], returns: FFIType.i64 },
  fl_contract_layout: { args: [], returns: FFIType.cstring },
  fl_spawn_loader: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_send_plan: { args: [FFIType.i64, FFIType.u64, FFIType.u64, FFIType.ptr], returns: FFIType.i64 },
  fl_image_copy: { args: [FFIType.i64, FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  fl_abandon_loader: { args: [FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_prestart_loader: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_prestarted_take: { args: [FFIType.i64, FFIType.ptr], returns: FFIType.i64 },
  fl_prestarted_retire: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_signal_mask: { args: [], returns: FFIType.u64 },
  fl_wait_start: { args: [FFIType.i64, FFIType.i64, FFIType.u64, FFIType.ptr, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_send_go: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_duplicate: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_end_with_signal: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_userfaultfd_available: { args: [], returns: FFIType.i64 },
  fl_pin_release: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_take_descriptor: { args: [FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_take_interval_timers: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_relay_start: { args: [FFIType.u64, FFIType.i64], returns: FFIType.i64 },
  fl_relay_target: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_stream_pair: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_event_pipe: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_stdin_memfd: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  fl_loader_hello: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_pidfd_open: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_pidfd_signal: { args: [FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_service_listen: { args: [FFIType.ptr], returns: FFIType.i64 },
  fl_service_accept: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_service_answer: { args: [FFIType.i64, FFIType.i64, FFIType.i64], returns: FFIType.i64 },
  fl_service_shutdown: { args: [FFIType.i64], returns: FFIType.i64 },
  fl_pidfd_alive: { args: [FFIType.i64], returns: FFIType.i64 },
} as const;

type Library = ReturnType<typeof dlopen<typeof symbols>>;
let library: Library | null = null;

function load(): Library["symbols"] {
  if (library) return library.symbols;
  const opened = dlopen(ensureShim(), symbols);
  // Every field of shim/contract.h where src/loader/contract.ts has it.
  checkContract(String(opened.symbols.fl_contract_layout()));
  library = opened;
  return opened.symbols;
}

/** The contract's layout as this build of the shim has it
 * (shim/contract-layout.c): a line per field and per loader stage. */
export function contractLayout(): string {
  return String(load().fl_contract_layout());
}

/** A negative errno from the shim, as a message. */
class ShimError extends Error {
  override name = "ShimError";
  constructor(
    readonly operation: string,
    readonly errno: number,
  ) {
    super(`${operation} failed: ${errnoName(errno)}`);
  }
}


function check(operation: string, result: number | bigint): number {
  const value = Number(result);
  if (value < 0) throw new ShimError(operation, -value);
  return value;
}

/** The plan's memory: a memfd mapped shared here, which the loader maps too
 * (src/loader/spec.ts writes the plan; the loader writes its status back). */
export interface SpecMemory {
  fd: number;
  address: number;
  length: number;
  view: DataView;
  bytes: Uint8Array;
}

export function makeSpecMemory(length: number): SpecMemory {
  const out = new BigInt64Array(2);
  check("making the plan's memory", load().fl_spec_memory(length, ptr(out)));
  const address = Number(out[1]);
  const buffer = toArrayBuffer(address as Pointer, 0, length);
  return { fd: Number(out[0]), address, length, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
}

export function freeSpecMemory(memory: SpecMemory): void {
  check("freeing the plan's memory", load().fl_spec_memory_free(memory.fd, memory.address, memory.length));
}

/** What the loader is spawned with: the program's process state as the
 * caller handed it over, and its working directory. */
export interface LoaderRequest {
  loader: string;
  descriptors: readonly { source: number; target: number }[];
  ignoredSignals: readonly number[];
  signalMask: bigint;
  openFilesLimit: number | null;
  cwd: string | null;
}

/** A spawned loader: its pid and Bun's end of its control socket. */
export interface SpawnedLoader {
  pid: number;
  control: number;
  /** The program-to-be's pid, when its hello has been read already. */
  programPid?: number;
}

/** The lowest descriptor number of 3 and above that none of `taken` holds:
 * where the loader gets its end of the control socket. */
function freeDescriptorNumber(taken: readonly number[]): number {
  const used = new Set(taken);
  let fd = 3;
  while (used.has(fd)) fd++;
  return fd;
}

/** This thread's signal mask (bit sig - 1). */
export function currentSignalMask(): bigint {
  return BigInt(load().fl_signal_mask());
}

const cStrings = new Map<string, Uint8Array>();
/** A string as a NUL-terminated byte array, kept for strings used again. */
function cString(text: string): Uint8Array {
  let bytes = cStrings.get(text);
  if (!bytes) {
    bytes = Buffer.from(`${text}\0`);
    if (cStrings.size < C_STRINGS_KEPT) cStrings.set(text, bytes);
  }
  return bytes;
}
const C_STRINGS_KEPT = 16;

/** A spawn request as struct fl_spawn_request lays it out (contract.h),
 * written field by field; `keep` holds the memory its pointers name until
 * the call that reads it returns. */
function spawnRequestWords(request: LoaderRequest): { words: Uint8Array; keep: unknown[] } {
  const loader = cString(request.loader);
  const cwd = request.cwd === null ? null : cString(request.cwd);
  const descriptors = new Uint8Array(Math.max(1, request.descriptors.length) * SPAWN_DESCRIPTOR.size);
  const descriptorView = new DataView(descriptors.buffer);
  request.descriptors.forEach((d, i) => {
    const at = i * SPAWN_DESCRIPTOR.size;
    descriptorView.setBigUint64(at + SPAWN_DESCRIPTOR.fields.source.offset, BigInt(d.source), true);
    descriptorView.setBigUint64(at + SPAWN_DESCRIPTOR.fields.target.offset, BigInt(d.target), true);
  });
  const words = new Uint8Array(SPAWN_REQUEST.size);
  const view = new DataView(words.buffer);
  const put = (name: keyof typeof SPAWN_REQUEST.fields, value: bigint) => view.setBigUint64(SPAWN_REQUEST.fields[name].offset, BigInt.asUintN(64, value), true);
  put("loader", BigInt(ptr(loader)));
  put("descriptor_count", BigInt(request.descriptors.length));
  put("descriptors", BigInt(ptr(descriptors)));
  put("signals_ignored", request.ignoredSignals.reduce((set, sig) => set | (1n << BigInt(sig - 1)), 0n));
  put("signal_mask", request.signalMask);
  put("open_files_set", request.openFilesLimit === null ? 0n : 1n);
  put("open_files_soft", BigInt(request.openFilesLimit ?? 0));
  put("cwd", cwd === null ? 0n : BigInt(ptr(cwd)));
  put("control_target", BigInt(freeDescriptorNumber(request.descriptors.map((d) => d.target))));
  return { words, keep: [loader, cwd, descriptors] };
}

/** A field of a spawn request the spawn wrote (its pid, its control). */
function spawnedField(words: Uint8Array, name: keyof typeof SPAWN_REQUEST.fields): number {
  return Number(new DataView(words.buffer).getBigInt64(SPAWN_REQUEST.fields[name].offset, true));
}

/** Spawn the loader in the program's place (shim/loader/spawn.c). */
export function spawnLoader(request: LoaderRequest): SpawnedLoader {
  const { words, keep } = spawnRequestWords(request);
  check("spawning the loader", load().fl_spawn_loader(ptr(words)));
  keep.length = 0;
  return { pid: spawnedField(words, "pid"), control: spawnedField(words, "control") };
}

/** A loader being spawned ahead of need on a shim thread (shim/loader/prestart.c):
 * a handle to take or retire, exactly once. */
export type PrestartHandle = number & { readonly prestarted: unique symbol };

/** Start spawning a loader for a later launch; null if it cannot be. The
 * request may name no working directory and at most three descriptors. */
export function prestartLoader(request: LoaderRequest): PrestartHandle | null {
  const { words, keep } = spawnRequestWords(request);
  const handle = Number(load().fl_prestart_loader(ptr(words)));
  keep.length = 0;
  return handle > 0 ? (handle as PrestartHandle) : null;
}

/** A prestarted loader, taken: `usable` when this thread would spawn the
 * same one now (else abandon it); null when its spawn failed. */
export function takePrestarted(handle: PrestartHandle): { loader: SpawnedLoader; usable: boolean } | null {
  const out = new BigInt64Array(3);
  const result = Number(load().fl_prestarted_take(handle, ptr(out)));
  if (result < 0) return null;
  const programPid = Number(out[2]);
  return { loader: { pid: Number(out[0]), control: Number(out[1]), ...(programPid > 0 ? { programPid } : {}) }, usable: result === 1 };
}

/** Nobody will take it: the loader is hung up on and reaped on a shim
 * thread. */
export function retirePrestarted(handle: PrestartHandle): void {
  load().fl_prestarted_retire(handle);
}

/** Send the loader its plan: where to map the plan's memory, and the
 * program's files. */
/** Send the loader its plan; returns when it was sent (CLOCK_MONOTONIC
 * nanoseconds), from which the run's fault events are timed: the program
 * may run at once. */
export function sendPlan(control: number, spec: SpecMemory, specAddress: number, files: PlanFiles): number {
  const descriptors = new BigInt64Array([spec.fd, files.program, files.interpreter, files.programCopy, files.interpreterCopy, files.log].map(BigInt));
  return check("sending the loader its plan", load().fl_send_plan(control, specAddress, spec.length, ptr(descriptors)));
}

/** The descriptors a plan goes with (-1: none), in shim/launch.h's enum
 * fl_plan_file order after the plan's own: the program's files, the image
 * copies userfaultfd paging maps their pages from, and the mapping log the
 * loader writes the start mappings to (a copy goes: the loader closes it
 * before the jump). */
export interface PlanFiles {
  program: number;
  interpreter: number;
  programCopy: number;
  interpreterCopy: number;
  log: number;
}

/** A sealed memfd as long as the file `size` bytes long behind `fd`,
 * holding its bytes in `pieces` (shim/loader/image-copy.c). */
export function makeImageCopy(fd: number, name: string, size: number, pieces: readonly { offset: number; length: number }[]): number {
  const words = new BigUint64Array(Math.max(1, pieces.length * 2));
  pieces.forEach((piece, i) => {
    words[2 * i] = BigInt(piece.offset);
    words[2 * i + 1] = BigInt(piece.length);
  });
  const label = Buffer.from(`${name.slice(0, MEMFD_NAME_BYTES)}\0`);
  return check("copying the program's file for userfaultfd paging", load().fl_image_copy(fd, ptr(label), size, ptr(words), pieces.length));
}
/** memfd_create takes names of up to 249 bytes; the rest is cut. */
const MEMFD_NAME_BYTES = 200;

/** The launch will not go on: hang up on the loader and reap it (and the
 * process that was to be the program, when known). */
export function abandonLoader(loader: SpawnedLoader, programPid: number): void {
  load().fl_abandon_loader(loader.pid, programPid, loader.control);
}

/** How the program ended, as the waiter thread reports it. */
export interface ChildExit {
  waitStatus: number;
  maxRssKiB: number;
  userMicros: number;
  systemMicros: number;
  /** The rest of its rusage (Linux keeps only the switches and block
   * operations; the others are 0 there). */
  counts: RusageCounts;
  /** Set when the program replaced itself by execve: the name it last ran
   * as (the kernel's command name, 15 bytes at most); null when it never
   * did. */
  execvedAs: string | null;
}

/** The counters of a program's rusage beyond its memory and CPU time. */
interface RusageCounts {
  voluntarySwitches: number;
  involuntarySwitches: number;
  inBlocks: number;
  outBlocks: number;
  messagesSent: number;
  messagesReceived: number;
  signals: number;
  swaps: number;
  sharedKiB: number;
}

interface WaitOptions {
  /** The program's files, open here (the userfaultfd server reads pages
   * from them; -1: none). */
  files: readonly [number, number];
  /** Where demand-paging mappings are logged (-1: nowhere). */
  logFd: number;
  /** Where fault events go as JSON lines (-1: nowhere). */
  traceFd: number;
  /** The live event pipe's non-blocking write end (-1: none): the waiter
   * takes it over, and closes it once no event can come. */
  eventFd: number;
  /** The pager's name, the program's path and the interpreter's ("" if none). */
  labels: [string, string, string];
  /** Say when the program exists (its pid), before it is placed. */
  notifyStarted: boolean;
  /** Who sends the go the loader waits for once placed, when its spec says
   * it waits: this process (`go()`: --gdb attached, --prefetch's trace
   * lines written), or the waiter, sparing the program a trip through
   * JavaScript. */
  go: "none" | "here" | "waiter";
  /** Say that the program is placed even when the loader does not wait
   * for a go (its start mappings are then wanted here: onMapping); the
   * program may be running by the time the notice is read. */
  notifyPlaced?: boolean;
  /** When the run's clock started (sendPlan's answer): fault events' times
   * count from it; by default, from now. */
  clockStart?: number;
  /** The waiter takes the end look's hold on the program's memory once it
   * is placed, by the byte this far above the stack's base (0: none). */
  pinOffset: number;
  /** A pidfd of a program that is not this process's child (the installed
   * command's client): its end is learned from it, and no status is
   * reaped (the notice's exit is all zeros). */
  programPidfd?: number;
}

/** What the waiter says, in order: the program's pid once the loader has
 * cloned itself (pid -1: it never did), that the program is placed (only
 * when the loader waits for a go, or notifyPlaced asked), then how it
 * ended. */
export type Notice =
  | { kind: "started"; pid: number }
  | { kind: "placed"; pid: number; endLook: { pin: MemoryPin; pagemapFd: number } | null }
  | { kind: "ended"; pid: number; exit: ChildExit; delivery: EventDelivery };

/** What became of a run's events beyond the program's own end. */
export interface EventDelivery {
  /** Live events the event pipe had no room for (its reader fell behind). */
  eventsUndelivered: number;
  /** The first errno a write to the trace met (0: none): the trace lacks
   * every event from there on. */
  traceError: number;
}

/** The waiter of one launch: its notices, and a way to send the loader
 * its go. */
export interface Waiter {
  next(): Promise<Notice>;
  /** Let the loader jump to the program (it waits when told to). */
  go(): void;
  /** Stop reading notices (none is owed any more). */
  close(): void;
  /** Whether waiting for the program keeps this process alive (yes
   * unless told otherwise: a subprocess's unref()). */
  hold(on: boolean): void;
}

const NOTICE_KINDS = { 1: "started", 2: "placed", 3: "ended" } as const;
function commandName(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Start waiting for the program on a shim thread, which reaps the loader
 * as spawned, serves or drains the faults of a demand-paged spec, and takes
 * the control socket over (it closes it). Throws if it cannot start. */
export function startWaiter(loader: SpawnedLoader, spec: SpecMemory, options: WaitOptions): Waiter {
  const shim = load();
  const labels = cString(options.labels.join("\0"));
  const files = new BigInt64Array([BigInt(options.files[0]), BigInt(options.files[1])]);
  // A copy of the control socket for the go, when one is owed: the waiter
  // closes its own when the program ends, and the number could be another
  // file's by then.
  let goFd = options.go === "here" ? check("keeping a way to the loader", shim.fl_duplicate(loader.control)) : -1;
  const closeGo = () => {
    if (goFd >= 0) closeSync(goFd);
    goFd = -1;
  };
  let fd: number;
  try {
    fd = check("starting the waiter", shim.fl_wait_start(loader.pid, loader.control, spec.address, ptr(files), options.logFd, options.traceFd, options.eventFd, ptr(labels), options.notifyStarted ? 1 : 0, loader.programPid ?? 0, options.pinOffset, options.go === "waiter" ? 1 : 0, options.programPidfd ?? -1, options.notifyPlaced ? 1 : 0, options.clockStart ?? 0));
  } catch (error) {
    closeGo();
    throw error;
  }
  const size = NOTICE.size;
  const notices = socketRecordReader(fd);
  return {
    async next() {
      const bytes = await notices.read(size);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const word = (name: keyof typeof NOTICE.fields) => Number(view.getBigInt64(NOTICE.fields[name].offset, true));
      const kind = NOTICE_KINDS[word("kind") as 1 | 2 | 3];
      if (kind === "started") return { kind, pid: word("pid") };
      if (kind === "placed") {
        // The waiter's own end look, when it took one.
        const pin = word("pin");
        return { kind, pid: word("pid"), endLook: pin > 0 ? { pin: pin as MemoryPin, pagemapFd: word("pagemap_fd") } : null };
      }
      closeGo();
      await notices.close();
      if (word("error") < 0) throw new ShimError("wait4", -word("error"));
      return {
        kind,
        pid: word("pid"),
        exit: {
          waitStatus: word("wait_status"),
          maxRssKiB: word("max_rss_kib"),
          userMicros: word("user_usec"),
          systemMicros: word("system_usec"),
          // The rest of the rusage.
          counts: {
            voluntarySwitches: word("voluntary_switches"),
            involuntarySwitches: word("involuntary_switches"),
            inBlocks: word("in_blocks"),
            outBlocks: word("out_blocks"),
            messagesSent: word("messages_sent"),
            messagesReceived: word("messages_received"),
            signals: word("signals"),
            swaps: word("swaps"),
            sharedKiB: word("shared_kib"),
          },
          // Whether it exec'd, and its command name, NUL-ended.
          execvedAs: word("execed") === 0 ? null : commandName(bytes.subarray(NOTICE.fields.exec_name.offset, NOTICE.fields.exec_name.offset + COMMAND_NAME_BYTES)),
        },
        delivery: { eventsUndelivered: word("events_undelivered"), traceError: word("trace_error") },
      };
    },
    go() {
      if (goFd < 0) throw new Error("faultline: no go is owed to this loader");
      check("letting the loader go", shim.fl_send_go(goFd));
      closeGo();
    },
    close() {
      closeGo();
    },
    hold(on) {
      notices.hold(on);
    },
  };
}

/**
 * Bytes arriving on a stream socket of this process (one end of a socket
 * pair), read through Bun's socket layer: polled by the event loop, never
 * by a blocking read on Bun's small pool of file-system threads (a read
 * that waits for a program to end would hold one of them for as long), and,
 * unlike a file's stream, able to stop holding the event loop open
 * (`hold(false)`: a subprocess's unref()). The socket owns the descriptor
 * from here on, and closes it.
 */
export class SocketReader {
  private socket: Socket | null = null;
  private held = true;
  private closing = false;

  constructor(fd: number, onData: (bytes: Uint8Array) => void, onEnd: (error?: Error) => void) {
    let ended = false;
    const end = (error?: Error) => {
      if (ended) return;
      ended = true;
      onEnd(error);
    };
    Bun.connect({
      fd,
      socket: {
        // The buffer is Bun's to reuse once this returns.
        data: (_socket: Socket, data: Uint8Array) => onData(new Uint8Array(data)),
        close: () => end(),
        error: (_socket: Socket, error: Error) => end(error),
      },
    } as unknown as Parameters<typeof Bun.connect>[0]).then(
      (socket) => {
        this.socket = socket as Socket;
        if (this.closing) this.socket.terminate();
        else if (!this.held) this.socket.unref();
      },
      (error: unknown) => end(error instanceof Error ? error : new Error(String(error))),
    );
  }

  /** Whether this socket keeps the event loop (and so the process) alive
   * while it is open: yes unless told otherwise. */
  hold(on: boolean): void {
    this.held = on;
    if (on) this.socket?.ref();
    else this.socket?.unref();
  }

  /** Stop reading and close it. */
  close(): void {
    this.closing = true;
    this.socket?.terminate();
  }
}

/** Whole records the shim writes on a descriptor. */
interface RecordReader {
  /** The next `size` bytes. */
  read(size: number): Promise<Uint8Array>;
  /** Stop reading and close the descriptor. */
  close(): Promise<void>;
}

/** Records joined from the pieces a reader delivers. */
class RecordBuffer {
  private pending = new Uint8Array(0);

  add(bytes: Uint8Array): void {
    const joined = new Uint8Array(this.pending.length + bytes.length);
    joined.set(this.pending);
    joined.set(bytes, this.pending.length);
    this.pending = joined;
  }

  /** The next record of `size` bytes, when it is whole. */
  take(size: number): Uint8Array | null {
    if (this.pending.length < size) return null;
    const record = this.pending.slice(0, size);
    this.pending = this.pending.subarray(size);
    return record;
  }
}

/** Whole records from a socket pair the shim writes (the waiter's
 * notices), which can stop holding the event loop open. */
function socketRecordReader(fd: number): RecordReader & { hold(on: boolean): void } {
  const buffer = new RecordBuffer();
  let ended: Error | null = null;
  let wake: (() => void) | null = null;
  const socket = new SocketReader(
    fd,
    (bytes) => {
      buffer.add(bytes);
      wake?.();
    },
    (error) => {
      ended = error ?? new Error("faultline: the waiter closed its socket early");
      wake?.();
    },
  );
  return {
    async read(size) {
      for (;;) {
        const record = buffer.take(size);
        if (record) return record;
        if (ended) throw ended;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
    },
    async close() {
      socket.close();
    },
    hold(on) {
      socket.hold(on);
    },
  };
}

/** End this process the way a child ended: by the same signal. Returns only
 * if the signal did not end it. */
export function endWithSignal(signal: number): void {
  load().fl_end_with_signal(signal);
}

/** A close-on-exec copy of another process's descriptor (pidfd_getfd), or
 * a negative errno. */
export function takeDescriptor(pid: number, fd: number): number {
  return Number(load().fl_take_descriptor(pid, fd));
}

/** Take (and disarm here) this process's interval timers; null when none
 * was armed. */
export function takeIntervalTimers(): IntervalTimers | null {
  const bytes = new Uint8Array(INTERVAL_TIMERS * INTERVAL_TIMER.size);
  const armed = check("taking the interval timers", load().fl_take_interval_timers(ptr(bytes)));
  if (armed === 0) return null;
  const view = new DataView(bytes.buffer);
  const timer = (i: number) => {
    const field = (name: keyof typeof INTERVAL_TIMER.fields) => Number(view.getBigUint64(i * INTERVAL_TIMER.size + INTERVAL_TIMER.fields[name].offset, true));
    return {
      intervalMicros: field("interval_seconds") * 1_000_000 + field("interval_micros"),
      valueMicros: field("value_seconds") * 1_000_000 + field("value_micros"),
    };
  };
  return [timer(0), timer(1), timer(2)];
}

/** Relay the signals in `signals` (bit sig - 1) to the program once
 * relayTo names it (shim/loader/relay.c). */
export function startRelay(signals: bigint, underBunRun: boolean): void {
  check("starting the signal relay", load().fl_relay_start(signals, underBunRun ? 1 : 0));
}

export function relayTo(pid: number): void {
  check("relaying signals", load().fl_relay_target(pid));
}

/** A connected pair of stream sockets for a standard stream spawn() pipes,
 * as Bun.spawn makes one: [this process's end, the program's end], both
 * close-on-exec here. */
export function streamPair(): [ours: number, theirs: number] {
  const out = new BigInt64Array(2);
  check("making a socket pair", load().fl_stream_pair(ptr(out)));
  return [Number(out[0]), Number(out[1])];
}

/** The live event pipe: [read end, non-blocking write end]. */
export function eventPipe(): [read: number, write: number] {
  const out = new BigInt64Array(2);
  check("making the event pipe", load().fl_event_pipe(ptr(out)));
  return [Number(out[0]), Number(out[1])];
}

/** A memfd holding `bytes`, read from its start: a buffer given as a
 * program's standard input. */
export function stdinMemfd(bytes: Uint8Array): number {
  // ptr() refuses an empty array; any non-empty one will do for no bytes.
  const source = bytes.length === 0 ? new Uint8Array(1) : bytes;
  return check("making standard input's memfd", load().fl_stdin_memfd(ptr(source), bytes.length));
}

/** The pid of the process that becomes the program, from the loader's
 * hello (waiting for it, briefly, when it has not come yet); 0 when the
 * loader ended without one. */
export function loaderHello(control: number): number {
  return check("reading the loader's hello", load().fl_loader_hello(control));
}

/** A pidfd for a child not yet reaped, or a negative errno. */
export function pidfdOpen(pid: number): number {
  return Number(load().fl_pidfd_open(pid));
}

/** Send `signal` to the process a pidfd names: 0, or a negative errno
 * (-ESRCH: it has ended). */
export function pidfdSignal(pidfd: number, signal: number): number {
  return Number(load().fl_pidfd_signal(pidfd, signal));
}

/** How demand paging may use userfaultfd here: fully (faults inside
 * system calls served too, forks reported: CAP_SYS_PTRACE or
 * vm.unprivileged_userfaultfd=1), for the program's own accesses only
 * (UFFD_USER_MODE_ONLY: any user), or not at all. */
export type UserfaultfdAccess = "full" | "user-mode" | "none";
let userfaultfd: UserfaultfdAccess | null = null;
/** Asked of the kernel once. */
export function userfaultfdAccess(): UserfaultfdAccess {
  userfaultfd ??= (["none", "user-mode", "full"] as const)[Number(load().fl_userfaultfd_available())] ?? "none";
  return userfaultfd;
}
/** Whether demand paging may use userfaultfd here at all. */
export function userfaultfdAvailable(): boolean {
  return userfaultfdAccess() !== "none";
}

/** A program's memory held past its exit (shim/paging/pin.c, taken by the
 * waiter), for one look at its page tables once it has ended. */
export type MemoryPin = number & { readonly pinned: unique symbol };

/** Let the memory go. */
export function releaseMemory(pin: MemoryPin): void {
  check("releasing the program's memory", load().fl_pin_release(pin));
}

/** One client of the user's service (shim/loader/service.c), accepted and
 * checked to be this user's, with its hello read. */
export interface ServiceRequest {
  /** The connection: the control socket of the client's launch. */
  control: number;
  pid: number;
  uid: number;
  gid: number;
  /** The identity of the loader file the client runs. */
  loader: { device: bigint; inode: bigint; changeNs: bigint };
  /** The client's standard error, open here, or -1. */
  stderr: number;
  personality: number;
  /** Not a command: a program this service ran (this process, or its
   * parent) ran the loader again through /proc/self/exe. */
  again: boolean;
  /** Its RLIMIT_STACK (soft), null when unlimited. */
  stackLimit: number | null;
  /** Its effective capabilities, bit n for capability n. */
  capabilities: bigint;
  /** Its auxiliary vector as /proc/PID/auxv holds it. */
  auxv: Uint8Array;
}

/** Listen at path (the user's private directory); the socket. */
export function serviceListen(path: string): number {
  return check(`listening on ${path}`, load().fl_service_listen(ptr(cString(path))));
}

/**
 * The clients that connect to listener, as they come, read without
 * blocking Bun's event loop; ends when the listener is closed. With
 * holdsProcess false, waiting for them keeps nothing alive.
 */
export async function* serviceRequests(listener: number, holdsProcess = true): AsyncGenerator<ServiceRequest> {
  const shim = load();
  const fd = check("accepting the service's clients", shim.fl_service_accept(listener));
  const records = socketRecordReader(fd);
  // A listener beside a script's own work must not keep it from exiting.
  records.hold(holdsProcess);
  try {
    for (;;) {
      let bytes: Uint8Array;
      try {
        bytes = await records.read(SERVICE_REQUEST.size);
      } catch {
        return;
      }
      yield serviceRequestOf(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  } finally {
    await records.close();
  }
}

/** A request as struct fl_service_request lays it out (contract.h), field
 * by field. */
function serviceRequestOf(view: DataView): ServiceRequest {
  const field = SERVICE_REQUEST.fields;
  const word = (name: keyof typeof field) => view.getBigUint64(field[name].offset, true);
  const signed = (name: keyof typeof field) => view.getBigInt64(field[name].offset, true);
  const auxvBytes = Number(word("auxv_words")) * 8;
  return {
    control: Number(word("control")),
    pid: Number(word("pid")),
    uid: Number(word("uid")),
    gid: Number(word("gid")),
    loader: { device: word("loader_device"), inode: word("loader_inode"), changeNs: word("loader_change_ns") },
    stderr: Number(signed("stderr_fd")),
    personality: Number(word("personality")),
    again: word("again") !== 0n,
    stackLimit: signed("stack_limit") === -1n ? null : Number(word("stack_limit")),
    capabilities: word("capabilities"),
    auxv: new Uint8Array(view.buffer.slice(view.byteOffset + field.auxv.offset, view.byteOffset + field.auxv.offset + auxvBytes)),
  };
}

/** A client's answer in place of a plan (shim/launch.h). */
const CLIENT_VERDICTS = { plain: 1, retry: 2, exit: 3 } as const;

/** Answer a client: take the plain path, retry with a new service, or exit
 * with status (after this service said why). False when it is gone. */
export function answerClient(control: number, verdict: keyof typeof CLIENT_VERDICTS, status = 0): boolean {
  return Number(load().fl_service_answer(control, CLIENT_VERDICTS[verdict], status)) === 0;
}

/** Stop accepting on listener: the clients' generator ends (the socket is
 * the caller's to close after that). */
export function serviceShutdown(listener: number): void {
  check("closing the service's socket", load().fl_service_shutdown(listener));
}

/** A close-on-exec copy of fd. */
export function duplicateDescriptor(fd: number): number {
  return check("copying a descriptor", load().fl_duplicate(fd));
}

/** Whether the process pidfd names has not ended. */
export function pidfdAlive(pidfd: number): boolean {
  return check("watching a process", load().fl_pidfd_alive(pidfd)) === 1;
}
