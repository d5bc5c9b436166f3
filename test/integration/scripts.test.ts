/**
 * #! scripts, as binfmt_script runs them: the interpreter named on the line
 * gets its optional argument, the script's path, then the script's
 * arguments; AT_EXECFN, the process name and /proc/self/cmdline follow. The
 * probe program (test/programs/probe.c) is the interpreter, run natively
 * through the kernel and under every pager, which loads the interpreter
 * itself; its whole view of its start must match.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../support/programs.ts";
import { runNative, runPager } from "../support/run.ts";

setDefaultTimeout(60_000);

const PAGERS = ["apager", "dpager", "hpager"] as const;

let dir = "";
const probes: Record<string, string> = {};
beforeAll(async () => {
  probes.static = await buildProgram("probe.c", "static");
  probes.pie = await buildProgram("probe.c", "pie");
  dir = mkdtempSync(join(tmpdir(), "faultline-scripts-"));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, 0o755);
  return path;
}

function fields(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
}

const cases: Array<{ name: string; make: (probe: string) => string; args: string[] }> = [
  { name: "an interpreter alone", make: (probe) => script("plain", `#!${probe}\necho not for the probe\n`), args: ["one", "two words"] },
  { name: "an interpreter and its argument, blanks inside kept, trailing ones dropped", make: (probe) => script("argument", `#!  ${probe}  -x  y \t\n`), args: ["z"] },
  { name: "a script run by a script", make: (probe) => script("outer", `#!${script("inner", `#!${probe} inner-arg\n`)} outer-arg\n`), args: ["last"] },
  { name: "no newline in a short script, trailing blanks: an empty argument", make: (probe) => script("blank-argument", `#!${probe}   `), args: [] },
  { name: "a line longer than the kernel reads: the argument is cut", make: (probe) => script("long", `#!${probe} ${"a".repeat(300)}\n`), args: ["after"] },
];

describe("#! scripts: the interpreter's view of its start matches the kernel's", () => {
  for (const variant of ["static", "pie"] as const) {
    for (const c of cases) {
      test(`${c.name} (${variant} interpreter)`, async () => {
        const path = c.make(probes[variant]!);
        const native = await runNative([path, ...c.args]);
        expect(native.exitCode).toBe(0);
        const expected = fields(native.stdout);
        expect(expected.AT_EXECFN).toBe(path);
        for (const pager of PAGERS) {
          const loaded = await runPager(pager, [path, ...c.args]);
          expect({ pager, exitCode: loaded.exitCode, stderr: loaded.stderr }).toEqual({ pager, exitCode: 0, stderr: "" });
          // Known differences, asserted where they belong (paging.test.ts):
          // the SIGSEGV mechanism's handler, and under userfaultfd paging a
          // dpager-loaded interpreter that /proc/self/maps shows as copies.
          const known = { sig_caught: "", base_ok: expected.base_ok };
          expect({ pager, ...fields(loaded.stdout), ...known }).toEqual({ pager, ...expected, ...known });
        }
      });
    }
  }
});
