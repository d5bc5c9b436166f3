/**
 * ELF reading and validation: bytes in, a validated image out, or a LoadError
 * with the verdict the kernel would give. Pure: no file system, no process.
 *
 * The checks are Linux's own (fs/binfmt_elf.c: load_elf_binary,
 * load_elf_phdrs, elf_load, load_elf_interp), in its order, and no stricter.
 * Linux checks some things before execve's point of no return and returns
 * their errno to the caller; others only while mapping, after it, and then
 * ends the new process with SIGSEGV. parseElf throws the first kind at once
 * and records the first of the second kind in the image (`afterExec`), which
 * the caller raises once every check of the first kind (the interpreter's
 * too) has passed: the kernel's order decides which verdict a file gets.
 *
 * Where Linux is more lenient than the ELF specification, this is too:
 * EI_CLASS and EI_DATA are never looked at, segments may be unsorted and
 * overlap (later ones replace earlier ones), file bytes may lie past the end
 * of the file (the program gets SIGBUS when it touches them), a p_align that
 * is not a power of two is ignored, p_offset need not match p_vaddr when no
 * file bytes are mapped, only the first PT_INTERP counts, and an
 * interpreter's own PT_INTERP is ignored.
 *
 * elfy parses the header and program headers. Section headers are never
 * consulted (a file without them must load, and elfy 1.0.0 would insist on a
 * section string table and read section alignment from the wrong offsets).
 * elfy reads 64-bit fields into doubles, which round above 2^53, so those
 * are read again exactly wherever the kernel's checks need their exact value.
 */
// elfy ships no types: ours come with the file, for a program that
// type-checks these sources without this project's tsconfig.
/// <reference path="../types/elfy.d.ts" />
import type { ElfyHeader, ElfyProgram, Parser } from "elfy";
import { LoadError, hex, type Errno } from "./errors.ts";

/** elfy, loaded when first needed: loading it takes milliseconds (it loads
 * node:assert and node:util), which a command whose images were parsed
 * before (src/loader/image-store.ts) never spends. */
let elfy: typeof import("elfy") | null = null;
function newParser(): Parser {
  elfy ??= require("elfy") as typeof import("elfy");
  return new elfy.Parser();
}

export const PAGE_SIZE = 4096;

/** The user address space ends here with 4-level page tables (TASK_SIZE). */
export const USER_ADDRESS_LIMIT = 2 ** 47 - PAGE_SIZE;
const TASK_SIZE = BigInt(USER_ADDRESS_LIMIT);
const PAGE = BigInt(PAGE_SIZE);

const ELF_HEADER_SIZE = 64;
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const EI_CLASS = 4;
const EI_DATA = 5;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
/** e_machine of 32-bit x86, which Linux runs through its compat loader. */
const EM_386 = 3;
const PROGRAM_HEADER_SIZE = 56;
/** load_elf_phdrs reads at most 64 KiB of program headers (1170 entries).
 * Older kernels also refused more than ELF_MIN_ALIGN (a page, 73 entries);
 * the kernel these tests run on reads the full 64 KiB, and so does this. */
const MAX_PROGRAM_HEADER_BYTES = 65536;
/** PT_INTERP lengths Linux accepts: at least one character and the NUL, at
 * most PATH_MAX. */
const MIN_INTERPRETER_BYTES = 2;
const PATH_MAX = 4096;
/** The largest file position a read or a mapping may reach (MAX_LFS_FILESIZE). */
const MAX_FILE_POSITION = 2n ** 63n - 1n;
const PT_INTERP = 3;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** One PT_LOAD, with addresses as the file states them (before any bias). */
export interface Segment {
  index: number;
  /** p_offset; exact below 2^53. Offsets above that are past the end of any
   * file a pager can open: rounding moves them by less than a page, and every
   * page there reads the same (SIGBUS), so nothing a program sees changes. */
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  /** p_align when it is a power of two, else 0 (the kernel ignores it). */
  align: number;
  /** PF_R | PF_W | PF_X */
  flags: number;
}

