/**
 * The README's shell examples as data, so a test can run them as written
 * (test/integration/readme.test.ts): the fenced `sh` blocks (scripts, run
 * whole) and `console` blocks (commands after `$ `, each followed by the
 * output the README shows). Pure: text in, blocks and comparisons out.
 *
 * What a console block shows is compared line by line, in order, with what
 * the command printed (stdout and stderr together): numbers may differ
 * (addresses, sizes, counts: they change from run to run), `…` stands for
 * any lines, and an exit status is shown by a following `$ echo $?` or a
 * trailing `; echo $?`, which are checked exactly.
 */

/** An `sh` block: run as one script. */
export interface ScriptBlock {
  kind: "sh";
  /** The README line of its opening fence. */
  line: number;
  script: string;
}

/** One `$ ` command of a console block and what the README shows it print. */
export interface ConsoleStep {
  command: string;
  line: number;
  output: string[];
  /** The exit status the README shows (`echo $?`), if it shows one. */
  status: number | null;
}

export interface ConsoleBlock {
  kind: "console";
  line: number;
  steps: ConsoleStep[];
}

export type ShellBlock = ScriptBlock | ConsoleBlock;

/** The line that stands for any number of lines in shown output. */
export const ELIDED = "…";

const ECHO_STATUS = "echo $?";

/** Every `sh` and `console` block of a markdown text, in order. Other
 * blocks (`text` synopses, `ts`, `json`) are not commands. */
export function shellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)/.exec(lines[i]!);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith("```"); i++) body.push(lines[i]!);
    if (fence[1] === "sh") blocks.push({ kind: "sh", line: start + 1, script: body.join("\n") });
    else if (fence[1] === "console") blocks.push({ kind: "console", line: start + 1, steps: consoleSteps(body, start + 2) });
  }
  return blocks;
}

/** The commands of a console block's lines (the first at README line
 * `firstLine`), with their shown output and status. */
export function consoleSteps(body: readonly string[], firstLine: number): ConsoleStep[] {
  const steps: ConsoleStep[] = [];
  let echoing: ConsoleStep | null = null;
  for (const [index, text] of body.entries()) {
    if (text.startsWith("$ ")) {
      const command = text.slice(2).trim();
      if (command === ECHO_STATUS) {
        echoing = steps.at(-1) ?? null;
        if (!echoing) throw new Error(`README line ${firstLine + index}: '$ echo $?' with no command before it`);
        continue;
      }
      echoing = null;
      const trailing = command.endsWith(`; ${ECHO_STATUS}`);
      steps.push({ command: trailing ? command.slice(0, -`; ${ECHO_STATUS}`.length) : command, line: firstLine + index, output: [], status: trailing ? NaN : null });
    } else if (echoing) {
      echoing.status = Number(text.trim());
      echoing = null;
    } else {
      const step = steps.at(-1);
      if (!step) throw new Error(`README line ${firstLine + index}: output before any command`);
      step.output.push(text);
    }
  }
  // A trailing `; echo $?` printed the status last.
  for (const step of steps) if (Number.isNaN(step.status)) step.status = Number(step.output.pop()?.trim());
  return steps;
}

/** A line with its numbers (hex and decimal) made alike. */
export function masked(line: string): string {
  return line.replace(/0x[0-9a-f]+|\d+/g, (number) => (number.startsWith("0x") ? "0x#" : "#")).trimEnd();
}

/** How a shown line may differ from the printed one. */
export interface Likeness {
  /** Lines that stand for each other (the friendly report's opening
   * message: one of several, chosen at random). */
  interchangeable: readonly string[];
}

/** A frame in a shared library (`at: memcpy+0x30 in libc.so.6`, or
 * `libc.so.6+0x16db75` where libc has no symbols): its label and module.
 * Which of libc's functions runs depends on the CPU and on its debug files. */
function libraryFrame(line: string): string | null {
  const frame = /^\s*(at:|from:)?\s+.*?\b(lib[\w+-]*\.so(?:\.\d+)*)\b/.exec(line);
  return frame ? `${frame[1] ?? ""} ${frame[2]}` : null;
}

/** Whether a shown line stands for a printed one. */
export function alike(shown: string, printed: string, likeness: Likeness): boolean {
  if (masked(shown) === masked(printed)) return true;
  if (likeness.interchangeable.includes(shown.trim())) return likeness.interchangeable.includes(printed.trim());
  const frame = libraryFrame(shown);
  return frame !== null && frame === libraryFrame(printed);
}

/** The shown lines not found in what was printed, in order (`…` lines are
 * skipped): empty when the README shows what really happens. */
export function missingLines(shown: readonly string[], printed: readonly string[], likeness: Likeness): string[] {
  const missing: string[] = [];
  let at = 0;
  for (const line of shown) {
    if (line.trim() === ELIDED) continue;
    const found = printed.findIndex((p, i) => i >= at && alike(line, p, likeness));
    if (found < 0) missing.push(line);
    else at = found + 1;
  }
  return missing;
}

/** A link of a markdown text to a file of the repository (its target
 * without the `#anchor`, and the anchor, if any), with its line. */
export interface RelativeLink {
  line: number;
  target: string;
  path: string;
  anchor: string | null;
}

/** Every link and image of a markdown text that names a path rather than
 * a URL (`[text](docs/x.md#part)`, `![alt](view.png)`), outside code
 * blocks and code spans. A link to an anchor of the same text has the
 * empty path. */
export function relativeLinks(markdown: string): RelativeLink[] {
  const links: RelativeLink[] = [];
  let fenced = false;
  for (const [index, text] of markdown.split("\n").entries()) {
    if (text.startsWith("```")) fenced = !fenced;
    if (fenced) continue;
    const prose = text.replace(/`[^`]*`/g, "");
    for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z][a-z+.-]*:/i.test(target)) continue;
      const hash = target.indexOf("#");
      links.push({ line: index + 1, target, path: hash < 0 ? target : target.slice(0, hash), anchor: hash < 0 ? null : target.slice(hash + 1) });
    }
  }
  return links;
}

/** The anchors of a markdown text's headings, as GitHub makes them:
 * lower case, punctuation dropped, spaces made dashes, a repeated one
 * numbered (`-1`, `-2`). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const text of markdown.split("\n")) {
    if (text.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*)$/.exec(text);
    if (!heading) continue;
    const slug = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}
