/**
 * A stack image read back as the program will find it (argc, argv, envp,
 * the auxiliary vector): what the stack tests check buildStack's images by.
 */
import { AT_NULL, type AuxvEntry, type StackImage } from "../../src/loader/stack.ts";

const WORD = 8;

/** What a program finds on its stack, read back from an image. */
interface ParsedStack {
  argv: string[];
  envp: string[];
  auxv: AuxvEntry[];
}

export function readStackImage(image: Pick<StackImage, "bytes" | "low" | "sp">): ParsedStack {
  const view = new DataView(image.bytes.buffer, image.bytes.byteOffset, image.bytes.byteLength);
  let cursor = image.sp - image.low;
  const next = () => {
    const value = view.getBigUint64(cursor, true);
    cursor += WORD;
    return value;
  };
  const stringAt = (address: bigint) => {
    const start = Number(address) - image.low;
    const end = image.bytes.indexOf(0, start);
    return new TextDecoder().decode(image.bytes.subarray(start, end));
  };
  const argc = Number(next());
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) argv.push(stringAt(next()));
  if (next() !== 0n) throw new Error("argv is not NULL-terminated");
  const envp: string[] = [];
  for (let pointer = next(); pointer !== 0n; pointer = next()) envp.push(stringAt(pointer));
  const auxv: AuxvEntry[] = [];
  for (;;) {
    const type = Number(next());
    const value = next();
    auxv.push([type, value]);
    if (type === AT_NULL) break;
  }
  return { argv, envp, auxv };
}
