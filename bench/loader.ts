/**
 * The loader benchmark: every workload natively and under apager, dpager and
 * hpager (each predictor, 2 and 3 pages per fault), several runs each, all in
 * one run of this script so every ratio compares figures taken together.
 * Wall time runs from the fork to the end of the wait on both sides (the
 * native launcher's clock and the pager's report), so Bun's own start-up is
 * in neither.
 *
 *   bun run bench:loader [--runs N] [--json] [--out FILE] [--charts DIR] [--charts-only]
 *                        [--workloads a,b] [--configs x,y] [--no-traces] [--check] [--quiet]
 *
 * Reports medians of wall time, page faults, pages mapped and the program's
 * peak RSS, with ratios to the native run; then the issue's targets: faults
 * of the best 3-page hpager on a 64 MiB sequential scan against dpager's,
 * dpager's peak RSS touching one page of a 256 MiB bss against native,
 * apager against dpager where every page is touched, and dpager's cost per
 * fault next to the kernel's own. Writes everything as JSON to --out
 * (default bench/results/loader.json).
 *
 * Learned working sets (issue 16): for every workload a training run under
 * dpager records its working set; the "-record" configurations measure a
 * recording run, the "-prefetch" ones a run that prefetches that profile.
 * Then the cases where learning loses: a profile recorded with other
 * arguments than the run's, each against dpager without a profile.
 *
 * --workloads and --configs measure only those (the targets then need the
 * workloads and configurations they compare); --no-traces skips the traces.
 *
 * Then one traced run (--trace) of the sequential, strided and random scans
 * under dpager and two hpager settings, reduced to the faults in the bss
 * array, and SVG charts of it all in --charts (default docs/charts): time,
 * faults and peak RSS per loader and workload, and fault address over time.
 * --charts-only renders the charts again from the JSON in --out, running
 * nothing.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import type { RunOptions, RunReport } from "../src/index.ts";
import { userfaultfdAvailable } from "../src/shim/shim.ts";
import { nativeFigures, peakRssTool } from "../test/support/build-tools.ts";
import { buildProgram } from "../test/support/programs.ts";
import { barChartSpec, faultsInRegion, MEASURES, reduceTrace, renderSvg, traceChartSpec, type FaultTrace, type Provenance } from "./charts.ts";
import { COMMON_OPTIONS, finish, JSON_OPTION, Progress, readBenchLine, readLoad, TARGET_OPTIONS, type Target } from "./cli.ts";
import { median } from "./statistics.ts";

const { values: options } = readBenchLine({
  command: "bun run bench:loader",
  summary:
    "Every paging workload (sequential, strided and random scans of a 256 MiB bss, one page of it, a 16 MiB data segment, 200000 system calls, python3 importing modules) natively and under apager, dpager and hpager with each predictor, in one run. Prints, per workload and configuration, the median wall time in ms with its ratio to the native run, page faults, pages mapped, and peak RSS in KiB with its ratio to native; then the targets, learned working sets, and where learning loses. Writes the figures as JSON and renders the charts. Takes about ten minutes.",
  options: {
    runs: { kind: "count", value: "N", description: "runs of each workload under each configuration (default 3)" },
    ...JSON_OPTION,
    out: { kind: "text", value: "FILE", description: "where to write the figures as JSON (default bench/results/loader.json)" },
    charts: { kind: "text", value: "DIR", description: "where to write the SVG charts (default docs/charts)" },
    "charts-only": { kind: "flag", description: "render the charts again from --out's JSON, running nothing" },
    workloads: { kind: "text", value: "A,B", description: "measure only these workloads (the targets then need what they compare)" },
    configs: { kind: "text", value: "X,Y", description: "measure only these configurations (native always runs)" },
    "no-traces": { kind: "flag", description: "skip the traced runs the fault-address charts are drawn from" },
    ...TARGET_OPTIONS,
    ...COMMON_OPTIONS,
  },
  notes: "Columns: wall ms is the median time from the fork to the end of the wait; x native is that (or the peak RSS) divided by the native run's; faults are the kernel's minor faults natively, the faults the pager resolved under a pager; pages mapped counts every page the loader mapped, predicted ones included.",
});
const root = resolve(import.meta.dir, "..");
const runs = options.runs ?? 3;
const out = resolve(options.out ?? join(root, "bench", "results", "loader.json"));
const { json } = options;
const chartsDir = resolve(options.charts ?? join(root, "docs", "charts"));
const chartsOnly = options["charts-only"];
const noTraces = options["no-traces"];
const only = (name: "workloads" | "configs") => options[name]?.split(",") ?? null;
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:loader", options.quiet);

/** A test program built from `source`, or a program of the system's
 * (`command`), run with `args`. */
