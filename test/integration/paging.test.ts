/**
 * dpager and hpager: real programs against their native runs, genuine memory
 * errors that stay genuine under every pager, threads racing on fresh pages,
 * a program that closes every descriptor, the fault counters on the scan
 * workloads, and --trace.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import type { Mechanism } from "../../src/loader/spec.ts";
import { ALL_VARIANTS, buildAll, type Variant } from "../support/programs.ts";
import { runNative, runPager, verdict, type Ran } from "../support/run.ts";

// Loaded programs run in subprocesses with their own time limits
// (test/support/run.ts); a test may run several of them.
setDefaultTimeout(60_000);

const PAGE = 4096;
/** Both ways faults reach the pager, where this machine allows both. */
const MECHANISMS: Mechanism[] = userfaultfdAvailable() ? ["userfaultfd", "signal"] : ["signal"];
/** Every pager, the demand-paging ones with each mechanism: [name, flags]. */
const CONFIGS: Array<[string, string[]]> = [
  ["apager", []],
  ...(["dpager", "hpager"] as const).flatMap((pager) => MECHANISMS.map((m): [string, string[]] => [pager, ["--paging", m]])),
];

let built = new Map<string, string>();
beforeAll(async () => {
  built = await buildAll([
    "crash.c",
    "threads_bss.c",
    "close_fds.c",
    "bss_touch.c",
    "args_env.c",
    "tls_threads.c",
    "malloc_brk_mmap.c",
    "data_bss.c",
    "cxx_exceptions.cpp",
    "fork_exec.c",
    "data_touch.c",
    "probe.c",
  ]);
}, 300_000);
const binary = (source: string, variant: Variant) => built.get(`${source}:${variant}`)!;

function reportOf(dir: string): { faults: number; pagesMapped: number; differences: string[]; paging: string } {
  return JSON.parse(readFileSync(join(dir, "report.json"), "utf8"));
}

async function withReport(pager: string, argv: string[], flags: string[] = []): Promise<{ ran: Ran; report: ReturnType<typeof reportOf> }> {
  const dir = mkdtempSync(join(tmpdir(), "faultline-paging-"));
  const ran = await runPager(pager, argv, { flags: ["-q", "--report", join(dir, "report.json"), ...flags] });
  return { ran, report: reportOf(dir) };
}

describe("genuine memory errors end the program as natively, under every pager", () => {
  const modes = ["null_read", "null_write", "write_text", "write_rodata", "exec_data", "stack_overflow", "past_bss", "abort", "div_zero", "kill_segv", "protect_bss", "guard_bss"];
  for (const variant of ["static", "pie"] as const) {
    for (const mode of modes) {
      test(`${mode} (${variant})`, async () => {
        const argv = [binary("crash.c", variant), mode];
        const native = await runNative(argv);
        expect(native.stdout).toBe(`crash: ${mode}\n`);
        expect(native.signal ?? native.exitCode).not.toBe(0);
        // Every pager at once: each run is a process of its own.
        const runs = await Promise.all(CONFIGS.map(([pager, flags]) => runPager(pager, argv, { flags: ["-q", ...flags] })));
        for (const [i, [pager, flags]] of CONFIGS.entries()) {
          const loaded = runs[i]!;
          const config = [pager, ...flags].join(" ");
          expect({ config, ...verdict(loaded) }).toEqual({ config, ...verdict(native) });
          // Nothing of ours between the fault and the end.
          expect(loaded.stderr).toBe("");
        }
      });
    }
  }
});

