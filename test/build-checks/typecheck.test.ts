/**
 * The TypeScript is strict (tsconfig.json); this keeps it so: the whole
 * project, tests included, must type-check, and so must the run page's
 * browser script (src/view/client, against the DOM's types).
 */
import { expect, test } from "bun:test";
import { ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

test("tsc --noEmit finds no type errors", async () => {
  const ran = await runProcess([`${ROOT}/node_modules/.bin/tsc`, "--noEmit", "-p", ROOT]);
  expect(ran.stdout + ran.stderr).toBe("");
  expect(ran.exitCode).toBe(0);
});

test("tsc --noEmit finds no type errors in the run page's browser script", async () => {
  const ran = await runProcess([`${ROOT}/node_modules/.bin/tsc`, "--noEmit", "-p", `${ROOT}/src/view/client`]);
  expect(ran.stdout + ran.stderr).toBe("");
  expect(ran.exitCode).toBe(0);
});
