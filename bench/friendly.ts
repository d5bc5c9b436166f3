/**
 * Friendly crash reports' cost to programs that never crash: the same
 * program spawned natively and with libetsbefriends.so preloaded,
 * alternately, in one run, through Bun.spawn.
 *
 *   bun run bench:friendly [--runs N] [--json] [--quiet] [--against LIBRARY]
 *
 * Prints medians and the ratio preloaded / native for /bin/true (start-up:
 * the library's constructor), `ls -la /usr` (a small real program) and
 * bench/thread_churn.c (2000 threads started and joined one by one: the
 * pthread_create wrapper's alternate stack per thread). The target is "within
 * noise": a ratio near 1 for the first two.
 *
 * --against LIBRARY times another build of the library too (an earlier
 * commit's shim/build/libetsbefriends.so, copied aside), interleaved with
 * the other two, and prints this build's median over that one's: "no
 * slower than before" is a ratio near 1, measured in the same run.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { ensureFriendlyLibrary, friendlyEnvironment } from "../src/index.ts";
import { COMMON_OPTIONS, finish, JSON_OPTION, Progress, readBenchLine, readLoad } from "./cli.ts";
import { median } from "./statistics.ts";

const { values: options } = readBenchLine({
  command: "bun run bench:friendly",
  summary:
    "What preloading libetsbefriends.so costs programs that do not crash: /bin/true (start-up), `ls -la /usr` and 2000 threads started and joined, each spawned natively and preloaded, alternately, in one run. Prints the median time of each in ms and the ratio preloaded / native (1.00: no cost measured). Takes about 20 seconds.",
  options: {
    runs: { kind: "count", value: "N", description: "runs of each program each way (default 60)" },
    against: { kind: "text", value: "LIBRARY", description: "also time another build of libetsbefriends.so (an earlier commit's, copied aside), interleaved, and print this build's median over that one's" },
    ...JSON_OPTION,
    ...COMMON_OPTIONS,
  },
});
const root = resolve(import.meta.dir, "..");
const runs = options.runs ?? 60;
const { json } = options;
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:friendly", options.quiet);
const against = options.against;
if (against !== undefined && !existsSync(against)) {
  console.error(`bench:friendly: --against needs a library file; ${against} does not exist`);
  process.exit(2);
}

function buildThreadChurn(): string {
  const source = join(root, "bench", "thread_churn.c");
  const output = join(root, "bench", "build", "thread_churn");
  if (!existsSync(output) || statSync(output).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(join(root, "bench", "build"), { recursive: true });
    const built = Bun.spawnSync([process.env.CC?.trim() || "cc", "-O2", "-pthread", "-o", output, source]);
    if (built.exitCode !== 0) throw new Error(`cannot build ${source}`);
  }
  return output;
}


async function timeRun(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore", stdin: "ignore", env });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}`);
  return performance.now() - started;
}

const nativeEnv = { ...process.env };
const preloadedEnv = friendlyEnvironment(ensureFriendlyLibrary(), process.env);
const baselineEnv = against === undefined ? undefined : friendlyEnvironment(against, process.env);
const programs = [
  { name: "true", argv: ["/bin/true"] },
  { name: "ls", argv: ["/bin/ls", "-la", "/usr"] },
  { name: "threads", argv: [buildThreadChurn(), "2000"] },
];

interface Result {
  program: string;
  argv: string[];
  runs: number;
  nativeMedianMs: number;
  preloadedMedianMs: number;
  ratio: number;
  /** With --against: that library's median, and this build's over it. */
  baselineMedianMs?: number;
  ratioToBaseline?: number;
}

const results: Result[] = [];
for (const [index, program] of programs.entries()) {
  progress.say(`${program.name} (${index + 1} of ${programs.length}), ${runs} runs each way`);
  // Warm up each (page cache), then alternate so drift affects all alike.
  const envs = baselineEnv === undefined ? [nativeEnv, preloadedEnv] : [nativeEnv, preloadedEnv, baselineEnv];
  for (let i = 0; i < 5; i++) for (const env of envs) await timeRun(program.argv, env);
  const times: number[][] = envs.map(() => []);
  for (let i = 0; i < runs; i++) for (const [k, env] of envs.entries()) times[k]!.push(await timeRun(program.argv, env));
  const [native, preloaded, baseline] = times.map((t) => median(t));
  results.push({
    program: program.name,
    argv: program.argv,
    runs,
    nativeMedianMs: native!,
    preloadedMedianMs: preloaded!,
    ratio: preloaded! / native!,
    ...(baseline === undefined ? {} : { baselineMedianMs: baseline, ratioToBaseline: preloaded! / baseline }),
  });
}

progress.done();
if (json) {
  console.log(JSON.stringify({ benchmark: "friendly", against: against ?? null, results }, null, 2));
} else {
  console.log(`friendly crash reports, cost to a program that does not crash: median of ${runs} runs each (Bun.spawn, with and without LD_PRELOAD)`);
  for (const r of results) {
    const versus = r.baselineMedianMs === undefined ? "" : `   against ${r.baselineMedianMs.toFixed(3)} ms   this/against ${r.ratioToBaseline!.toFixed(2)}x`;
    console.log(`  ${r.program.padEnd(8)} native ${r.nativeMedianMs.toFixed(3)} ms   preloaded ${r.preloadedMedianMs.toFixed(3)} ms   ratio ${r.ratio.toFixed(2)}x${versus}`);
  }
}
process.exit(finish({ json, check: false }, loadBefore));
