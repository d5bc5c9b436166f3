/**
 * Lazy copy for Bun programs: copy-on-write chunks of memory.
 *
 *   import { allocChunk, copyLazy, freeChunk } from "faultline";
 *   const a = allocChunk();          // 64 KiB, zero-filled, a Uint8Array
 *   a.fill(7);
 *   const b = copyLazy(a);           // shares a's memory until either side writes
 *   b[0] = 1;                        // b gets its own memory; a still reads 7
 *   freeChunk(b);
 *
 * A chunk is a Uint8Array over shared memory the shim maps. The shim's
 * handler (shim/chunks/chunk-fault.c) resolves the first write to a shared chunk;
 * this module keeps the JavaScript side honest: it knows which arrays are
 * live chunks (and refuses anything else, freed chunks included), detaches
 * a chunk's ArrayBuffer when it is freed so the stale array reads nothing
 * (length 0), and turns the shim's refusals into exceptions.
 */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import {
  classifyRefusal,
  chunkSizeProblem,
  DEFAULT_CHUNK_SIZE,
  limitMessage,
  rangeProblem,
  splitProblem,
  type ChunkLimit,
  type SplitGranularity,
  type ArgumentProblem,
} from "./chunk-rules.ts";
import {
  EBADF,
  EINVAL,
  EMAPLIMIT,
  ENOMEM,
  shimAlloc,
  shimAttach,
  shimCopyEager,
  shimCopyLazy,
  shimFree,
  shimMakeWritable,
  shimMapCensus,
  shimStats,
  SPLIT_CODES,
  viewDeallocator,
  type ChunkRecord,
  type ChunkStats,
  type ShimOutcome,
} from "./chunks-shim.ts";
import { errnoName } from "../shim/shim.ts";

export type { SplitGranularity, ChunkLimit } from "./chunk-rules.ts";
export type { ChunkStats } from "./chunks-shim.ts";
export { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, CHUNK_PAGE_SIZE } from "./chunk-rules.ts";

/** A chunk: a Uint8Array over shim memory. */
export type Chunk = Uint8Array<ArrayBuffer>;

/** How a chunk or eager copy splits when written (see SplitGranularity). */
export interface ChunkOptions {
  /** What a write to a shared chunk gives its own memory: "chunk" (the
   * whole chunk, the default) or "page" (only the page written). Copies
   * split like their source unless an eager copy says otherwise. */
  split?: SplitGranularity;
}

/** A chunk as plain data, to open it in a Worker with attachChunk(). */
export interface ChunkHandle {
  id: number;
  address: number;
  size: number;
  split: SplitGranularity;
}

/** Misuse of chunks: an array that is no live chunk (freed, or never
 * one). Arguments of the wrong kind are TypeErrors, out of range
 * RangeErrors, as elsewhere. */
export class ChunkError extends Error {
  override name = "ChunkError";
}

/** A limit of the process or the machine: too many memory mappings
 * (vm.max_map_count) or not enough memory. */
export class ChunkLimitError extends Error {
  override name = "ChunkLimitError";
  constructor(
    message: string,
    readonly limit: ChunkLimit,
  ) {
    super(message);
  }
}

interface ChunkEntry extends ChunkRecord {
  split: SplitGranularity;
}

/** The live chunks this thread made or attached, by their arrays. */
const live = new WeakMap<Uint8Array, ChunkEntry>();

/** The error for an argument a rule refused: `operation: why`. */
function argumentError(operation: string, problem: ArgumentProblem): TypeError | RangeError {
  const message = `${operation}: ${problem.text}`;
  return problem.error === "TypeError" ? new TypeError(message) : new RangeError(message);
}

function entryOf(chunk: unknown, operation: string): ChunkEntry {
  // Not an array at all: the wrong kind of argument. An array that is no
  // live chunk (freed, or never one) is misuse of chunks: a ChunkError.
  if (!(chunk instanceof Uint8Array)) throw new TypeError(`${operation}: the chunk must be a Uint8Array made by allocChunk, copyEager, copyLazy or attachChunk, not ${chunk === null ? "null" : typeof chunk}`);
  const entry = live.get(chunk);
  if (!entry) throw new ChunkError(`${operation}: not a live chunk (freed, or not made by allocChunk/copyEager/copyLazy/attachChunk)`);
  return entry;
}

function refused(operation: string, error: number, bytes: number): Error {
  if (error === EMAPLIMIT || error === ENOMEM) {
    const census = shimMapCensus();
    const limit = classifyRefusal(error === EMAPLIMIT, census);
    return new ChunkLimitError(limitMessage(operation, limit, census, bytes), limit);
  }
  if (error === EBADF) return new ChunkError(`${operation}: the chunk has been freed`);
  return new ChunkError(`${operation} failed: ${errnoName(error)}`);
}

/** bun:ffi's toArrayBuffer also takes a context and a C function
 * `void (*)(void *bytes, void *context)` that JavaScriptCore calls when the
 * ArrayBuffer is collected or detached (Bun's FFIObject.toArrayBuffer);
 * bun-types declares only the first three arguments. */
const toArrayBufferWithDeallocator = toArrayBuffer as unknown as (address: Pointer, offset: number, length: number, context: number, deallocator: number) => ArrayBuffer;

