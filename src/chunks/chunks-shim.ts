/**
 * The lazy-copy half of the shim (shim/chunks/chunk.c), through bun:ffi. Every
 * call returns a chunk record's address or a negative errno; records are
 * read with bun:ffi's `read`, at offsets the shim reports, so a stale build
 * can never be misread.
 */
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";
import { ensureShim } from "../shim/shim-build.ts";

const symbols = {
  fl_chunk_alloc: { args: [FFIType.u64, FFIType.u64], returns: FFIType.i64_fast },
  fl_chunk_copy_lazy: { args: [FFIType.u64, FFIType.u64], returns: FFIType.i64_fast },
  fl_chunk_copy_eager: { args: [FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i64_fast },
  fl_chunk_free: { args: [FFIType.u64, FFIType.u64], returns: FFIType.i64_fast },
  fl_chunk_make_writable: { args: [FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i64_fast },
  fl_chunk_attach: { args: [FFIType.u64, FFIType.u64], returns: FFIType.i64_fast },
  fl_chunk_deallocator: { args: [], returns: FFIType.u64_fast },
  fl_chunk_layout: { args: [FFIType.ptr], returns: FFIType.void },
  fl_chunk_stats: { args: [FFIType.ptr], returns: FFIType.void },
  fl_chunk_map_census: { args: [FFIType.ptr], returns: FFIType.void },
} as const;

/** Not an errno: the shim refused because the process is near
 * vm.max_map_count (shim/chunks/chunk.h, FL_EMAPLIMIT). */
export const EMAPLIMIT = 4200;
export const EBADF = 9;
export const ENOMEM = 12;
export const EINVAL = 22;

/** The split granularities, as the shim numbers them (enum fl_split). */
export const SPLIT_CODES = { chunk: 0, page: 1 } as const;

type Symbols = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

interface Bound {
  fn: Symbols;
  /** Offsets of a record's id, start and size (struct fl_chunk). */
  idOffset: number;
  startOffset: number;
  sizeOffset: number;
  deallocator: number;
}

let bound: Bound | null = null;

function bind(): Bound {
  if (bound) return bound;
  const fn = dlopen(ensureShim(), symbols).symbols;
  const layout = new BigUint64Array(4);
  fn.fl_chunk_layout(ptr(layout));
  bound = {
    fn,
    idOffset: Number(layout[1]),
    startOffset: Number(layout[2]),
    sizeOffset: Number(layout[3]),
    deallocator: Number(fn.fl_chunk_deallocator()),
  };
  return bound;
}

/** A chunk record as the shim returned it: where it lives, and the id that
 * tells it from a later chunk reusing the record. */
export interface ChunkRecord {
  record: number;
  id: number;
  address: number;
  size: number;
}

/** A shim result: the record, or the negative errno as a positive number
 * in `error`. */
export type ShimOutcome = { record: ChunkRecord } | { error: number };

function outcome(result: number | bigint): ShimOutcome {
  const value = Number(result);
  if (value < 0) return { error: -value };
  const { idOffset, startOffset, sizeOffset } = bind();
  const at = value as Pointer;
  return { record: { record: value, id: read.ptr(at, idOffset), address: read.ptr(at, startOffset), size: read.ptr(at, sizeOffset) } };
}

function status(result: number | bigint): number {
  const value = Number(result);
  return value < 0 ? -value : 0;
}

export function shimAlloc(size: number, split: number): ShimOutcome {
  return outcome(bind().fn.fl_chunk_alloc(size, split));
}

export function shimCopyLazy(source: ChunkRecord): ShimOutcome {
  return outcome(bind().fn.fl_chunk_copy_lazy(source.record, source.id));
}

export function shimCopyEager(source: ChunkRecord, split: number): ShimOutcome {
  return outcome(bind().fn.fl_chunk_copy_eager(source.record, source.id, split));
}

/** 0, or the errno (EBADF: no longer live). */
export function shimFree(chunk: ChunkRecord): number {
  return status(bind().fn.fl_chunk_free(chunk.record, chunk.id));
}

export function shimMakeWritable(chunk: ChunkRecord, offset: number, length: number): number {
  return status(bind().fn.fl_chunk_make_writable(chunk.record, chunk.id, offset, length));
}

export function shimAttach(address: number, id: number): ShimOutcome {
  return outcome(bind().fn.fl_chunk_attach(address, id));
}

/** The C function JavaScriptCore calls when a view's ArrayBuffer goes. */
export function viewDeallocator(): number {
  return bind().deallocator;
}

/** What the lazy-copy fault handler has done, since the process started. */
export interface ChunkStats {
  /** Write faults the handler resolved. */
  faults: number;
  /** Units given memory of their own (by faults and makeWritable). */
  splits: number;
  /** Units made writable where they were: their last sharer wrote. */
  inPlace: number;
  /** Bytes splits copied. */
  bytesCopied: number;
  /** Page splits done for the whole chunk near vm.max_map_count. */
  wholeFallbacks: number;
}

export function shimStats(): ChunkStats {
  const out = new BigUint64Array(5);
  bind().fn.fl_chunk_stats(ptr(out));
  return {
    faults: Number(out[0]),
    splits: Number(out[1]),
    inPlace: Number(out[2]),
    bytesCopied: Number(out[3]),
    wholeFallbacks: Number(out[4]),
  };
}

interface MapCensus {
  /** Mappings the process has (negative errno if unreadable). */
  mappings: number;
  /** vm.max_map_count (negative errno if unreadable). */
  limit: number;
  /** The shim's estimate of the mappings chunks hold. */
  chunkMappings: number;
}

export function shimMapCensus(): MapCensus {
  const out = new BigInt64Array(3);
  bind().fn.fl_chunk_map_census(ptr(out));
  return { mappings: Number(out[0]), limit: Number(out[1]), chunkMappings: Number(out[2]) };
}
