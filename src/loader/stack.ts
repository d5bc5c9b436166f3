/**
 * The initial stack image, laid out as Linux's exec does it (fs/exec.c and
 * create_elf_tables in fs/binfmt_elf.c). Pure: strings, auxiliary vector
 * template and chosen addresses in; bytes and the addresses they hold out.
 *
 * From the top of the stack down:
 *   8 zero bytes, the executable's file name (AT_EXECFN), the environment
 *   strings, the argument strings (argv[0] lowest), a random gap of up to
 *   8 KiB rounded to 16 bytes (arch_align_stack), the platform string, 16
 *   random bytes (AT_RANDOM), padding to 16 bytes, then from the stack
 *   pointer upward: argc, argv[], NULL, envp[], NULL, the auxiliary vector
 *   ending in AT_NULL.
 */
import { LoadError } from "./errors.ts";
import { PAGE_SIZE } from "./elf.ts";
import { pageDown } from "./plan.ts";

export const AT_NULL = 0;
export const AT_PHDR = 3;
export const AT_PHENT = 4;
export const AT_PHNUM = 5;
export const AT_PAGESZ = 6;
export const AT_BASE = 7;
export const AT_FLAGS = 8;
export const AT_ENTRY = 9;
export const AT_PLATFORM = 15;
export const AT_SECURE = 23;
export const AT_BASE_PLATFORM = 24;
export const AT_RANDOM = 25;
export const AT_EXECFN = 31;
export const AT_SYSINFO_EHDR = 33;
export const AT_EXECFD = 2;

const WORD = 8;
const RANDOM_BYTES = 16;
const STACK_ALIGNMENT = 16;
/** The kernel grows the new stack by 128 KiB below the argument pages
 * (setup_arg_pages' stack_expand). */
export const STACK_EXPAND = 128 * 1024;
/** A single argument or environment string may be at most 32 pages
 * (MAX_ARG_STRLEN). */
export const MAX_ARG_STRLEN = 32 * PAGE_SIZE;
/** The floor of the argument space, whatever RLIMIT_STACK says (ARG_MAX). */
const ARG_MAX = 32 * PAGE_SIZE;
/** _STK_LIM: the kernel caps argument space at 3/4 of this. */
const STK_LIM = 8 * 1024 * 1024;

export type AuxvEntry = readonly [type: number, value: bigint];

export interface StackRequest {
  /** The stack mapping's end (page aligned); the image ends here. */
  top: number;
  argv: readonly string[];
  envp: readonly string[];
  /** AT_EXECFN: the path the program was run by. */
  execfn: string;
  /** AT_PLATFORM's string ("x86_64"). */
  platform: string;
  /** AT_RANDOM's 16 bytes. */
  random: Uint8Array;
  /** The auxiliary vector without AT_NULL; AT_EXECFN, AT_RANDOM and
   * AT_PLATFORM are filled in with the addresses of their strings. */
  auxv: readonly AuxvEntry[];
  /** arch_align_stack's random offset, in [0, 8192). */
  alignGap: number;
  /** RLIMIT_STACK in bytes (Infinity when unlimited): the kernel's E2BIG
   * limit and the initial stack mapping follow it. */
  stackLimit: number;
}

export interface StackImage {
  /** The image's bytes, ending at `top`; they start at `low`. */
  bytes: Uint8Array;
  low: number;
  top: number;
  /** Where rsp points at the jump: argc. */
  sp: number;
  argStart: number;
  argEnd: number;
  envStart: number;
  envEnd: number;
  /** The auxiliary vector as written, AT_NULL included, and its address. */
  auxv: AuxvEntry[];
  auxvAt: number;
  /** Byte offsets in `bytes` of the words that hold addresses on the stack
   * (argv[], envp[], AT_EXECFN, AT_RANDOM, AT_PLATFORM): built for a
   * nominal top, they move with the stack. */
  stackPointers: number[];
  /** Byte offset in `bytes` of each auxiliary vector entry's value. */
  auxvValues: Map<number, number>;
  /** Lowest address of the kernel's initial stack mapping (128 KiB below
   * the strings, or less under a small RLIMIT_STACK). */
  mappingStart: number;
}

const encoder = new TextEncoder();

