/**
 * The fuzzer, for as long as you like: seeded mutations of real executables
 * (test/support/fuzz.ts), each run natively and under the pagers with a time
 * limit (test/support/fuzz-run.ts). A bounded run of it is part of `bun test`
 * (test/integration/fuzz.test.ts).
 *
 *   bun run fuzz [--cases N] [--seed S] [--pagers apager,dpager] [--time-limit MS] [--jobs J] [--keep DIR] [--only I,J,...]
 *
 * Prints a line per case worth a look (a crash, a hang, a verdict that
 * differs from the kernel's without a documented reason), then the counts:
 * per pager ran / refused / crashed (Bun) / hung / slow, and the agreement
 * with the kernel. --keep writes those cases' files to DIR; --only runs just
 * the given case numbers of the seeded run. Exits 1 if any pager crashed or
 * hung.
 */
import { describeProblems, describeTally, runFuzz, tally } from "../test/support/fuzz-run.ts";

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const cases = Number(option("--cases") ?? 1000);
const seed = Number(option("--seed") ?? Math.floor(Math.random() * 2 ** 32));
const pagers = (option("--pagers") ?? "apager,dpager").split(",");
const timeLimitMs = Number(option("--time-limit") ?? 10_000);
const concurrency = Number(option("--jobs") ?? 2);
const keep = option("--keep");
const only = option("--only")?.split(",").map(Number);

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
    for (const line of describeProblems([result])) console.log(line);
    if (done % 100 === 0) console.log(`fuzz: ${done}/${cases} cases`);
  },
});
const counts = tally(results);
for (const line of describeTally(counts)) console.log(line);
console.log(`fuzz: ${((performance.now() - started) / 1000).toFixed(1)} s; reproduce with: bun run fuzz --cases ${cases} --seed ${seed}`);
const bad = Object.values(counts.perPager).some((c) => c.crashed > 0 || c.hung > 0);
process.exit(bad ? 1 : 0);
