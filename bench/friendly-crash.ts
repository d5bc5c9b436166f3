/**
 * How long a friendly crash report takes, from the faulting instruction to
 * the exit: for a program with several MB of debug information, where
 * resolving source lines costs most.
 *
 *   bun run bench:friendly-crash [--runs N] [--json] [--check] [--quiet]
 *
 * The program (generated, bench/build/big_debug: many functions, each with
 * a struct type of its own, in several translation units, -O0 -g) writes
 * the wall-clock time in nanoseconds on stdout just before it writes
 * through NULL + 0x10; the time is taken again when the process this
 * benchmark started has ended. Measured: with LD_PRELOAD alone (names from
 * the symbol tables), under `bun run friendly` (names, and lines from
 * addr2line through the resolver) and under `apager --friendly`. The
 * target: under a second for each.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureFriendlyLibrary, friendlyEnvironment } from "../src/index.ts";
import { COMMON_OPTIONS, finish, JSON_OPTION, Progress, readBenchLine, readLoad, TARGET_OPTIONS } from "./cli.ts";
import { median } from "./statistics.ts";

const TARGET_MS = 1000;
const { values: options } = readBenchLine({
  command: "bun run bench:friendly-crash",
  summary: `How long a friendly crash report takes, from the faulting instruction to the exit, for a generated program with about 8 MB of debug information: with LD_PRELOAD alone, under \`bun run friendly\` and under \`apager --friendly\`. Prints the median and the longest time of each, in ms, against the target: every report under ${TARGET_MS} ms. The first run builds the program (about a minute).`,
  options: { runs: { kind: "count", value: "N", description: "crashes timed in each way (default 10)" }, ...JSON_OPTION, ...TARGET_OPTIONS, ...COMMON_OPTIONS },
});
const root = resolve(import.meta.dir, "..");
const build = join(root, "bench", "build");
const runs = options.runs ?? 10;
const { json } = options;
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:friendly-crash", options.quiet);

/** Translation units, functions in each, members of each function's struct. */
const UNITS = 8;
const FUNCTIONS_PER_UNIT = 2500;
const MEMBERS = 6;

function unitSource(unit: number): string {
  const parts = ["#include <stddef.h>\n"];
  for (let i = 0; i < FUNCTIONS_PER_UNIT; i++) {
    const id = `u${unit}_${i}`;
    const members = Array.from({ length: MEMBERS }, (_, m) => `  ${["int", "long", "double", "char *", "short", "unsigned"][m % 6]} field_${id}_${m};`).join("\n");
    parts.push(`struct record_${id} {\n${members}\n};\n`);
    parts.push(
      `__attribute__((noinline)) long work_${id}(struct record_${id} *r, int n) {\n` +
        `  long total_${id} = 0;\n  for (int k = 0; k < n; k++) total_${id} += r->field_${id}_0 + (long)r->field_${id}_1 + k;\n` +
        `  r->field_${id}_2 = (double)total_${id};\n  return total_${id};\n}\n`,
    );
  }
  return parts.join("");
}

const MAIN_SOURCE = `#include <stdio.h>
#include <time.h>
static volatile int calls;
__attribute__((noinline)) void deep_write(int *p) {
  *p = 42;
  calls++;
}
__attribute__((noinline)) void middle(int *p) {
  deep_write(p);
  calls++;
}
int main(int argc, char **argv) {
  (void)argv;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  printf("%lld\\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
  fflush(stdout);
  middle((int *)((char *)0 + 0x10 + (argc - 1)));
  return calls;
}
`;

