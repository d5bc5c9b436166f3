/**
 * The `faultline` command's own words: how each command names itself, and
 * the usage (pure); and `faultline help`, run as a command in a subprocess
 * with a time limit (it loads no program).
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { COMMANDS, commandName, faultlineUsage, quietAsked } from "../../src/cli/commands.ts";
import { ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";
import { friendlyUsage } from "../../src/friendly/friendly-options.ts";
import { parseCommandLine, usage } from "../../src/cli/options.ts";

describe("the faultline command", () => {
  test("its commands: the three pagers and friendly", () => {
    expect([...COMMANDS]).toEqual(["apager", "dpager", "hpager", "friendly"]);
  });
  test("a command is named as it was typed", () => {
    expect(commandName("apager", "/x/node_modules/faultline/src/cli/faultline.ts")).toBe("faultline apager");
    expect(commandName("friendly", "/usr/lib/node_modules/faultline/src/cli/faultline.ts")).toBe("faultline friendly");
    expect(commandName("dpager", "/checkout/src/cli/command.ts")).toBe("bun run dpager");
    expect(commandName("dpager", "/checkout/src/cli/cli.ts")).toBe("bun run dpager");
    expect(commandName("hpager", undefined)).toBe("bun run hpager");
    expect(commandName("apager", "/tmp/not-faultline.ts")).toBe("bun run apager");
  });
  test("the usage lists every command and the exit statuses", () => {
    const text = faultlineUsage();
    expect(text).toStartWith("Usage: faultline COMMAND [options] PROGRAM [ARGS...]");
    for (const command of COMMANDS) expect(text).toMatch(new RegExp(`^  ${command} `, "m"));
    expect(text).toMatch(/127\s+PROGRAM was not found/);
    expect(text).toMatch(/2\s+the command line itself is wrong/);
  });
  test("each command's usage says how it is typed", () => {
    expect(usage("dpager", "faultline dpager")).toStartWith("Usage: faultline dpager [options] PROGRAM [ARGS...]");
    expect(usage("dpager")).toStartWith("Usage: bun run dpager [options] PROGRAM [ARGS...]");
    expect(friendlyUsage("faultline friendly")).toStartWith("Usage: faultline friendly [options] PROGRAM [ARGS...]");
  });
  test("--pages takes digits only", () => {
    for (const pages of ["0x10", "1e1", " 2", "+3", ""]) expect(() => parseCommandLine("hpager", [`--pages=${pages}`, "prog"])).toThrow(/needs a value|takes a whole number/);
    expect(parseCommandLine("hpager", ["--pages", "16", "prog"]).pages).toBe(16);
  });
});

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
  });

  test("help for what is not a command is one line and exit 2", async () => {
    const ran = await faultline("help", "zpager");
    expect(ran).toEqual({ exitCode: 2, signal: null, stdout: "", stderr: "faultline: no help for 'zpager' (expected apager, dpager, hpager, friendly, service)\nTry 'faultline --help'.\n" });
  });
});

test("quiet is seen before the options are parsed, as the parser sees it", () => {
  for (const words of [["-q", "prog"], ["--quiet", "prog"], ["-hq"], ["--report", "r.json", "-q", "prog"], ["--pages", "4", "--predict", "stride", "-q", "prog"], ["--report=r.json", "-q", "prog"], ["prog", "-q"], ["--", "-q"], ["--trace", "-q", "prog"], ["--paging", "signal", "prog"]]) {
    expect({ words, quiet: quietAsked(words) }).toEqual({ words, quiet: parseCommandLine("hpager", words).quiet });
  }
});
