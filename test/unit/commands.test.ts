/**
 * The `faultline` command's own words: how each command names itself, and
 * the usage (pure). `faultline help` as a command: integration/help.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { COMMANDS, commandName, faultlineUsage, quietAsked } from "../../src/cli/commands.ts";
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

test("quiet is seen before the options are parsed, as the parser sees it", () => {
  for (const words of [["-q", "prog"], ["--quiet", "prog"], ["-hq"], ["--report", "r.json", "-q", "prog"], ["--pages", "4", "--predict", "stride", "-q", "prog"], ["--report=r.json", "-q", "prog"], ["prog", "-q"], ["--", "-q"], ["--trace", "-q", "prog"], ["--paging", "signal", "prog"]]) {
    expect({ words, quiet: quietAsked(words) }).toEqual({ words, quiet: parseCommandLine("hpager", words).quiet });
  }
});
