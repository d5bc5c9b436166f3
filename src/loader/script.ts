/**
 * `#!` scripts, as the kernel's binfmt_script reads them. Pure: the file's
 * first bytes in, the interpreter and its optional argument out; following
 * a chain of them opens files only through the function it is given.
 */
import { LoadError } from "./errors.ts";

/** The kernel reads this much of a file to recognise its format (BINPRM_BUF_SIZE). */
const SCRIPT_HEAD_BYTES = 256;
/** exec_binprm gives up after this many rounds of interpreters (ELOOP). */
const MAX_SCRIPT_DEPTH = 5;

interface Shebang {
  interpreter: string;
  argument: string | null;
}

const isSpaceTab = (c: number | undefined) => c === 0x20 || c === 0x09;
const isTerminator = (c: number | undefined) => c === 0x20 || c === 0x09 || c === 0;

/** The first index in [from, last] (inclusive, as the kernel's helpers
 * scan) that is not a space or tab, or -1. */
function nextNonSpaceTab(buf: Uint8Array, from: number, last: number): number {
  for (let i = from; i <= last; i++) if (!isSpaceTab(buf[i])) return i;
  return -1;
}

/** The first index in [from, last] holding a space, tab or NUL, or -1. */
function nextTerminator(buf: Uint8Array, from: number, last: number): number {
  for (let i = from; i <= last; i++) if (isTerminator(buf[i])) return i;
  return -1;
}

/** The C string at `from`: up to its NUL, or up to `end` (where the kernel
 * writes one). */
function cString(buf: Uint8Array, from: number, end: number): string {
  const bytes = buf.subarray(from, end);
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
}

/**
 * null: not a script (no `#!`). "malformed": a `#!` line the kernel refuses
 * (ENOEXEC: no interpreter name, or a name cut off by the 256-byte limit).
 *
 * binfmt_script's load_script, step for step, on the same buffer: the
 * file's first 256 bytes, zero-padded when it is shorter. The line ends at
 * the first newline before any NUL; without one, the name must visibly end
 * (at a space, tab or NUL) within the buffer, and the line is then its first
 * 255 bytes. Trailing spaces and tabs go; the name is the first word; the
 * argument is everything after the blanks that follow it, spaces included,
 * up to the end of the line or a NUL. A name followed only by blanks and
 * then a NUL has an empty argument, which the kernel passes on.
 */
export function parseShebang(head: Uint8Array): Shebang | null | "malformed" {
  if (head.length < 2 || head[0] !== 0x23 || head[1] !== 0x21) return null;
  const buf = new Uint8Array(SCRIPT_HEAD_BYTES);
  buf.set(head.subarray(0, SCRIPT_HEAD_BYTES));
  const last = SCRIPT_HEAD_BYTES - 1;
  const nul = buf.indexOf(0);
  let end = buf.subarray(0, nul < 0 ? SCRIPT_HEAD_BYTES : nul).indexOf(0x0a);
  if (end < 0) {
    const start = nextNonSpaceTab(buf, 2, last);
    if (start < 0 || nextTerminator(buf, start, last) < 0) return "malformed";
    end = last;
  }
  while (isSpaceTab(buf[end - 1])) end--;
  const nameStart = nextNonSpaceTab(buf, 2, end);
  if (nameStart < 0 || nameStart === end) return "malformed";
  const separator = nextTerminator(buf, nameStart, end);
  const argumentStart = separator >= 0 && buf[separator] !== 0 ? nextNonSpaceTab(buf, separator, end) : -1;
  if (argumentStart < 0) return { interpreter: cString(buf, nameStart, end), argument: null };
  return { interpreter: cString(buf, nameStart, separator), argument: cString(buf, argumentStart, end) };
}

/** The interpreter's argument list: its name, its argument, the script's
 * path as it was run, then the script's own arguments. */
export function scriptArgv(shebang: Shebang, scriptPath: string, argv: readonly string[]): string[] {
  return [shebang.interpreter, ...(shebang.argument !== null ? [shebang.argument] : []), scriptPath, ...argv.slice(1)];
}

/** A file read for loading, as the #! loop needs it. */
interface HeadedFile {
  path: string;
  head: Uint8Array;
}

/** Where a chain of #! lines ends: the file that really runs, its
 * arguments, and whether any script was on the way. */
interface FollowedScripts<File extends HeadedFile> {
  file: File;
  argv: string[];
  scripted: boolean;
}

/**
 * Follow #! lines from `first` (run as `argv`, named `named` as the caller
 * typed it) as exec_binprm does, to the file that is no script: each
 * script is handed to `leave` (to close it, note it) before its
 * interpreter is opened with `open`. Throws the kernel's LoadError for a
 * malformed line (ENOEXEC) or too many levels (ELOOP).
 */
export function followScripts<File extends HeadedFile>(first: File, argv: readonly string[], named: string, open: (interpreter: string) => File, leave: (script: File) => void): FollowedScripts<File> {
  let file = first;
  let args = [...argv];
  for (let depth = 0; ; depth++) {
    const shebang = parseShebang(file.head);
    if (shebang === null) return { file, argv: args, scripted: depth > 0 };
    if (shebang === "malformed") throw new LoadError(file.path, "malformed #! line", "ENOEXEC");
    if (depth >= MAX_SCRIPT_DEPTH) throw new LoadError(named, `more than ${MAX_SCRIPT_DEPTH} levels of #! interpreters`, "ELOOP");
    args = scriptArgv(shebang, file.path, args);
    leave(file);
    file = open(shebang.interpreter);
  }
}
