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
const SPLIT_GRANULARITIES: readonly SplitGranularity[] = ["chunk", "page"];

/** Why an argument is refused, and the built-in error that says so, as
 * JavaScript's own functions and Node's have it: a TypeError for the wrong
 * kind of value, a RangeError for a value of the right kind out of range. */
export interface ArgumentProblem {
  error: "TypeError" | "RangeError";
  text: string;
}

const wrongType = (text: string): ArgumentProblem => ({ error: "TypeError", text });
const outOfRange = (text: string): ArgumentProblem => ({ error: "RangeError", text });

/** Why `size` cannot be a chunk's size, or null if it can. */
export function chunkSizeProblem(size: unknown): ArgumentProblem | null {
  if (typeof size !== "number") return wrongType(`size must be a number of bytes, not ${typeof size === "string" ? JSON.stringify(size) : String(size)}`);
  if (!Number.isSafeInteger(size)) return outOfRange(`size must be an integer number of bytes, not ${size}`);
  if (size <= 0) return outOfRange(`size must be positive, not ${size}`);
  if (size % CHUNK_PAGE_SIZE !== 0) return outOfRange(`size must be a multiple of the page size (${CHUNK_PAGE_SIZE}), not ${size}`);
  if (size > MAX_CHUNK_SIZE) return outOfRange(`size must be at most ${MAX_CHUNK_SIZE} bytes (1 TiB), not ${size}`);
  return null;
}

/** Why `split` is not a granularity, or null. */
export function splitProblem(split: unknown): ArgumentProblem | null {
  return SPLIT_GRANULARITIES.includes(split as SplitGranularity) ? null : wrongType(`split must be "chunk" or "page", not ${JSON.stringify(split)}`);
}

/** Why `value` is not a non-negative integer named `name`, or null. */
function countProblem(value: unknown, name: string): ArgumentProblem | null {
  if (typeof value !== "number") return wrongType(`${name} must be a number, not ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  if (!Number.isSafeInteger(value) || value < 0) return outOfRange(`${name} must be a non-negative integer, not ${value}`);
  return null;
}

/** Why [offset, offset + length) is not a range of a chunk of `size`
 * bytes, or null. */
export function rangeProblem(size: number, offset: unknown, length: unknown): ArgumentProblem | null {
  const problem = countProblem(offset, "offset") ?? countProblem(length, "length");
  if (problem) return problem;
  if ((offset as number) > size || (length as number) > size - (offset as number)) return outOfRange(`range ${offset}+${length} is outside the chunk's ${size} bytes`);
  return null;
}

/** Which limit a refusal ran into. */
export type ChunkLimit = "vm.max_map_count" | "memory";

/** The mappings census taken when the kernel said ENOMEM. */
interface MappingCensus {
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