export interface ElfImage {
  /** The path the image was read from, as the user named it. */
  file: string;
  /** ET_EXEC loads at its stated addresses; ET_DYN anywhere (PIE, static-pie, ld.so). */
  type: "exec" | "dyn";
  /** e_entry; exact below 2^53 (any entry above that lies outside user space). */
  entry: number;
  phoff: number;
  phnum: number;
  /** The PT_LOAD segments in the order of the program header table. */
  segments: Segment[];
  /** The first PT_INTERP's path, or null for a static program (and always
   * null for an interpreter: the kernel ignores an interpreter's PT_INTERP). */
  interpreter: string | null;
  /** PT_GNU_STACK's flags; null when absent (the kernel then assumes an executable stack is not needed on x86-64). */
  stackFlags: number | null;
  /** The first failure the kernel would meet loading this image past
   * execve's point of no return; `segments` is incomplete when set. */
  afterExec: LoadError | null;
  /** The first PT_DYNAMIC's bytes in the file, for what ld.so will read of
   * it (originSearchPaths); null when there is none. */
  dynamic: { offset: number; size: number } | null;
}

type Role = "program" | "interpreter";

function isPowerOfTwo(n: bigint): boolean {
  return n > 0n && (n & (n - 1n)) === 0n;
}

function flagBits(program: ElfyProgram): number {
  return (program.flags.r ? PF_R : 0) | (program.flags.w ? PF_W : 0) | (program.flags.x ? PF_X : 0);
}

function pageDownExact(n: bigint): bigint {
  return n - (n % PAGE);
}

function pageUpExact(n: bigint): bigint {
  return pageDownExact(n + PAGE - 1n);
}

/**
 * The ELF header as binfmt_elf sees it: the file's first 64 bytes,
 * zero-padded (the kernel reads the start of a file into a zeroed buffer),
 * read as 64-bit little-endian whatever e_ident says: the x86-64 loader
 * checks the magic but never EI_CLASS or EI_DATA. elfy is handed a copy that
 * says ELFCLASS64 and ELFDATA2LSB, so it reads the fields the kernel reads.
 */
function headerAsKernelReadsIt(bytes: Buffer): Buffer {
  const header = Buffer.alloc(ELF_HEADER_SIZE);
  bytes.copy(header, 0, 0, Math.min(bytes.length, ELF_HEADER_SIZE));
  header[EI_CLASS] = ELFCLASS64;
  header[EI_DATA] = ELFDATA2LSB;
  return header;
}

/** A program header as the kernel reads it: its 64-bit fields exact. */
interface ProgramHeader {
  index: number;
  type: string | undefined;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
  align: bigint;
}

/**
 * The program header table, parsed by elfy from the table's own bytes, with
 * the 64-bit fields read again exactly. elfy returns no headers at all when
 * e_phoff is 0, where the kernel reads the table from the start of the file
 * (over the ELF header itself), so elfy is handed the table behind a one-byte
 * pad and told the table starts there. `parser` is the one that read the
 * header: it keeps the byte order it found there.
 */
function readProgramHeaders(parser: Parser, header: ElfyHeader, table: Buffer): ProgramHeader[] {
  const padded = Buffer.concat([Buffer.alloc(1), table]);
  const programs = parser.parsePrograms(padded, { ...header, phoff: 1 });
  return programs.map((program, index) => {
    const at = index * PROGRAM_HEADER_SIZE;
    return {
      index,
      type: program.type,
      flags: flagBits(program),
      offset: table.readBigUInt64LE(at + 8),
      vaddr: table.readBigUInt64LE(at + 16),
      filesz: table.readBigUInt64LE(at + 32),
      memsz: table.readBigUInt64LE(at + 40),
      align: table.readBigUInt64LE(at + 48),
    };
  });
}

