/**
 * The resolver's side of the exchange with a crashing program's friendly
 * handler (shim/friendly/source-lines.c), and the reading of addr2line's output.
 * Pure: text in, text out; src/friendly/source-resolver.ts does the I/O.
 *
 * Request, from the handler: the line "faultline-frames 1", then one line
 * per frame, "<link address in hex> <module path>" ("-" for no module),
 * then an empty line. Answer: per frame, lines
 * "<frame>\t<function>\t<file:line>", the calls inlined there first and the
 * frame's own function last (either field may be empty), then a line ".".
 * An answer may begin with the line "colour": the report goes to a terminal
 * that wants colour (the resolver's process decides, for its stderr, which
 * the program shares); a handler skips any line it does not know.
 */

/** The environment variable that names the resolver's socket. */
export const RESOLVER_VARIABLE = "FAULTLINE_FRIENDLY_RESOLVER";
const REQUEST_VERSION_LINE = "faultline-frames 1";
export const ANSWER_END = ".\n";
/** The answer's first line when the report is to be in colour. */
export const COLOUR_LINE = "colour\n";
/** The handler keeps 16 KiB of answer; stay clear of it. */
export const ANSWER_LIMIT_BYTES = 15 * 1024;
/** Longest function name or location passed on (the handler's lines stay
 * readable; C++ names can be far longer). */
export const FIELD_LIMIT = 160;
/** Calls shown as inlined into one frame, at most. */
export const INLINED_LIMIT = 4;

/** One frame the handler asks about. */
export interface FrameQuery {
  frame: number;
  /** The link address (as in the file) to look up. */
  address: bigint;
  /** The module's path, or null for code in no file. */
  module: string | null;
}

/** One function at an address: the innermost first when calls were
 * inlined there. */
export interface SourceEntry {
  function: string | null;
  file: string | null;
  line: number | null;
}

/** The frames of a complete request (it ends with an empty line), or null
 * if the text is not one yet or not one at all. */
export function parseFrameRequest(text: string): FrameQuery[] | null {
  const end = text.indexOf("\n\n");
  if (end < 0) return null;
  const [version, ...lines] = text.slice(0, end).split("\n");
  if (version !== REQUEST_VERSION_LINE) return null;
  const queries: FrameQuery[] = [];
  for (const [frame, line] of lines.entries()) {
    const match = /^([0-9a-f]{1,16}) (.+)$/.exec(line);
    if (!match) return null;
    queries.push({ frame, address: BigInt(`0x${match[1]}`), module: match[2] === "-" ? null : match[2]! });
  }
  return queries;
}

/** Whether a request that has not ended yet has outgrown any real one. */
export function requestTooLong(text: string): boolean {
  return text.length > 64 * 1024;
}

/** The addresses to give addr2line for each module, in order, once each. */
export function addressesByModule(queries: readonly FrameQuery[]): Map<string, bigint[]> {
  const byModule = new Map<string, bigint[]>();
  for (const query of queries) {
    if (query.module === null) continue;
    const addresses = byModule.get(query.module) ?? [];
    if (!addresses.includes(query.address)) addresses.push(query.address);
    byModule.set(query.module, addresses);
  }
  return byModule;
}

/** addr2line's arguments for one module (-a: each address's group starts
 * with it; -f: function names; -i: inlined calls too; -C: demangled). */
export function addr2lineArguments(module: string, addresses: readonly bigint[]): string[] {
  return ["-a", "-f", "-i", "-C", "-e", module, ...addresses.map((a) => `0x${a.toString(16)}`)];
}

/** "??" and "??:0"-style unknowns as nulls, "(discriminator N)" dropped. */
function entryFrom(functionLine: string, locationLine: string): SourceEntry {
  const fn = functionLine.trim();
  const location = locationLine.replace(/\s*\(discriminator \d+\)\s*$/, "").trim();
  const colon = location.lastIndexOf(":");
  const file = colon >= 0 ? location.slice(0, colon) : location;
  const line = colon >= 0 ? Number(location.slice(colon + 1)) : NaN;
  const known = file !== "" && file !== "??";
  return {
    function: fn === "" || fn === "??" ? null : fn,
    file: known ? file : null,
    line: known && Number.isInteger(line) && line > 0 ? line : null,
  };
}

/** addr2line -a -f -i output: for each address, its entries, innermost
 * first. An address line is "0x" and 16 hex digits; then pairs of lines,
 * function and file:line. */
export function parseAddr2line(output: string): Map<bigint, SourceEntry[]> {
  const result = new Map<bigint, SourceEntry[]>();
  const lines = output.split("\n");
  let current: SourceEntry[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const address = /^0x([0-9a-f]{16})$/.exec(line);
    if (address) {
      current = [];
      result.set(BigInt(`0x${address[1]}`), current);
      continue;
    }
    if (current === null || line === "" || i + 1 >= lines.length) continue;
    current.push(entryFrom(line, lines[++i]!));
  }
  return result;
}

/** A path as the user will want to read it: relative to the directory
 * they ran from when it is inside it. */
export function displayPath(file: string, cwd: string): string {
  const prefix = cwd.endsWith("/") ? cwd : `${cwd}/`;
  return file.startsWith(prefix) ? file.slice(prefix.length) : file;
}

/** A field the handler can take: one line, no tab, no control character
 * (a binary's debug information is not to drive the terminal), not too
 * long. */
function field(text: string | null): string {
  const flat = (text ?? "").replace(/[\x00-\x1f\x7f]/g, " ");
  return flat.length > FIELD_LIMIT ? `${flat.slice(0, FIELD_LIMIT - 3)}...` : flat;
}

function location(entry: SourceEntry, cwd: string): string {
  if (entry.file === null) return "";
  const file = displayPath(entry.file, cwd);
  return entry.line === null ? file : `${file}:${entry.line}`;
}

/** The answer: each frame's entries (the innermost INLINED_LIMIT inlined
 * calls, where the line is, then its own function), in frame order, until the next frame's
 * lines would not fit, then ".". A frame nothing is known about gets no
 * line: the handler names it from the symbol tables. */
export function formatAnswer(queries: readonly FrameQuery[], resolved: (query: FrameQuery) => SourceEntry[] | undefined, cwd: string): string {
  let answer = "";
  for (const query of queries) {
    const entries = resolved(query) ?? [];
    if (entries.length === 0) continue;
    const own = entries[entries.length - 1]!;
    const inlined = entries.slice(0, -1).slice(0, INLINED_LIMIT);
    const lines = [...inlined, own]
      .map((entry) => `${query.frame}\t${field(entry.function)}\t${field(location(entry, cwd))}\n`)
      .join("");
    if (own.function === null && own.file === null && inlined.length === 0) continue;
    if (Buffer.byteLength(answer + lines) + ANSWER_END.length > ANSWER_LIMIT_BYTES) break;
    answer += lines;
  }
  return answer + ANSWER_END;
}

/** The answer, asking for colour first where the report is to have it. */
export function styledAnswer(answer: string, colour: boolean): string {
  return colour ? `${COLOUR_LINE}${answer}` : answer;
}