interface Workload {
  name: string;
  description: string;
  source?: string;
  command?: string;
  args: string[];
}

/** python3 starting and importing a few modules of its standard library:
 * a real program whose working set is a scattered part of a large image. */
const PYTHON = "/usr/bin/python3";
const PYTHON_IMPORTS = "import json, re, collections, argparse, decimal";

const ALL_WORKLOADS: Workload[] = [
  { name: "seq64", description: "sequential scan of 64 MiB of bss", source: "bss_touch.c", args: ["seq", "16384"] },
  { name: "seq256", description: "sequential scan of 256 MiB of bss", source: "bss_touch.c", args: ["seq"] },
  { name: "stride", description: "every 4th page of 256 MiB of bss", source: "bss_touch.c", args: ["stride", "4"] },
  { name: "random", description: "every page of 256 MiB of bss in random order", source: "bss_touch.c", args: ["random"] },
  { name: "one", description: "one page of a 256 MiB bss", source: "bss_touch.c", args: ["one"] },
  { name: "data", description: "every page of a 16 MiB initialized data segment", source: "data_touch.c", args: [] },
  { name: "syscalls", description: "200000 stat() calls into the stack", source: "syscall_loop.c", args: ["200000"] },
  ...(existsSync(PYTHON) ? [{ name: "python", description: "python3 starting up and importing json, re, collections, argparse, decimal", command: PYTHON, args: ["-c", PYTHON_IMPORTS] }] : []),
];
const WORKLOADS = ALL_WORKLOADS.filter((w) => !only("workloads") || only("workloads")!.includes(w.name));
const SYSCALLS = 200000;

interface Config {
  name: string;
  options: RunOptions | null; // null: native
  /** Record the working set (to a file of its own each run), or prefetch
   * the workload's profile from its training run. */
  learn?: "record" | "prefetch";
}

/** dpager and hpager page by userfaultfd where the kernel allows it (the
 * default); the "-signal" configurations use the SIGSEGV handler instead, to
 * show what each mechanism costs. */
const uffd = userfaultfdAvailable();
const ALL_CONFIGS: Config[] = [
  { name: "native", options: null },
  { name: "apager", options: { pager: "apager" } },
  { name: "dpager", options: { pager: "dpager" } },
  ...(uffd ? [{ name: "dpager-signal", options: { pager: "dpager" as const, paging: "signal" as const } }] : []),
  ...(["next", "stride", "readahead"] as const).flatMap((predictor) =>
    [2, 3].map((pages) => ({ name: `hpager-${predictor}-${pages}`, options: { pager: "hpager" as const, predictor, pages } })),
  ),
  ...(uffd ? [{ name: "hpager-next-3-signal", options: { pager: "hpager" as const, predictor: "next" as const, pages: 3, paging: "signal" as const } }] : []),
  { name: "dpager-record", options: { pager: "dpager" }, learn: "record" },
  { name: "dpager-prefetch", options: { pager: "dpager" }, learn: "prefetch" },
  ...(uffd ? [{ name: "dpager-signal-prefetch", options: { pager: "dpager" as const, paging: "signal" as const }, learn: "prefetch" as const }] : []),
];
const CONFIGS = ALL_CONFIGS.filter((c) => !only("configs") || c.name === "native" || only("configs")!.includes(c.name));

interface Sample {
  wallMs: number;
  faults: number;
  pagesMapped: number;
  maxRssKiB: number;
  /** Pages prefetched, and of those seen untouched (null: not seen). */
  prefetched?: number;
  prefetchWasted?: number | null;
}


/** Wall times on both sides run from the fork to the end of the wait: the
 * native launcher's own clock, and the pager's report. */
