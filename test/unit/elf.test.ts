import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { headBytesNeeded, parseElf, programHeaderAddress } from "../../src/elf.ts";
import { LoadError } from "../../src/errors.ts";
import { PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, craftElf, tinyProgram, type CraftedSegment } from "../support/craft.ts";

const load = (over: Partial<CraftedSegment> = {}): CraftedSegment => ({
  type: PT_LOAD,
  flags: PF_R | PF_X,
  offset: 0,
  vaddr: 0x400000,
  filesz: 0x200,
  memsz: 0x200,
  align: 0x1000,
  ...over,
});

function refusal(bytes: Buffer, role: "program" | "interpreter" = "program"): LoadError {
  try {
    parseElf("crafted", bytes, bytes.length, role);
  } catch (error) {
    if (error instanceof LoadError) return error;
    throw error;
  }
  throw new Error("parseElf accepted the file");
}

describe("parseElf accepts", () => {
  test("a section-less static executable", () => {
    const image = parseElf("tiny", tinyProgram(7));
    expect(image.type).toBe("exec");
    expect(image.entry).toBe(0x400100);
    expect(image.segments).toHaveLength(1);
    expect(image.segments[0]).toMatchObject({ vaddr: 0x400000, offset: 0, flags: PF_R | PF_X });
    expect(image.interpreter).toBeNull();
    expect(image.stackFlags).toBe(PF_R | PF_W);
  });

  test("a dynamic system program, naming its interpreter", () => {
    const bytes = readFileSync("/bin/ls");
    const image = parseElf("/bin/ls", bytes);
    expect(image.type).toBe("dyn");
    expect(image.interpreter).toMatch(/ld-linux-x86-64\.so\.2$/);
    expect(image.segments.length).toBeGreaterThan(1);
    for (let i = 1; i < image.segments.length; i++) expect(image.segments[i]!.vaddr).toBeGreaterThan(image.segments[i - 1]!.vaddr);
  });

  test("the dynamic loader itself, which has no interpreter", () => {
    const path = parseElf("/bin/ls", readFileSync("/bin/ls")).interpreter!;
    const image = parseElf(path, readFileSync(path), undefined, "interpreter");
    expect(image.interpreter).toBeNull();
    expect(image.type).toBe("dyn");
  });

  test("AT_PHDR comes from the PT_LOAD whose file bytes hold the program headers", () => {
    const image = parseElf("tiny", tinyProgram(0));
    expect(programHeaderAddress(image)).toBe(0x400000 + 64);
    const elsewhere = craftElf({
      entry: 0x400000,
      segments: [load({ offset: 0x1000, vaddr: 0x401000, filesz: 0x10, memsz: 0x10 })],
      size: 0x1010,
    });
    expect(programHeaderAddress(parseElf("x", elsewhere))).toBe(0);
  });
});

