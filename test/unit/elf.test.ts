import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { headBytesNeeded, originSearchPaths, parseElf, programHeaderAddress, requireLoadable } from "../../src/loader/elf.ts";
import { LoadError, printable, type Errno } from "../../src/loader/errors.ts";
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

/** The LoadError execve would return for these bytes. */
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

const interp = (path: string, over: Partial<CraftedSegment> = {}) => {
  const bytes = new TextEncoder().encode(path);
  return {
    segment: { type: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0, filesz: bytes.length, memsz: bytes.length, align: 1, ...over },
    content: { offset: over.offset ?? 0x200, bytes },
  };
};

describe("parseElf refuses what execve refuses, with its errno", () => {
  const cases: Array<[string, () => Buffer, RegExp, Errno]> = [
    ["an empty file", () => Buffer.alloc(0), /empty file, not an ELF file/, "ENOEXEC"],
    ["a text file", () => Buffer.from("hello world, this is not a program at all........................"), /not an ELF file \(bad magic\)/, "ENOEXEC"],
    ["a truncated header", () => tinyProgram(0).subarray(0, 40), /: truncated ELF header \(40 of 64 bytes\) \(ENOEXEC\)$/, "ENOEXEC"],
    ["an i386 program", () => craftElf({ machine: 3, segments: [load()] }), /32-bit x86 \(i386\) program/, "ENOEXEC"],
    ["an aarch64 ELF", () => craftElf({ machine: 183, segments: [load()] }), /machine 183.*not x86-64/, "ENOEXEC"],
    ["a relocatable object", () => craftElf({ type: 1, segments: [load()] }), /ELF type rel is not an executable/, "ENOEXEC"],
    ["a core dump", () => craftElf({ type: 4, segments: [load()] }), /ELF type core is not an executable/, "ENOEXEC"],
    ["wrong e_phentsize", () => craftElf({ phentsize: 32, segments: [load()] }), /entries are 32 bytes, not 56/, "ENOEXEC"],
    ["no program headers", () => craftElf({ segments: [], phnum: 0 }), /no program headers/, "ENOEXEC"],
    ["absurdly many program headers", () => craftElf({ segments: [load()], phnum: 0xffff }), /65535 program headers take 3669960 bytes, more than the kernel reads \(65536\)/, "ENOEXEC"],
    ["one program header more than 64 KiB holds", () => craftElf({ segments: [load()], phnum: 1171, size: 0x20000 }), /1171 program headers take 65576 bytes/, "ENOEXEC"],
    ["program headers past the end", () => craftElf({ segments: [load()], phoff: 0x10000, size: 0x200 }), /program headers .* past the end of the file/, "ENOEXEC"],
    ["a PT_INTERP without its NUL", () => { const i = interp("/lib/ld.so"); return craftElf({ segments: [i.segment, load()], contents: [i.content] }); }, /not NUL-terminated/, "ENOEXEC"],
    ["a PT_INTERP longer than PATH_MAX", () => { const i = interp("/lib/ld.so\0", { filesz: 4097 }); return craftElf({ segments: [i.segment, load()], contents: [i.content], size: 0x2000 }); }, /path length 4097 is out of range/, "ENOEXEC"],
    ["a PT_INTERP past the end (a short read)", () => craftElf({ segments: [{ type: PT_INTERP, flags: PF_R, offset: 0x2000, vaddr: 0, filesz: 12, memsz: 12, align: 1 }, load()], size: 0x300 }), /PT_INTERP path \(0x2000\+0xc\) lies past the end of the file/, "EIO"],
    ["a PT_INTERP at an impossible file position", () => craftElf({ segments: [{ type: PT_INTERP, flags: PF_R, offset: 2 ** 63, vaddr: 0, filesz: 12, memsz: 12, align: 1 }, load()], size: 0x300 }), /not a position in a file/, "EINVAL"],
    ["an empty PT_INTERP path (the current directory)", () => { const i = interp("\0\0"); return craftElf({ segments: [i.segment, load()], contents: [i.content] }); }, /empty path/, "EACCES"],
  ];
  for (const [name, make, message, errno] of cases) {
    test(name, () => {
      const error = refusal(make());
      expect(error.message).toMatch(message);
      expect(error.exitCode).toBe(126);
      expect(error.errno).toBe(errno);
      expect(error.kernel).toBe("execve");
    });
  }

  test("an interpreter's defects are ELIBBAD, and a short one is a failed read (EIO)", () => {
    const error = refusal(craftElf({ machine: 183, segments: [load()] }), "interpreter");
    expect(error.errno).toBe("ELIBBAD");
    expect(error.message).toMatch(/^crafted: interpreter: /);
    expect(refusal(Buffer.from("#!/bin/sh\n"), "interpreter")).toMatchObject({ errno: "EIO" });
    expect(refusal(Buffer.alloc(0), "interpreter").message).toMatch(/shorter than an ELF header \(0 of 64 bytes\)/);
  });
});