function machineReason(bytes: Buffer, header: ElfyHeader): string {
  return `built for machine ${bytes.readUInt16LE(18)} (${header.machine ?? "unknown"}), not x86-64`;
}

/**
 * Read and validate an ELF executable (or interpreter). `bytes` is the file's
 * beginning: at least its ELF header, program headers and PT_INTERP string
 * when the file has them (see headBytesNeeded); `fileSize` is the whole file's.
 * Throws the refusals execve returns; records in `afterExec` the first
 * failure the kernel meets past its point of no return.
 */
export function parseElf(file: string, bytes: Buffer, fileSize: number = bytes.length, role: Role = "program"): ElfImage {
  const name = (reason: string) => (role === "interpreter" ? `interpreter: ${reason}` : reason);
  // Before the point of no return the program's defects are ENOEXEC and the
  // interpreter's ELIBBAD (except where a read or an open fails).
  const refuse = (reason: string, errno: Errno = role === "interpreter" ? "ELIBBAD" : "ENOEXEC"): never => {
    throw new LoadError(file, name(reason), errno);
  };

  // load_elf_binary reads the interpreter's header with elf_read, which
  // fails with EIO on a short read, before it looks at any byte of it.
  if (role === "interpreter" && fileSize < ELF_HEADER_SIZE) refuse(`shorter than an ELF header (${fileSize} of ${ELF_HEADER_SIZE} bytes)`, "EIO");
  const headerBytes = headerAsKernelReadsIt(bytes);
  if (!headerBytes.subarray(0, 4).equals(ELF_MAGIC)) refuse(fileSize === 0 ? "empty file, not an ELF file" : "not an ELF file (bad magic)");
  const parser = newParser();
  const header = parser.parseHeader(headerBytes);
  // A program shorter than its header is read zero-padded, as the kernel
  // does, and the zeros always fail a check (no program header entries of
  // 0 bytes are accepted): the truncation is what the reader can act on,
  // not the check the padding happens to fail.
  if (fileSize < ELF_HEADER_SIZE) refuse(`truncated ELF header (${fileSize} of ${ELF_HEADER_SIZE} bytes)`);
  // The interpreter's ELF type is checked only in load_elf_interp, past the
  // point of no return (below).
  const executable = header.type === "exec" || header.type === "dyn";
  if (role === "program" && !executable) {
    refuse(`ELF type ${header.type ?? headerBytes.readUInt16LE(16)} is not an executable (need ET_EXEC or ET_DYN)`);
  }
  // The x86-64 loader refuses 32-bit x86 too (ENOEXEC), but Linux then
  // tries its compat loader, which runs i386 programs when the kernel has
  // IA32 emulation; faultline has no such loader.
  if (role === "program" && headerBytes.readUInt16LE(18) === EM_386) {
    refuse("a 32-bit x86 (i386) program: faultline loads x86-64 programs only (Linux may run it with its 32-bit compat loader)");
  }
  if (header.machine !== "amd64") refuse(`${machineReason(headerBytes, header)}`);

  // load_elf_phdrs: any failure here is ENOEXEC (ELIBBAD for an interpreter).
  const phoff = headerBytes.readBigUInt64LE(32);
  const tableBytes = header.phnum * PROGRAM_HEADER_SIZE;
  if (header.phentsize !== PROGRAM_HEADER_SIZE) refuse(`program header entries are ${header.phentsize} bytes, not ${PROGRAM_HEADER_SIZE}`);
  if (header.phnum === 0) refuse(`no program headers`);
  if (tableBytes > MAX_PROGRAM_HEADER_BYTES) {
    refuse(`${header.phnum} program headers take ${tableBytes} bytes, more than the kernel reads (${MAX_PROGRAM_HEADER_BYTES})`);
  }
  if (phoff + BigInt(tableBytes) > BigInt(fileSize)) {
    refuse(`program headers (${hex(phoff)}+${hex(tableBytes)}) lie past the end of the file (${hex(fileSize)})`);
  }
  const tableStart = Number(phoff);
  if (tableStart + tableBytes > bytes.length) throw new Error(`parseElf: given ${bytes.length} bytes, program headers need ${tableStart + tableBytes}`);
  const headers = readProgramHeaders(parser, header, bytes.subarray(tableStart, tableStart + tableBytes));

  // Only the first PT_INTERP counts: load_elf_binary stops at it. An
  // interpreter's PT_INTERP is never read.
  const interp = role === "program" ? headers.find((h) => h.type === "interp") : undefined;
  const interpreter = interp ? readInterpreterPath(interp, bytes, fileSize, refuse) : null;
  let stackFlags: number | null = null;
  for (const h of headers) if (h.type === "gnu_stack") stackFlags = h.flags;
  const dynamicHeader = headers.find((h) => h.type === "dynamic");
  const dynamic = dynamicHeader && dynamicHeader.filesz > 0n && dynamicHeader.offset + dynamicHeader.filesz <= BigInt(fileSize) ? { offset: Number(dynamicHeader.offset), size: Number(dynamicHeader.filesz) } : null;

  // Past the point of no return: the interpreter's type (load_elf_interp),
  // then each PT_LOAD as elf_load maps it and the checks after it.
  let afterExec: LoadError | null = null;
  const fail = (reason: string, errno: Errno) => {
    afterExec ??= new LoadError(file, name(reason), errno, "after-exec");
  };
  if (!executable) fail(`ELF type ${header.type ?? headerBytes.readUInt16LE(16)} is not an executable (need ET_EXEC or ET_DYN)`, "ELIBBAD");
  const segments: Segment[] = [];
  for (const h of headers) {
    if (afterExec || h.type !== "load") continue;
    const problem = loadProblem(h, fileSize, role);
    if (problem) fail(problem.reason, problem.errno);
    else segments.push(segmentOf(h));
  }
  // Nothing to map: ET_DYN images fail in total_mapping_size (EINVAL); an
  // ET_EXEC program starts with nothing mapped and dies of its first fetch.
  if (!afterExec && segments.length === 0) fail("no PT_LOAD segment", "EINVAL");

  return {
    file,
    type: header.type === "exec" ? "exec" : "dyn",
    entry: Number(headerBytes.readBigUInt64LE(24)),
    phoff: Number(phoff),
    phnum: header.phnum,
    segments,
    interpreter,
    stackFlags,
    afterExec,
    dynamic,
  };
}

