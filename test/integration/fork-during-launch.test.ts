/**
 * A fork anywhere in Bun while launches run: the loader is spawned with
 * vfork and executes a program of its own, so nothing of Bun's is hidden
 * from a fork meanwhile (the fork-of-Bun design marked Bun's memory
 * MADV_DONTFORK while it launched, and a child forked then lacked it).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { nativeLibrary } from "../support/build-tools.ts";
import { buildProgram, ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

setDefaultTimeout(120_000);

test("a child forked by another thread during launches has all of the process's memory", async () => {
  const library = await nativeLibrary("fork_checker");
  const program = await buildProgram("exit_code.c", "static");
  const ran = await runProcess([process.execPath, join(ROOT, "test/support/fixture-fork.ts"), library, program, "20"]);
  expect(ran.stderr).toBe("");
  const verdict = JSON.parse(ran.stdout.trim());
  // Forks overlapped the launches: many launches while 20 forks were made.
  expect(verdict.forks).toBeGreaterThanOrEqual(20);
  expect(verdict.launches).toBeGreaterThan(20);
  expect(verdict.bad).toBe(0);
});
