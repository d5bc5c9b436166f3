/**
 * Launch overhead: how long apager takes to start and finish a short program
 * compared with Bun spawning the same program natively, both measured here,
 * in one run, through the library (`run`) and `Bun.spawn`.
 *
 *   bun run bench:launch [--runs N] [--json]
 *
 * Prints medians and the ratio apager / native for a static and a dynamic
 * program. The target for a static program is at most 1.3x native.
 */
import { run } from "../src/index.ts";
import { buildProgram } from "../test/support/programs.ts";
import { median } from "./statistics.ts";

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1] ?? 0) || 60;
const json = args.includes("--json");


async function timeNative(argv: string[]): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore", stdin: "ignore" });
  await proc.exited;
  return performance.now() - started;
}

async function timeApager(argv: string[]): Promise<number> {
  const started = performance.now();
  await run(argv, { quiet: true });
  return performance.now() - started;
}

const programs = [
  { name: "static", argv: [await buildProgram("exit_code.c", "static")] },
  { name: "dynamic", argv: ["/bin/true"] },
];

const results = [];
for (const program of programs) {
  // Warm up both paths (page cache, shim build, JIT), then alternate so
  // drift on the machine affects both alike.
  for (let i = 0; i < 5; i++) {
    await timeNative(program.argv);
    await timeApager(program.argv);
  }
  const native: number[] = [];
  const apager: number[] = [];
  for (let i = 0; i < runs; i++) {
    native.push(await timeNative(program.argv));
    apager.push(await timeApager(program.argv));
  }
  const result = {
    program: program.name,
    argv: program.argv,
    runs,
    nativeMedianMs: median(native),
    apagerMedianMs: median(apager),
    ratio: median(apager) / median(native),
  };
  results.push(result);
}

if (json) {
  console.log(JSON.stringify({ benchmark: "launch", results }, null, 2));
} else {
  console.log(`launch overhead, median of ${runs} runs each (apager through run(), native through Bun.spawn)`);
  for (const r of results) {
    console.log(`  ${r.program.padEnd(8)} native ${r.nativeMedianMs.toFixed(3)} ms   apager ${r.apagerMedianMs.toFixed(3)} ms   ratio ${r.ratio.toFixed(2)}x`);
  }
}
