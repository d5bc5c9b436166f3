/**
 * Loaders started ahead of the next launch (src/loader/launch.ts, shim/loader/prestart.c):
 * the next plain launch takes the waiting loader only when Bun would spawn
 * the same one then. Each case runs the probe twice in a fixture process
 * (test/support/fixture-prestart.ts) around one change of what a program
 * inherits, and checks the second program saw the change; when nothing
 * changed, that the waiting loader became the program. A loader nobody
 * takes is retired.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildAll, ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

setDefaultTimeout(60_000);

let probe = "";
beforeAll(async () => {
  probe = (await buildAll(["probe.c"], ["pie"])).get("probe.c:pie")!;
}, 300_000);

interface Prestarted {
  first: Map<string, string>;
  second: Map<string, string>;
  waiting: number[];
  secondPid: number;
  reused: boolean;
  after: number[];
}

function fields(text: string): Map<string, string> {
  return new Map(text.trim().split("\n").filter((l) => l.includes("=")).map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
}

async function prestarted(change: string, file?: string): Promise<Prestarted> {
  const ran = await runProcess([process.execPath, join(ROOT, "test/support/fixture-prestart.ts"), change, probe, ...(file ? [file] : [])]);
  expect(ran.exitCode).toBe(0);
  const verdict = JSON.parse(ran.stderr.trim().split("\n").at(-1)!);
  const [first, second = ""] = ran.stdout.split("=== second\n");
  return { first: fields(first!), second: fields(second), ...verdict };
}

describe("a loader started ahead", () => {
  test("becomes the next program when nothing changed, which sees what the first saw", async () => {
    const r = await prestarted("none");
    expect(r.waiting).toHaveLength(1);
    expect(r.reused).toBe(true);
    for (const key of ["fds", "fds_cloexec", "umask", "nice", "cwd", "sig_blocked", "sig_ignored", "rlimit_nofile", "cpus", "timerslack_ns", "comm", "exe", "stack_mapping"]) {
      expect([key, r.second.get(key)]).toEqual([key, r.first.get(key)]);
    }
    expect(r.second.get("argv[1]")).toBe("second");
    // The second launch started one for a third.
    expect(r.after).toHaveLength(1);
  });

  const changes: Array<[string, (r: Prestarted, file: string) => void]> = [
    ["cwd", (r) => expect(r.second.get("cwd")).toBe(realpathSync(tmpdir()))],
    ["umask", (r) => expect(r.second.get("umask")).toBe("077")],
    ["nice", (r) => expect(r.second.get("nice")).toBe("7")],
    ["mask", (r) => expect(r.second.get("sig_blocked")!.split(",")).toContain("10")],
    [
      "stdout",
      (r, file) => {
        expect(r.second.size).toBe(0);
        expect(fields(readFileSync(file, "utf8")).get("argv[1]")).toBe("second");
      },
    ],
  ];
  for (const [change, check] of changes) {
    test(`is not taken when ${change === "stdout" ? "standard output" : change === "mask" ? "the signal mask" : `the ${change}`} changed: a new loader runs the program, which sees the change`, async () => {
      const file = join(mkdtempSync(join(tmpdir(), "faultline-prestart-")), "out");
      const r = await prestarted(change, file);
      expect(r.waiting).toHaveLength(1);
      expect(r.secondPid).toBeGreaterThan(0);
      expect(r.reused).toBe(false);
      check(r, file);
      // The stale one was retired (reaped), not left behind.
      expect(r.after).not.toContain(r.waiting[0]);
    });
  }

  test("is retired once idle", async () => {
    const r = await prestarted("idle");
    expect(r.waiting).toHaveLength(1);
    expect(r.after).toEqual([]);
  });

  test("is not started when turned off", async () => {
    const r = await prestarted("off");
    expect(r.waiting).toEqual([]);
    expect(r.after).toEqual([]);
  });
});
