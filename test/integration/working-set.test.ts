/**
 * Learned working sets (--record, --prefetch) on real programs, each run
 * against its native run: static, static-pie, PIE and non-PIE programs under
 * both paging mechanisms, a profile applied across address randomisation
 * and to other arguments, refined run after run, refused for another build,
 * #! scripts, a program that forks, hpager, an ordinary user, run()'s
 * options, and the files that cannot be written or read.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunReport } from "../../src/run/report.ts";
import { userfaultfdAccess } from "../../src/shim/shim.ts";
import type { Mechanism } from "../../src/loader/spec.ts";
import { parseProfile, type WorkingSetProfile } from "../../src/paging/working-set.ts";
import { ALL_VARIANTS, ROOT, buildAll, type Variant } from "../support/programs.ts";
import { canDropPrivilege, runNative, runPager, runProcess, unprivileged, verdict, type Ran } from "../support/run.ts";

setDefaultTimeout(120_000);

const MECHANISMS: Mechanism[] = userfaultfdAccess() === "full" ? ["userfaultfd", "signal"] : ["signal"];

let built = new Map<string, string>();
let dir = "";
beforeAll(async () => {
  built = await buildAll(["bss_touch.c", "fork_touch.c"]);
  dir = mkdtempSync(join(tmpdir(), "faultline-working-set-"));
}, 300_000);
const binary = (source: string, variant: Variant) => built.get(`${source}:${variant}`)!;

/**
 * Pages a program touches in some runs and not in others with the same
 * arguments, because their use depends on where the kernel put the stack:
 * in bss_touch, the end of glibc's __strlen_evex crosses into the next text
 * page, and runs for some alignments of the argument strings only. A repeat
 * run may fault on those few (a --record run with --prefetch adds them);
 * every other page must come from the profile.
 */
const PLACEMENT_DEPENDENT_PAGES = 2;
const within = (value: number, least: number) => {
  expect(value).toBeGreaterThanOrEqual(least);
  expect(value).toBeLessThanOrEqual(least + PLACEMENT_DEPENDENT_PAGES);
};

let serial = 0;
/** A fresh path in the test's directory. */
function path(name: string): string {
  return join(dir, `${serial++}-${name}`);
}

interface PagerRun {
  ran: Ran;
  report: RunReport;
}

/** Run under a pager through the CLI with a report, quiet unless flags say
 * otherwise. */
async function pager(name: string, argv: string[], flags: string[] = []): Promise<PagerRun> {
  const report = path("report.json");
  const ran = await runPager(name, argv, { flags: ["-q", "--report", report, ...flags] });
  return { ran, report: JSON.parse(readFileSync(report, "utf8")) };
}

function profileAt(file: string): WorkingSetProfile {
  return parseProfile(readFileSync(file, "utf8"));
}

describe("record, then prefetch: the same output as natively, and the faults gone", () => {
  for (const variant of ALL_VARIANTS) {
    for (const mechanism of MECHANISMS) {
      test(`${variant}, ${mechanism}`, async () => {
        const argv = [binary("bss_touch.c", variant), "seq", "64"];
        const native = await runNative(argv);
        const profile = path("ws.json");
        const recorded = await pager("dpager", argv, ["--paging", mechanism, "--record", profile]);
        expect(verdict(recorded.ran)).toEqual(verdict(native));
        expect(recorded.ran.stderr).toBe("");
        const written = profileAt(profile);
        // Every fault's page, once: the program's own, and for a dynamic
        // program the interpreter's too, each named by its file.
        expect(written.pages.length).toBe(recorded.report.faults + 1);
        expect(written.images.map((i) => i.role)).toEqual(variant === "pie" || variant === "no-pie" ? ["program", "interpreter"] : ["program"]);
        expect(written.regions.some((r) => r.offset === null && r.name.endsWith("bss_touch bss"))).toBe(true);
        expect(written.pages.filter((p) => written.regions[p.region]!.name === "bss_touch bss").length).toBeGreaterThanOrEqual(64);

        const prefetched = await pager("dpager", argv, ["--paging", mechanism, "--prefetch", profile]);
        expect(verdict(prefetched.ran)).toEqual(verdict(native));
        expect(prefetched.ran.stderr).toBe("");
        expect(prefetched.report.prefetched).toBe(written.pages.length);
        expect(prefetched.report.prefetch).toMatchObject({ refused: null, planned: written.pages.length, skipped: 0, error: null });
        // At most 5% of the recording's faults are left.
        expect(prefetched.report.faults).toBeLessThanOrEqual(Math.floor(recorded.report.faults * 0.05));
        expect(prefetched.report.pagesMapped).toBe(recorded.report.pagesMapped);
      });
    }
  }
});

