/**
 * Hostile and unusual files, each with the kernel's verdict and faultline's.
 * test/integration/verdicts.test.ts checks every verdict live (the kernel's
 * through execve on this machine, faultline's under every pager), and that
 * docs/differences.md carries each row as written here.
 *
 * A verdict is what execve returns (an errno), or how the process ends (an
 * exit status, or a signal). Where faultline's differs, `faultline` says how
 * and `note` says why.
 */
import { chmodSync, closeSync, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KernelVerdict } from "../../src/loader/errors.ts";
import { PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, craftElf, exitCode, tinyProgram, tinyProgram32, type CraftedSegment } from "./craft.ts";
import type { Verdict } from "./verdict.ts";

export interface Made {
  /** argv[0] is the file's path. */
  argv: string[];
  /** Undo what making it did (a descriptor held open, say). */
  cleanup?: () => void;
}

export interface VerdictCase {
  /** The table row's first column. */
  title: string;
  make: (dir: string) => Made;
  /** The kernel's verdict here; several when it depends on the kernel's
   * configuration (the first is this machine's usual one). */
  kernel: Verdict | Verdict[];
  /** faultline's verdict under every pager, when it differs from the
   * kernel's, with what its refusal line says of the kernel. */
  faultline?: Verdict & { kernel?: KernelVerdict };
  /** Run natively and under the pagers as an unprivileged user. */
  unprivileged?: boolean;
  /** Only meaningful when the tests run as root. */
  needsRoot?: boolean;
  /** Arguments made inside the launchers: [count, length] pairs. */
  pad?: Array<[number, number]>;
  /** The table's words: the kernel's verdict, faultline's, and why. */
  kernelSays: string;
  faultlineSays: string;
  note: string;
}

/** The ordinary program every case bends: ET_EXEC at 0x400000, exits 7. */
const EXIT = 7;
const BASE = 0x400000;
const CODE = 0x100;
const code = { offset: CODE, bytes: exitCode(EXIT) };

const load = (over: Partial<CraftedSegment> = {}): CraftedSegment => ({
  type: PT_LOAD,
  flags: PF_R | PF_X,
  offset: 0,
  vaddr: BASE,
  filesz: 0x200,
  memsz: 0x200,
  align: 0x1000,
  ...over,
});

/** The exit-7 program with these segments (and entry at its code). */
const program = (segments: CraftedSegment[], extra: Partial<Parameters<typeof craftElf>[0]> = {}) =>
  craftElf({ entry: BASE + CODE, segments, contents: [code], ...extra });

function file(dir: string, name: string, bytes: Buffer | string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  chmodSync(path, mode);
  return path;
}

const made = (path: string): Made => ({ argv: [path] });

/** A program whose PT_INTERP holds `path` (raw bytes; include the NUL). */
function withInterpreter(path: string, over: Partial<CraftedSegment> = {}, size?: number): Buffer {
  const bytes = new TextEncoder().encode(path);
  const interp: CraftedSegment = { type: PT_INTERP, flags: PF_R, offset: 0x300, vaddr: 0, filesz: bytes.length, memsz: bytes.length, align: 1, ...over };
  return craftElf({
    entry: BASE + CODE,
    segments: [interp, load({ filesz: 0x400, memsz: 0x400 })],
    contents: [code, { offset: 0x300, bytes }],
    ...(size === undefined ? {} : { size }),
  });
}

/** An interpreter that exits 9 (ET_DYN, no PT_INTERP), with overrides. */
function interpreter(over: Partial<Parameters<typeof craftElf>[0]> = {}): Buffer {
  return craftElf({ type: 3, entry: CODE, segments: [load({ vaddr: 0 })], contents: [{ offset: CODE, bytes: exitCode(9) }], ...over });
}

/** A program whose interpreter is `bytes`, written beside it. */
function programWithInterpreter(dir: string, name: string, bytes: Buffer | string, mode = 0o755): Made {
  const interp = file(dir, `${name}.interp`, bytes, mode);
  return made(file(dir, name, withInterpreter(`${interp}\0`)));
}

