/**
 * ELF reading and validation: bytes in, a validated image out, or a LoadError
 * with the reason the kernel would give. Pure: no file system, no process.
 *
 * elfy parses the header and program headers. Section headers are never
 * consulted (a file without them must load, and elfy 1.0.0 would insist on a
 * section string table and read section alignment from the wrong offsets).
 */
import { Parser, type ElfyHeader, type ElfyProgram } from "elfy";
import { LoadError } from "./errors.ts";

export const PAGE_SIZE = 4096;

/** The user address space ends here with 4-level page tables (TASK_SIZE_MAX). */
export const USER_ADDRESS_LIMIT = 2 ** 47 - PAGE_SIZE;

const ELF_HEADER_SIZE = 64;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const PROGRAM_HEADER_SIZE = 56;
/** Linux refuses program header tables larger than one page (elf_read_phdrs). */
const MAX_PROGRAM_HEADER_BYTES = PAGE_SIZE;
/** PT_INTERP lengths Linux accepts: at least one character and the NUL, at
 * most PATH_MAX. */
const MIN_INTERPRETER_BYTES = 2;
const PATH_MAX = 4096;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** One PT_LOAD, with addresses as the file states them (before any bias). */
export interface Segment {
  index: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  align: number;
  /** PF_R | PF_W | PF_X */
  flags: number;
}

export interface ElfImage {
  /** The path the image was read from, as the user named it. */
  file: string;
  /** ET_EXEC loads at its stated addresses; ET_DYN anywhere (PIE, static-pie, ld.so). */
  type: "exec" | "dyn";
  entry: number;
  phoff: number;
  phnum: number;
  segments: Segment[];
  /** PT_INTERP's path, or null for a static program. */
  interpreter: string | null;
  /** PT_GNU_STACK's flags; null when absent (the kernel then assumes an executable stack is not needed on x86-64). */
  stackFlags: number | null;
}