describe("a profile outlasts address randomisation and other arguments", () => {
  test("a PIE's profile fits every new placement", async () => {
    const argv = [binary("bss_touch.c", "static-pie"), "seq", "32"];
    const profile = path("ws.json");
    await pager("dpager", argv, ["--record", profile]);
    for (let i = 0; i < 3; i++) {
      const run = await pager("dpager", argv, ["--prefetch", profile]);
      expect(run.report.prefetch).toMatchObject({ skipped: 0, planned: profileAt(profile).pages.length });
      within(run.report.faults, 0);
    }
  });

  test("other arguments: the recorded pages come ahead, the others on demand", async () => {
    const program = binary("bss_touch.c", "static");
    const profile = path("ws.json");
    const small = await pager("dpager", [program, "seq", "32"], ["--record", profile]);
    const native = await runNative([program, "seq", "96"]);
    const larger = await pager("dpager", [program, "seq", "96"], ["--prefetch", profile]);
    expect(verdict(larger.ran)).toEqual(verdict(native));
    // The 64 pages the profile lacks are faults, as the recording's own were.
    within(larger.report.faults, 64);
    expect(larger.report.prefetched).toBe(small.report.faults + 1);
  });
});

describe("waste: prefetched pages the program did not touch, seen once it has ended", () => {
  for (const mechanism of MECHANISMS) {
    test(`${mechanism}: a profile of 64 pages for a run that touches 16`, async () => {
      const program = binary("bss_touch.c", "static");
      const profile = path("ws.json");
      await pager("dpager", [program, "seq", "64"], ["--paging", mechanism, "--record", profile]);
      const run = await pager("dpager", [program, "seq", "16"], ["--paging", mechanism, "--prefetch", profile]);
      expect(run.ran.stdout).toBe((await runNative([program, "seq", "16"])).stdout);
      const prefetch = run.report.prefetch!;
      if (mechanism === "signal") {
        // Any touch shows: the 48 bss pages it left are the waste.
        expect(prefetch.seen).toBe("touched");
        expect(run.report.prefetchWasted).toBe(48);
        expect(prefetch.touched + prefetch.wasted).toBe(run.report.prefetched);
      } else {
        // Only writes show: the 16 pages it wrote, at least; nothing is
        // known wasted.
        expect(prefetch.seen).toBe("written");
        expect(run.report.prefetchWasted).toBeNull();
        expect(prefetch.touched).toBeGreaterThanOrEqual(16);
        expect(prefetch.touched + prefetch.unknown).toBe(run.report.prefetched);
      }

      // Refined by that run: the pages seen untouched leave the profile.
      const refined = path("refined.json");
      writeFileSync(refined, readFileSync(profile));
      const refining = await pager("dpager", [program, "seq", "16"], ["--paging", mechanism, "--prefetch", refined, "--record", refined]);
      // Less the pages seen untouched, plus any this run took faults on
      // (a branch of the program's the longer run did not take).
      const dropped = mechanism === "signal" ? refining.report.prefetchWasted! : 0;
      expect(dropped).toBe(mechanism === "signal" ? 48 : 0);
      expect(profileAt(refined).pages.length).toBe(profileAt(profile).pages.length - dropped + refining.report.faults);
    });
  }

  test("the same look whether the waiter sends the go (nothing to log) or JavaScript does (a trace and the log come first)", async () => {
    const program = binary("bss_touch.c", "static");
    const profile = path("ws.json");
    await pager("dpager", [program, "seq", "64"], ["--paging", "signal", "--record", profile]);
    const quiet = await pager("dpager", [program, "seq", "16"], ["--paging", "signal", "--prefetch", profile]);
    const traced = await pager("dpager", [program, "seq", "16"], ["--paging", "signal", "--prefetch", profile, "--trace", path("t.jsonl")]);
    const loggedAt = path("logged.json");
    const logged = await runPager("dpager", [program, "seq", "16"], { flags: ["--paging", "signal", "--prefetch", profile, "--report", loggedAt] });
    expect(logged.stderr).toContain(" prefetched\n");
    const loggedReport: RunReport = JSON.parse(readFileSync(loggedAt, "utf8"));
    for (const run of [quiet.report, traced.report, loggedReport]) {
      expect(run.prefetchWasted).toBe(48);
      expect(run.prefetch).toMatchObject({ seen: "touched", unknown: 0 });
    }
  });
});

