/**
 * Friendly segfaults' cost to programs that never crash: the same program
 * spawned natively and with libetsbefriends.so preloaded, alternately, in
 * one run, through Bun.spawn.
 *
 *   bun run bench:friendly [--runs N] [--json] [--quiet]
 *
 * Prints medians and the ratio preloaded / native for /bin/true (start-up:
 * the library's constructor), `ls -la /usr` (a small real program) and
 * bench/thread_churn.c (2000 threads started and joined one by one: the
 * pthread_create wrapper's alternate stack per thread). The target is "within
 * noise": a ratio near 1 for the first two.
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
  options: { runs: { kind: "count", value: "N", description: "runs of each program each way (default 60)" }, ...JSON_OPTION, ...COMMON_OPTIONS },
});
const root = resolve(import.meta.dir, "..");
const runs = options.runs ?? 60;
const { json } = options;
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:friendly", options.quiet);

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
const programs = [
  { name: "true", argv: ["/bin/true"] },
  { name: "ls", argv: ["/bin/ls", "-la", "/usr"] },
  { name: "threads", argv: [buildThreadChurn(), "2000"] },
];

const results = [];
for (const [index, program] of programs.entries()) {
  progress.say(`${program.name} (${index + 1} of ${programs.length}), ${runs} runs each way`);
  // Warm up both (page cache), then alternate so drift affects both alike.
  for (let i = 0; i < 5; i++) {
    await timeRun(program.argv, nativeEnv);
    await timeRun(program.argv, preloadedEnv);
  }
  const native: number[] = [];
  const preloaded: number[] = [];
  for (let i = 0; i < runs; i++) {
    native.push(await timeRun(program.argv, nativeEnv));
    preloaded.push(await timeRun(program.argv, preloadedEnv));
  }
  results.push({
    program: program.name,
    argv: program.argv,
    runs,
    nativeMedianMs: median(native),
    preloadedMedianMs: median(preloaded),
    ratio: median(preloaded) / median(native),
  });
}

progress.done();
if (json) {
  console.log(JSON.stringify({ benchmark: "friendly", results }, null, 2));
} else {
  console.log(`friendly segfaults, cost to a program that does not crash: median of ${runs} runs each (Bun.spawn, with and without LD_PRELOAD)`);
  for (const r of results) {
    console.log(`  ${r.program.padEnd(8)} native ${r.nativeMedianMs.toFixed(3)} ms   preloaded ${r.preloadedMedianMs.toFixed(3)} ms   ratio ${r.ratio.toFixed(2)}x`);
  }
}
process.exit(finish({ json, check: false }, loadBefore));
