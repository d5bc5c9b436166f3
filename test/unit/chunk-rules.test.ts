import { describe, expect, test } from "bun:test";
import { chunkSizeProblem, classifyRefusal, limitMessage, MAPPING_LIMIT_MARGIN, rangeProblem, splitProblem } from "../../src/chunks/chunk-rules.ts";

describe("chunk sizes", () => {
  test("any positive multiple of the page size up to 1 TiB", () => {
    for (const size of [4096, 8192, 65536, 3 * 4096, 1 << 30, 2 ** 40]) expect(chunkSizeProblem(size)).toBeNull();
  });

  test("anything else, with the reason", () => {
    expect(chunkSizeProblem(0)).toEqual({ error: "RangeError", text: "size must be positive, not 0" });
    expect(chunkSizeProblem(-4096)).toEqual({ error: "RangeError", text: "size must be positive, not -4096" });
    expect(chunkSizeProblem(4097)).toEqual({ error: "RangeError", text: "size must be a multiple of the page size (4096), not 4097" });
    expect(chunkSizeProblem(2 ** 40 + 4096)).toEqual({ error: "RangeError", text: `size must be at most ${2 ** 40} bytes (1 TiB), not ${2 ** 40 + 4096}` });
    expect(chunkSizeProblem(4096.5)).toEqual({ error: "RangeError", text: "size must be an integer number of bytes, not 4096.5" });
    expect(chunkSizeProblem("4096")).toEqual({ error: "TypeError", text: 'size must be a number of bytes, not "4096"' });
  });
});

test("split granularities", () => {
  expect(splitProblem("chunk")).toBeNull();
  expect(splitProblem("page")).toBeNull();
  expect(splitProblem("byte")).toEqual({ error: "TypeError", text: 'split must be "chunk" or "page", not "byte"' });
});

test("ranges inside a chunk", () => {
  expect(rangeProblem(8192, 0, 8192)).toBeNull();
  expect(rangeProblem(8192, 8192, 0)).toBeNull();
  expect(rangeProblem(8192, 4096, 4097)).toEqual({ error: "RangeError", text: "range 4096+4097 is outside the chunk's 8192 bytes" });
  expect(rangeProblem(8192, -1, 1)).toEqual({ error: "RangeError", text: "offset must be a non-negative integer, not -1" });
  expect(rangeProblem(8192, "1", 1)).toEqual({ error: "TypeError", text: 'offset must be a number, not "1"' });
  expect(rangeProblem(8192, 0, 1.5)).toEqual({ error: "RangeError", text: "length must be a non-negative integer, not 1.5" });
});

describe("what an ENOMEM means", () => {
  const census = (mappings: number) => ({ mappings, limit: 65530, chunkMappings: mappings - 300 });

  test("the shim's own refusal is always the mapping limit", () => {
    expect(classifyRefusal(true, census(100))).toBe("vm.max_map_count");
  });

  test("the kernel's, by how close the process is to vm.max_map_count", () => {
    expect(classifyRefusal(false, census(65530 - MAPPING_LIMIT_MARGIN))).toBe("vm.max_map_count");
    expect(classifyRefusal(false, census(65530 - MAPPING_LIMIT_MARGIN - 1))).toBe("memory");
    expect(classifyRefusal(false, { mappings: -2, limit: -2, chunkMappings: 0 })).toBe("memory");
  });

  test("one line each, saying what to do", () => {
    expect(limitMessage("copyLazy", "vm.max_map_count", census(65000), 65536)).toBe(
      "copyLazy: too many memory mappings: this process has 65000 of vm.max_map_count 65530 (chunks hold about 64700); free chunks or raise vm.max_map_count",
    );
    expect(limitMessage("allocChunk", "memory", census(400), 1 << 30)).toBe("allocChunk: out of memory: the kernel refused 1073741824 bytes of shared memory (ENOMEM)");
  });
});