describe("refining a profile run after run (--prefetch and --record together)", () => {
  test("each run keeps what the profile had and adds what it newly touched", async () => {
    const program = binary("bss_touch.c", "static");
    const profile = path("ws.json");
    // No profile yet: a warning, and the run goes on and records one.
    const first = await pager("dpager", [program, "seq", "16"], ["--prefetch", profile, "--record", profile]);
    expect(first.ran.exitCode).toBe(0);
    expect(first.ran.stderr).toMatch(/^dpager: warning: --prefetch .*ws\.json: no such file \(a --record run makes one\); running without it\n$/);
    const once = profileAt(profile);
    expect(once.origin.runs).toBe(1);

    const second = await pager("dpager", [program, "seq", "48"], ["--prefetch", profile, "--record", profile]);
    expect(second.ran.stderr).toBe("");
    within(second.report.faults, 32);
    const twice = profileAt(profile);
    expect(twice.origin.runs).toBe(2);
    within(twice.pages.length, once.pages.length + 32);

    const third = await pager("dpager", [program, "seq", "48"], ["--prefetch", profile]);
    within(third.report.faults, 0);
  });
});

describe("a profile for other files is refused, and the run goes on without it", () => {
  test("the same bytes elsewhere fit; other bytes of the same size do not", async () => {
    const original = binary("bss_touch.c", "static");
    const profile = path("ws.json");
    await pager("dpager", [original, "seq", "8"], ["--record", profile]);
    const copy = path("bss_touch");
    copyFileSync(original, copy);
    chmodSync(copy, 0o755);
    const same = await pager("dpager", [copy, "seq", "8"], ["--prefetch", profile]);
    expect(same.ran.stderr).toBe("");
    within(same.report.faults, 0);

    // One byte of the file's padding changed: another build, to the profile.
    const bytes = readFileSync(copy);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(copy, bytes);
    const native = await runNative([copy, "seq", "8"]);
    const other = await pager("dpager", [copy, "seq", "8"], ["--prefetch", profile]);
    expect(verdict(other.ran)).toEqual(verdict(native));
    expect(other.ran.stderr).toMatch(/^dpager: warning: --prefetch .*ws\.json: made for other files: .*bss_touch holds other bytes than the program it was recorded for .*; running without it\n$/);
    expect(other.report.prefetched).toBe(0);
    expect(other.report.prefetch?.refused).toMatch(/other bytes/);
    expect(other.report.faults).toBeGreaterThan(8);
  });

  test("a file that is not a profile: a warning, and the run goes on", async () => {
    const junk = path("junk.json");
    writeFileSync(junk, "{}");
    const run = await pager("dpager", [binary("bss_touch.c", "static"), "one"], ["--prefetch", junk]);
    expect(run.ran.exitCode).toBe(0);
    expect(run.ran.stderr).toMatch(/^dpager: warning: --prefetch .*junk\.json: not a usable profile: not a working-set profile .*; running without it\n$/);
    expect(run.report.prefetch).toBeNull();
  });
});

