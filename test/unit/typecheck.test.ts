/**
 * The TypeScript is strict (tsconfig.json); this keeps it so: the whole
 * project, tests included, must type-check.
 */
import { expect, test } from "bun:test";
import { ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

test("tsc --noEmit finds no type errors", async () => {
  const ran = await runProcess([`${ROOT}/node_modules/.bin/tsc`, "--noEmit", "-p", ROOT]);
  expect(ran.stdout + ran.stderr).toBe("");
  expect(ran.exitCode).toBe(0);
});