/** Exact for every safe integer; p_align may exceed 32 bits, so no bit tricks. */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function flagBits(program: ElfyProgram): number {
  return (program.flags.r ? PF_R : 0) | (program.flags.w ? PF_W : 0) | (program.flags.x ? PF_X : 0);
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * Read and validate an ELF executable (or interpreter). `bytes` is the file's
 * beginning: at least its ELF header, program headers and PT_INTERP string
 * when the file has them (see headBytesNeeded); `fileSize` is the whole file's.
 */
export function parseElf(file: string, bytes: Buffer, fileSize: number = bytes.length, role: "program" | "interpreter" = "program"): ElfImage {
  const refuse = (reason: string, errno: "ENOEXEC" | "EINVAL" | "ELIBBAD" = role === "interpreter" ? "ELIBBAD" : "ENOEXEC") => {
    throw new LoadError(file, role === "interpreter" ? `interpreter: ${reason}` : reason, errno);
  };

  if (bytes.length < 4 || !bytes.subarray(0, 4).equals(ELF_MAGIC)) refuse("not an ELF file (bad magic)");
  if (bytes.length < ELF_HEADER_SIZE) refuse(`truncated ELF header (${bytes.length} of ${ELF_HEADER_SIZE} bytes)`);
  if (bytes[4] !== ELFCLASS64) refuse(bytes[4] === 1 ? "32-bit ELF; faultline runs 64-bit x86-64 programs" : `unknown ELF class ${bytes[4]}`);
  if (bytes[5] !== ELFDATA2LSB) refuse("big-endian ELF; x86-64 is little-endian");

  const parser = new Parser();
  let header: ElfyHeader;
  try {
    header = parser.parseHeader(bytes);
  } catch (error) {
    return refuse(`unreadable ELF header: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (header.machine !== "amd64") refuse(`built for machine ${bytes.readUInt16LE(18)} (${header.machine ?? "unknown"}), not x86-64`);
  if (header.type !== "exec" && header.type !== "dyn") {
    refuse(`ELF type ${header.type ?? bytes.readUInt16LE(16)} is not an executable (need ET_EXEC or ET_DYN)`);
  }
  if (header.phentsize !== PROGRAM_HEADER_SIZE) refuse(`program header entries are ${header.phentsize} bytes, not ${PROGRAM_HEADER_SIZE}`);
  const tableBytes = header.phnum * PROGRAM_HEADER_SIZE;
  if (header.phnum === 0) refuse("no program headers");
  if (tableBytes > MAX_PROGRAM_HEADER_BYTES) refuse(`${header.phnum} program headers exceed the kernel's one-page limit`);
  if (header.phoff > fileSize || header.phoff + tableBytes > fileSize) {
    refuse(`program headers (${hex(header.phoff)}+${hex(tableBytes)}) lie past the end of the file (${hex(fileSize)})`);
  }
  if (header.phoff + tableBytes > bytes.length) throw new Error(`parseElf: given ${bytes.length} bytes, program headers need ${header.phoff + tableBytes}`);

  const programs = parser.parsePrograms(bytes, header);
  const segments: Segment[] = [];
  let interpreter: string | null = null;
  let stackFlags: number | null = null;

  programs.forEach((program, index) => {
    if (program.type === "load") {
      segments.push(checkLoad(program, index, fileSize, refuse));
    } else if (program.type === "interp") {
      if (interpreter !== null) refuse("more than one PT_INTERP");
      interpreter = readInterpreterPath(program, bytes, fileSize, refuse);
    } else if (program.type === "gnu_stack") {
      stackFlags = flagBits(program);
    }
  });

  if (segments.length === 0) refuse("no PT_LOAD segment");
  for (let i = 1; i < segments.length; i++) {
    const previous = segments[i - 1]!;
    const current = segments[i]!;
    if (current.vaddr < previous.vaddr) {
      refuse(`PT_LOAD segments out of order: ${hex(current.vaddr)} after ${hex(previous.vaddr)}`);
    }
    if (current.vaddr < previous.vaddr + previous.memsz) {
      refuse(`PT_LOAD segments overlap: ${hex(current.vaddr)} inside ${hex(previous.vaddr)}+${hex(previous.memsz)}`);
    }
  }

  return {
    file,
    type: header.type === "exec" ? "exec" : "dyn",
    entry: header.entry,
    phoff: header.phoff,
    phnum: header.phnum,
    segments,
    interpreter,
    stackFlags,
  };
}

function checkLoad(program: ElfyProgram, index: number, fileSize: number, refuse: (reason: string) => never): Segment {
  const where = `PT_LOAD ${index}`;
  const { offset, vaddr, filesz, memsz, align } = program;
  if (filesz > memsz) refuse(`${where}: file size ${hex(filesz)} exceeds memory size ${hex(memsz)}`);
  if (vaddr >= USER_ADDRESS_LIMIT || memsz > USER_ADDRESS_LIMIT || vaddr + memsz > USER_ADDRESS_LIMIT) {
    refuse(`${where}: ${hex(vaddr)}+${hex(memsz)} lies beyond the user address space (${hex(USER_ADDRESS_LIMIT)})`);
  }
  if (offset > fileSize || offset + filesz > fileSize) {
    refuse(`${where}: file bytes ${hex(offset)}+${hex(filesz)} lie past the end of the file (${hex(fileSize)})`);
  }
  if (offset % PAGE_SIZE !== vaddr % PAGE_SIZE) {
    refuse(`${where}: offset ${hex(offset)} and address ${hex(vaddr)} differ modulo the page size`);
  }
  if (align > 1 && !isPowerOfTwo(align)) refuse(`${where}: alignment ${hex(align)} is not a power of two`);
  return { index, offset, vaddr, filesz, memsz, align, flags: flagBits(program) };
}

function readInterpreterPath(program: ElfyProgram, bytes: Buffer, fileSize: number, refuse: (reason: string) => never): string {
  const { offset, filesz } = program;
  if (filesz < MIN_INTERPRETER_BYTES || filesz > PATH_MAX) refuse(`PT_INTERP path length ${filesz} is out of range`);
  if (offset + filesz > fileSize) refuse("PT_INTERP lies past the end of the file");
  if (offset + filesz > bytes.length) throw new Error(`parseElf: given ${bytes.length} bytes, PT_INTERP needs ${offset + filesz}`);
  const raw = bytes.subarray(offset, offset + filesz);
  if (raw[raw.length - 1] !== 0) refuse("PT_INTERP path is not NUL-terminated");
  const path = raw.subarray(0, raw.indexOf(0)).toString("latin1");
  if (path.length === 0) refuse("PT_INTERP path is empty");
  return path;
}

/** The entry address the image's program headers live at, before bias: inside
 * the PT_LOAD whose file bytes hold e_phoff (as binfmt_elf computes AT_PHDR),
 * or 0 when none does. */
export function programHeaderAddress(image: ElfImage): number {
  const holder = image.segments.find((s) => s.offset <= image.phoff && image.phoff < s.offset + s.filesz);
  return holder ? image.phoff - holder.offset + holder.vaddr : 0;
}

const PT_INTERP = 3;

/**
 * How many bytes from the file's start parseElf needs, judged from the bytes
 * read so far: the header, the program header table, and the PT_INTERP string.
 * Returns `head.length` when nothing more is needed (or the file is not an
 * ELF file parseElf will get far in).
 */
export function headBytesNeeded(head: Buffer, fileSize: number): number {
  if (head.length < ELF_HEADER_SIZE || !head.subarray(0, 4).equals(ELF_MAGIC) || head[4] !== ELFCLASS64 || head[5] !== ELFDATA2LSB) {
    return head.length;
  }
  const phoff = Number(head.readBigUInt64LE(32));
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  if (phentsize !== PROGRAM_HEADER_SIZE || phnum * PROGRAM_HEADER_SIZE > MAX_PROGRAM_HEADER_BYTES) return head.length;
  const tableEnd = phoff + phnum * PROGRAM_HEADER_SIZE;
  if (tableEnd > fileSize) return head.length;
  if (tableEnd > head.length) return tableEnd;
  let needed = head.length;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * PROGRAM_HEADER_SIZE;
    if (head.readUInt32LE(at) !== PT_INTERP) continue;
    const end = Number(head.readBigUInt64LE(at + 8)) + Number(head.readBigUInt64LE(at + 32));
    if (end <= fileSize && end > needed && end - Number(head.readBigUInt64LE(at + 8)) <= PATH_MAX) needed = end;
  }
  return needed;
}
