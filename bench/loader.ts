/**
 * The loader benchmark: every workload natively and under apager, dpager and
 * hpager (each predictor, 2 and 3 pages per fault), several runs each, all in
 * one run of this script so every ratio compares figures taken together.
 * Wall time runs from the fork to the end of the wait on both sides (the
 * native launcher's clock and the pager's report), so Bun's own start-up is
 * in neither.
 *
 *   bun run bench:loader [--runs N] [--json] [--out FILE]
 *
 * Reports medians of wall time, page faults, pages mapped and the program's
 * peak RSS, with ratios to the native run; then the issue's targets: faults
 * of the best 3-page hpager on a 64 MiB sequential scan against dpager's,
 * dpager's peak RSS touching one page of a 256 MiB bss against native,
 * apager against dpager where every page is touched, and dpager's cost per
 * fault next to the kernel's own. Writes everything as JSON to --out
 * (default bench/results/loader.json).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { RunOptions, RunReport } from "../src/index.ts";
import { userfaultfdAvailable } from "../src/shim.ts";
import { nativeFigures, peakRssTool } from "../test/support/build-tools.ts";
import { buildProgram } from "../test/support/programs.ts";

const root = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const runs = Number(option("--runs") ?? 3);
const out = resolve(option("--out") ?? join(root, "bench", "results", "loader.json"));
const json = args.includes("--json");

interface Workload {
  name: string;
  description: string;
  source: string;
  args: string[];
}

const WORKLOADS: Workload[] = [
  { name: "seq64", description: "sequential scan of 64 MiB of bss", source: "bss_touch.c", args: ["seq", "16384"] },
  { name: "seq256", description: "sequential scan of 256 MiB of bss", source: "bss_touch.c", args: ["seq"] },
  { name: "stride", description: "every 4th page of 256 MiB of bss", source: "bss_touch.c", args: ["stride", "4"] },
  { name: "random", description: "every page of 256 MiB of bss in random order", source: "bss_touch.c", args: ["random"] },
  { name: "one", description: "one page of a 256 MiB bss", source: "bss_touch.c", args: ["one"] },
  { name: "data", description: "every page of a 16 MiB initialized data segment", source: "data_touch.c", args: [] },
  { name: "syscalls", description: "200000 stat() calls into the stack", source: "syscall_loop.c", args: ["200000"] },
];
const SYSCALLS = 200000;

interface Config {
  name: string;
  options: RunOptions | null; // null: native
}

/** dpager and hpager page by userfaultfd where the kernel allows it (the
 * default); the "-signal" configurations use the SIGSEGV handler instead, to
 * show what each mechanism costs. */
const uffd = userfaultfdAvailable();
const CONFIGS: Config[] = [
  { name: "native", options: null },
  { name: "apager", options: { pager: "apager" } },
  { name: "dpager", options: { pager: "dpager" } },
  ...(uffd ? [{ name: "dpager-signal", options: { pager: "dpager" as const, paging: "signal" as const } }] : []),
  ...(["next", "stride", "readahead"] as const).flatMap((predictor) =>
    [2, 3].map((pages) => ({ name: `hpager-${predictor}-${pages}`, options: { pager: "hpager" as const, predictor, pages } })),
  ),
  ...(uffd ? [{ name: "hpager-next-3-signal", options: { pager: "hpager" as const, predictor: "next" as const, pages: 3, paging: "signal" as const } }] : []),
];