/** The Uint8Array over a record the shim counted one view for. */
function view(record: ChunkRecord, split: SplitGranularity): Chunk {
  const buffer = toArrayBufferWithDeallocator(record.address as Pointer, 0, record.size, record.record, viewDeallocator());
  const chunk = new Uint8Array(buffer);
  live.set(chunk, { record: record.record, id: record.id, address: record.address, size: record.size, split });
  return chunk;
}

/** Arrays attachChunk made in this thread, by chunk id, to detach when
 * the chunk is freed here. */
const attached = new Map<number, WeakRef<Chunk>[]>();

function made(operation: string, result: ShimOutcome, bytes: number, split: SplitGranularity): Chunk {
  if ("error" in result) throw refused(operation, result.error, bytes);
  return view(result.record, split);
}

/** A new chunk of `size` bytes (a multiple of 4096; 64 KiB by default),
 * zero-filled and writable. */
export function allocChunk(size: number = DEFAULT_CHUNK_SIZE, options: ChunkOptions = {}): Chunk {
  const split = options.split ?? "chunk";
  const problem = chunkSizeProblem(size) ?? splitProblem(split);
  if (problem) throw argumentError("allocChunk", problem);
  return made("allocChunk", shimAlloc(size, SPLIT_CODES[split]), size, split);
}

/** A copy made now: new memory holding the chunk's bytes. */
export function copyEager(chunk: Chunk, options: ChunkOptions = {}): Chunk {
  const source = entryOf(chunk, "copyEager");
  const split = options.split ?? source.split;
  const problem = splitProblem(split);
  if (problem) throw argumentError("copyEager", problem);
  return made("copyEager", shimCopyEager(source, SPLIT_CODES[split]), source.size, split);
}

/** A copy that shares the chunk's memory until either side is written:
 * both become read-only, and the first write to one of them (at any offset)
 * gives the written side memory of its own with the same bytes. */
export function copyLazy(chunk: Chunk): Chunk {
  const source = entryOf(chunk, "copyLazy");
  return made("copyLazy", shimCopyLazy(source), source.size, source.split);
}

/**
 * Free a chunk or copy, returning its memory. The array passed (and those
 * attachChunk made in this thread for the same chunk) is detached: it reads
 * as empty from now on, and every function here refuses it. Any other
 * array over the chunk (another thread's) must not be used afterwards: the
 * range stays reserved until that array is collected, and an access ends
 * the process with a message instead of reaching memory reused since.
 */
export function freeChunk(chunk: Chunk): void {
  const entry = entryOf(chunk, "freeChunk");
  const arrays = [chunk, ...(attached.get(entry.id) ?? []).map((ref) => ref.deref())];
  attached.delete(entry.id);
  // Detaching runs the shim's deallocator: the chunk's last view gone
  // frees it there, so the call below usually finds it freed already.
  for (const array of arrays) {
    if (!array || !live.delete(array)) continue;
    array.buffer.transfer(0);
  }
  const error = shimFree(entry);
  if (error !== 0 && error !== EBADF) throw refused("freeChunk", error, entry.size);
}

/**
 * Give up this array over a chunk without freeing the chunk: the array is
 * detached (reads as empty), and the chunk lives on through its other
 * arrays. A Worker done with a chunk it attached calls this; the chunk is
 * freed when its last array is freed, detached or collected.
 */
export function detachChunk(chunk: Chunk): void {
  const entry = entryOf(chunk, "detachChunk");
  live.delete(chunk);
  const refs = attached.get(entry.id)?.filter((ref) => ref.deref() !== chunk && ref.deref() !== undefined);
  if (refs && refs.length > 0) attached.set(entry.id, refs);
  else attached.delete(entry.id);
  chunk.buffer.transfer(0);
}

/**
 * Give [offset, offset + length) of the chunk memory of its own now, so the
 * kernel may write there. The kernel does not fault on its own accesses: a
 * system call writing into a chunk still shared (read(2) into it, say)
 * fails with EFAULT instead of splitting it. Call this first.
 */
export function makeWritable(chunk: Chunk, offset = 0, length: number = chunk.length - offset): void {
  const entry = entryOf(chunk, "makeWritable");
  const problem = rangeProblem(entry.size, offset, length);
  if (problem) throw argumentError("makeWritable", problem);
  const error = shimMakeWritable(entry, offset, length);
  if (error === EINVAL) throw new RangeError(`makeWritable: range ${offset}+${length} is outside the chunk`);
  if (error !== 0) throw refused("makeWritable", error, length);
}

/** Plain data naming a live chunk, to pass to a Worker. The handle does not
 * keep the chunk alive: keep an array over it until the Worker attached. */
export function chunkHandle(chunk: Chunk): ChunkHandle {
  const entry = entryOf(chunk, "chunkHandle");
  return { id: entry.id, address: entry.address, size: entry.size, split: entry.split };
}

/** An array over the chunk a handle names, in this thread (a Worker's). */
export function attachChunk(handle: ChunkHandle): Chunk {
  const result = shimAttach(handle.address, handle.id);
  if ("error" in result) throw new ChunkError("attachChunk: the chunk has been freed");
  const chunk = view(result.record, handle.split);
  const refs = attached.get(handle.id);
  if (refs) refs.push(new WeakRef(chunk));
  else attached.set(handle.id, [new WeakRef(chunk)]);
  return chunk;
}

/** Is this array a live chunk of this thread's? */
export function isChunk(value: unknown): boolean {
  return value instanceof Uint8Array && live.has(value);
}

/** What the fault handler has done so far in this process. */
export function chunkStats(): ChunkStats {
  return shimStats();
}
