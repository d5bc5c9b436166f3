/**
 * `#!` scripts, as the kernel's binfmt_script reads them. Pure: the file's
 * first bytes in, the interpreter and its optional argument out.
 */

/** The kernel reads this much of a file to recognise its format (BINPRM_BUF_SIZE). */
export const SCRIPT_HEAD_BYTES = 256;
/** exec_binprm gives up after this many rounds of interpreters (ELOOP). */
export const MAX_SCRIPT_DEPTH = 5;

export interface Shebang {
  interpreter: string;
  argument: string | null;
}

const isSpaceTab = (c: number | undefined) => c === 0x20 || c === 0x09;
const isTerminator = (c: number | undefined) => c === 0x20 || c === 0x09 || c === 0;

/**
 * null: not a script (no `#!`). "malformed": a `#!` line the kernel refuses
 * (no interpreter name, or a name cut off by the 256-byte limit).
 */
export function parseShebang(head: Uint8Array): Shebang | null | "malformed" {
  if (head.length < 2 || head[0] !== 0x23 || head[1] !== 0x21) return null;
  const buf = head.subarray(0, SCRIPT_HEAD_BYTES);
  let end = buf.indexOf(0x0a);
  if (end < 0) {
    // No newline in the buffer: acceptable only if the name visibly ends.
    let i = 2;
    while (i < buf.length && isSpaceTab(buf[i])) i++;
    if (i >= buf.length) return "malformed";
    let j = i;
    while (j < buf.length && !isTerminator(buf[j])) j++;
    if (j >= buf.length) return "malformed";
    end = buf.length;
  }
  while (end > 2 && isSpaceTab(buf[end - 1])) end--;
  let nameStart = 2;
  while (nameStart < end && isSpaceTab(buf[nameStart])) nameStart++;
  if (nameStart >= end) return "malformed";
  let nameEnd = nameStart;
  while (nameEnd < end && !isTerminator(buf[nameEnd])) nameEnd++;
  const decode = (from: number, to: number) => {
    const bytes = buf.subarray(from, to);
    const nul = bytes.indexOf(0);
    return new TextDecoder().decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
  };
  const interpreter = decode(nameStart, nameEnd);
  let argument: string | null = null;
  if (nameEnd < end && buf[nameEnd] !== 0) {
    let argStart = nameEnd;
    while (argStart < end && isSpaceTab(buf[argStart])) argStart++;
    if (argStart < end) argument = decode(argStart, end);
  }
  return { interpreter, argument };
}

/** The interpreter's argument list: its name, its argument, the script's
 * path as it was run, then the script's own arguments. */
export function scriptArgv(shebang: Shebang, scriptPath: string, argv: readonly string[]): string[] {
  return [shebang.interpreter, ...(shebang.argument !== null ? [shebang.argument] : []), scriptPath, ...argv.slice(1)];
}