/** A chain of `depth` #! scripts ending at the exit-7 program. */
function scripts(dir: string, name: string, depth: number): Made {
  let target = file(dir, `${name}.elf`, program([load()]));
  for (let i = depth; i >= 1; i--) target = file(dir, `${name}.${i}`, `#!${target}\n`);
  return made(target);
}

const SIGSEGV = { signal: "SIGSEGV" };
const AFTER_EXEC = "SIGSEGV: execve fails past its point of no return";
const REFUSED_BEFORE = "refused before forking";

export const VERDICT_CASES: VerdictCase[] = [
  // Finding and opening the file.
  { title: "empty file", make: (d) => made(file(d, "empty", "")), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "A shell would then run it as a script; a pager is not a shell" },
  { title: "directory", make: (d) => { mkdirSync(join(d, "adir")); return made(join(d, "adir")); }, kernel: { refused: "EACCES" }, kernelSays: "EACCES", faultlineSays: "EACCES, exit 126", note: "" },
  { title: "missing file", make: (d) => made(join(d, "missing")), kernel: { refused: "ENOENT" }, kernelSays: "ENOENT", faultlineSays: "ENOENT, exit 127", note: "" },
  { title: "dangling symbolic link", make: (d) => { symlinkSync(join(d, "nowhere"), join(d, "dangling")); return made(join(d, "dangling")); }, kernel: { refused: "ENOENT" }, kernelSays: "ENOENT", faultlineSays: "ENOENT, exit 127", note: "" },
  { title: "no execute permission", make: (d) => made(file(d, "noexec", program([load()]), 0o644)), kernel: { refused: "EACCES" }, kernelSays: "EACCES", faultlineSays: "EACCES, exit 126", note: "Root too needs one execute bit" },
  {
    title: "execute but no read permission",
    make: (d) => made(file(d, "noread", program([load()]), 0o711)),
    unprivileged: true,
    kernel: { exit: EXIT },
    faultline: { refused: "EACCES", kernel: "runs" },
    kernelSays: "runs",
    faultlineSays: "EACCES, exit 126",
    note: "The kernel reads the file itself; faultline must read it from user space. (Root reads anything: tested as nobody)",
  },
  {
    title: "on a noexec mount",
    make: (d) => {
      const mount = join(d, "noexec-mount");
      mkdirSync(mount);
      if (Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "noexec,size=1m", "tmpfs", mount]).exitCode !== 0) throw new Error("mount -t tmpfs -o noexec failed");
      return { argv: [file(mount, "program", program([load()]))], cleanup: () => void Bun.spawnSync(["umount", mount]) };
    },
    needsRoot: true,
    kernel: { refused: "EACCES" },
    kernelSays: "EACCES",
    faultlineSays: "EACCES, exit 126",
    note: "",
  },
  {
    title: "open for writing by another process",
    make: (d) => {
      const path = file(d, "busy", program([load()]));
      const fd = openSync(path, "a");
      return { argv: [path], cleanup: () => closeSync(fd) };
    },
    kernel: { refused: "ETXTBSY" },
    faultline: { exit: EXIT },
    kernelSays: "ETXTBSY",
    faultlineSays: "runs",
    note: "Not detected: user space cannot see the kernel's count of writers",
  },
  // The ELF header.
  {
    title: "a 32-bit x86 (i386) program",
    make: (d) => made(file(d, "i386", tinyProgram32(EXIT))),
    kernel: [{ exit: EXIT }, { refused: "ENOEXEC" }],
    faultline: { refused: "ENOEXEC" },
    kernelSays: "runs (IA32 emulation), else ENOEXEC",
    faultlineSays: "ENOEXEC, exit 126",
    note: "faultline loads x86-64 programs only",
  },
  { title: "EI_CLASS says 32-bit, the rest is x86-64", make: (d) => made(file(d, "class32", program([load()], { elfClass: 1 }))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "The x86-64 loader never reads EI_CLASS or EI_DATA" },
  { title: "EI_DATA says big-endian", make: (d) => made(file(d, "msb", program([load()], { data: 2 }))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "" },
  { title: "an aarch64 ELF", make: (d) => made(file(d, "aarch64", program([load()], { machine: 183 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "ET_REL", make: (d) => made(file(d, "rel", program([load()], { type: 1 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "ET_CORE", make: (d) => made(file(d, "core", program([load()], { type: 4 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "truncated ELF header (40 bytes)", make: (d) => made(file(d, "trunc-header", tinyProgram(EXIT).subarray(0, 40))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "truncated program headers", make: (d) => made(file(d, "trunc-phdrs", tinyProgram(EXIT).subarray(0, 100))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "e_phnum 0", make: (d) => made(file(d, "phnum0", program([load()], { phnum: 0 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "e_phnum 1170 (64 KiB of program headers)", make: (d) => made(file(d, "phnum-64k", program([load()], { phnum: 1170, size: 0x20000 }))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "Older kernels read at most a page of them (73)" },
  { title: "e_phnum 1171", make: (d) => made(file(d, "phnum-over", program([load()], { phnum: 1171, size: 0x20000 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "e_phnum 65535", make: (d) => made(file(d, "phnum-max", program([load()], { phnum: 0xffff }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "wrong e_phentsize", make: (d) => made(file(d, "phentsize", program([load()], { phentsize: 32 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "program headers past the end of the file", make: (d) => made(file(d, "phoff", program([load()], { phoff: 0x10000, size: 0x200 }))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  // Program headers.
  {
    title: "p_filesz > p_memsz",
    make: (d) => made(file(d, "filesz", program([load({ filesz: 0x200, memsz: 0x100 })]))),
    kernel: SIGSEGV,
    faultline: { refused: "EINVAL", kernel: "after-exec" },
    kernelSays: AFTER_EXEC,
    faultlineSays: `EINVAL, exit 126, ${REFUSED_BEFORE}`,
    note: "Nothing of the program runs in either case; a refusal names the reason",
  },
  {
    title: "p_offset not congruent with p_vaddr",
    make: (d) => made(file(d, "congruent", program([load({ offset: 0x10 })], { size: 0x1000 }))),
    kernel: SIGSEGV,
    faultline: { refused: "EINVAL", kernel: "after-exec" },
    kernelSays: `${AFTER_EXEC} (mmap: EINVAL)`,
    faultlineSays: `EINVAL, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  { title: "p_offset not congruent, no file bytes", make: (d) => made(file(d, "congruent-bss", program([load(), load({ vaddr: 0x600000, offset: 0x10, filesz: 0, memsz: 0x1000, flags: PF_R | PF_W })]))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "Nothing is mapped from the file, so the offset is never used" },
  { title: "p_align not a power of two", make: (d) => made(file(d, "align", program([load({ align: 0x3000 })]))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "The kernel ignores such an alignment" },
  { title: "unsorted PT_LOADs", make: (d) => made(file(d, "unsorted", program([load({ vaddr: 0x600000, flags: PF_R | PF_W, filesz: 0x10, memsz: 0x10 }), load()]))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "Mapped in table order" },
  {
    title: "overlapping PT_LOADs",
    make: (d) => made(file(d, "overlap", program([load({ memsz: 0x3000 }), load({ vaddr: 0x401000, offset: 0x1000, filesz: 0x10, memsz: 0x10, flags: PF_R | PF_W })], { size: 0x1010 }))),
    kernel: { exit: EXIT },
    kernelSays: "runs",
    faultlineSays: "runs",
    note: "A later segment replaces the pages under it",
  },
  { title: "a later PT_LOAD makes the entry's page non-executable", make: (d) => made(file(d, "overlap-entry", program([load(), load({ flags: PF_R })]))), kernel: SIGSEGV, kernelSays: "SIGSEGV at the first instruction", faultlineSays: "SIGSEGV at the first instruction", note: "" },
  {
    title: "a segment wrapping past the top of the address space",
    make: (d) => made(file(d, "wrap", program([load(), load({ vaddr: 0xfffffffffffff000, filesz: 0, memsz: 0x2000, flags: PF_R | PF_W })]))),
    kernel: SIGSEGV,
    faultline: { refused: "EINVAL", kernel: "after-exec" },
    kernelSays: AFTER_EXEC,
    faultlineSays: `EINVAL, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  {
    title: "a segment beyond the user address range",
    make: (d) => made(file(d, "beyond", program([load(), load({ vaddr: 0x7ffffffff000, filesz: 0, memsz: 0x2000, flags: PF_R | PF_W })]))),
    kernel: SIGSEGV,
    faultline: { refused: "EINVAL", kernel: "after-exec" },
    kernelSays: AFTER_EXEC,
    faultlineSays: `EINVAL, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  {
    title: "a huge p_memsz (a 64 TiB bss)",
    make: (d) => made(file(d, "huge-bss", program([load(), load({ vaddr: 0x600000, filesz: 0, memsz: 2 ** 46, flags: PF_R | PF_W })]))),
    kernel: SIGSEGV,
    faultline: { refused: "ENOMEM", kernel: "after-exec" },
    kernelSays: `${AFTER_EXEC} (ENOMEM: more than RAM and swap)`,
    faultlineSays: `ENOMEM, exit 126, ${REFUSED_BEFORE}`,
    note: "The kernel's commit rule (vm.overcommit_memory) is applied before forking: dpager's reservations would not be charged",
  },
  {
    title: "no PT_LOAD",
    make: (d) => made(file(d, "noload", program([{ type: PT_GNU_STACK, flags: PF_R | PF_W, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 }]))),
    kernel: SIGSEGV,
    faultline: { refused: "EINVAL", kernel: "after-exec" },
    kernelSays: "SIGSEGV: nothing is mapped",
    faultlineSays: `EINVAL, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  { title: "file bytes past the end of the file, untouched", make: (d) => made(file(d, "past-end", program([load({ filesz: 0x5000, memsz: 0x5000 })], { size: 0x1000 }))), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "Mapped all the same" },
  {
    title: "file bytes past the end of the file, touched",
    make: (d) => made(file(d, "past-end-touched", craftElf({ entry: 0x402000, segments: [load({ filesz: 0x5000, memsz: 0x5000 })], contents: [code], size: 0x1000 }))),
    kernel: { signal: "SIGBUS" },
    kernelSays: "SIGBUS when touched",
    faultlineSays: "SIGBUS when touched",
    note: "",
  },
  {
    title: "a writable bss starting in a page past the end of the file",
    make: (d) => made(file(d, "past-end-bss", program([load(), load({ vaddr: 0x601000, offset: 0x1000, filesz: 0x1800, memsz: 0x3000, flags: PF_R | PF_W })], { size: 0x1000 }))),
    kernel: SIGSEGV,
    faultline: { refused: "EFAULT", kernel: "after-exec" },
    kernelSays: `${AFTER_EXEC} (zeroing the bss: EFAULT)`,
    faultlineSays: `EFAULT, exit 126, ${REFUSED_BEFORE}`,
    note: "A read-only one runs: the kernel ignores the failed zeroing",
  },
  // The entry point.
  { title: "an entry point outside every executable segment", make: (d) => made(file(d, "entry-outside", craftElf({ entry: 0x500000, segments: [load()], contents: [code] }))), kernel: SIGSEGV, kernelSays: "SIGSEGV at the first instruction", faultlineSays: "SIGSEGV at the first instruction", note: "" },
  {
    title: "an entry point beyond user space",
    make: (d) => made(file(d, "entry-kernel", craftElf({ entry: 0xffff800000000000, segments: [load()], contents: [code] }))),
    kernel: SIGSEGV,
    faultline: { refused: "EINVAL", kernel: "after-exec" },
    kernelSays: AFTER_EXEC,
    faultlineSays: `EINVAL, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  { title: "a segment at address 0, run by root", make: (d) => made(file(d, "at-zero", tinyProgram(EXIT, 0))), needsRoot: true, kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "CAP_SYS_RAWIO lifts vm.mmap_min_addr" },
  {
    title: "a segment at address 0, run by a user",
    make: (d) => made(file(d, "at-zero-user", tinyProgram(EXIT, 0))),
    unprivileged: true,
    kernel: SIGSEGV,
    faultline: { refused: "EPERM", kernel: "after-exec" },
    kernelSays: `${AFTER_EXEC} (below vm.mmap_min_addr)`,
    faultlineSays: `EPERM, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  // PT_INTERP and the interpreter.
  { title: "PT_INTERP naming a missing file", make: (d) => made(file(d, "interp-missing", withInterpreter("/no/such/ld.so\0"))), kernel: { refused: "ENOENT" }, kernelSays: "ENOENT", faultlineSays: "ENOENT, exit 127", note: "" },
  { title: "PT_INTERP naming a missing file with a newline and an escape sequence in its name", make: (d) => made(file(d, "interp-control", withInterpreter("/no/such\n\x1b[31mld.so\0"))), kernel: { refused: "ENOENT" }, kernelSays: "ENOENT", faultlineSays: "ENOENT, exit 127", note: "Still one line: control characters in names are shown as escapes (`\\n`, `\\x1b`)" },
  { title: "PT_INTERP not NUL-terminated", make: (d) => made(file(d, "interp-nonul", withInterpreter("/lib64/ld-linux-x86-64.so.2"))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "PT_INTERP longer than PATH_MAX", make: (d) => made(file(d, "interp-long", withInterpreter("/lib64/ld-linux-x86-64.so.2\0", { filesz: 4097 }, 0x2000))), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "PT_INTERP with a name too long for a path component", make: (d) => made(file(d, "interp-name", withInterpreter(`/${"a".repeat(300)}\0`))), kernel: { refused: "ENAMETOOLONG" }, kernelSays: "ENAMETOOLONG", faultlineSays: "ENAMETOOLONG, exit 126", note: "" },
  { title: "PT_INTERP naming the empty path", make: (d) => made(file(d, "interp-empty", withInterpreter("\0\0"))), kernel: { refused: "EACCES" }, kernelSays: "EACCES", faultlineSays: "EACCES, exit 126", note: "The kernel looks the empty name up as the current directory" },
  { title: "PT_INTERP past the end of the file", make: (d) => made(file(d, "interp-past-end", withInterpreter("/lib64/ld-linux-x86-64.so.2\0", { filesz: 4000 }, 0x400))), kernel: { refused: "EIO" }, kernelSays: "EIO", faultlineSays: "EIO, exit 126", note: "A short read" },
  {
    title: "two PT_INTERPs",
    make: (d) => {
      const interp = file(d, "two-interp.interp", interpreter());
      const first = new TextEncoder().encode(`${interp}\0`);
      const second = new TextEncoder().encode("/no/such/ld.so\0");
      const segment = (offset: number, length: number): CraftedSegment => ({ type: PT_INTERP, flags: PF_R, offset, vaddr: 0, filesz: length, memsz: length, align: 1 });
      return made(file(d, "two-interp", craftElf({ entry: BASE + CODE, segments: [segment(0x300, first.length), segment(0x3c0, second.length), load({ filesz: 0x400, memsz: 0x400 })], contents: [code, { offset: 0x300, bytes: first }, { offset: 0x3c0, bytes: second }] })));
    },
    kernel: { exit: 9 },
    kernelSays: "runs, with the first",
    faultlineSays: "runs, with the first",
    note: "",
  },
  { title: "an interpreter that is not an ELF file", make: (d) => programWithInterpreter(d, "interp-text", `#!/bin/sh\n${"#".repeat(100)}\n`), kernel: { refused: "ELIBBAD" }, kernelSays: "ELIBBAD", faultlineSays: "ELIBBAD, exit 126", note: "" },
  { title: "an interpreter shorter than an ELF header", make: (d) => programWithInterpreter(d, "interp-short", "\x7fELF"), kernel: { refused: "EIO" }, kernelSays: "EIO", faultlineSays: "EIO, exit 126", note: "A short read, before any byte is looked at" },
  { title: "an interpreter without execute permission", make: (d) => programWithInterpreter(d, "interp-noexec", interpreter(), 0o644), kernel: { refused: "EACCES" }, kernelSays: "EACCES", faultlineSays: "EACCES, exit 126", note: "" },
  { title: "an interpreter for another machine", make: (d) => programWithInterpreter(d, "interp-arm", interpreter({ machine: 183 })), kernel: { refused: "ELIBBAD" }, kernelSays: "ELIBBAD", faultlineSays: "ELIBBAD, exit 126", note: "" },
  {
    title: "an ET_REL interpreter",
    make: (d) => programWithInterpreter(d, "interp-rel", interpreter({ type: 1 })),
    kernel: SIGSEGV,
    faultline: { refused: "ELIBBAD", kernel: "after-exec" },
    kernelSays: AFTER_EXEC,
    faultlineSays: `ELIBBAD, exit 126, ${REFUSED_BEFORE}`,
    note: "",
  },
  {
    title: "an interpreter that names an interpreter itself",
    make: (d) => {
      const inner = file(d, "interp-nested.inner", interpreter());
      return programWithInterpreter(d, "interp-nested", craftElf({ type: 3, entry: CODE, segments: [{ type: PT_INTERP, flags: PF_R, offset: 0x300, vaddr: 0, filesz: inner.length + 1, memsz: inner.length + 1, align: 1 }, load({ vaddr: 0, filesz: 0x400, memsz: 0x400 })], contents: [{ offset: CODE, bytes: exitCode(11) }, { offset: 0x300, bytes: new TextEncoder().encode(`${inner}\0`) }] }));
    },
    kernel: { exit: 11 },
    kernelSays: "runs it; its PT_INTERP is ignored",
    faultlineSays: "runs it; its PT_INTERP is ignored",
    note: "",
  },
  {
    title: "an ET_EXEC program that is its own interpreter",
    make: (d) => {
      const path = join(d, "own-interp");
      return made(file(d, "own-interp", withInterpreter(`${path}\0`)));
    },
    kernel: { exit: EXIT },
    kernelSays: "runs; the second mapping replaces the first",
    faultlineSays: "runs; the second mapping replaces the first",
    note: "",
  },
  // Scripts.
  { title: "#! scripts nested 5 deep", make: (d) => scripts(d, "nest5", 5), kernel: { exit: EXIT }, kernelSays: "runs", faultlineSays: "runs", note: "" },
  { title: "#! scripts nested 6 deep", make: (d) => scripts(d, "nest6", 6), kernel: { refused: "ELOOP" }, kernelSays: "ELOOP", faultlineSays: "ELOOP, exit 126", note: "" },
  { title: "#! naming a missing interpreter", make: (d) => made(file(d, "script-missing", "#!/no/such/interpreter -x\n")), kernel: { refused: "ENOENT" }, kernelSays: "ENOENT", faultlineSays: "ENOENT, exit 127", note: "" },
  { title: "#! with no interpreter name", make: (d) => made(file(d, "script-blank", "#!  \t\necho hi\n")), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  { title: "#! name cut off by the 256-byte limit", make: (d) => made(file(d, "script-cut", `#!/${"a".repeat(300)}`)), kernel: { refused: "ENOEXEC" }, kernelSays: "ENOEXEC", faultlineSays: "ENOEXEC, exit 126", note: "" },
  {
    title: "#! without a newline, in a short file",
    make: (d) => {
      const target = file(d, "script-nonl.elf", program([load()]));
      return made(file(d, "script-nonl", `#!${target}`));
    },
    kernel: { exit: EXIT },
    kernelSays: "runs",
    faultlineSays: "runs",
    note: "The kernel's buffer is zero-padded",
  },
  // The argument list.
  {
    title: "arguments larger than the kernel accepts",
    make: (d) => made(file(d, "e2big", program([load()]))),
    pad: [[40, 100_000]],
    kernel: { refused: "E2BIG" },
    kernelSays: "E2BIG",
    faultlineSays: "E2BIG, exit 126",
    note: "A quarter of RLIMIT_STACK, between 128 KiB and 6 MiB",
  },
];

/** The row docs/differences.md carries for a case; a difference from
 * the kernel's verdict is marked as one. */
export function tableRow(c: VerdictCase): string {
  const note = c.faultline ? `**Differs.**${c.note ? ` ${c.note}` : ""}` : c.note;
  return `| ${c.title} | ${c.kernelSays} | ${c.faultlineSays} | ${note} |`;
}