describe("parseElf records what the kernel fails at past execve's point of no return", () => {
  const cases: Array<[string, () => Buffer, RegExp, Errno]> = [
    ["p_filesz > p_memsz", () => craftElf({ segments: [load({ filesz: 0x200, memsz: 0x100 })] }), /file size 0x200 exceeds memory size 0x100/, "EINVAL"],
    ["p_offset not congruent to p_vaddr", () => craftElf({ segments: [load({ offset: 0x10 })], size: 0x1000 }), /differ modulo the page size/, "EINVAL"],
    ["a segment beyond user space", () => craftElf({ segments: [load({ vaddr: 0x7ffffffff000, memsz: 0x2000, filesz: 0 })] }), /beyond the user address space/, "EINVAL"],
    ["a segment wrapping the address space", () => craftElf({ segments: [load({ vaddr: 0xfffffffffffff000, filesz: 0, memsz: 0x2000 })] }), /0xfffffffffffff000\+0x2000 lies beyond the user address space/, "EINVAL"],
    ["file bytes beyond the largest file position", () => craftElf({ segments: [load({ offset: 2 ** 63 - 0x1000 })], size: 0x300 }), /beyond the largest file position/, "EOVERFLOW"],
    [
      "a writable segment whose bss begins in a page past the end of the file",
      () => craftElf({ segments: [load(), load({ vaddr: 0x601000, offset: 0x1000, filesz: 0x1800, memsz: 0x3000, flags: PF_R | PF_W })], size: 0x1000 }),
      /bss begins inside file page 0x2000, past the end of the file/,
      "EFAULT",
    ],
    ["no PT_LOAD", () => craftElf({ segments: [{ type: PT_GNU_STACK, flags: PF_R | PF_W, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 }] }), /no PT_LOAD/, "EINVAL"],
  ];
  for (const [name, make, message, errno] of cases) {
    test(name, () => {
      const bytes = make();
      const image = parseElf("crafted", bytes, bytes.length);
      expect(image.afterExec).toBeInstanceOf(LoadError);
      expect(image.afterExec!.message).toMatch(message);
      expect(image.afterExec!.message).toMatch(/the kernel would start it and kill it with SIGSEGV\)$/);
      expect(image.afterExec).toMatchObject({ errno, kernel: "after-exec", exitCode: 126 });
      expect(() => requireLoadable(image)).toThrow(image.afterExec!);
    });
  }

  test("an interpreter that is not ET_EXEC or ET_DYN fails in load_elf_interp, after the point of no return", () => {
    const image = parseElf("ld.so", craftElf({ type: 1, segments: [load()] }), undefined, "interpreter");
    expect(image.afterExec?.message).toMatch(/^ld.so: interpreter: ELF type rel is not an executable/);
    expect(image.afterExec?.kernel).toBe("after-exec");
  });

  test("an interpreter's oversized segment is ENOMEM, as load_elf_interp says", () => {
    const image = parseElf("ld.so", craftElf({ type: 3, segments: [load({ vaddr: 0, filesz: 0x200, memsz: 0x100 })] }), undefined, "interpreter");
    expect(image.afterExec?.errno).toBe("ENOMEM");
  });
});

