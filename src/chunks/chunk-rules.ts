/**
 * Lazy copy's rules that need no memory to check: which chunk sizes and
 * ranges are valid, and what a refusal from the kernel means. Pure, so the
 * unit tests can state them exactly (test/unit/chunk-rules.test.ts).
 */

/** The handout's chunk: 64 KiB. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Chunks are made of whole pages (x86-64). */
export const CHUNK_PAGE_SIZE = 4096;
/** The shim's bound (shim/chunks/chunk.c, CHUNK_MAX_BYTES): 1 TiB. */
export const MAX_CHUNK_SIZE = 2 ** 40;

/** What a write to a shared chunk gives its own memory: the whole chunk
 * (the handout's) or only the page written. */
export type SplitGranularity = "chunk" | "page";
export const SPLIT_GRANULARITIES: readonly SplitGranularity[] = ["chunk", "page"];

/** Why `size` cannot be a chunk's size, or null if it can. */
export function chunkSizeProblem(size: unknown): string | null {
  if (typeof size !== "number" || !Number.isSafeInteger(size)) return `size must be an integer number of bytes, not ${String(size)}`;
  if (size <= 0) return `size must be positive, not ${size}`;
  if (size % CHUNK_PAGE_SIZE !== 0) return `size must be a multiple of the page size (${CHUNK_PAGE_SIZE}), not ${size}`;
  if (size > MAX_CHUNK_SIZE) return `size must be at most ${MAX_CHUNK_SIZE} bytes (1 TiB), not ${size}`;
  return null;
}

/** Why `split` is not a granularity, or null. */
export function splitProblem(split: unknown): string | null {
  return SPLIT_GRANULARITIES.includes(split as SplitGranularity) ? null : `split must be "chunk" or "page", not ${JSON.stringify(split)}`;
}

/** Why [offset, offset + length) is not a range of a chunk of `size`
 * bytes, or null. */
export function rangeProblem(size: number, offset: unknown, length: unknown): string | null {
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) return `offset must be a non-negative integer, not ${String(offset)}`;
  if (typeof length !== "number" || !Number.isSafeInteger(length) || length < 0) return `length must be a non-negative integer, not ${String(length)}`;
  if (offset > size || length > size - offset) return `range ${offset}+${length} is outside the chunk's ${size} bytes`;
  return null;
}

/** Which limit a refusal ran into. */
export type ChunkLimit = "vm.max_map_count" | "memory";

/** The mappings census taken when the kernel said ENOMEM. */
export interface MappingCensus {
  mappings: number;
  limit: number;
  chunkMappings: number;
}

/** Mappings left below vm.max_map_count under which an ENOMEM is taken
 * for the mapping limit rather than for memory: the shim keeps 1024 free
 * (shim/chunks/chunk.c, API_MAP_RESERVE), the kernel refuses mremap with fewer
 * than 6 free. */
export const MAPPING_LIMIT_MARGIN = 1024;

/** ENOMEM means either; the census tells which. */
export function classifyRefusal(mapLimitReported: boolean, census: MappingCensus): ChunkLimit {
  if (mapLimitReported) return "vm.max_map_count";
  if (census.limit > 0 && census.mappings >= 0 && census.mappings + MAPPING_LIMIT_MARGIN >= census.limit) return "vm.max_map_count";
  return "memory";
}

/** One line saying what was refused and what to do about it. */
export function limitMessage(operation: string, limit: ChunkLimit, census: MappingCensus, bytes: number): string {
  if (limit === "vm.max_map_count") {
    return (
      `${operation}: too many memory mappings: this process has ${census.mappings} of vm.max_map_count ${census.limit} ` +
      `(chunks hold about ${census.chunkMappings}); free chunks or raise vm.max_map_count`
    );
  }
  return `${operation}: out of memory: the kernel refused ${bytes} bytes of shared memory (ENOMEM)`;
}