async function compile(argv: string[]): Promise<void> {
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "pipe" });
  const [code, errors] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.join(" ")} failed:\n${errors}`);
}

/** The program, built once (the sources carry the generator's shape, so a
 * change to it rebuilds). */
async function buildBigDebug(): Promise<string> {
  mkdirSync(build, { recursive: true });
  const output = join(build, "big_debug");
  const shape = `${UNITS}x${FUNCTIONS_PER_UNIT}x${MEMBERS}`;
  const stamp = join(build, "big_debug.shape");
  if (existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === shape) return output;
  const sources = [join(build, "big_debug_main.c"), ...Array.from({ length: UNITS }, (_, u) => join(build, `big_debug_${u}.c`))];
  writeFileSync(sources[0]!, MAIN_SOURCE);
  for (let u = 0; u < UNITS; u++) writeFileSync(sources[u + 1]!, unitSource(u));
  const cc = process.env.CC?.trim() || "cc";
  const objects = sources.map((s) => s.replace(/\.c$/, ".o"));
  for (let i = 0; i < sources.length; i += 2) {
    await Promise.all(sources.slice(i, i + 2).map((s, k) => compile([cc, "-g", "-O0", "-c", s, "-o", objects[i + k]!])));
  }
  await compile([cc, "-g", "-o", output, ...objects]);
  writeFileSync(stamp, shape);
  return output;
}

/** Bytes of .debug_* sections, from readelf. */
function debugBytes(binary: string): number {
  const sections = Bun.spawnSync(["readelf", "-S", "-W", binary]).stdout.toString();
  let total = 0;
  for (const m of sections.matchAll(/\] (\.debug_\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)/g)) total += parseInt(m[2]!, 16);
  return total;
}

/** Milliseconds from the program's timestamp (just before its fault) to
 * the end of the process started here; checks the report was given. */
async function faultToExit(argv: string[], env: Record<string, string | undefined>, wantLines: boolean): Promise<number> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe", stdin: "ignore", env, timeout: 30_000, killSignal: "SIGKILL" });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const ended = performance.timeOrigin + performance.now();
  const faulted = Number(BigInt(stdout.trim().split("\n")[0] ?? "0")) / 1e6;
  if (proc.exitCode !== 139 || !/at: {6}deep_write\+0x/.test(stderr)) throw new Error(`${argv.join(" ")}: no friendly report (status ${proc.exitCode}):\n${stderr}`);
  if (wantLines && !/deep_write\+0x[0-9a-f]+ \(\S*big_debug_main\.c:5\)/.test(stderr)) throw new Error(`${argv.join(" ")}: no source line:\n${stderr}`);
  return ended - faulted;
}

progress.say("building the program with debug information");
const program = await buildBigDebug();
const library = ensureFriendlyLibrary();
const modes = [
  { name: "LD_PRELOAD alone", argv: [program], env: friendlyEnvironment(library, process.env), lines: false },
  { name: "bun run friendly", argv: [process.execPath, join(root, "src", "cli", "friendly.ts"), program], env: { ...process.env }, lines: true },
  { name: "apager --friendly", argv: [process.execPath, join(root, "src", "cli", "cli.ts"), "apager", "-q", "--friendly", program], env: { ...process.env }, lines: true },
];

const results = [];
for (const [index, mode] of modes.entries()) {
  progress.say(`${mode.name} (${index + 1} of ${modes.length}), ${runs} crashes`);
  await faultToExit(mode.argv, mode.env, mode.lines); // warm the page cache
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await faultToExit(mode.argv, mode.env, mode.lines));
  results.push({ mode: mode.name, runs, medianMs: median(times), maxMs: Math.max(...times), targetMs: TARGET_MS });
}

progress.done();
const size = { binaryBytes: Bun.file(program).size, debugBytes: debugBytes(program) };
if (json) {
  console.log(JSON.stringify({ benchmark: "friendly-crash", program: size, results }, null, 2));
} else {
  console.log(`friendly crash report, fault to exit: ${(size.debugBytes / 1e6).toFixed(1)} MB of debug information in a ${(size.binaryBytes / 1e6).toFixed(1)} MB program, ${runs} runs each`);
  for (const r of results) {
    const verdict = r.maxMs < TARGET_MS ? "within" : "OVER";
    console.log(`  ${r.mode.padEnd(18)} median ${r.medianMs.toFixed(1).padStart(7)} ms   max ${r.maxMs.toFixed(1).padStart(7)} ms   (${verdict} the ${TARGET_MS} ms target)`);
  }
}
const targets = results.map((r) => ({ meaning: `every crash report under ${r.mode} within ${TARGET_MS} ms of the fault`, measured: `${r.maxMs.toFixed(1)} ms at most`, met: r.maxMs < TARGET_MS }));
process.exit(finish({ json, check: options.check }, loadBefore, targets));