/** Dynamic-section tags ld.so reads search paths from (elf.h). */
const DT_NULL = 0n;
const DT_STRTAB = 5n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;
const DYNAMIC_ENTRY_BYTES = 16;
/** How much of a search path string is read: more than any a linker writes. */
const SEARCH_PATH_MAX_BYTES = 4096;

/**
 * The program's own RPATH and RUNPATH strings that name `$ORIGIN`, which
 * ld.so expands to the directory of the file /proc/self/exe names. `dynamic`
 * is the PT_DYNAMIC's bytes; `readAt(offset, length)` reads the file (fewer
 * bytes at its end). A malformed section gives what could be read, never an
 * error: ld.so, not faultline, is the judge of it.
 */
export function originSearchPaths(dynamic: Buffer, segments: readonly Segment[], readAt: (offset: number, length: number) => Buffer): string[] {
  let stringTable: bigint | null = null;
  const pathOffsets: bigint[] = [];
  for (let at = 0; at + DYNAMIC_ENTRY_BYTES <= dynamic.length; at += DYNAMIC_ENTRY_BYTES) {
    const tag = dynamic.readBigInt64LE(at);
    const value = dynamic.readBigUInt64LE(at + 8);
    if (tag === DT_NULL) break;
    if (tag === DT_STRTAB) stringTable = value;
    else if (tag === DT_RPATH || tag === DT_RUNPATH) pathOffsets.push(value);
  }
  if (stringTable === null) return [];
  // DT_STRTAB is an address: the file offset is that of the PT_LOAD holding it.
  const table = stringTable;
  const holder = segments.find((seg) => BigInt(seg.vaddr) <= table && table < BigInt(seg.vaddr) + BigInt(seg.filesz));
  if (!holder) return [];
  const tableOffset = table - BigInt(holder.vaddr) + BigInt(holder.offset);
  const paths: string[] = [];
  for (const offset of pathOffsets) {
    const position = tableOffset + offset;
    if (position > BigInt(Number.MAX_SAFE_INTEGER)) continue;
    const bytes = readAt(Number(position), SEARCH_PATH_MAX_BYTES);
    const end = bytes.indexOf(0);
    const path = bytes.subarray(0, end < 0 ? bytes.length : end).toString("latin1");
    if (/\$(ORIGIN|\{ORIGIN\})/.test(path)) paths.push(path);
  }
  return paths;
}

