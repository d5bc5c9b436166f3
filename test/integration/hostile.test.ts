/**
 * The loaded program is untrusted: a program that writes over every shared
 * writable mapping it has (test/programs/scribble.c: random bytes,
 * plausible-looking records, huge values, all ones, all zeros; once, or
 * continuously from a second thread while it faults in 16 MiB of bss)
 * must not crash, hang or fool the pager. Under every pager and paging
 * mechanism: the Bun process ends the way the program did (exit 0), the
 * report is written, and a run whose shared memory was written over says
 * so. Under userfaultfd paging the program shares no writable memory with
 * the pager at all. `bun run fuzz --hostile` runs the same over hundreds
 * of seeds.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import { buildAll, ROOT, type Variant } from "../support/programs.ts";
import { mapAtMost, runPager, runProcess } from "../support/run.ts";

setDefaultTimeout(300_000);

const VARIANTS: Variant[] = ["static", "pie"];
const SETTINGS = [
  { pager: "apager", flags: [] as string[] },
  ...(["dpager", "hpager"] as const).flatMap((pager) =>
    (userfaultfdAvailable() ? ["signal", "userfaultfd"] : ["signal"]).map((paging) => ({ pager, flags: ["--paging", paging] })),
  ),
];
const MODES = ["once", "thread", "both"];
const SEEDS = 2;
/** Runs at the same time within a setting. */
const RUNS_AT_ONCE = 3;

let built = new Map<string, string>();
beforeAll(async () => {
  built = await buildAll(["scribble.c"], VARIANTS);
}, 300_000);

describe("a program writing over the memory it shares with the pager", () => {
  for (const setting of SETTINGS) {
    test(`${setting.pager} ${setting.flags.join(" ")}: the pager neither crashes nor hangs nor believes it`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "faultline-hostile-"));
      const runs = VARIANTS.flatMap((variant) => MODES.flatMap((mode) => Array.from({ length: SEEDS }, (_, i) => ({ variant, mode, seed: i + 1 }))));
      // A few runs at once, each its own program and report.
      const ended = await mapAtMost(runs, RUNS_AT_ONCE, ({ variant, mode, seed }) => {
        const report = join(dir, `${variant}-${mode}-${seed}.json`);
        return runPager(setting.pager, [built.get(`scribble.c:${variant}`)!, String(seed), mode], { flags: ["-q", "--report", report, ...setting.flags] });
      });
      for (const [i, { variant, mode, seed }] of runs.entries()) {
        const report = join(dir, `${variant}-${mode}-${seed}.json`);
        const ran = ended[i]!;
        const label = `${variant} ${mode} ${seed}`;
        expect(ran.stderr).not.toContain("internal error");
        const written = JSON.parse(readFileSync(report, "utf8"));
        // A known limit of any signal-based pager, hostile or not: a
        // static program's pthread_create runs with SIGSEGV blocked, and
        // dpager has not mapped its pages yet (README).
        if (variant === "static" && mode !== "once" && setting.pager === "dpager" && setting.flags.includes("signal")) {
          expect([label, ran.signal, written.signal]).toEqual([label, "SIGSEGV", "SIGSEGV"]);
          continue;
        }
        expect([label, ran.exitCode, ran.signal]).toEqual([label, 0, null]);
        const said = /^shared=(\d+) sum=522240 done\n$/.exec(ran.stdout);
        expect([label, ran.stdout]).toEqual([label, said ? ran.stdout : "shared=N sum=522240 done\n"]);
        expect([label, written.exitCode, written.signal]).toEqual([label, 0, null]);
        const shared = Number(said![1]);
        if (setting.flags.includes("userfaultfd") || setting.pager === "apager") {
          // Nothing of the pager's is shared with the program.
          expect([label, shared, written.tampered]).toEqual([label, 0, false]);
        } else if (shared > 0) {
          expect([label, written.tampered]).toEqual([label, true]);
          expect(ran.stderr).toContain("wrote over the memory it shares with the pager");
        }
      }
    });
  }

  test("a long-lived library user stays up through many of them", async () => {
    const ran = await runProcess([process.execPath, join(ROOT, "test/support/fixture-hostile.ts"), built.get("scribble.c:pie")!, "30"]);
    expect(ran.exitCode).toBe(0);
    // The programs share the fixture's standard output: its own lines are
    // the JSON ones and the last.
    const lines = ran.stdout.trim().split("\n");
    expect(lines.at(-1)).toBe("alive");
    const runs = lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
    expect(runs).toHaveLength(30);
    for (const r of runs) expect([r.pager, r.paging, r.mode, r.exitCode, r.signal]).toEqual([r.pager, r.paging, r.mode, 0, null]);
    expect(runs.some((r) => r.tampered)).toBe(true);
  });
});
