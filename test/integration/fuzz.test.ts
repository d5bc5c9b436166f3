/**
 * A bounded fuzzing run (test/support/fuzz.ts, fuzz-run.ts): a few hundred
 * seeded mutations of real executables, each run natively and under apager
 * and dpager with a time limit, two at a time: the first few through the
 * command line, as `bun run apager` runs, the rest through spawn() in two
 * long-lived library processes (a Bun start per run was most of the time),
 * each run still killed at its limit. No pager may crash or hang;
 * every case must be a run or a one-line refusal. Verdicts are compared with
 * the kernel's: differences must be the documented kinds, but for a stray
 * few (a wild pointer ends differently in a differently randomized address
 * space, natively too from one run to the next). `bun run fuzz` runs as many
 * cases as you like.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { isatty } from "node:tty";
import { describeProblems, describeTally, runFuzz, tally } from "../support/fuzz-run.ts";

const CASES = 300;
const SEED = 20260521;
const PAGERS = ["apager", "dpager"];
/** Cases run through the command line; the rest through the library. */
const COMMAND_LINE_CASES = 30;
/** Unexplained verdict differences tolerated, as a share of all runs. */
const STRAY_SHARE = 0.01;
/** On a terminal, a line every this many cases: the run takes a minute or
 * more on a busy machine. */
const PROGRESS_EVERY = 50;

setDefaultTimeout(300_000);

test(`fuzz: ${CASES} mutated executables under ${PAGERS.join(" and ")}: no crash, no hang, the kernel's verdicts`, async () => {
  const started = performance.now();
  let done = 0;
  const onCase = isatty(2)
    ? () => {
        if (++done % PROGRESS_EVERY === 0 && done < CASES) process.stderr.write(`fuzz: ${done} of ${CASES} cases, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
      }
    : undefined;
  const results = await runFuzz({ cases: CASES, seed: SEED, pagers: PAGERS, timeLimitMs: 5_000, concurrency: 2, libraryFrom: COMMAND_LINE_CASES, ...(onCase ? { onCase } : {}) });
  const counts = tally(results);
  console.log([...describeTally(counts), `${((performance.now() - started) / 1000).toFixed(1)} s`].join("\n"));
  const problems = describeProblems(results);
  if (problems.length > 0) console.log(problems.join("\n"));

  expect(results).toHaveLength(CASES);
  for (const pager of PAGERS) {
    const c = counts.perPager[pager]!;
    expect({ pager, crashed: c.crashed, hung: c.hung }).toEqual({ pager, crashed: 0, hung: 0 });
    expect(c.ran + c.refused + c.slow).toBe(CASES);
  }
  expect(counts.agreement.unexplained).toBeLessThanOrEqual(Math.floor(STRAY_SHARE * CASES * PAGERS.length));
});
