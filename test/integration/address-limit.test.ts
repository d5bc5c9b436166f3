/**
 * A tight address-space limit (`ulimit -v`): programs run under it natively,
 * but Bun, which runs the pager, needs more. Below the figure the pager says
 * so in one line (bin/faultline before Bun starts, the CLI where Bun did
 * start) and exits 126; at it, the program runs as natively, under the
 * caller's own limit.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { PAGER_ADDRESS_SPACE_KIB } from "../../src/loader/machine.ts";
import { ROOT } from "../support/programs.ts";
import { runProcess, verdict } from "../support/run.ts";

setDefaultTimeout(60_000);

const FAULTLINE = join(ROOT, "bin", "faultline");
const CLI = join(ROOT, "src", "cli", "cli.ts");
/** What the program prints: the limit it runs under, and that it ran. */
const PROGRAM = ["/bin/sh", "-c", 'ulimit -v; ls / >/dev/null && echo ran'];

/** argv run by a shell that first sets `ulimit -v kib` (soft and hard). */
function underLimit(kib: number, argv: readonly string[]) {
  return runProcess(["/bin/sh", "-c", `ulimit -v ${kib} && exec "$@"`, "limited", ...argv]);
}

const tooTight = (kib: number, name: string) =>
  `${name}: the address-space limit (ulimit -v) is ${kib} KiB, and the pager needs ${PAGER_ADDRESS_SPACE_KIB} KiB for Bun, which runs it and reserves its memory up front; the program would get your limit, but the pager cannot start under it\n`;

describe("a limit too tight for Bun", () => {
  // 100 MiB: Bun itself cannot start; 2 000 000 KiB: it starts without its JIT.
  for (const kib of [102_400, 2_000_000]) {
    test(`ulimit -v ${kib}: natively the program runs; the pager says why it cannot in one line, exit 126`, async () => {
      const native = await underLimit(kib, PROGRAM);
      expect(verdict(native)).toEqual({ stdout: `${kib}\nran\n`, exitCode: 0, signal: null });
      for (const pager of ["apager", "dpager", "hpager"]) {
        const loaded = await underLimit(kib, [FAULTLINE, pager, "-q", ...PROGRAM]);
        expect({ pager, stdout: loaded.stdout, stderr: loaded.stderr, exitCode: loaded.exitCode }).toEqual({ pager, stdout: "", stderr: tooTight(kib, "faultline"), exitCode: 126 });
      }
    });
  }

  test("where Bun did start (bun src/cli/cli.ts), the CLI says the same before the shim is opened", async () => {
    const loaded = await underLimit(2_000_000, [process.execPath, CLI, "dpager", "-q", ...PROGRAM]);
    expect({ stdout: loaded.stdout, stderr: loaded.stderr, exitCode: loaded.exitCode }).toEqual({ stdout: "", stderr: tooTight(2_000_000, "dpager"), exitCode: 126 });
  });
});

describe("at the figure the README gives", () => {
  for (const pager of ["apager", "dpager", "hpager"]) {
    test(`${pager} runs the program as natively, under the caller's limit`, async () => {
      const [native, loaded] = await Promise.all([underLimit(PAGER_ADDRESS_SPACE_KIB, PROGRAM), underLimit(PAGER_ADDRESS_SPACE_KIB, [FAULTLINE, pager, "-q", ...PROGRAM])]);
      expect(native.stdout).toBe(`${PAGER_ADDRESS_SPACE_KIB}\nran\n`);
      expect(verdict(loaded)).toEqual(verdict(native));
    });
  }
});
