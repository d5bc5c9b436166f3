import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseAuxv, programAuxv } from "../../src/loader/auxv.ts";
import { AT_BASE, AT_ENTRY, AT_EXECFD, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_SECURE, AT_SYSINFO_EHDR } from "../../src/loader/stack.ts";

describe("auxiliary vector", () => {
  test("parses this process's own vector from /proc/self/auxv", () => {
    const entries = parseAuxv(readFileSync("/proc/self/auxv"));
    const map = new Map(entries);
    expect(map.get(AT_PAGESZ)).toBe(4096n);
    expect(map.get(AT_PHENT)).toBe(56n);
    expect(map.has(AT_SYSINFO_EHDR)).toBe(true);
    expect(entries.every(([type]) => type !== 0)).toBe(true);
  });

  test("replaces the per-program entries in place and keeps the rest in the kernel's order", () => {
    const template = [
      [AT_SYSINFO_EHDR, 0x7fff0000n],
      [AT_PAGESZ, 4096n],
      [AT_PHDR, 0x200040n],
      [AT_PHENT, 56n],
      [AT_PHNUM, 13n],
      [AT_BASE, 0x7f00n],
      [AT_ENTRY, 0x1234n],
      [AT_SECURE, 1n],
      [AT_EXECFD, 3n],
    ] as const;
    const result = programAuxv(template, { programHeaders: 0x400040, programHeaderCount: 5, interpreterBase: 0, programEntry: 0x401000, vdso: null });
    const map = new Map(result);
    expect(result.slice(0, 7).map(([t]) => t)).toEqual([AT_SYSINFO_EHDR, AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_BASE, AT_ENTRY]);
    expect(map.get(AT_SYSINFO_EHDR)).toBe(0x7fff0000n);
    expect(map.get(AT_PHDR)).toBe(0x400040n);
    expect(map.get(AT_PHNUM)).toBe(5n);
    expect(map.get(AT_BASE)).toBe(0n);
    expect(map.get(AT_ENTRY)).toBe(0x401000n);
    expect(map.get(AT_SECURE)).toBe(0n);
    expect(map.has(AT_EXECFD)).toBe(false);
  });
});