describe("the run's outputs", () => {
  test("a --record path that cannot be written: one line, exit 2, nothing run", async () => {
    const marker = path("ran");
    const target = join(dir, "no-such-directory", "ws.json");
    const ran = await runPager("dpager", ["/bin/sh", "-c", `echo > ${marker}`], { flags: ["-q", "--record", target] });
    expect(ran.exitCode).toBe(2);
    expect(ran.stderr).toBe(`dpager: --record ${target}: cannot write: no such directory (ENOENT)\n`);
    expect(existsSync(marker)).toBe(false);
  });

  test("a --record file that fails once the run is over: a warning, and the program's own status", async () => {
    const ran = await runPager("dpager", [binary("bss_touch.c", "static"), "bogus"], { flags: ["-q", "--record", "/dev/full"] });
    const native = await runNative([binary("bss_touch.c", "static"), "bogus"]);
    expect(verdict(ran)).toEqual(verdict(native));
    expect(native.exitCode).toBe(2);
    expect(ran.stderr).toMatch(/dpager: warning: --record \/dev\/full: cannot write: no space left on the device \(ENOSPC\); the run itself is unaffected\n$/);
  });

  test("the mapping log says which lines came from the profile; the trace lists the prefetched pages", async () => {
    const argv = [binary("bss_touch.c", "static"), "seq", "4"];
    const profile = path("ws.json");
    await pager("dpager", argv, ["--record", profile]);
    const trace = path("trace.jsonl");
    const run = await pager("dpager", argv, ["--prefetch", profile, "--trace", trace]);
    const lines = readFileSync(trace, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const prefetchLines = lines.filter((l) => l.kind === "prefetch");
    expect(prefetchLines.flatMap((l) => l.mapped).length).toBe(run.report.prefetched);
    // The prefetch lines come before any fault's.
    expect(lines.findIndex((l) => l.kind !== "prefetch")).toBe(prefetchLines.length);

    const logged = await runPager("dpager", argv, { flags: ["--prefetch", profile] });
    const marked = logged.stderr.split("\n").filter((l) => l.endsWith(" prefetched"));
    expect(marked.length).toBe(run.report.prefetch!.runs);
    for (const line of marked) expect(line).toMatch(/^dpager: map addr=0x[0-9a-f]+ size=0x[0-9a-f]+ off=(0x[0-9a-f]+|-) prot=[r-][w-][x-] (file=\S+|anon=bss\(bss_touch\)) prefetched$/);
    const pages = marked.reduce((n, l) => n + Number(/size=(0x[0-9a-f]+)/.exec(l)![1]) / 4096, 0);
    expect(pages).toBe(run.report.prefetched);
  });
});

describe("scripts, forks, hpager", () => {
  test("a #! script: the profile names its interpreter's files", async () => {
    const script = path("script.sh");
    writeFileSync(script, "#!/bin/sh\necho \"hello from $0\" | tr a-z A-Z\n");
    chmodSync(script, 0o755);
    const native = await runNative([script]);
    const profile = path("ws.json");
    await pager("dpager", [script], ["--record", profile]);
    const recorded = profileAt(profile);
    expect(recorded.images[0]!.path).toBe("/bin/sh");
    const run = await pager("dpager", [script], ["--prefetch", profile]);
    expect(verdict(run.ran)).toEqual(verdict(native));
    expect(run.report.prefetched).toBe(recorded.pages.length);
    expect(run.report.faults).toBeLessThanOrEqual(Math.ceil(recorded.pages.length * 0.05));
  });

  for (const mechanism of MECHANISMS) {
    test(`a program that forks, ${mechanism}: both processes' pages are recorded, and both run as natively`, async () => {
      const argv = [binary("fork_touch.c", "static")];
      const native = await runNative(argv);
      const profile = path("ws.json");
      const recorded = await pager("dpager", argv, ["--paging", mechanism, "--record", profile]);
      expect(verdict(recorded.ran)).toEqual(verdict(native));
      const pages = profileAt(profile).pages.length;
      // The parent's 4096 pages at least (the child's faults are the
      // server's to see only where forks are reported).
      expect(pages).toBeGreaterThanOrEqual(4096);
      const run = await pager("dpager", argv, ["--paging", mechanism, "--prefetch", profile]);
      expect(verdict(run.ran)).toEqual(verdict(native));
      expect(run.report.prefetched).toBe(pages);
      expect(run.report.faults).toBeLessThan(recorded.report.faults / 10);
    });
  }

  for (const mechanism of MECHANISMS) {
    test(`hpager, ${mechanism}: its bss, the pages it faulted and those it predicted`, async () => {
      const argv = [binary("bss_touch.c", "pie"), "stride", "64"];
      const native = await runNative(argv);
      const profile = path("ws.json");
      const recorded = await pager("hpager", argv, ["--paging", mechanism, "--predict", "stride", "--record", profile]);
      expect(verdict(recorded.ran)).toEqual(verdict(native));
      const written = profileAt(profile);
      expect(new Set(written.pages.map((p) => written.regions[p.region]!.name))).toEqual(new Set(["bss_touch bss"]));
      const run = await pager("hpager", argv, ["--paging", mechanism, "--predict", "stride", "--prefetch", profile]);
      expect(verdict(run.ran)).toEqual(verdict(native));
      within(run.report.faults, 0);
    });
  }
});

describe("run()'s record and prefetch", () => {
  test("record, then prefetch, from a script", async () => {
    const profile = path("ws.json");
    const program = binary("bss_touch.c", "static");
    const code = `
      import { run } from ${JSON.stringify(join(ROOT, "src", "index.ts"))};
      const first = await run([${JSON.stringify(program)}, "seq", "20"], { pager: "dpager", quiet: true, record: ${JSON.stringify(profile)} });
      const again = await run([${JSON.stringify(program)}, "seq", "20"], { pager: "dpager", quiet: true, prefetch: ${JSON.stringify(profile)} });
      try { await run([${JSON.stringify(program)}], { pager: "apager", record: "x.json" }); } catch (e) { console.log(e.name, e.message); }
      console.log(JSON.stringify([first.faults, again.faults, again.prefetched]));
    `;
    const script = path("run.ts");
    writeFileSync(script, code);
    const ran = await runProcess([process.execPath, script]);
    expect(ran.stderr).toBe("");
    // The program's own lines, then the refusal and the figures.
    const lines = ran.stdout.trim().split("\n");
    expect(lines.slice(0, 2)).toEqual(Array(2).fill(lines[0]));
    expect(lines[0]).toMatch(/^pages=20 checksum=/);
    const [usage, figures] = lines.slice(2);
    expect(usage).toBe("TypeError options.record and options.prefetch apply to dpager and hpager, not apager (it maps every page at start)");
    const [recordedFaults, faults, prefetched] = JSON.parse(figures!);
    within(faults, 0);
    expect(prefetched).toBe(recordedFaults + 1);
  });
});

describe("as an ordinary user", () => {
  test.skipIf(!canDropPrivilege())("dpager records and prefetches only what it pages: the program's code [root]", async () => {
    const program = binary("bss_touch.c", "pie");
    const work = mkdtempSync(join(tmpdir(), "faultline-working-set-user-"));
    chmodSync(work, 0o777);
    try {
      const profile = join(work, "ws.json");
      const report = join(work, "report.json");
      const recorded = await runProcess(unprivileged([process.execPath, join(ROOT, "src", "cli", "cli.ts"), "dpager", "-q", "--record", profile, program, "seq", "16"]));
      expect(recorded.exitCode).toBe(0);
      const written = profileAt(profile);
      expect(written.pages.length).toBeGreaterThan(0);
      for (const p of written.pages) expect(written.regions[p.region]!.name).toMatch(/ text$/);
      const run = await runProcess(unprivileged([process.execPath, join(ROOT, "src", "cli", "cli.ts"), "dpager", "-q", "--report", report, "--prefetch", profile, program, "seq", "16"]));
      expect(run.exitCode).toBe(0);
      const figures: RunReport = JSON.parse(readFileSync(report, "utf8"));
      expect(figures.prefetched).toBe(written.pages.length);
      within(figures.faults, 0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