async function runNative(tool: string, argv: string[]): Promise<Sample> {
  const proc = Bun.spawn([tool, ...argv], { stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`native ${argv.join(" ")} failed (${code}): ${stderr}`);
  const figures = nativeFigures(stderr);
  return { wallMs: figures.wallMs, faults: figures.minorFaults, pagesMapped: figures.minorFaults, maxRssKiB: figures.peakRssKiB };
}

const reportDir = mkdtempSync(join(tmpdir(), "faultline-bench-"));

/** A pager run through the CLI, so the program's output can be discarded;
 * with `trace`, every fault is also written to that file; with `record`
 * and `prefetch`, those options. */
async function runUnder(options: RunOptions, argv: string[], trace?: string, learn: { record?: string; prefetch?: string } = {}): Promise<Sample> {
  const reportPath = join(reportDir, "report.json");
  const flags = ["-q", "--report", reportPath];
  if (trace) flags.push("--trace", trace);
  if (learn.record) flags.push("--record", learn.record);
  if (learn.prefetch) flags.push("--prefetch", learn.prefetch);
  if (options.paging) flags.push("--paging", options.paging);
  if (options.predictor) flags.push("--predict", options.predictor);
  if (options.pages) flags.push("--pages", String(options.pages));
  const proc = Bun.spawn([process.execPath, join(root, "src", "cli", "cli.ts"), options.pager!, ...flags, ...argv], { stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${options.pager} ${argv.join(" ")} ended with ${code}: ${stderr}`);
  if (learn.prefetch && stderr.includes("warning")) throw new Error(`${options.pager} --prefetch ${argv.join(" ")}: ${stderr}`);
  const report: RunReport = JSON.parse(readFileSync(reportPath, "utf8"));
  return { wallMs: report.wallMs, faults: report.faults, pagesMapped: report.pagesMapped, maxRssKiB: report.maxRssKiB, prefetched: report.prefetched, prefetchWasted: report.prefetchWasted };
}

/** Where a workload's training run records its working set. */
function profileOf(workload: string): string {
  return join(reportDir, `profile-${workload}.json`);
}

/** One run of a configuration: native, a pager, or a pager that records or
 * prefetches the workload's working set. */
function runConfig(c: Config, w: Workload, argv: string[], tool: string): Promise<Sample> {
  if (!c.options) return runNative(tool, argv);
  if (c.learn === "record") return runUnder(c.options, argv, undefined, { record: join(reportDir, "recorded.json") });
  if (c.learn === "prefetch") return runUnder(c.options, argv, undefined, { prefetch: profileOf(w.name) });
  return runUnder(c.options, argv);
}

/** The program and arguments of a workload. */
function argvOf(w: Workload, binaries: Map<string, string>): string[] {
  return [w.command ?? binaries.get(w.source!)!, ...w.args];
}

type Row = { workload: string; config: string } & Sample & { wallRatio: number; rssRatio: number };
type Targets = ReturnType<typeof targetsOf>;
interface Machine {
  cpus: number;
  kernel: string;
  date: string;
}
/** What this benchmark writes to --out, and what --charts-only reads. */
interface Results {
  benchmark: "loader";
  runs: number;
  machine: Machine;
  workloads: Workload[];
  rows: Row[];
  /** null when --workloads or --configs left out what they compare. */
  targets: Targets | null;
  traces: FaultTrace[];
  learning?: Learning;
}

/** Every workload under every configuration, `runs` times each. */
async function measure(tool: string, binaries: Map<string, string>): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [index, w] of WORKLOADS.entries()) {
    progress.say(`${w.name} (workload ${index + 1} of ${WORKLOADS.length}): training run`);
    const argv = argvOf(w, binaries);
    // The training run: the profile the -prefetch configurations use.
    if (CONFIGS.some((c) => c.learn === "prefetch")) await runUnder({ pager: "dpager" }, argv, undefined, { record: profileOf(w.name) });
    const samples = new Map<string, Sample[]>(CONFIGS.map((c) => [c.name, []]));
    // Interleave configurations run by run, so drift on the machine spreads
    // over all of them alike.
    for (let i = 0; i < runs; i++) {
      for (const c of CONFIGS) {
        progress.say(`${w.name} (workload ${index + 1} of ${WORKLOADS.length}): run ${i + 1} of ${runs}, ${c.name}`);
        samples.get(c.name)!.push(await runConfig(c, w, argv, tool));
      }
    }
    const med = (name: string): Sample => {
      const s = samples.get(name)!;
      return {
        wallMs: median(s.map((x) => x.wallMs)),
        faults: median(s.map((x) => x.faults)),
        pagesMapped: median(s.map((x) => x.pagesMapped)),
        maxRssKiB: median(s.map((x) => x.maxRssKiB)),
        ...(s[0]!.prefetched ? { prefetched: median(s.map((x) => x.prefetched ?? 0)) } : {}),
      };
    };
    const native = med("native");
    for (const c of CONFIGS) {
      const m = med(c.name);
      rows.push({ workload: w.name, config: c.name, ...m, wallRatio: m.wallMs / native.wallMs, rssRatio: m.maxRssKiB / native.maxRssKiB });
    }
  }
  return rows;
}

function targetsOf(rows: Row[]) {
  const row = (workload: string, config: string) => rows.find((r) => r.workload === workload && r.config === config)!;
  const best3 = rows.filter((r) => r.workload === "seq64" && /^hpager-.*-3$/.test(r.config)).sort((a, b) => a.faults - b.faults)[0]!;
  const perFault = (config: string) =>
    ((row("seq256", config).wallMs - row("one", config).wallMs) * 1000) / (row("seq256", config).faults - row("one", config).faults);
  return {
    seq64BestHpager3: { config: best3.config, faults: best3.faults, dpagerFaults: row("seq64", "dpager").faults, ratio: best3.faults / row("seq64", "dpager").faults, target: 0.4 },
    onePageDpagerRss: { dpagerKiB: row("one", "dpager").maxRssKiB, nativeKiB: row("one", "native").maxRssKiB, ratio: row("one", "dpager").rssRatio, target: 1.2 },
    everyPageApagerVsDpager: ["seq256", "data"].map((w) => ({ workload: w, apagerMs: row(w, "apager").wallMs, dpagerMs: row(w, "dpager").wallMs, dpagerOverApager: row(w, "dpager").wallMs / row(w, "apager").wallMs })),
    costPerFaultMicros: { dpager: perFault("dpager"), ...(uffd ? { dpagerSignal: perFault("dpager-signal") } : {}), kernel: perFault("native") },
    /** dpager's cost per fault by access pattern, each mechanism beside the
     * kernel's own: the time a scan adds over the one-page run, per fault
     * it adds; for the one-page run, its whole wall time. The target: the
     * default mechanism within 1.25x the SIGSEGV mechanism's on the random
     * scan. */
    costPerFaultByPattern: Object.fromEntries(
      ["seq256", "stride", "random"].map((w) => [
        w,
        Object.fromEntries(
          ["native", "dpager", ...(uffd ? ["dpager-signal"] : [])].map((c) => [c, ((row(w, c).wallMs - row("one", c).wallMs) * 1000) / (row(w, c).faults - row("one", c).faults)]),
        ),
      ]),
    ),
    onePageWallMs: Object.fromEntries(["native", "dpager", ...(uffd ? ["dpager-signal"] : [])].map((c) => [c, row("one", c).wallMs])),
    randomUffdOverSignal: uffd
      ? {
          ratio:
            (row("random", "dpager").wallMs - row("one", "dpager").wallMs) / (row("random", "dpager").faults - row("one", "dpager").faults) /
            ((row("random", "dpager-signal").wallMs - row("one", "dpager-signal").wallMs) / (row("random", "dpager-signal").faults - row("one", "dpager-signal").faults)),
          target: 1.25,
        }
      : null,
    /** What the pager adds to a system call: nothing is intercepted, so the
     * per-call time should match native's. */
    costPerSyscallMicros: Object.fromEntries(
      ["native", "dpager", ...(uffd ? ["dpager-signal"] : []), "hpager-next-2"].map((c) => [c, ((row("syscalls", c).wallMs - row("one", c).wallMs) * 1000) / SYSCALLS]),
    ),
    mechanism: uffd ? "userfaultfd (dpager, hpager) and signal (-signal)" : "signal",
  };
}

/** The bss scans, whose repeat runs must take at most 5% of dpager's
 * faults with a learned working set; python3's at most 10%. */
const SCANS = ["seq64", "seq256", "stride", "random"];
const FAULT_TARGETS: Record<string, number> = { ...Object.fromEntries(SCANS.map((w) => [w, 0.05])), python: 0.1 };
/** A repeat run's peak RSS at most this times dpager's. */
const RSS_TARGET = 1.1;
/** Where the working set is under this share of the image (dpager's pages
 * against apager's), a repeat run must be no slower than apager. */
const SMALL_WORKING_SET = 0.5;

/** A workload's figures with a learned working set, against dpager's and
 * apager's, and the issue's targets. */
function learningTargetsOf(rows: Row[]) {
  const row = (workload: string, config: string) => rows.find((r) => r.workload === workload && r.config === config);
  return WORKLOADS.flatMap((w) => {
    const dpager = row(w.name, "dpager");
    const prefetch = row(w.name, "dpager-prefetch");
    if (!dpager || !prefetch) return [];
    const apager = row(w.name, "apager");
    const record = row(w.name, "dpager-record");
    const workingSetShare = apager ? dpager.pagesMapped / apager.pagesMapped : null;
    return [
      {
        workload: w.name,
        dpagerFaults: dpager.faults,
        faults: prefetch.faults,
        faultRatio: prefetch.faults / dpager.faults,
        faultTarget: FAULT_TARGETS[w.name] ?? null,
        prefetched: prefetch.prefetched ?? 0,
        dpagerRssKiB: dpager.maxRssKiB,
        rssKiB: prefetch.maxRssKiB,
        rssRatio: prefetch.maxRssKiB / dpager.maxRssKiB,
        rssTarget: RSS_TARGET,
        workingSetShare,
        dpagerMs: dpager.wallMs,
        apagerMs: apager?.wallMs ?? null,
        wallMs: prefetch.wallMs,
        wallTargetApplies: workingSetShare !== null && workingSetShare < SMALL_WORKING_SET,
        signalPrefetchMs: row(w.name, "dpager-signal-prefetch")?.wallMs ?? null,
        signalFaults: row(w.name, "dpager-signal-prefetch")?.faults ?? null,
        recordMs: record?.wallMs ?? null,
      },
    ];
  });
}

/** Where learning loses: a run whose profile was recorded with other
 * arguments, against dpager without one. */
interface LossCase {
  name: string;
  source?: string;
  command?: string;
  trainOn: string[];
  runOn: string[];
}

const LOSS_CASES: LossCase[] = [
  { name: "one page, with seq256's profile", source: "bss_touch.c", trainOn: ["seq"], runOn: ["one"] },
  { name: "seq256, with one page's profile", source: "bss_touch.c", trainOn: ["one"], runOn: ["seq"] },
  { name: "stride 4, with random's profile", source: "bss_touch.c", trainOn: ["random"], runOn: ["stride", "4"] },
  { name: "stride 4, with stride 3's profile", source: "bss_touch.c", trainOn: ["stride", "3"], runOn: ["stride", "4"] },
  ...(existsSync(PYTHON)
    ? [
        { name: "python3 -c pass, with the imports' profile", command: PYTHON, trainOn: ["-c", PYTHON_IMPORTS], runOn: ["-c", "pass"] },
        { name: "python3 importing other modules, with the imports' profile", command: PYTHON, trainOn: ["-c", PYTHON_IMPORTS], runOn: ["-c", "import email.parser, http.client, xml.dom.minidom, sqlite3"] },
      ]
    : []),
];

type LossRow = { name: string; runOn: string; trainOn: string; dpager: Sample; prefetch: Sample };
interface Learning {
  targets: ReturnType<typeof learningTargetsOf>;
  losses: LossRow[];
}

async function measureLosses(binaries: Map<string, string>): Promise<LossRow[]> {
  const losses: LossRow[] = [];
  for (const [index, c] of LOSS_CASES.entries()) {
    progress.say(`where learning loses: ${c.name} (${index + 1} of ${LOSS_CASES.length})`);
    const program = c.command ?? binaries.get(c.source!)!;
    const profile = join(reportDir, "profile-loss.json");
    await runUnder({ pager: "dpager" }, [program, ...c.trainOn], undefined, { record: profile });
    const dpager: Sample[] = [];
    const prefetch: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      dpager.push(await runUnder({ pager: "dpager" }, [program, ...c.runOn]));
      prefetch.push(await runUnder({ pager: "dpager" }, [program, ...c.runOn], undefined, { prefetch: profile }));
    }
    const med = (s: Sample[]): Sample => ({
      wallMs: median(s.map((x) => x.wallMs)),
      faults: median(s.map((x) => x.faults)),
      pagesMapped: median(s.map((x) => x.pagesMapped)),
      maxRssKiB: median(s.map((x) => x.maxRssKiB)),
      prefetched: median(s.map((x) => x.prefetched ?? 0)),
      prefetchWasted: s[0]!.prefetchWasted === null || s[0]!.prefetchWasted === undefined ? null : median(s.map((x) => x.prefetchWasted ?? 0)),
    });
    losses.push({ name: c.name, runOn: c.runOn.join(" "), trainOn: c.trainOn.join(" "), dpager: med(dpager), prefetch: med(prefetch) });
  }
  return losses;
}

/** The workloads whose fault addresses are charted over time, and the
 * loaders they are traced under. */
const TRACED_WORKLOADS = ["seq64", "stride", "random"];
const TRACED_CONFIGS = ["dpager", "hpager-next-3", "hpager-stride-3"];
/** Points kept per chart panel: enough to show the pattern, few enough that
 * an SVG stays a few hundred KiB. */
const TRACE_POINTS = 600;
/** bss_touch's array: its symbol and its size in pages. */
const ARRAY_SYMBOL = "big";
const ARRAY_PAGES = 65536;

/** The address of a symbol in a static executable, from nm. */
async function symbolAddress(binary: string, symbol: string): Promise<bigint> {
  const listing = await Bun.$`nm ${binary}`.text();
  const line = listing.split("\n").find((l) => l.split(/\s+/)[2] === symbol);
  if (!line) throw new Error(`${binary}: no symbol ${symbol}`);
  return BigInt(`0x${line.split(/\s+/)[0]}`);
}

/** One traced run of each charted workload under each traced loader. */
async function trace(binaries: Map<string, string>): Promise<FaultTrace[]> {
  const binary = binaries.get("bss_touch.c")!;
  const base = await symbolAddress(binary, ARRAY_SYMBOL);
  const traces: FaultTrace[] = [];
  const file = join(reportDir, "trace.jsonl");
  for (const name of TRACED_WORKLOADS) {
    const w = WORKLOADS.find((x) => x.name === name)!;
    for (const configName of TRACED_CONFIGS) {
      const config = CONFIGS.find((c) => c.name === configName)!;
      progress.say(`traced run: ${name} under ${configName}`);
      await runUnder(config.options!, [binary, ...w.args], file);
      const points = faultsInRegion(readFileSync(file, "utf8"), base, ARRAY_PAGES);
      traces.push(reduceTrace(name, configName, points, base, ARRAY_PAGES, TRACE_POINTS));
    }
  }
  return traces;
}

/** The configurations the learned-working-set charts show. */
const LEARNING_CONFIGS = ["native", "apager", "dpager", "dpager-record", "dpager-prefetch", "dpager-signal", "dpager-signal-prefetch"];

/** Every chart, from the results alone. */
async function renderCharts(results: Results): Promise<string[]> {
  mkdirSync(chartsDir, { recursive: true });
  const provenance: Provenance = { command: "bun run bench:loader", runs: results.runs, ...results.machine };
  const written: string[] = [];
  const write = async (name: string, spec: Parameters<typeof renderSvg>[0]) => {
    const path = join(chartsDir, name);
    writeFileSync(path, await renderSvg(spec));
    written.push(path);
  };
  await write("loader-time.svg", barChartSpec(results.rows, MEASURES.time, "Wall time per loader and workload", provenance));
  await write("loader-faults.svg", barChartSpec(results.rows, MEASURES.faults, "Page faults per loader and workload (native: the kernel's minor faults; pagers: faults the pager resolved)", provenance));
  await write("loader-rss.svg", barChartSpec(results.rows, MEASURES.rss, "Peak RSS per loader and workload", provenance));
  // Learned working sets: the loaders they are measured against, recording
  // and prefetching.
  const learned = results.rows.filter((r) => LEARNING_CONFIGS.includes(r.config) && results.rows.some((x) => x.workload === r.workload && x.config === "dpager-prefetch"));
  if (learned.length > 0) {
    await write("learned-time.svg", barChartSpec(learned, MEASURES.time, "Wall time with a learned working set (dpager-prefetch: a repeat run with the profile its training run recorded)", provenance));
    await write("learned-faults.svg", barChartSpec(learned, MEASURES.faults, "Page faults with a learned working set (native: the kernel's minor faults; pagers: faults the pager resolved)", provenance));
    await write("learned-rss.svg", barChartSpec(learned, MEASURES.rss, "Peak RSS with a learned working set", provenance));
  }
  for (const name of TRACED_WORKLOADS) {
    const traces = results.traces.filter((t) => t.workload === name);
    if (traces.length === 0) continue;
    const w = results.workloads.find((x) => x.name === name)!;
    await write(`faults-over-time-${name}.svg`, traceChartSpec(traces, `Fault address over time: ${w.description}`, provenance));
  }
  return written;
}

let results: Results;
if (chartsOnly) {
  if (!existsSync(out)) {
    process.stderr.write(`bun run bench:loader: --charts-only: no results at ${out}; run bun run bench:loader first\n`);
    process.exit(1);
  }
  results = JSON.parse(readFileSync(out, "utf8"));
  results.traces ??= [];
} else {
  progress.say("building the workloads");
  const tool = await peakRssTool();
  const binaries = new Map<string, string>();
  for (const w of ALL_WORKLOADS) if (w.source) binaries.set(w.source, await buildProgram(w.source, "static"));
  const rows = await measure(tool, binaries);
  const complete = !only("workloads") && !only("configs");
  const traces = complete && !noTraces ? await trace(binaries) : [];
  const learning: Learning = { targets: learningTargetsOf(rows), losses: CONFIGS.some((c) => c.learn) ? await measureLosses(binaries) : [] };
  const machine: Machine = { cpus: navigator.hardwareConcurrency, kernel: (await Bun.$`uname -r`.text()).trim(), date: new Date().toISOString() };
  results = { benchmark: "loader", runs, machine, workloads: WORKLOADS, rows, targets: complete ? targetsOf(rows) : null, traces, learning };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
}
progress.say("rendering the charts");
const charts = await renderCharts(results);
progress.done();
const { rows, targets, machine } = results;

const learning = results.learning ?? { targets: [], losses: [] };
if (json) {
  console.log(JSON.stringify({ rows, targets, learning }, null, 2));
} else {
  console.log(`loader benchmark: medians of ${results.runs} runs, ratios to the native run of the same workload (${machine.cpus} CPUs, Linux ${machine.kernel})`);
  for (const w of WORKLOADS) {
    console.log(`\n${w.name}: ${w.description}`);
    console.log("  config                 wall ms   x native    faults   pages mapped   peak RSS KiB   x native");
    for (const r of rows.filter((x) => x.workload === w.name)) {
      console.log(
        `  ${r.config.padEnd(20)} ${r.wallMs.toFixed(1).padStart(9)} ${r.wallRatio.toFixed(2).padStart(9)}x ${String(r.faults).padStart(9)} ${String(r.pagesMapped).padStart(14)} ${String(r.maxRssKiB).padStart(14)} ${r.rssRatio.toFixed(2).padStart(9)}x`,
      );
    }
  }
  const t = targets;
  if (t) {
    console.log("\ntargets");
    console.log(`  64 MiB sequential scan: ${t.seq64BestHpager3.config} needs ${t.seq64BestHpager3.faults} faults, ${(100 * t.seq64BestHpager3.ratio).toFixed(1)}% of dpager's ${t.seq64BestHpager3.dpagerFaults} (target at most 40%)`);
    console.log(`  one page of a 256 MiB bss: dpager peaks at ${t.onePageDpagerRss.dpagerKiB} KiB, ${t.onePageDpagerRss.ratio.toFixed(2)}x native's ${t.onePageDpagerRss.nativeKiB} KiB (target at most 1.2x)`);
    for (const e of t.everyPageApagerVsDpager) console.log(`  every page touched (${e.workload}): apager ${e.apagerMs.toFixed(1)} ms, dpager ${e.dpagerMs.toFixed(1)} ms: apager faster by ${e.dpagerOverApager.toFixed(2)}x`);
    const signalCost = "dpagerSignal" in t.costPerFaultMicros ? `, dpager --paging signal ${(t.costPerFaultMicros.dpagerSignal as number).toFixed(2)} us` : "";
    console.log(`  cost per fault: dpager ${t.costPerFaultMicros.dpager.toFixed(2)} us${signalCost}, the kernel's own ${t.costPerFaultMicros.kernel.toFixed(2)} us`);
    for (const [pattern, costs] of Object.entries(t.costPerFaultByPattern)) {
      console.log(`  per fault, ${pattern}: ${Object.entries(costs).map(([c, us]) => `${c} ${(us as number).toFixed(2)} us`).join(", ")}`);
    }
    console.log(`  one page of a 256 MiB bss, whole run: ${Object.entries(t.onePageWallMs).map(([c, ms]) => `${c} ${(ms as number).toFixed(2)} ms`).join(", ")}`);
    if (t.randomUffdOverSignal) console.log(`  random scan: userfaultfd ${t.randomUffdOverSignal.ratio.toFixed(2)}x the SIGSEGV mechanism per fault (target at most 1.25x)`);
    console.log(`  cost per system call: ${Object.entries(t.costPerSyscallMicros).map(([c, us]) => `${c} ${us.toFixed(3)} us`).join(", ")}`);
  }
  if (learning.targets.length > 0) {
    console.log("\nlearned working sets (dpager-prefetch: a repeat run with the profile its training run recorded)");
    for (const l of learning.targets) {
      const faults = `faults ${l.faults} = ${(100 * l.faultRatio).toFixed(1)}% of dpager's ${l.dpagerFaults}${l.faultTarget === null ? "" : ` (target at most ${100 * l.faultTarget}%)`}`;
      const rss = `peak RSS ${l.rssRatio.toFixed(2)}x dpager's (target at most ${l.rssTarget}x)`;
      const share = l.workingSetShare === null ? "" : `working set ${(100 * l.workingSetShare).toFixed(0)}% of the image`;
      const wall = `${l.wallMs.toFixed(1)} ms against dpager ${l.dpagerMs.toFixed(1)} ms${l.apagerMs === null ? "" : `, apager ${l.apagerMs.toFixed(1)} ms${l.wallTargetApplies ? " (target: at most apager's)" : ""}`}`;
      console.log(`  ${l.workload}: ${faults}; ${rss}; ${share}; ${wall}${l.recordMs === null ? "" : `; recording ${l.recordMs.toFixed(1)} ms`}`);
    }
  }
  if (learning.losses.length > 0) {
    console.log("\nwhere learning loses: a profile recorded with other arguments, against dpager without one");
    for (const l of learning.losses) {
      console.log(
        `  ${l.name}: ${l.prefetch.wallMs.toFixed(1)} ms against ${l.dpager.wallMs.toFixed(1)} ms, faults ${l.prefetch.faults} against ${l.dpager.faults}, peak RSS ${l.prefetch.maxRssKiB} against ${l.dpager.maxRssKiB} KiB, prefetched ${l.prefetch.prefetched}${l.prefetch.prefetchWasted === null ? "" : `, wasted ${l.prefetch.prefetchWasted}`}`,
      );
    }
  }
  console.log(`\nJSON: ${out}`);
  console.log(`charts: ${charts.map((c) => relative(root, c)).join(", ")}`);
}

/** Every target the figures were measured for, for the closing line. */
function judgedTargets(): Target[] {
  const judged: Target[] = [];
  if (targets) {
    judged.push({ meaning: "the best 3-page hpager needs at most 40% of dpager's faults on a 64 MiB sequential scan", measured: `${(100 * targets.seq64BestHpager3.ratio).toFixed(1)}%`, met: targets.seq64BestHpager3.ratio <= targets.seq64BestHpager3.target });
    judged.push({ meaning: `dpager touching one page of a 256 MiB bss peaks at most ${targets.onePageDpagerRss.target}x native's RSS`, measured: `${targets.onePageDpagerRss.ratio.toFixed(2)}x`, met: targets.onePageDpagerRss.ratio <= targets.onePageDpagerRss.target });
    const r = targets.randomUffdOverSignal;
    if (r) judged.push({ meaning: `a fault of the random scan by userfaultfd costs at most ${r.target}x one by the SIGSEGV mechanism`, measured: `${r.ratio.toFixed(2)}x`, met: r.ratio <= r.target });
  }
  for (const l of learning.targets) {
    if (l.faultTarget !== null) judged.push({ meaning: `${l.workload} with a learned working set takes at most ${100 * l.faultTarget}% of dpager's faults`, measured: `${(100 * l.faultRatio).toFixed(1)}%`, met: l.faultRatio <= l.faultTarget });
    judged.push({ meaning: `${l.workload} with a learned working set peaks at most ${l.rssTarget}x dpager's RSS`, measured: `${l.rssRatio.toFixed(2)}x`, met: l.rssRatio <= l.rssTarget });
    if (l.wallTargetApplies && l.apagerMs !== null) judged.push({ meaning: `${l.workload} with a learned working set runs at most as long as under apager`, measured: `${l.wallMs.toFixed(1)} ms against ${l.apagerMs.toFixed(1)} ms`, met: l.wallMs <= l.apagerMs });
  }
  return judged;
}
process.exit(finish({ json, check: options.check }, loadBefore, chartsOnly ? [] : judgedTargets()));
