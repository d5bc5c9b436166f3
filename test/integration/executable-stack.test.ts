/**
 * PT_GNU_STACK, as the kernel honours it: a program built with an
 * executable stack (a GCC trampoline for a nested function) runs under
 * every pager and paging mechanism as natively, with the same `[stack]`
 * permissions; and the mapping log says what was really mapped, checked
 * line by line against the program's own /proc/self/maps (a program with
 * no C library, so nothing has changed its mappings when it reads them).
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { buildProgram, type Profile, type Variant } from "../support/programs.ts";
import { runNative, runPager, verdict } from "../support/run.ts";

setDefaultTimeout(60_000);

/** Every pager, and each paging mechanism where there is demand paging. */
const RUNS: Array<{ pager: string; flags: string[] }> = [
  { pager: "apager", flags: [] },
  { pager: "dpager", flags: ["--paging", "signal"] },
  { pager: "dpager", flags: ["--paging", "userfaultfd"] },
  { pager: "hpager", flags: ["--paging", "signal"] },
  { pager: "hpager", flags: ["--paging", "userfaultfd"] },
];
const label = (run: (typeof RUNS)[number]) => [run.pager, ...run.flags].join(" ");

describe("a program whose PT_GNU_STACK asks for an executable stack", () => {
  const variants: Variant[] = ["static", "static-pie", "pie", "no-pie"];
  const built = new Map<Variant, string>();
  beforeAll(async () => {
    for (const variant of variants) built.set(variant, await buildProgram("trampoline.c", variant, "execstack"));
  }, 120_000);

  for (const variant of variants) {
    test(`calls its stack trampoline as natively (${variant})`, async () => {
      const program = built.get(variant)!;
      const native = await runNative([program]);
      // The native run is the reference: an executable [stack], the call made.
      expect(native.stdout).toBe("stack=rwxp\nnested=42\n");
      for (const run of RUNS) {
        const loaded = await runPager(run.pager, [program], { flags: ["-q", ...run.flags] });
        expect({ run: label(run), ...verdict(loaded) }).toEqual({ run: label(run), ...verdict(native) });
      }
    });
  }
});

interface LogLine {
  start: number;
  end: number;
  /** The permissions /proc/PID/maps may show for its pages. */
  allowed: string[];
  text: string;
}

/** The start-up lines of the mapping log (not the fault lines after it). */
function parseLog(stderr: string): LogLine[] {
  const lines: LogLine[] = [];
  const pattern = /^\w+: (map|reserve) addr=(0x[0-9a-f]+) size=(0x[0-9a-f]+) off=\S+ prot=([r-][w-][x-])(?: \((?:([r-][w-][x-]) on demand|pages on demand)\))? (?:file|anon)=\S+$/;
  for (const text of stderr.split("\n")) {
    const match = pattern.exec(text);
    if (!match) continue;
    const start = Number(match[2]);
    // A page reserved inaccessible becomes accessible once touched.
    const allowed = match[5] ? [match[4]!, match[5]] : [match[4]!];
    lines.push({ start, end: start + Number(match[3]), allowed, text });
  }
  return lines;
}

interface MapsEntry {
  start: number;
  end: number;
  permissions: string;
  name: string;
}

function parseMaps(text: string): MapsEntry[] {
  return text.trim().split("\n").map((line) => {
    const [range, permissions, , , , name] = line.split(/\s+/);
    const [start, end] = range!.split("-").map((n) => parseInt(n, 16));
    return { start: start!, end: end!, permissions: permissions!.slice(0, 3), name: name ?? "" };
  });
}

/** What is wrong with a log line against the maps: a page it names that
 * nothing maps, or is mapped with other permissions; null when none. */
function mismatch(line: LogLine, maps: readonly MapsEntry[]): string | null {
  let cursor = line.start;
  for (const entry of maps) {
    if (entry.end <= cursor || entry.start >= line.end) continue;
    if (entry.start > cursor) return `${line.text}: nothing mapped at 0x${cursor.toString(16)}`;
    if (!line.allowed.includes(entry.permissions)) return `${line.text}: mapped ${entry.permissions} at 0x${entry.start.toString(16)}`;
    cursor = entry.end;
    if (cursor >= line.end) return null;
  }
  return `${line.text}: nothing mapped at 0x${cursor.toString(16)}`;
}

describe("the mapping log says what was mapped", () => {
  const builds: Array<{ variant: Variant; profile: Profile }> = [
    { variant: "static", profile: "bare" },
    { variant: "static", profile: "bare-execstack" },
    { variant: "static-pie", profile: "bare" },
    { variant: "static-pie", profile: "bare-execstack" },
  ];
  const built = new Map<string, string>();
  beforeAll(async () => {
    for (const b of builds) built.set(`${b.variant} ${b.profile}`, await buildProgram("maps_raw.c", b.variant, b.profile));
  }, 120_000);

  for (const b of builds) {
    test(`every start-up line against the program's /proc/self/maps (${b.variant}, ${b.profile})`, async () => {
      const program = built.get(`${b.variant} ${b.profile}`)!;
      const native = await runNative([program]);
      expect(native.exitCode).toBe(0);
      const nativeStack = parseMaps(native.stdout).find((e) => e.name === "[stack]")!;
      expect(nativeStack.permissions).toBe(b.profile === "bare-execstack" ? "rwx" : "rw-");
      for (const run of RUNS) {
        const loaded = await runPager(run.pager, [program], { flags: run.flags });
        expect({ run: label(run), exitCode: loaded.exitCode }).toEqual({ run: label(run), exitCode: 0 });
        const log = parseLog(loaded.stderr);
        const maps = parseMaps(loaded.stdout);
        // The program's images and its stack: at least a text, a read-only page and the stack.
        expect(log.length).toBeGreaterThanOrEqual(3);
        expect(log.filter((l) => l.text.endsWith("anon=stack")).map((l) => l.allowed)).toEqual([[nativeStack.permissions]]);
        expect(log.map((l) => mismatch(l, maps)).filter((m) => m !== null)).toEqual([]);
        expect(maps.find((e) => e.name === "[stack]")!.permissions).toBe(nativeStack.permissions);
      }
    });
  }
});