describe("threads racing to first-touch the same fresh bss pages", () => {
  const runs: Array<[string, Variant, Mechanism | null]> = [
    ["apager", "static", null],
    ...MECHANISMS.flatMap((m): Array<[string, Variant, Mechanism]> => [
      ["dpager", "pie", m],
      ["dpager", "no-pie", m],
      ["hpager", "static", m],
      ["hpager", "pie", m],
    ]),
    ...(MECHANISMS.includes("userfaultfd") ? [["dpager", "static", "userfaultfd"] as [string, Variant, Mechanism]] : []),
  ];
  for (const [pager, variant, mechanism] of runs) {
    test(`${pager}${mechanism ? ` --paging ${mechanism}` : ""} (${variant}), five runs`, async () => {
      const argv = [binary("threads_bss.c", variant)];
      const native = await runNative(argv);
      expect(native.stdout).toMatch(/^ok 8 threads x 16 rounds x 64 pages, sum \d+\n$/);
      const flags = ["-q", ...(mechanism ? ["--paging", mechanism] : [])];
      for (let i = 0; i < 5; i++) expect(verdict(await runPager(pager, argv, { flags }))).toEqual(verdict(native));
    });
  }

  test("dpager --paging signal on a static threaded program: the known limit is named, not a mystery", async () => {
    // glibc's pthread_create blocks every signal around clone; in a static
    // program the code it runs then is demand-paged, and a fault with
    // SIGSEGV blocked is fatal before any handler can run.
    const loaded = await runPager("dpager", [binary("threads_bss.c", "static")], { flags: ["-q", "--paging", "signal"] });
    expect(loaded.signal).toBe("SIGSEGV");
    expect(loaded.stderr).toContain("had not mapped yet while the pager's fault handler could not run: the program had SIGSEGV blocked");
  });
});

describe("a program that closes every descriptor above 2 keeps paging", () => {
  for (const [pager, flags] of CONFIGS.slice(1)) {
    for (const variant of ["static", "pie"] as const) {
      test(`${pager} ${flags.join(" ")} (${variant})`, async () => {
        const argv = [binary("close_fds.c", variant)];
        const [native, loaded] = await Promise.all([runNative(argv), runPager(pager, argv, { flags: ["-q", ...flags] })]);
        expect(native.stdout).toStartWith("fds: 0 1 2\n");
        expect(verdict(loaded)).toEqual(verdict(native));
      });
    }
  }
});

