/**
 * The fuzzer, for as long as you like: seeded mutations of real executables
 * (test/support/fuzz.ts), each run natively and under the pagers with a time
 * limit (test/support/fuzz-run.ts). A bounded run of it is part of `bun test`
 * (test/integration/fuzz.test.ts).
 *
 *   bun run fuzz [--cases N] [--seed S] [--pagers apager,dpager] [--time-limit MS] [--jobs J] [--keep DIR] [--only I,J,...] [--quiet]
 *
 * Prints a line per case worth a look (a crash, a hang, a verdict that
 * differs from the kernel's without a documented reason), then the counts:
 * per pager ran / refused / crashed (Bun) / hung / slow, and the agreement
 * with the kernel. --keep writes those cases' files to DIR; --only runs just
 * the given case numbers of the seeded run. Exits 1 if any pager crashed or
 * hung.
 */
import { COMMON_OPTIONS, EXIT_USAGE, Progress, readBenchLine } from "./cli.ts";
import { describeProblems, describeTally, runFuzz, tally } from "../test/support/fuzz-run.ts";

const PAGER_NAMES = ["apager", "dpager", "hpager"];
const { values: options } = readBenchLine({
  command: "bun run fuzz",
  summary:
    "The fuzzer, for as long as you like: seeded mutations of real executables, each run natively and under the pagers with a time limit. Prints a line per case worth a look (a crash of the Bun process, a hang, a verdict that differs from the kernel's without a documented reason), then per pager the counts of runs that ran, were refused, crashed, hung or were slow, and how many verdicts match the kernel's. Exits 1 if any pager crashed or hung.",
  options: {
    cases: { kind: "count", value: "N", description: "cases to run (default 1000)" },
    seed: { kind: "text", value: "S", description: "the seed, to run the same cases again (default: a random one, printed)" },
    pagers: { kind: "text", value: "LIST", description: `pagers to run each case under, comma-separated (default apager,dpager; of ${PAGER_NAMES.join(", ")})` },
    "time-limit": { kind: "count", value: "MS", description: "milliseconds each run may take (default 10000)" },
    jobs: { kind: "count", value: "J", description: "cases run at a time (default 2)" },
    keep: { kind: "text", value: "DIR", description: "write the files of the cases worth a look to DIR" },
    only: { kind: "text", value: "I,J", description: "run just these case numbers of the seeded run" },
    ...COMMON_OPTIONS,
  },
});
function refuse(problem: string): never {
  process.stderr.write(`bun run fuzz: ${problem}\nTry 'bun run fuzz --help'.\n`);
  process.exit(EXIT_USAGE);
}
const cases = options.cases ?? 1000;
const seedText = options.seed ?? String(Math.floor(Math.random() * 2 ** 32));
if (!/^\d+$/.test(seedText) || Number(seedText) >= 2 ** 32) refuse(`--seed: expected a whole number below 2^32, not '${seedText}'`);
const seed = Number(seedText);
const pagers = (options.pagers ?? "apager,dpager").split(",");
for (const pager of pagers) if (!PAGER_NAMES.includes(pager)) refuse(`--pagers: '${pager}' is not one of ${PAGER_NAMES.join(", ")}`);
const timeLimitMs = options["time-limit"] ?? 10_000;
const concurrency = options.jobs ?? 2;
const keep = options.keep;
const only = options.only?.split(",").map((word) => (/^\d+$/.test(word) ? Number(word) : refuse(`--only: expected case numbers, not '${word}'`)));
const progress = Progress.forTerminal("fuzz", options.quiet);

console.log(`fuzz: ${cases} cases, seed ${seed}, under ${pagers.join(" and ")}, ${concurrency} at a time, ${timeLimitMs} ms each`);
const started = performance.now();
let done = 0;
const results = await runFuzz({
  cases,
  seed,
  pagers,
  timeLimitMs,
  concurrency,
  ...(keep ? { keep } : {}),
  ...(only ? { only } : {}),
  onCase: (result) => {
    done++;
    const problems = describeProblems([result]);
    if (problems.length > 0) progress.done();
    for (const line of problems) console.log(line);
    progress.say(`${done} of ${only?.length ?? cases} cases`);
  },
});
progress.done();
const counts = tally(results);
for (const line of describeTally(counts)) console.log(line);
console.log(`fuzz: ${((performance.now() - started) / 1000).toFixed(1)} s; reproduce with: bun run fuzz --cases ${cases} --seed ${seed}`);
const bad = Object.values(counts.perPager).some((c) => c.crashed > 0 || c.hung > 0);
process.exit(bad ? 1 : 0);