/** Raise the failure the kernel would meet past its point of no return. */
export function requireLoadable(image: ElfImage): ElfImage {
  if (image.afterExec) throw image.afterExec;
  return image;
}

/**
 * What goes wrong mapping one PT_LOAD, as elf_load and the checks after it
 * meet it, or null. The program's size and address checks fail with EINVAL,
 * the interpreter's with ENOMEM (load_elf_interp); a file offset that does
 * not match the address modulo the page size is refused by mmap (EINVAL), but
 * only when there are file bytes to map; the bss's first page is zeroed
 * (padzero), which fails (EFAULT) when that page lies past the end of the
 * file and the segment is writable (the failure is ignored otherwise).
 */
function loadProblem(h: ProgramHeader, fileSize: number, role: Role): { reason: string; errno: Errno } | null {
  const where = `PT_LOAD ${h.index}`;
  const sizeErrno: Errno = role === "interpreter" ? "ENOMEM" : "EINVAL";
  if (h.filesz > h.memsz) return { reason: `${where}: file size ${hex(h.filesz)} exceeds memory size ${hex(h.memsz)}`, errno: sizeErrno };
  if (h.vaddr >= TASK_SIZE || h.memsz > TASK_SIZE || TASK_SIZE - h.memsz < h.vaddr) {
    return { reason: `${where}: ${hex(h.vaddr)}+${hex(h.memsz)} lies beyond the user address space (${hex(TASK_SIZE)})`, errno: sizeErrno };
  }
  if (h.filesz === 0n) return null;
  const pageOffset = h.vaddr % PAGE;
  if (h.offset % PAGE !== pageOffset) {
    return { reason: `${where}: offset ${hex(h.offset)} and address ${hex(h.vaddr)} differ modulo the page size`, errno: "EINVAL" };
  }
  if (h.offset - pageOffset + pageUpExact(pageOffset + h.filesz) > MAX_FILE_POSITION) {
    return { reason: `${where}: file bytes ${hex(h.offset)}+${hex(h.filesz)} reach beyond the largest file position`, errno: "EOVERFLOW" };
  }
  const fileEnd = h.offset + h.filesz;
  const zeroesFromMidPage = h.memsz > h.filesz && fileEnd % PAGE !== 0n;
  if (zeroesFromMidPage && h.flags & PF_W && pageDownExact(fileEnd) >= pageUpExact(BigInt(fileSize))) {
    return {
      reason: `${where}: its bss begins inside file page ${hex(pageDownExact(fileEnd))}, past the end of the file (${hex(fileSize)}), which cannot be zeroed`,
      errno: "EFAULT",
    };
  }
  return null;
}

function segmentOf(h: ProgramHeader): Segment {
  return {
    index: h.index,
    offset: Number(h.offset),
    vaddr: Number(h.vaddr),
    filesz: Number(h.filesz),
    memsz: Number(h.memsz),
    align: isPowerOfTwo(h.align) ? Number(h.align) : 0,
    flags: h.flags,
  };
}