describe("parseElf refuses, saying why", () => {
  const cases: Array<[string, () => Buffer, RegExp, string?]> = [
    ["an empty file", () => Buffer.alloc(0), /not an ELF file/],
    ["a text file", () => Buffer.from("hello world, this is not a program at all........................"), /not an ELF file/],
    ["a truncated header", () => tinyProgram(0).subarray(0, 40), /truncated ELF header/],
    ["a 32-bit ELF", () => craftElf({ elfClass: 1, segments: [load()] }), /32-bit/],
    ["a big-endian ELF", () => craftElf({ data: 2, segments: [load()] }), /big-endian/],
    ["an aarch64 ELF", () => craftElf({ machine: 183, segments: [load()] }), /machine 183.*not x86-64/],
    ["a relocatable object", () => craftElf({ type: 1, segments: [load()] }), /ELF type rel is not an executable/],
    ["a core dump", () => craftElf({ type: 4, segments: [load()] }), /ELF type core is not an executable/],
    ["wrong e_phentsize", () => craftElf({ phentsize: 32, segments: [load()] }), /entries are 32 bytes, not 56/],
    ["no program headers", () => craftElf({ segments: [], phnum: 0 }), /no program headers/],
    ["absurdly many program headers", () => craftElf({ segments: [load()], phnum: 0xffff }), /exceed the kernel's one-page limit/],
    ["program headers past the end", () => craftElf({ segments: [load()], phoff: 0x10000, size: 0x200 }), /program headers .* past the end of the file/],
    ["p_filesz > p_memsz", () => craftElf({ segments: [load({ filesz: 0x200, memsz: 0x100 })] }), /file size 0x200 exceeds memory size 0x100/],
    ["p_offset not congruent to p_vaddr", () => craftElf({ segments: [load({ offset: 0x10 })], size: 0x1000 }), /differ modulo the page size/],
    ["p_align not a power of two", () => craftElf({ segments: [load({ align: 0x3000 })] }), /alignment 0x3000 is not a power of two/],
    [
      "unsorted loads",
      () => craftElf({ segments: [load({ vaddr: 0x600000 }), load({ vaddr: 0x400000 })] }),
      /out of order: 0x400000 after 0x600000/,
    ],
    [
      "overlapping loads",
      () => craftElf({ segments: [load({ memsz: 0x3000 }), load({ vaddr: 0x401000 })] }),
      /overlap: 0x401000 inside 0x400000\+0x3000/,
    ],
    ["a segment beyond user space", () => craftElf({ segments: [load({ vaddr: 0x7ffffffff000, memsz: 0x2000, filesz: 0 })] }), /beyond the user address space/],
    ["a segment wrapping the address space", () => craftElf({ segments: [load({ vaddr: 0xfffffffffffff000, filesz: 0, memsz: 0x2000 })] }), /beyond the user address space/],
    ["file bytes past the end", () => craftElf({ segments: [load({ filesz: 0x5000, memsz: 0x5000 })], size: 0x1000 }), /file bytes 0x0\+0x5000 lie past the end/],
    ["no PT_LOAD", () => craftElf({ segments: [{ type: PT_GNU_STACK, flags: PF_R | PF_W, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 }] }), /no PT_LOAD/],
    [
      "two PT_INTERP",
      () => {
        const path = new TextEncoder().encode("/lib/ld.so\0");
        const interp = { type: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0, filesz: path.length, memsz: path.length, align: 1 };
        return craftElf({ segments: [interp, interp, load()], contents: [{ offset: 0x200, bytes: path }] });
      },
      /more than one PT_INTERP/,
    ],
    [
      "a PT_INTERP without its NUL",
      () => {
        const path = new TextEncoder().encode("/lib/ld.so");
        return craftElf({
          segments: [{ type: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0, filesz: path.length, memsz: path.length, align: 1 }, load()],
          contents: [{ offset: 0x200, bytes: path }],
        });
      },
      /not NUL-terminated/,
    ],
    [
      "a PT_INTERP past the end",
      () => craftElf({ segments: [{ type: PT_INTERP, flags: PF_R, offset: 0x2000, vaddr: 0, filesz: 12, memsz: 12, align: 1 }, load()], size: 0x300 }),
      /PT_INTERP lies past the end/,
    ],
  ];
  for (const [name, make, message] of cases) {
    test(name, () => {
      const error = refusal(make());
      expect(error.message).toMatch(message);
      expect(error.exitCode).toBe(126);
      expect(error.errno).toBe("ENOEXEC");
    });
  }

  test("an interpreter's defects are reported as ELIBBAD", () => {
    const error = refusal(craftElf({ machine: 183, segments: [load()] }), "interpreter");
    expect(error.errno).toBe("ELIBBAD");
    expect(error.message).toMatch(/^crafted: interpreter: /);
  });
});

describe("headBytesNeeded", () => {
  test("asks for the program header table when it lies beyond the first read", () => {
    const file = craftElf({ segments: [load({ filesz: 0x10, memsz: 0x10 })], phoff: 0x3000 });
    expect(headBytesNeeded(file.subarray(0, 0x1000), file.length)).toBe(0x3000 + 56);
  });
  test("asks for the PT_INTERP string", () => {
    const path = new TextEncoder().encode("/lib/ld.so\0");
    const file = craftElf({
      segments: [{ type: PT_INTERP, flags: PF_R, offset: 0x2000, vaddr: 0, filesz: path.length, memsz: path.length, align: 1 }, load({ filesz: 0x10, memsz: 0x10 })],
      contents: [{ offset: 0x2000, bytes: path }],
    });
    expect(headBytesNeeded(file.subarray(0, 0x1000), file.length)).toBe(0x2000 + path.length);
  });
  test("is satisfied by a complete head", () => {
    const file = tinyProgram(0);
    expect(headBytesNeeded(file, file.length)).toBe(file.length);
  });
});
