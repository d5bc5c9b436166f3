/**
 * Colour for what the commands say on stderr: the `warning:` and `note:`
 * of their lines stand out on a terminal, and nowhere else. NO_COLOR (any
 * value but empty) turns colour off, FORCE_COLOR (any value but 0 or
 * false) on even into a pipe or file; otherwise only a terminal that is not
 * `TERM=dumb` gets it. picocolors paints; deciding whether is done here,
 * for stderr (picocolors' own guess looks at stdout and turns colour on in
 * any CI, terminal or not).
 */
import { createRequire } from "node:module";
import type picocolorsModule from "picocolors";
import { isTerminal } from "../shim/shim-build.ts";

/** picocolors is loaded only to paint: loading it opens Bun's stdout
 * stream, a copy of descriptor 1 that a pager would otherwise find open and
 * hand to the program with the caller's descriptors. */
const require = createRequire(import.meta.url);

type Environment = Record<string, string | undefined>;
/** picocolors' painting functions (bold, yellow, ...). */
type Colors = ReturnType<typeof picocolorsModule.createColors>;

/** No colour: every painting function leaves its text as it is. */
const PLAIN = new Proxy({ isColorSupported: false }, { get: (target, name) => (name === "isColorSupported" ? target.isColorSupported : (text: unknown) => String(text)) }) as unknown as Colors;

/** Whether lines written to a stream (a terminal or not) are coloured. */
export function colourWanted(isTerminal: boolean, env: Environment): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  return isTerminal && env.TERM !== "dumb";
}

/** picocolors' functions, painting or not. */
export function colours(enabled: boolean): Colors {
  if (!enabled) return PLAIN;
  const picocolors = require("picocolors") as typeof picocolorsModule;
  return picocolors.createColors(true);
}

/** A command's line (`NAME: warning: ...`, `NAME: note: ...`) with its
 * label coloured: warnings yellow, notes cyan; other lines as they are. */
export function paintLine(line: string, c: Colors): string {
  const labelled = /^([^\s:]+: )(warning|note)(:)/.exec(line);
  if (!labelled) return line;
  const [whole, name, label] = labelled;
  const paint = label === "warning" ? (s: string) => c.bold(c.yellow(s)) : c.cyan;
  return `${name}${paint(`${label}:`)}${line.slice(whole.length)}`;
}

let stderrColours: Colors | null = null;

/** The colours for this process's stderr, decided once. */
export function stderrColoured(): Colors {
  stderrColours ??= colours(colourWanted(isTerminal(2), process.env));
  return stderrColours;
}

