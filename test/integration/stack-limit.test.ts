/**
 * RLIMIT_STACK, as the shell's `ulimit -s` sets it, under every pager as
 * natively: how deep a program may recurse before the kernel's SIGSEGV (the
 * stack mapping grows down, and the kernel refuses to grow it past the
 * limit), and exactly where execve's E2BIG begins (a quarter of the limit,
 * between 128 KiB and 6 MiB, found natively by bisection and then checked
 * byte for byte), and the length of one argument (MAX_ARG_STRLEN).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execveVerdictTool } from "../support/build-tools.ts";
import { tinyProgram } from "../support/craft.ts";
import { ROOT, buildProgram } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";
import { describeVerdict, kernelVerdict, pagerVerdict, type Verdict } from "../support/verdict.ts";

setDefaultTimeout(60_000);

const PAGERS = ["apager", "dpager", "hpager"] as const;
/** recurse.c reports every 16 frames of about 1 KiB. */
const REPORT_KIB = 16;
/** Native and loaded stacks differ by the random gap below the strings
 * (under 8 KiB), the environment Bun adds nothing to, and a report's step. */
const DEPTH_TOLERANCE_KIB = 2 * REPORT_KIB + 8;

let dir = "";
let recurse = "";
let exit7 = "";
let launcher = "";
beforeAll(async () => {
  recurse = await buildProgram("recurse.c", "static");
  launcher = await execveVerdictTool();
  dir = mkdtempSync(join(tmpdir(), "faultline-stack-"));
  exit7 = join(dir, "exit7");
  writeFileSync(exit7, tinyProgram(7));
  chmodSync(exit7, 0o755);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** argv run by sh after `ulimit -s KIB`: the limit applies to what it execs. */
const underLimit = (kib: number | "unlimited", argv: string[]) => ["/bin/sh", "-c", `ulimit -s ${kib} && exec "$@"`, "sh", ...argv];

const lastNumber = (stdout: string) => Number(stdout.trim().split("\n").pop());

describe("recursion stops where RLIMIT_STACK says, natively and under every pager", () => {
  for (const kib of [1024, 4096]) {
    test(`ulimit -s ${kib}`, async () => {
      const native = await runProcess(underLimit(kib, [recurse]));
      expect(native.signal).toBe("SIGSEGV");
      const nativeDepth = lastNumber(native.stdout);
      expect(nativeDepth).toBeLessThanOrEqual(kib);
      expect(nativeDepth).toBeGreaterThan(kib - 64);
      for (const pager of PAGERS) {
        const loaded = await runProcess(underLimit(kib, [process.execPath, join(ROOT, "src/cli/cli.ts"), pager, "-q", recurse]));
        expect({ pager, signal: loaded.signal, stderr: loaded.stderr }).toEqual({ pager, signal: "SIGSEGV", stderr: "" });
        expect(Math.abs(lastNumber(loaded.stdout) - nativeDepth)).toBeLessThanOrEqual(DEPTH_TOLERANCE_KIB);
      }
    });
  }
});

/** A verdict on exit7 with `pads` made inside the launcher, natively or
 * under a pager (through the library fixture, so the arguments need not
 * pass through Bun's own execve). Both run with the environment A=1 (and
 * the PWD sh adds). */
async function verdictWith(limit: number | "unlimited", pads: Array<[number, number]>, pager: string | null): Promise<Verdict> {
  const padArgs = pads.flatMap(([count, length]) => ["--pad", String(count), String(length)]);
  const argv = pager === null ? [launcher, ...padArgs, exit7] : [process.execPath, join(ROOT, "test/support/fixture-run.ts"), pager, ...padArgs, exit7];
  const ran = await runProcess(underLimit(limit, argv), { env: { A: "1" }, cwd: dir });
  return pager === null ? kernelVerdict(ran) : pagerVerdict(ran);
}

describe("E2BIG begins at the same byte as the kernel's", () => {
  const cases: Array<{ limit: number | "unlimited"; full: number }> = [
    { limit: 1024, full: 2 }, // a quarter of 1 MiB: 256 KiB
    { limit: 256, full: 1 }, // a quarter is 64 KiB, below the 128 KiB floor
    { limit: "unlimited", full: 62 }, // 3/4 of _STK_LIM: 6 MiB
  ];
  for (const { limit, full } of cases) {
    test(`ulimit -s ${limit}`, async () => {
      // Bisect natively for the longest last argument execve accepts after
      // `full` arguments of 100000 bytes.
      const pads = (last: number): Array<[number, number]> => [
        [full, 100_000],
        [1, last],
      ];
      let accepted = 0;
      let refused = 131_071;
      expect(describeVerdict(await verdictWith(limit, pads(refused), null))).toBe("E2BIG");
      expect(describeVerdict(await verdictWith(limit, pads(accepted), null))).toBe("exit 7");
      while (refused - accepted > 1) {
        const middle = Math.floor((accepted + refused) / 2);
        if (describeVerdict(await verdictWith(limit, pads(middle), null)) === "exit 7") accepted = middle;
        else refused = middle;
      }
      for (const pager of PAGERS) {
        expect({ pager, at: describeVerdict(await verdictWith(limit, pads(accepted), pager)) }).toEqual({ pager, at: "exit 7" });
        expect({ pager, past: describeVerdict(await verdictWith(limit, pads(refused), pager)) }).toEqual({ pager, past: "E2BIG" });
      }
    });
  }

  test("one argument of 131071 bytes passes, 131072 is E2BIG (MAX_ARG_STRLEN counts the NUL)", async () => {
    for (const pager of [null, ...PAGERS]) {
      expect({ pager, verdict: describeVerdict(await verdictWith(8192, [[1, 131_071]], pager)) }).toEqual({ pager, verdict: "exit 7" });
      expect({ pager, verdict: describeVerdict(await verdictWith(8192, [[1, 131_072]], pager)) }).toEqual({ pager, verdict: "E2BIG" });
    }
  });

  test("the refusal is one line naming the file and the limit", async () => {
    const loaded = await runProcess(underLimit(1024, [process.execPath, join(ROOT, "test/support/fixture-run.ts"), "apager", "--pad", "3", "100000", exit7]), { env: { A: "1" } });
    expect(loaded.exitCode).toBe(126);
    expect(loaded.stderr).toMatch(new RegExp(`^apager: ${exit7}: arguments and environment take \\d+ bytes; the stack limit allows \\d+ \\(E2BIG\\)\\n$`));
  });
});
