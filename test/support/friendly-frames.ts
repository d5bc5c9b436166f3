/** The frames of a friendly crash report ("at:" and "from:" lines), read
 * back into their parts, and the line numbers the tests expect them at. */

export interface Frame {
  /** The line as printed, without its label. */
  raw: string;
  function: string | null;
  offset: string | null;
  /** "file:line" (or just "file"), when the report has one. */
  location: string | null;
  /** The shared library it is in; null for the program itself. */
  module: string | null;
  repeat: number;
  /** A call inlined into the next frame. */
  inlined: boolean;
}

const LABEL = /^ {2}(?:at|from): +| {11}/;
const FRAME = /^(?<name>\S+?)(?:\+(?<offset>0x[0-9a-f]+))?(?: \((?<location>[^)]*)\))?(?<inlined>, inlined)?(?: in (?<module>\S+))?(?: x (?<repeat>\d+))?$/;
/** A library named for want of a function: "libc.so.6+0x9f3e5". */
const LIBRARY = /\.so(?:\.\d+)*$/;

export function parseFrame(raw: string): Frame {
  const m = FRAME.exec(raw)?.groups;
  if (!m) return { raw, function: null, offset: null, location: null, module: null, repeat: 1, inlined: false };
  const unnamedLibrary = m.module === undefined && LIBRARY.test(m.name!);
  return {
    raw,
    function: unnamedLibrary ? null : m.name!,
    offset: m.offset ?? null,
    location: m.location ?? null,
    module: m.module ?? (unnamedLibrary ? m.name! : null),
    repeat: m.repeat === undefined ? 1 : Number(m.repeat),
    inlined: m.inlined !== undefined,
  };
}

/** The frames in a report, innermost first, without the notes after them
 * ("... and N more frames", "(stopped here: ...)"). */
export function framesIn(stderr: string): Frame[] {
  const lines = stderr.split("\n");
  const first = lines.findIndex((line) => line.startsWith("  at:      "));
  if (first < 0) return [];
  const frames: Frame[] = [];
  for (const line of lines.slice(first)) {
    if (frames.length > 0 && !LABEL.test(line)) break;
    const text = line.replace(LABEL, "");
    if (text.startsWith("... and ") || text.startsWith("(stopped here: ")) continue;
    frames.push(parseFrame(text));
  }
  return frames;
}

/** The 1-based number of the first line of source that contains text. */
export function lineOf(source: string, text: string): number {
  const index = source.split("\n").findIndex((line) => line.includes(text));
  if (index < 0) throw new Error(`no line contains ${JSON.stringify(text)}`);
  return index + 1;
}

/** The code ranges a binary's .eh_frame describes (readelf's FDE lines). */
export function unwindRanges(binary: string): Array<[bigint, bigint]> {
  const dump = Bun.spawnSync(["readelf", "--debug-dump=frames", binary]).stdout.toString();
  return [...dump.matchAll(/ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/g)].map((m) => [BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)]);
}

/** A symbol's address in a binary, from nm. */
export function symbolAddress(binary: string, name: string): bigint {
  const line = Bun.spawnSync(["nm", binary]).stdout.toString().split("\n").find((l) => l.endsWith(` ${name}`));
  if (line === undefined) throw new Error(`${binary} has no symbol ${name}`);
  return BigInt(`0x${line.split(" ")[0]}`);
}