/** The PT_INTERP path, with load_elf_binary's checks in its order: the
 * length, the read (EINVAL for an impossible position, EIO for a short
 * read), the final NUL; the path ends at its first NUL. */
function readInterpreterPath(h: ProgramHeader, bytes: Buffer, fileSize: number, refuse: (reason: string, errno?: Errno) => never): string {
  if (h.filesz < MIN_INTERPRETER_BYTES || h.filesz > PATH_MAX) {
    refuse(`PT_INTERP path length ${h.filesz} is out of range (${MIN_INTERPRETER_BYTES} to ${PATH_MAX} bytes)`);
  }
  const end = h.offset + h.filesz;
  if (end > MAX_FILE_POSITION) refuse(`PT_INTERP at ${hex(h.offset)} is not a position in a file`, "EINVAL");
  if (end > BigInt(fileSize)) refuse(`PT_INTERP path (${hex(h.offset)}+${hex(h.filesz)}) lies past the end of the file (${hex(fileSize)})`, "EIO");
  const start = Number(h.offset);
  if (Number(end) > bytes.length) throw new Error(`parseElf: given ${bytes.length} bytes, PT_INTERP needs ${end}`);
  const raw = bytes.subarray(start, Number(end));
  if (raw[raw.length - 1] !== 0) refuse("PT_INTERP path is not NUL-terminated");
  const path = raw.subarray(0, raw.indexOf(0)).toString("latin1");
  // open_exec looks the empty name up as the current directory (the kernel's
  // own lookup does not refuse an empty name), which cannot be executed.
  if (path === "") refuse("PT_INTERP names the empty path, which the kernel opens as the current directory", "EACCES");
  return path;
}

/** The entry address the image's program headers live at, before bias: inside
 * the PT_LOAD whose file bytes hold e_phoff (as binfmt_elf computes AT_PHDR;
 * the last such segment wins, as there), or 0 when none does. */
export function programHeaderAddress(image: ElfImage): number {
  const holders = image.segments.filter((s) => s.offset <= image.phoff && image.phoff < s.offset + s.filesz);
  const holder = holders[holders.length - 1];
  return holder ? image.phoff - holder.offset + holder.vaddr : 0;
}

/**
 * How many bytes from the file's start parseElf needs, judged from the bytes
 * read so far: the header, the program header table, and the first
 * PT_INTERP's string. Returns `head.length` when nothing more is needed (or
 * the file is not an ELF file parseElf will get far in).
 */
export function headBytesNeeded(head: Buffer, fileSize: number): number {
  if (head.length < ELF_HEADER_SIZE || !head.subarray(0, 4).equals(ELF_MAGIC)) return head.length;
  const phoff = head.readBigUInt64LE(32);
  const phentsize = head.readUInt16LE(54);
  const phnum = head.readUInt16LE(56);
  if (phentsize !== PROGRAM_HEADER_SIZE || phnum * PROGRAM_HEADER_SIZE > MAX_PROGRAM_HEADER_BYTES) return head.length;
  const tableEnd = phoff + BigInt(phnum * PROGRAM_HEADER_SIZE);
  if (tableEnd > BigInt(fileSize)) return head.length;
  if (tableEnd > BigInt(head.length)) return Number(tableEnd);
  for (let i = 0; i < phnum; i++) {
    const at = Number(phoff) + i * PROGRAM_HEADER_SIZE;
    if (head.readUInt32LE(at) !== PT_INTERP) continue;
    const offset = head.readBigUInt64LE(at + 8);
    const filesz = head.readBigUInt64LE(at + 32);
    const end = offset + filesz;
    return filesz <= PATH_MAX && end <= BigInt(fileSize) && end > BigInt(head.length) ? Number(end) : head.length;
  }
  return head.length;
}