describe("parseElf accepts what the kernel accepts, though the ELF specification would not", () => {
  const accepted = (bytes: Buffer) => {
    const image = parseElf("crafted", bytes, bytes.length);
    expect(image.afterExec).toBeNull();
    return image;
  };
  test("EI_CLASS and EI_DATA are not looked at: the x86-64 loader reads 64-bit little-endian", () => {
    for (const ident of [{ elfClass: 1 }, { elfClass: 0 }, { data: 2 }]) expect(accepted(craftElf({ ...ident, segments: [load()] })).segments).toHaveLength(1);
  });
  test("a p_align that is not a power of two is ignored", () => {
    expect(accepted(craftElf({ segments: [load({ align: 0x3000 })] })).segments[0]!.align).toBe(0);
    expect(accepted(craftElf({ segments: [load({ align: 0x200000 })] })).segments[0]!.align).toBe(0x200000);
  });
  test("unsorted and overlapping loads, in table order", () => {
    expect(accepted(craftElf({ segments: [load({ vaddr: 0x600000 }), load({ vaddr: 0x400000 })] })).segments.map((s) => s.vaddr)).toEqual([0x600000, 0x400000]);
    expect(accepted(craftElf({ segments: [load({ memsz: 0x3000 }), load({ vaddr: 0x401000 })] })).segments).toHaveLength(2);
  });
  test("file bytes past the end of the file (the program gets SIGBUS when it touches them)", () => {
    expect(accepted(craftElf({ segments: [load({ filesz: 0x5000, memsz: 0x5000 })], size: 0x1000 })).segments[0]!.filesz).toBe(0x5000);
    // A read-only segment's failed zeroing is ignored by the kernel.
    accepted(craftElf({ segments: [load(), load({ vaddr: 0x601000, offset: 0x1000, filesz: 0x1800, memsz: 0x3000, flags: PF_R })], size: 0x1000 }));
  });
  test("p_offset need not match p_vaddr when the segment maps no file bytes", () => {
    accepted(craftElf({ segments: [load(), load({ vaddr: 0x600000, offset: 0x10, filesz: 0, memsz: 0x1000, flags: PF_R | PF_W })] }));
  });
  test("64 KiB of program headers (1170), more than a page", () => {
    expect(accepted(craftElf({ segments: [load()], phnum: 1170, size: 0x20000 })).phnum).toBe(1170);
  });
  test("only the first PT_INTERP counts", () => {
    const first = interp("/lib/ld.so\0");
    const second = interp("/no/such\0", { offset: 0x280 });
    const image = accepted(craftElf({ segments: [first.segment, second.segment, load({ filesz: 0x300, memsz: 0x300 })], contents: [first.content, second.content] }));
    expect(image.interpreter).toBe("/lib/ld.so");
  });
  test("an interpreter's own PT_INTERP is ignored", () => {
    const own = interp("/lib/ld.so\0");
    const image = parseElf("ld.so", craftElf({ type: 3, segments: [own.segment, load({ vaddr: 0, filesz: 0x300, memsz: 0x300 })], contents: [own.content] }), undefined, "interpreter");
    expect(image.interpreter).toBeNull();
  });
  test("program headers at offset 0 are read over the ELF header, as the kernel reads them", () => {
    // The ELF header read as a program header has p_type 0x464c457f: not a PT_LOAD.
    const file = craftElf({ segments: [load()] });
    file.writeBigUInt64LE(0n, 32);
    expect(parseElf("crafted", file).afterExec?.message).toMatch(/no PT_LOAD/);
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

describe("messages stay one line", () => {
  test("control characters in a file name or a reason are shown as escapes", () => {
    expect(printable("/no/such\n\x1b[31mld.so\t\x7f\x9b")).toBe("/no/such\\n\\x1b[31mld.so\\t\\x7f\\x9b");
    expect(new LoadError("a\nb", "interpreter c\rd not found", "ENOENT").message).toBe("a\\nb: interpreter c\\x0dd not found (ENOENT)");
    expect(printable("ordinary/path with spaces-ünïcode")).toBe("ordinary/path with spaces-ünïcode");
  });
});

describe("originSearchPaths: the program's own search paths that name $ORIGIN", () => {
  /** A dynamic section of (tag, value) entries, and a string table at file
   * offset 0x2000 that a PT_LOAD maps at 0x402000. */
  const segments = [{ index: 0, offset: 0x2000, vaddr: 0x402000, filesz: 0x1000, memsz: 0x1000, align: 0x1000, flags: PF_R }];
  const DT_NULL = 0n, DT_STRTAB = 5n, DT_RPATH = 15n, DT_RUNPATH = 29n, DT_NEEDED = 1n;
  function dynamic(entries: Array<[bigint, bigint]>): Buffer {
    const bytes = Buffer.alloc(entries.length * 16);
    entries.forEach(([tag, value], i) => {
      bytes.writeBigInt64LE(tag, i * 16);
      bytes.writeBigUInt64LE(value, i * 16 + 8);
    });
    return bytes;
  }
  const file = Buffer.alloc(0x3000);
  const strings = ["", "libc.so.6", "$ORIGIN/../lib", "/opt/lib", "${ORIGIN}:/usr/lib"];
  const offsets: bigint[] = [];
  let at = 0;
  for (const s of strings) {
    offsets.push(BigInt(at));
    file.write(`${s}\0`, 0x2000 + at, "latin1");
    at += s.length + 1;
  }
  const readAt = (offset: number, length: number) => file.subarray(offset, Math.min(offset + length, file.length));

  test("RPATH and RUNPATH that name $ORIGIN or ${ORIGIN}, and no other", () => {
    const section = dynamic([[DT_NEEDED, offsets[1]!], [DT_RUNPATH, offsets[2]!], [DT_RPATH, offsets[3]!], [DT_RPATH, offsets[4]!], [DT_STRTAB, 0x402000n], [DT_NULL, 0n]]);
    expect(originSearchPaths(section, segments, readAt)).toEqual(["$ORIGIN/../lib", "${ORIGIN}:/usr/lib"]);
  });
  test("nothing after DT_NULL, nothing without a string table or with one no PT_LOAD holds", () => {
    expect(originSearchPaths(dynamic([[DT_STRTAB, 0x402000n], [DT_NULL, 0n], [DT_RUNPATH, offsets[2]!]]), segments, readAt)).toEqual([]);
    expect(originSearchPaths(dynamic([[DT_RUNPATH, offsets[2]!], [DT_NULL, 0n]]), segments, readAt)).toEqual([]);
    expect(originSearchPaths(dynamic([[DT_STRTAB, 0x900000n], [DT_RUNPATH, offsets[2]!], [DT_NULL, 0n]]), segments, readAt)).toEqual([]);
  });
  test("a malformed section gives what can be read, never an error", () => {
    // A cut entry, a string offset past the file, a huge offset.
    const section = Buffer.concat([dynamic([[DT_STRTAB, 0x402000n], [DT_RUNPATH, 0x10000n], [DT_RPATH, 2n ** 63n], [DT_RUNPATH, offsets[2]!]]), Buffer.alloc(7)]);
    expect(originSearchPaths(section, segments, readAt)).toEqual(["$ORIGIN/../lib"]);
    expect(originSearchPaths(Buffer.alloc(0), segments, readAt)).toEqual([]);
  });
});
