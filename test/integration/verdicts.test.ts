/**
 * The verdict table (test/support/verdict-cases.ts, docs/differences.md): every
 * hostile or unusual file is run natively with execve, to learn the kernel's
 * verdict on this machine, and under apager, dpager and hpager, whose
 * verdict must be the kernel's, or the documented difference. No pager may
 * crash or hang on any of them.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMeminfo } from "../../src/loader/machine.ts";
import { execveVerdictTool } from "../support/build-tools.ts";
import { PF_R, PF_W, PF_X, PT_LOAD, craftElf, exitCode } from "../support/craft.ts";
import { ROOT } from "../support/programs.ts";
import { canDropPrivilege, runProcess, unprivileged } from "../support/run.ts";
import { VERDICT_CASES, tableRow, type VerdictCase } from "../support/verdict-cases.ts";
import { describeVerdict, pagerCommand, pagerVerdict, refusalLine, runKernel, type Verdict } from "../support/verdict.ts";

setDefaultTimeout(60_000);

const PAGERS = ["apager", "dpager", "hpager"] as const;
const root = process.getuid?.() === 0;

/** What a refusal line says of the kernel, by the refusal's kind. */
const KERNEL_NOTES = {
  "after-exec": "; the kernel would start it and kill it with SIGSEGV)",
  runs: "; a limit of faultline's: the kernel would run it)",
};

let dir = "";
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-verdicts-"));
  chmodSync(dir, 0o755); // some cases run as an unprivileged user
  await execveVerdictTool();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pagerArgv(c: VerdictCase, pager: string, argv: string[]): string[] {
  const command = c.pad
    ? [process.execPath, join(ROOT, "test/support/fixture-run.ts"), pager, ...c.pad.flatMap(([count, length]) => ["--pad", String(count), String(length)]), ...argv]
    : pagerCommand(pager, argv);
  return c.unprivileged ? unprivileged(command) : command;
}

function strip(v: Verdict & { kernel?: unknown }): Verdict {
  const { kernel: _kernel, ...verdict } = v;
  return verdict as Verdict;
}

describe("each hostile file gets the kernel's verdict, or the documented difference, under every pager", () => {
  for (const c of VERDICT_CASES) {
    const skip = (c.needsRoot === true && !root) || (c.unprivileged === true && root && !canDropPrivilege());
    test.skipIf(skip)(`${c.title}${c.needsRoot ? " [root]" : ""}`, async () => {
      const made = c.make(dir);
      try {
        const native = await runKernel(made.argv, { ...(c.unprivileged ? { wrap: unprivileged } : {}), ...(c.pad ? { pad: c.pad } : {}) });
        const kernel = Array.isArray(c.kernel) ? c.kernel : [c.kernel];
        expect(kernel.map(describeVerdict)).toContain(describeVerdict(native.verdict));
        // faultline differs where the case says so, unless this kernel's
        // verdict happens to be faultline's (an i386 program without IA32
        // emulation, say).
        const differs = c.faultline !== undefined && describeVerdict(native.verdict) !== describeVerdict(strip(c.faultline));
        const expected = differs ? strip(c.faultline!) : native.verdict;
        const kind = differs ? c.faultline!.kernel : undefined;
        const runs = await Promise.all(PAGERS.map((pager) => runProcess(pagerArgv(c, pager, made.argv))));
        PAGERS.forEach((pager, i) => {
          const ran = runs[i]!;
          const verdict = pagerVerdict(ran);
          expect({ pager, verdict: describeVerdict(verdict) }).toEqual({ pager, verdict: describeVerdict(expected) });
          if ("refused" in verdict) {
            expect(ran.exitCode).toBe(verdict.refused === "ENOENT" ? 127 : 126);
            const line = refusalLine(ran);
            expect(line.startsWith(`${pager}: `)).toBe(true);
            if (kind === "after-exec" || kind === "runs") expect(line.endsWith(KERNEL_NOTES[kind])).toBe(true);
            else expect(line).toEndWith(`(${verdict.refused})`);
          } else {
            // A run: nothing of the pager's on stderr (it is quiet).
            expect({ pager, stderr: ran.stderr }).toEqual({ pager, stderr: "" });
          }
        });
      } finally {
        made.cleanup?.();
      }
    });
  }
});

describe("the kernel's commit rule at its boundary (vm.overcommit_memory 0)", () => {
  const overcommit = Number(readFileSync("/proc/sys/vm/overcommit_memory", "utf8").trim());
  const meminfo = parseMeminfo(readFileSync("/proc/meminfo", "utf8"));
  const ramAndSwap = (meminfo.get("MemTotal") ?? 0) + (meminfo.get("SwapTotal") ?? 0);
  const bss = (memsz: number) => {
    const path = join(dir, `bss-${memsz.toString(16)}`);
    writeFileSync(path, craftElf({ entry: 0x400100, segments: [{ type: PT_LOAD, flags: PF_R | PF_X, offset: 0, vaddr: 0x400000, filesz: 0x200, memsz: 0x200, align: 0x1000 }, { type: PT_LOAD, flags: PF_R | PF_W, offset: 0, vaddr: 0x600000, filesz: 0, memsz, align: 0x1000 }], contents: [{ offset: 0x100, bytes: exitCode(7) }] }));
    chmodSync(path, 0o755);
    return path;
  };
  test.skipIf(overcommit !== 0)("a bss of exactly RAM and swap runs; a page more is the kernel's SIGSEGV and faultline's ENOMEM", async () => {
    const fits = bss(ramAndSwap);
    const over = bss(ramAndSwap + 0x1000);
    expect((await runKernel([fits])).verdict).toEqual({ exit: 7 });
    expect((await runKernel([over])).verdict).toEqual({ signal: "SIGSEGV" });
    // dpager and hpager map the bss when touched; apager would populate it
    // all at start, which is faultline's own limit.
    for (const pager of ["dpager", "hpager"]) expect({ pager, verdict: pagerVerdict(await runProcess(pagerCommand(pager, [fits]))) }).toEqual({ pager, verdict: { exit: 7 } });
    const populate = await runProcess(pagerCommand("apager", [fits]));
    expect(refusalLine(populate)).toMatch(/populating 0x[0-9a-f]+ bytes before the program starts would exceed .* \(ENOMEM; a limit of faultline's: the kernel would run it\)$/);
    for (const pager of PAGERS) expect({ pager, verdict: pagerVerdict(await runProcess(pagerCommand(pager, [over]))) }).toEqual({ pager, verdict: { refused: "ENOMEM" } });
  });
});

test("docs/differences.md carries the verdict table, row for row", () => {
  const page = readFileSync(join(ROOT, "docs", "differences.md"), "utf8");
  const missing = VERDICT_CASES.map(tableRow).filter((row) => !page.includes(row));
  expect(missing).toEqual([]);
});