describe("programs under dpager and hpager match their native runs", () => {
  // Cases dpager --paging signal cannot run (README, Limits):
  // static threaded programs (pthread_create's blocked-signal window, see
  // above), and a system call reading a page the program never touched
  // (fork_exec's child passes execv a path from a page of .rodata it has not
  // read in that process: the kernel answers EFAULT, not a fault).
  const cases: Array<{ source: string; args?: string[]; env?: Record<string, string>; beyondDpager?: (v: Variant) => boolean }> = [
    { source: "args_env.c", args: ["one", "two words"], env: { FAULTLINE_TEST_A: "alpha", FAULTLINE_TEST_EXIT: "3" } },
    { source: "tls_threads.c", beyondDpager: (v) => v === "static" || v === "static-pie" },
    { source: "malloc_brk_mmap.c" },
    { source: "data_bss.c" },
    { source: "cxx_exceptions.cpp" },
    { source: "fork_exec.c", beyondDpager: () => true },
    { source: "data_touch.c" },
  ];
  for (const [pager, flags] of CONFIGS.slice(1)) {
    for (const c of cases) {
      for (const variant of ALL_VARIANTS) {
        if (pager === "dpager" && flags.includes("signal") && c.beyondDpager?.(variant)) continue;
        test(`${pager} ${flags.join(" ")}: ${c.source} (${variant})`, async () => {
          const argv = [binary(c.source, variant), ...(c.args ?? [])];
          const env = { ...process.env, ...c.env };
          const [native, loaded] = await Promise.all([runNative(argv, { env }), runPager(pager, argv, { env, flags: ["-q", ...flags] })]);
          expect(native.stdout.length).toBeGreaterThan(0);
          expect(verdict(loaded)).toEqual(verdict(native));
        });
      }
    }
  }

  for (const [pager, flags] of CONFIGS.slice(1)) {
    for (const variant of ["static", "pie"] as const) {
      test(`${pager} ${flags.join(" ")}: the probe's view matches its native run (${variant})`, async () => {
        const argv = [binary("probe.c", variant), "a"];
        const [native, loaded] = await Promise.all([runNative(argv), runPager(pager, argv, { flags: ["-q", ...flags] })]);
        const fields = (out: string) => new Map(out.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
        const expected = fields(native.stdout);
        const actual = fields(loaded.stdout);
        if (flags.includes("signal")) {
          // Known difference of the SIGSEGV mechanism: the program sees the
          // pager's handler, on the pager's alternate stack, whenever
          // something is demand-paged (an hpager program whose bss fits in
          // its last data page has none).
          const paged = pager === "dpager" || variant === "static";
          expect(expected.get("sig_caught")).toBe("");
          expect(actual.get("sig_caught")).toBe(paged ? "11" : "");
          expect(actual.get("altstack")).toBe(paged ? "on" : "disabled");
          for (const key of ["sig_caught", "altstack"]) {
            expected.delete(key);
            actual.delete(key);
          }
        }
        // Under userfaultfd the demand-paged interpreter's pages come from a
        // copy named after it (/memfd:faultline:/lib64/ld-linux...), where the
        // probe finds ld-linux by name as natively.
        expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
      });
    }
  }
});

describe("system programs under dpager and hpager", () => {
  const cases = [
    ["/bin/ls", "-l", "/usr/include/linux/"],
    ["/bin/sh", "-c", 'for i in 3 2 1; do echo "$i"; done | sort; exit 4'],
    ["/usr/bin/python3", "-c", "import json, sys; print(json.dumps({'argv': sys.argv})); sys.exit(2)"],
    ["/usr/bin/perl", "-e", 'my %h = map { $_ => length } qw(a bb ccc); print join(",", map { "$_=$h{$_}" } sort keys %h), "\\n"'],
    ["/usr/bin/env"],
  ];
  for (const [pager, flags] of CONFIGS.slice(1)) {
    for (const argv of cases) {
      test(`${pager} ${flags.join(" ")}: ${argv.join(" ").slice(0, 60)}`, async () => {
        const [native, loaded] = await Promise.all([runNative(argv), runPager(pager, argv, { flags: ["-q", ...flags] })]);
        expect(verdict(loaded)).toEqual(verdict(native));
      });
    }
  }

  test("Bun itself under dpager --paging signal: the limit is named (it installs its own SIGSEGV handler)", async () => {
    const loaded = await runPager("dpager", [realpathSync(process.execPath), "-e", "console.log(1)"], { flags: ["-q", "--paging", "signal"] });
    expect(loaded.signal).toBe("SIGSEGV");
    expect(loaded.stderr).toContain("a signal-based pager cannot run it yet: use apager");
  });
});

describe("fault counters on the scan workloads (256 MiB bss)", () => {
  const TOTAL_PAGES = 65536;
  const program = () => binary("bss_touch.c", "static");
  const touched = (ran: Ran) => Number(/pages=(\d+)/.exec(ran.stdout)![1]);

  test("dpager faults at least once per page touched, in every pattern", async () => {
    for (const mode of [["seq"], ["stride", "4"], ["random"], ["one"]]) {
      const { ran, report } = await withReport("dpager", [program(), ...mode]);
      expect(ran.exitCode).toBe(0);
      expect(report.faults).toBeGreaterThanOrEqual(touched(ran));
    }
  });

  for (const mechanism of MECHANISMS) {
    test(`hpager's next predictor with 2 pages about halves a sequential scan's faults (--paging ${mechanism})`, async () => {
      const { ran, report } = await withReport("hpager", [program(), "seq"], ["--paging", mechanism, "--predict", "next", "--pages", "2"]);
      expect(report.paging).toBe(mechanism);
      expect(touched(ran)).toBe(TOTAL_PAGES);
      expect(report.faults).toBeGreaterThan(0.45 * TOTAL_PAGES);
      expect(report.faults).toBeLessThan(0.55 * TOTAL_PAGES);
    });
  }

  test("hpager with 3 pages needs at most 40% of dpager's faults on a sequential scan", async () => {
    const dpager = await withReport("dpager", [program(), "seq"]);
    for (const predictor of ["next", "readahead"]) {
      const hpager = await withReport("hpager", [program(), "seq"], ["--predict", predictor, "--pages", "3"]);
      expect(hpager.report.faults).toBeLessThanOrEqual(0.4 * dpager.report.faults);
    }
  });

  test("the stride predictor catches a strided scan that next cannot", async () => {
    const stride = await withReport("hpager", [program(), "stride", "4"], ["--predict", "stride", "--pages", "3"]);
    const next = await withReport("hpager", [program(), "stride", "4"], ["--predict", "next", "--pages", "3"]);
    const pages = touched(stride.ran);
    expect(pages).toBe(TOTAL_PAGES / 4);
    expect(next.report.faults).toBeGreaterThanOrEqual(pages);
    expect(stride.report.faults).toBeLessThan(0.4 * pages);
  });

  for (const mechanism of MECHANISMS) {
    test(`every page a random scan touches is counted, predicted or faulted, under hpager next 3 (--paging ${mechanism})`, async () => {
      // A predicted run that meets a page placed already is placed in part
      // (under userfaultfd the kernel answers EAGAIN with how far it got):
      // those pages and the fault are counted all the same.
      const { ran, report } = await withReport("hpager", [program(), "random"], ["--paging", mechanism, "--predict", "next", "--pages", "3"]);
      expect(touched(ran)).toBe(TOTAL_PAGES);
      expect(report.pagesMapped).toBeGreaterThanOrEqual(TOTAL_PAGES);
      // Each fault maps at most 3 pages of the array.
      expect(report.faults).toBeGreaterThanOrEqual(Math.ceil(TOTAL_PAGES / 3));
    });
  }

  test("touching one page of 256 MiB of bss maps a handful of pages, not 65536", async () => {
    const { ran, report } = await withReport("hpager", [program(), "one"], ["--predict", "next", "--pages", "2"]);
    expect(touched(ran)).toBe(1);
    // The page touched, the program's other bss variables, and their
    // predicted neighbours.
    expect(report.faults).toBeLessThanOrEqual(4);
  });
});

for (const mechanism of MECHANISMS) test(`--trace writes one JSON line per fault, with what was mapped and why (--paging ${mechanism})`, async () => {
  const dir = mkdtempSync(join(tmpdir(), "faultline-trace-"));
  const trace = join(dir, "trace.jsonl");
  const { ran, report } = await withReport("hpager", [binary("bss_touch.c", "static"), "stride", "64"], ["--paging", mechanism, "--predict", "stride", "--pages", "3", "--trace", trace]);
  expect(report.paging).toBe(mechanism);
  expect(ran.exitCode).toBe(0);
  const lines = readFileSync(trace, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const faults = lines.filter((l) => l.kind === "fault");
  expect(faults.length).toBe(report.faults);
  for (const f of faults) {
    expect(Number(f.page)).toBe(Number(f.fault) - (Number(f.fault) % PAGE));
    expect(f.mapped[0]).toBe(f.page);
    expect(f.mapped.length).toBe(f.predicted + 1);
    expect(typeof f.t_ms).toBe("number");
  }
  expect(faults.some((f) => f.decision === "stride" && f.predicted === 2)).toBe(true);
  expect(faults.some((f) => f.decision === "stride-learning")).toBe(true);
  const mapped = faults.reduce((n, f) => n + f.mapped.length, 0);
  expect(mapped).toBe(report.pagesMapped - (report.pagesMapped - mapped));
});

for (const mechanism of MECHANISMS) test(`dpager logs every mapping it makes on a fault (--paging ${mechanism})`, async () => {
  const ran = await runPager("dpager", [binary("bss_touch.c", "pie"), "one"], { flags: ["--paging", mechanism] });
  expect(ran.exitCode).toBe(0);
  const lines = ran.stderr.trim().split("\n");
  // Reserved inaccessible under SIGSEGV paging; with its protection and no pages under userfaultfd.
  const reserved = mechanism === "signal" ? /prot=--- \([r-][w-][x-] on demand\) / : /prot=[r-][w-][x-] \(pages on demand\) /;
  expect(lines.some((l) => /^dpager: reserve addr=0x[0-9a-f]+ size=0x[0-9a-f]+ off=(0x[0-9a-f]+|-) /.test(l) && reserved.test(l))).toBe(true);
  const faultLines = lines.filter((l) => l.includes(" fault=0x"));
  expect(faultLines.length).toBeGreaterThan(5);
  for (const l of faultLines) expect(l).toMatch(/^dpager: map addr=0x[0-9a-f]+ size=0x1000 off=(0x[0-9a-f]+|-) prot=[r-][w-][x-] (file=\/|anon=bss\()\S* fault=0x[0-9a-f]+$/);
  expect(lines.some((l) => l.endsWith(" start"))).toBe(true);
});
