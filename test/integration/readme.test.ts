/**
 * Every shell example of README.md runs as written: each `sh` block as one
 * script, each `$ ` command of each `console` block on its own, in the
 * checkout, in the README's order (the quick start first: it installs and
 * builds what later examples use), each in a subprocess with a time limit.
 * A console command must print what the README shows (numbers may differ,
 * `…` stands for any lines; test/support/readme.ts) and end with the status
 * shown, or 0 where it shows neither output nor status. The examples are
 * read from README.md itself, so a change there is tested as it stands.
 *
 * Each runs as the user running the tests: the README's examples need no
 * root.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EVERY_MESSAGE } from "../support/friendly-messages.ts";
import { ROOT } from "../support/programs.ts";
import { missingLines, shellBlocks } from "../support/readme.ts";
import { runProcess } from "../support/run.ts";

/** The quick start installs (npm pack, npm install: Bun itself is about
 * 100 MB) and builds; every other example is a run of a few seconds. */
const SCRIPT_LIMIT_MS = 300_000;
const COMMAND_LIMIT_MS = 120_000;
setDefaultTimeout(SCRIPT_LIMIT_MS + 10_000);

const blocks = shellBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
/** Scratch space for what the examples make with mktemp (the packed
 * project), removed afterwards. */
const scratch = mkdtempSync(join(tmpdir(), "faultline-readme-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Run shell text in the checkout, stdout and stderr as one stream. */
function shell(text: string, options: { exitOnError: boolean; timeout: number }) {
  const env = { ...process.env, TMPDIR: scratch };
  return runProcess(["bash", ...(options.exitOnError ? ["-e"] : []), "-c", `exec 2>&1\n${text}`], { cwd: ROOT, env, timeout: options.timeout });
}

test("README.md has shell examples: the quick start's, and at least one of each kind", () => {
  expect(blocks[0]?.kind).toBe("sh");
  expect(blocks.filter((b) => b.kind === "console").length).toBeGreaterThan(3);
});

describe("README.md", () => {
  for (const block of blocks) {
    if (block.kind === "sh") {
      const first = block.script.split("\n")[0]!;
      test(`line ${block.line}: the script starting '${first}' runs and succeeds${/\b(npm install|bun add)\b/.test(block.script) ? " [registry]" : ""}`, async () => {
        const ran = await shell(block.script, { exitOnError: true, timeout: SCRIPT_LIMIT_MS });
        expect({ status: ran.exitCode, output: ran.stdout.slice(-4000) }).toMatchObject({ status: 0 });
      });
      continue;
    }
    for (const step of block.steps) {
      test(`line ${step.line}: $ ${step.command}`, async () => {
        const ran = await shell(step.command, { exitOnError: false, timeout: COMMAND_LIMIT_MS });
        const printed = ran.stdout.split("\n");
        expect(ran.signal).toBeNull();
        if (step.status !== null) expect(ran.exitCode).toBe(step.status);
        else if (step.output.length === 0) expect({ status: ran.exitCode, output: ran.stdout }).toEqual({ status: 0, output: ran.stdout });
        expect({ missing: missingLines(step.output, printed, { interchangeable: EVERY_MESSAGE }), printed: ran.stdout.slice(-4000) }).toMatchObject({ missing: [] });
      });
    }
  }
});
