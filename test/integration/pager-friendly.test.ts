/**
 * The pagers' --friendly: a genuine segfault in a loaded program, static ones
 * included, ends with one of the friendly messages, a diagnosis and where it
 * happened instead of a bare "Segmentation fault", under every pager and
 * paging mechanism.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import { framesIn, lineOf } from "../support/friendly-frames.ts";
import { MESSAGES, messagesIn } from "../support/friendly-messages.ts";
import { PROGRAMS, buildAll, type Variant } from "../support/programs.ts";
import { runPager } from "../support/run.ts";

// Loaded programs run in subprocesses with their own time limits.
setDefaultTimeout(60_000);

const CRASH_STATUS = 139;
const mechanisms = userfaultfdAvailable() ? ["userfaultfd", "signal"] : ["signal"];
const CONFIGS: Array<[string, string[]]> = [
  ["apager", []],
  ...["dpager", "hpager"].flatMap((pager) => mechanisms.map((m): [string, string[]] => [pager, ["--paging", m]])),
];

let built = new Map<string, string>();
let nested = new Map<string, string>();
beforeAll(async () => {
  built = await buildAll(["segv_0x55.c", "crash.c", "exit_code.c"], ["static", "pie"]);
  nested = await buildAll(["nested.c"], ["static", "pie"], ["debug-O0", "debug-O2-nofp"]);
}, 180_000);
const binary = (source: string, variant: Variant) => built.get(`${source}:${variant}`)!;

describe("--friendly under every pager", () => {
  for (const [pager, flags] of CONFIGS) {
    for (const variant of ["static", "pie"] as const) {
      test(`${pager} ${flags.join(" ")} (${variant}): the handout's program`, async () => {
        const ran = await runPager(pager, [binary("segv_0x55.c", variant)], { flags: ["-q", "--friendly", ...flags] });
        expect(ran.exitCode).toBe(CRASH_STATUS);
        expect(ran.signal).toBeNull();
        expect(ran.stdout).toBe("I'm going to segfault now.\n");
        expect(messagesIn(ran.stderr)).toHaveLength(1);
        expect(ran.stderr).toContain("writing address 0x55");
        expect(ran.stderr).toContain("NULL-pointer dereference");
      });
    }
  }

  test("a stack overflow gets the message too (the reporter has its own stack)", async () => {
    for (const [pager, flags] of CONFIGS) {
      const ran = await runPager(pager, [binary("crash.c", "static"), "stack_overflow"], { flags: ["-q", "--friendly", ...flags] });
      expect({ config: `${pager} ${flags.join(" ")}`, status: ran.exitCode }).toEqual({ config: `${pager} ${flags.join(" ")}`, status: CRASH_STATUS });
      expect(messagesIn(ran.stderr)).toHaveLength(1);
      expect(ran.stderr).toContain("stack overflow");
      const frames = framesIn(ran.stderr);
      expect(frames.map((f) => f.function)).toEqual(["recurse", "recurse", "main"]);
      expect(frames[1]!.repeat).toBeGreaterThan(1000);
    }
  });

  for (const [pager, flags] of CONFIGS) {
    for (const variant of ["static", "pie"] as const) {
      test(`${pager} ${flags.join(" ")} (${variant}): where, with source lines, at -O0 and at -O2 -fomit-frame-pointer`, async () => {
        const source = readFileSync(join(PROGRAMS, "nested.c"), "utf8");
        const lines = [lineOf(source, "*p = 42;"), lineOf(source, "deep_write(p);"), lineOf(source, "middle((int *)")];
        for (const profile of ["debug-O0", "debug-O2-nofp"]) {
          const ran = await runPager(pager, [nested.get(`nested.c:${variant}:${profile}`)!], { flags: ["-q", "--friendly", ...flags] });
          expect(ran.exitCode).toBe(CRASH_STATUS);
          const frames = framesIn(ran.stderr);
          expect({ profile, frames: frames.map((f) => `${f.function} ${f.location}`) }).toEqual({
            profile,
            frames: ["deep_write", "middle", "main"].map((name, i) => `${name} test/programs/nested.c:${lines[i]}`),
          });
        }
      });
    }
  }

  test("the message differs from run to run", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const ran = await runPager("apager", [binary("segv_0x55.c", "static")], { flags: ["-q", "--friendly"] });
      for (const m of messagesIn(ran.stderr)) seen.add(m);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
    for (const m of seen) expect(MESSAGES).toContain(m);
  });

  test("FAULTLINE_FRIENDLY_RERAISE=1: the message, then the signal itself", async () => {
    const ran = await runPager("dpager", [binary("segv_0x55.c", "static")], { flags: ["-q", "--friendly"], env: { ...process.env, FAULTLINE_FRIENDLY_RERAISE: "1" } });
    expect(ran.signal).toBe("SIGSEGV");
    expect(messagesIn(ran.stderr)).toHaveLength(1);
  });

  test("a program that does not crash is unchanged", async () => {
    for (const [pager, flags] of CONFIGS) {
      const ran = await runPager(pager, [binary("exit_code.c", "static"), "42"], { flags: ["-q", "--friendly", ...flags] });
      expect({ pager, flags, status: ran.exitCode, stderr: ran.stderr }).toEqual({ pager, flags, status: 42, stderr: "" });
    }
  });
});
