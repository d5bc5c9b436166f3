/**
 * `faultline help`, run as a command in a subprocess with a time limit (it
 * loads no program; the first run may build the commands' bundle, which is
 * why it is not in the unit tier).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

/** A first command after the sources changed builds the commands' bundle
 * (several seconds; six at once here). */
const BUNDLE_BUILD_LIMIT_MS = 30_000;

describe("faultline help, as GNU-style tools have it", () => {
  const faultline = (...args: string[]) => runProcess([process.execPath, join(ROOT, "src/cli/faultline.ts"), ...args]);

  test("faultline help is faultline --help; faultline help COMMAND is COMMAND --help", async () => {
    const [help, dashed, pager, pagerDashed, friendly, combined] = await Promise.all([faultline("help"), faultline("--help"), faultline("help", "hpager"), faultline("hpager", "--help"), faultline("help", "friendly"), faultline("dpager", "-qh")]);
    expect(help).toEqual(dashed);
    expect(help).toMatchObject({ exitCode: 0, stderr: "" });
    expect(help.stdout).toStartWith("Usage: faultline COMMAND [options] PROGRAM [ARGS...]\n");
    expect(pager).toEqual(pagerDashed);
    expect(pager).toMatchObject({ exitCode: 0, stderr: "" });
    expect(pager.stdout).toStartWith("Usage: faultline hpager [options] PROGRAM [ARGS...]\n");
    expect(friendly.stdout).toStartWith("Usage: faultline friendly [options] PROGRAM [ARGS...]\n");
    expect(combined).toMatchObject({ exitCode: 0, stderr: "" });
    expect(combined.stdout).toStartWith("Usage: faultline dpager [options] PROGRAM [ARGS...]\n");
  }, BUNDLE_BUILD_LIMIT_MS);

  test("help for what is not a command is one line and exit 2", async () => {
    const ran = await faultline("help", "zpager");
    expect(ran).toEqual({ exitCode: 2, signal: null, stdout: "", stderr: "faultline: no help for 'zpager' (expected apager, dpager, hpager, friendly, service)\nTry 'faultline --help'.\n" });
  });
});