interface Sample {
  wallMs: number;
  faults: number;
  pagesMapped: number;
  maxRssKiB: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
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

/** A pager run through the CLI, so the program's output can be discarded. */
async function runUnder(options: RunOptions, argv: string[]): Promise<Sample> {
  const reportPath = join(reportDir, "report.json");
  const flags = ["-q", "--report", reportPath];
  if (options.paging) flags.push("--paging", options.paging);
  if (options.predictor) flags.push("--predict", options.predictor);
  if (options.pages) flags.push("--pages", String(options.pages));
  const proc = Bun.spawn([process.execPath, join(root, "src", "cli.ts"), options.pager!, ...flags, ...argv], { stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${options.pager} ${argv.join(" ")} ended with ${code}: ${stderr}`);
  const report: RunReport = JSON.parse(readFileSync(reportPath, "utf8"));
  return { wallMs: report.wallMs, faults: report.faults, pagesMapped: report.pagesMapped, maxRssKiB: report.maxRssKiB };
}

const tool = await peakRssTool();
const binaries = new Map<string, string>();
for (const w of WORKLOADS) binaries.set(w.source, await buildProgram(w.source, "static"));

type Row = { workload: string; config: string } & Sample & { wallRatio: number; rssRatio: number };
const rows: Row[] = [];
for (const w of WORKLOADS) {
  const argv = [binaries.get(w.source)!, ...w.args];
  const samples = new Map<string, Sample[]>(CONFIGS.map((c) => [c.name, []]));
  // Interleave configurations run by run, so drift on the machine spreads
  // over all of them alike.
  for (let i = 0; i < runs; i++) {
    for (const c of CONFIGS) samples.get(c.name)!.push(c.options ? await runUnder(c.options, argv) : await runNative(tool, argv));
  }
  const med = (name: string): Sample => {
    const s = samples.get(name)!;
    return {
      wallMs: median(s.map((x) => x.wallMs)),
      faults: median(s.map((x) => x.faults)),
      pagesMapped: median(s.map((x) => x.pagesMapped)),
      maxRssKiB: median(s.map((x) => x.maxRssKiB)),
    };
  };
  const native = med("native");
  for (const c of CONFIGS) {
    const m = med(c.name);
    rows.push({ workload: w.name, config: c.name, ...m, wallRatio: m.wallMs / native.wallMs, rssRatio: m.maxRssKiB / native.maxRssKiB });
  }
  if (!json) process.stderr.write(`bench:loader: ${w.name} done\n`);
}

const row = (workload: string, config: string) => rows.find((r) => r.workload === workload && r.config === config)!;
const best3 = rows.filter((r) => r.workload === "seq64" && /^hpager-.*-3$/.test(r.config)).sort((a, b) => a.faults - b.faults)[0]!;
const perFault = (config: string) =>
  ((row("seq256", config).wallMs - row("one", config).wallMs) * 1000) / (row("seq256", config).faults - row("one", config).faults);
const targets = {
  seq64BestHpager3: { config: best3.config, faults: best3.faults, dpagerFaults: row("seq64", "dpager").faults, ratio: best3.faults / row("seq64", "dpager").faults, target: 0.4 },
  onePageDpagerRss: { dpagerKiB: row("one", "dpager").maxRssKiB, nativeKiB: row("one", "native").maxRssKiB, ratio: row("one", "dpager").rssRatio, target: 1.2 },
  everyPageApagerVsDpager: ["seq256", "data"].map((w) => ({ workload: w, apagerMs: row(w, "apager").wallMs, dpagerMs: row(w, "dpager").wallMs, dpagerOverApager: row(w, "dpager").wallMs / row(w, "apager").wallMs })),
  costPerFaultMicros: { dpager: perFault("dpager"), ...(uffd ? { dpagerSignal: perFault("dpager-signal") } : {}), kernel: perFault("native") },
  /** What the pager adds to a system call: nothing is intercepted, so the
   * per-call time should match native's. */
  costPerSyscallMicros: Object.fromEntries(
    ["native", "dpager", ...(uffd ? ["dpager-signal"] : []), "hpager-next-2"].map((c) => [c, ((row("syscalls", c).wallMs - row("one", c).wallMs) * 1000) / SYSCALLS]),
  ),
  mechanism: uffd ? "userfaultfd (dpager, hpager) and signal (-signal)" : "signal",
};

const machine = { cpus: navigator.hardwareConcurrency, kernel: (await Bun.$`uname -r`.text()).trim(), date: new Date().toISOString() };
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ benchmark: "loader", runs, machine, workloads: WORKLOADS, rows, targets }, null, 2)}\n`);

if (json) {
  console.log(JSON.stringify({ rows, targets }, null, 2));
} else {
  console.log(`loader benchmark: medians of ${runs} runs, ratios to the native run of the same workload (${machine.cpus} CPUs, Linux ${machine.kernel})`);
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
  console.log("\ntargets");
  console.log(`  64 MiB sequential scan: ${t.seq64BestHpager3.config} needs ${t.seq64BestHpager3.faults} faults, ${(100 * t.seq64BestHpager3.ratio).toFixed(1)}% of dpager's ${t.seq64BestHpager3.dpagerFaults} (target at most 40%)`);
  console.log(`  one page of a 256 MiB bss: dpager peaks at ${t.onePageDpagerRss.dpagerKiB} KiB, ${t.onePageDpagerRss.ratio.toFixed(2)}x native's ${t.onePageDpagerRss.nativeKiB} KiB (target at most 1.2x)`);
  for (const e of t.everyPageApagerVsDpager) console.log(`  every page touched (${e.workload}): apager ${e.apagerMs.toFixed(1)} ms, dpager ${e.dpagerMs.toFixed(1)} ms: apager faster by ${e.dpagerOverApager.toFixed(2)}x`);
  const signalCost = "dpagerSignal" in t.costPerFaultMicros ? `, dpager --paging signal ${(t.costPerFaultMicros.dpagerSignal as number).toFixed(2)} us` : "";
  console.log(`  cost per fault: dpager ${t.costPerFaultMicros.dpager.toFixed(2)} us${signalCost}, the kernel's own ${t.costPerFaultMicros.kernel.toFixed(2)} us`);
  console.log(`  cost per system call: ${Object.entries(t.costPerSyscallMicros).map(([c, us]) => `${c} ${us.toFixed(3)} us`).join(", ")}`);
  console.log(`\nJSON: ${out}`);
}