function cString(s: string): Uint8Array {
  const bytes = encoder.encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The argument space the kernel allows for this RLIMIT_STACK
 * (bprm_stack_limits): a quarter of the limit, at most 3/4 of _STK_LIM (so
 * 6 MiB when the limit is unlimited), at least ARG_MAX, less the pointers. */
export function argumentSpace(stackLimit: number, argc: number, envc: number): number {
  const limit = Math.max(Math.min(Math.floor(stackLimit / 4), (STK_LIM / 4) * 3), ARG_MAX);
  return limit - (Math.max(argc, 1) + envc) * WORD;
}

/**
 * The argument, environment and file-name strings as the kernel copies them
 * (ascending: argv[0] .. argv[n-1], envp[0] .. envp[m-1], the file name,
 * each NUL-terminated), encoded in one pass, and where each string starts.
 */
function encodeStrings(request: StackRequest): { bytes: Buffer; starts: number[] } {
  const all = [...request.argv, ...request.envp, request.execfn];
  for (const s of all) {
    if (s.includes("\0")) throw new LoadError(request.execfn, "an argument or environment string contains a NUL byte", "EINVAL");
  }
  const bytes = Buffer.from(`${all.join("\0")}\0`);
  const starts = new Array<number>(all.length);
  let at = 0;
  for (let i = 0; i < all.length; i++) {
    starts[i] = at;
    at = bytes.indexOf(0, at) + 1;
  }
  return { bytes, starts };
}

export function buildStack(request: StackRequest): StackImage {
  const argc = request.argv.length;
  const envc = request.envp.length;
  const strings = encodeStrings(request);
  const lengthOf = (i: number) => (i + 1 < strings.starts.length ? strings.starts[i + 1]! : strings.bytes.length) - strings.starts[i]!;
  for (let i = 0; i < argc + envc; i++) {
    if (lengthOf(i) > MAX_ARG_STRLEN) {
      throw new LoadError(request.execfn, `an argument or environment string is longer than ${MAX_ARG_STRLEN} bytes`, "E2BIG");
    }
  }
  const stringBytes = strings.bytes.length;
  const space = argumentSpace(request.stackLimit, argc, envc);
  if (stringBytes > space) {
    throw new LoadError(request.execfn, `arguments and environment take ${stringBytes} bytes; the stack limit allows ${Math.max(space, 0)}`, "E2BIG");
  }

  // Strings, from the top down (bprm->p starts one word below the top): the
  // file name highest, then the environment, then the arguments, so that in
  // ascending order they read as encoded.
  const stringsLow = request.top - WORD - stringBytes;
  const placed: Array<{ at: number; bytes: Uint8Array }> = [{ at: stringsLow, bytes: strings.bytes }];
  const addressOf = (i: number) => stringsLow + strings.starts[i]!;
  const argAt = Array.from({ length: argc }, (_, i) => addressOf(i));
  const envAt = Array.from({ length: envc }, (_, i) => addressOf(argc + i));
  const execfnAt = addressOf(argc + envc);
  let p = stringsLow;
  const place = (bytes: Uint8Array) => {
    p -= bytes.length;
    placed.push({ at: p, bytes });
    return p;
  };

  const argStart = argc > 0 ? argAt[0]! : stringsLow;
  const envStart = envc > 0 ? envAt[0]! : execfnAt;
  const argEnd = envStart;
  const envEnd = execfnAt;

  // create_elf_tables
  p = p - request.alignGap;
  p -= p % STACK_ALIGNMENT;
  const platformAt = place(cString(request.platform));
  if (request.random.length !== RANDOM_BYTES) throw new Error(`AT_RANDOM needs ${RANDOM_BYTES} bytes`);
  const randomAt = place(request.random);

  const pointerFor: Record<number, number> = { [AT_EXECFN]: execfnAt, [AT_RANDOM]: randomAt, [AT_PLATFORM]: platformAt };
  const auxv: AuxvEntry[] = request.auxv
    .filter(([type]) => type !== AT_NULL)
    .map(([type, value]) => [type, pointerFor[type] !== undefined ? BigInt(pointerFor[type]) : value] as const);
  auxv.push([AT_NULL, 0n]);

  const items = argc + 1 + (envc + 1) + 1;
  const words = items + auxv.length * 2;
  let sp = p - words * WORD;
  sp -= ((sp % STACK_ALIGNMENT) + STACK_ALIGNMENT) % STACK_ALIGNMENT;

  const low = pageDown(sp);
  const bytes = new Uint8Array(request.top - low);
  const view = new DataView(bytes.buffer);
  for (const { at, bytes: b } of placed) bytes.set(b, at - low);
  let cursor = sp - low;
  const stackPointers: number[] = [];
  const auxvValues = new Map<number, number>();
  const word = (value: bigint | number, onStack = false) => {
    if (onStack) stackPointers.push(cursor);
    if (typeof value === "bigint") view.setBigUint64(cursor, value, true);
    else {
      view.setUint32(cursor, value % 2 ** 32, true);
      view.setUint32(cursor + 4, Math.floor(value / 2 ** 32), true);
    }
    cursor += WORD;
  };
  word(argc);
  for (const at of argAt) word(at, true);
  word(0);
  for (const at of envAt) word(at, true);
  word(0);
  for (const [type, value] of auxv) {
    word(type);
    auxvValues.set(type, cursor);
    word(value, pointerFor[type] !== undefined);
  }

  return {
    bytes,
    low,
    top: request.top,
    sp,
    argStart,
    argEnd,
    envStart,
    envEnd,
    auxv,
    auxvAt: sp + items * WORD,
    stackPointers,
    auxvValues,
    mappingStart: initialMappingStart(request.top, stringsLow, low, request.stackLimit),
  };
}

/** Where setup_arg_pages starts the stack mapping: 128 KiB below the pages
 * holding the strings, unless RLIMIT_STACK (rounded down to a page) allows
 * less; then create_elf_tables extends it to cover the pointers it writes. */
function initialMappingStart(top: number, stringsLow: number, low: number, stackLimit: number): number {
  const wanted = top - pageDown(stringsLow) + STACK_EXPAND;
  const reach = Number.isFinite(stackLimit) ? Math.min(pageDown(stackLimit), wanted) : wanted;
  return Math.min(low, top - reach);
}
