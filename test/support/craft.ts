/**
 * Crafted ELF files for tests: a minimal, section-less x86-64 executable
 * whose every header field can be set, so each validation rule and each
 * placement rule is exercised by a file built for it.
 */

export const PT_LOAD = 1;
export const PT_INTERP = 3;
export const PT_PHDR = 6;
export const PT_GNU_STACK = 0x6474e551;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

export interface CraftedSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
}

export interface CraftOptions {
  elfClass?: number;
  data?: number;
  type?: number;
  machine?: number;
  entry?: number;
  phoff?: number;
  phentsize?: number;
  /** Overrides the count written in the header (the table holds `segments`). */
  phnum?: number;
  segments: CraftedSegment[];
  /** Bytes to place at file offsets (code, an interpreter path, ...). */
  contents?: Array<{ offset: number; bytes: Uint8Array }>;
  /** Total file size (defaults to what the contents and segments need). */
  size?: number;
}

const HEADER = 64;
const PHENT = 56;

/** exit(code) in x86-64 machine code: mov $60,%eax; mov $code,%edi; syscall. */
export function exitCode(code: number): Uint8Array {
  return new Uint8Array([0xb8, 0x3c, 0, 0, 0, 0xbf, code & 0xff, 0, 0, 0, 0x0f, 0x05]);
}

export function craftElf(options: CraftOptions): Buffer {
  const phoff = options.phoff ?? HEADER;
  const phentsize = options.phentsize ?? PHENT;
  let size = Math.max(HEADER, phoff + options.segments.length * PHENT);
  for (const c of options.contents ?? []) size = Math.max(size, c.offset + c.bytes.length);
  for (const s of options.segments) if (s.type === PT_LOAD || s.type === PT_INTERP) size = Math.max(size, s.offset + s.filesz);
  size = options.size ?? size;
  const file = Buffer.alloc(Math.max(size, HEADER));
  file.set([0x7f, 0x45, 0x4c, 0x46, options.elfClass ?? 2, options.data ?? 1, 1, 0], 0);
  file.writeUInt16LE(options.type ?? 2, 16);
  file.writeUInt16LE(options.machine ?? 62, 18);
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(BigInt(options.entry ?? 0), 24);
  file.writeBigUInt64LE(BigInt(phoff), 32);
  file.writeBigUInt64LE(0n, 40); // no section headers
  file.writeUInt16LE(HEADER, 52);
  file.writeUInt16LE(phentsize, 54);
  file.writeUInt16LE(options.phnum ?? options.segments.length, 56);
  file.writeUInt16LE(64, 58);
  file.writeUInt16LE(0, 60);
  file.writeUInt16LE(0, 62);
  options.segments.forEach((s, i) => {
    const at = phoff + i * PHENT;
    if (at + PHENT > file.length) return;
    file.writeUInt32LE(s.type >>> 0, at);
    file.writeUInt32LE(s.flags, at + 4);
    file.writeBigUInt64LE(BigInt(s.offset), at + 8);
    file.writeBigUInt64LE(BigInt(s.vaddr), at + 16);
    file.writeBigUInt64LE(BigInt(s.vaddr), at + 24);
    file.writeBigUInt64LE(BigInt(s.filesz), at + 32);
    file.writeBigUInt64LE(BigInt(s.memsz), at + 40);
    file.writeBigUInt64LE(BigInt(s.align), at + 48);
  });
  for (const c of options.contents ?? []) if (c.offset < file.length) file.set(c.bytes.subarray(0, file.length - c.offset), c.offset);
  return file;
}

/**
 * A complete static program that exits with `code`: one read-execute PT_LOAD
 * holding the headers and the code, at `base` (ET_EXEC) or relocatable
 * (ET_DYN, base 0). No section headers.
 */
export function tinyProgram(code: number, base = 0x400000, type: 2 | 3 = 2): Buffer {
  const codeOffset = 0x100;
  const body = exitCode(code);
  return craftElf({
    type,
    entry: base + codeOffset,
    segments: [
      { type: PT_LOAD, flags: PF_R | PF_X, offset: 0, vaddr: base, filesz: codeOffset + body.length, memsz: codeOffset + body.length, align: 0x1000 },
      { type: PT_GNU_STACK, flags: PF_R | PF_W, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 },
    ],
    contents: [{ offset: codeOffset, bytes: body }],
  });
}

/**
 * A complete 32-bit x86 (i386) program that exits with `code`: an ELFCLASS32
 * header, one PT_LOAD at 0x8048000, and `mov $1,%eax; mov $code,%ebx;
 * int $0x80`. Linux runs it through its compat loader when it has IA32
 * emulation.
 */
export function tinyProgram32(code: number): Buffer {
  const base = 0x8048000;
  const codeOffset = 0x100;
  const file = Buffer.alloc(0x200);
  file.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0], 0);
  file.writeUInt16LE(2, 16); // ET_EXEC
  file.writeUInt16LE(3, 18); // EM_386
  file.writeUInt32LE(1, 20);
  file.writeUInt32LE(base + codeOffset, 24);
  file.writeUInt32LE(52, 28); // e_phoff: right after the 52-byte header
  file.writeUInt16LE(52, 40);
  file.writeUInt16LE(32, 42);
  file.writeUInt16LE(1, 44);
  file.writeUInt16LE(40, 46);
  const ph = 52;
  file.writeUInt32LE(PT_LOAD, ph);
  file.writeUInt32LE(0, ph + 4);
  file.writeUInt32LE(base, ph + 8);
  file.writeUInt32LE(base, ph + 12);
  file.writeUInt32LE(file.length, ph + 16);
  file.writeUInt32LE(file.length, ph + 20);
  file.writeUInt32LE(PF_R | PF_X, ph + 24);
  file.writeUInt32LE(0x1000, ph + 28);
  file.set([0xb8, 1, 0, 0, 0, 0xbb, code & 0xff, 0, 0, 0, 0xcd, 0x80], codeOffset);
  return file;
}
