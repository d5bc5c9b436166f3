/**
 * Markdown tables for docs/report.md, from the benchmarks' JSON:
 *
 *   bun run report:tables [--loader FILE] [--copy FILE]
 *
 * --loader: what `bun run bench:loader` wrote (default docs/data/loader.json,
 * the run the report quotes); --copy: what `bun run bench --json` printed
 * (default docs/data/copy.json). Prints to stdout; each table is headed by
 * the command, date and machine its figures come from. The formatting is
 * pure (see the exported functions); reading the files is the only effect.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import type { BenchRow } from "./charts.ts";
import { COMMON_OPTIONS, readBenchLine } from "./cli.ts";

interface Machine {
  cpus: number;
  kernel: string;
  date: string;
}

export interface LoaderResults {
  runs: number;
  machine: Machine;
  workloads: { name: string; description: string }[];
  rows: BenchRow[];
  targets: {
    costPerFaultMicros: Record<string, number>;
    costPerSyscallMicros: Record<string, number>;
  };
}

interface CopySize {
  size: number;
  method: string;
  copyNs: number;
  firstReadNs: number;
  laterReadNs: number;
  firstWriteNs: number;
}

export interface CopyResults {
  rounds: number;
  machine?: Machine;
  sizes: CopySize[];
  ratios: { size: number; copySpeedup: number; copySpeedupPage: number; laterReadRatio: number; firstWriteOverEagerCopyUs: number }[];
  handout: { method: string; copyAllNs: number; writesNs: number }[];
}

export function provenance(command: string, machine: Machine | undefined, statistic: string): string {
  const where = machine ? `${machine.date.slice(0, 16).replace("T", " ")} UTC, ${machine.cpus} CPUs, Linux ${machine.kernel}` : "machine not recorded";
  return `*\`${command}\` — ${statistic}; ${where}.*`;
}

export function table(header: string[], rows: (string | number)[][], rightAligned = header.map((_, i) => i > 0)): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map((_, i) => (rightAligned[i] ? "---:" : "---"))), ...rows.map(line)].join("\n");
}

const fixed = (n: number, digits = 1) => n.toFixed(digits);

/** One table per workload: every configuration's medians and ratios. */
export function loaderTables(results: LoaderResults, only?: readonly string[]): string {
  const parts: string[] = [provenance("bun run bench:loader", results.machine, `medians of ${results.runs} runs, ratios to native from the same run`)];
  for (const w of results.workloads) {
    if (only && !only.includes(w.name)) continue;
    const rows = results.rows.filter((r) => r.workload === w.name);
    parts.push(
      `**${w.name}** — ${w.description}\n\n` +
        table(
          ["loader", "wall ms", "× native", "faults", "pages mapped", "peak RSS KiB", "× native"],
          rows.map((r) => [r.config, fixed(r.wallMs), `${fixed(r.wallRatio, 2)}×`, r.faults, r.pagesMapped, r.maxRssKiB, `${fixed(r.rssRatio, 2)}×`]),
        ),
    );
  }
  return parts.join("\n\n");
}

/** The benchmark names the kernel's own fault cost "kernel" and the
 * signal mechanism's "dpagerSignal"; the table uses the loaders' names. */
const COST_NAMES: Record<string, string> = { kernel: "native", dpagerSignal: "dpager-signal" };

/** The per-fault and per-system-call costs the benchmark derives, a row per
 * loader. */
export function costTable(results: LoaderResults): string {
  const byName = (costs: Record<string, number>) => new Map(Object.entries(costs).map(([k, v]) => [COST_NAMES[k] ?? k, v]));
  const fault = byName(results.targets.costPerFaultMicros);
  const call = byName(results.targets.costPerSyscallMicros);
  const names = [...new Set([...call.keys(), ...fault.keys()])];
  const cell = (v: number | undefined, digits: number) => (v === undefined ? "—" : fixed(v, digits));
  return [
    provenance("bun run bench:loader", results.machine, `derived from medians of ${results.runs} runs (seq256 − one for faults, syscalls − one for system calls)`),
    table(
      ["loader", "µs per fault", "µs per system call"],
      names.map((n) => [n, cell(fault.get(n), 2), cell(call.get(n), 3)]),
    ),
  ].join("\n\n");
}

const thousands = (n: number) => n.toLocaleString("en-US").replace(/,/g, " ");

/** Workloads down, chosen configurations across, one figure per cell. */
export function crossTable(results: LoaderResults, workloads: readonly string[], configs: readonly string[], cell: (row: BenchRow) => string): string {
  const find = (w: string, c: string) => results.rows.find((r) => r.workload === w && r.config === c);
  return table(
    ["workload", ...configs],
    workloads.map((w) => [w, ...configs.map((c) => (find(w, c) ? cell(find(w, c)!) : "—"))]),
  );
}

/** Faults per run under dpager and every hpager setting. */
export function predictorTable(results: LoaderResults): string {
  const configs = ["dpager", ...["next", "stride", "readahead"].flatMap((p) => [2, 3].map((n) => `hpager-${p}-${n}`))];
  return [
    provenance("bun run bench:loader", results.machine, `faults, medians of ${results.runs} runs (counts do not depend on load)`),
    crossTable(results, results.workloads.map((w) => w.name).filter((w) => w !== "syscalls"), configs, (r) => thousands(r.faults)),
  ].join("\n\n");
}

/** Where prediction pays: the strided and sequential scans under dpager
 * and the two 3-page predictors that differ there. */
export function predictionTable(results: LoaderResults): string {
  const rows = ["stride", "seq64"].flatMap((w) =>
    ["dpager", "hpager-next-3", "hpager-stride-3"].map((c) => results.rows.find((r) => r.workload === w && r.config === c)!).filter(Boolean),
  );
  return [
    provenance("bun run bench:loader", results.machine, `medians of ${results.runs} runs`),
    table(["workload", "loader", "wall ms", "faults", "pages mapped"], rows.map((r) => [r.workload, r.config, fixed(r.wallMs), thousands(r.faults), thousands(r.pagesMapped)]), [false, false, true, true, true]),
  ].join("\n\n");
}

/** Wall time under each paging mechanism, userfaultfd (the default) and
 * the SIGSEGV handler. */
export function mechanismTable(results: LoaderResults): string {
  const configs = ["dpager", "dpager-signal", "hpager-next-3", "hpager-next-3-signal"];
  return [
    provenance("bun run bench:loader", results.machine, `wall ms, medians of ${results.runs} runs; dpager and hpager page by userfaultfd, the -signal configurations by the SIGSEGV handler`),
    crossTable(results, ["seq64", "seq256", "stride", "random", "data"], configs, (r) => fixed(r.wallMs)),
  ].join("\n\n");
}

function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

function formatSize(bytes: number): string {
  return bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`;
}

/** Lazy against eager copy: the ratios per size, then the handout's
 * scenario. */
export function copyTables(results: CopyResults): string {
  const source = provenance("bun run bench --json", results.machine, `mitata medians, median of ${results.rounds} alternating rounds`);
  const eager = (size: number) => results.sizes.find((s) => s.size === size && s.method === "eager")!;
  const lazy = (size: number) => results.sizes.find((s) => s.size === size && s.method === "lazy-chunk")!;
  const sizes = table(
    ["size", "eager copy", "lazy copy", "copy: eager / lazy", "same, page splits", "later reads: lazy / eager", "first write − eager copy"],
    results.ratios.map((r) => [
      formatSize(r.size),
      formatNs(eager(r.size).copyNs),
      formatNs(lazy(r.size).copyNs),
      `${fixed(r.copySpeedup)}×`,
      `${fixed(r.copySpeedupPage)}×`,
      fixed(r.laterReadRatio, 2),
      `${fixed(r.firstWriteOverEagerCopyUs)} µs`,
    ]),
  );
  const handout = table(
    ["method", "copy 2000 × 64 KiB", "100 random writes", "total"],
    results.handout.map((h) => [h.method, formatNs(h.copyAllNs), formatNs(h.writesNs), formatNs(h.copyAllNs + h.writesNs)]),
  );
  return [source, sizes, "Many small copies: 2000 chunks of 64 KiB copied, then 100 random writes to the copies:", handout].join("\n\n");
}

if (import.meta.main) {
  const root = resolve(import.meta.dir, "..");
  const { values: options } = readBenchLine({
    command: "bun run report:tables",
    summary: "Print docs/report.md's markdown tables from the benchmarks' saved JSON, each headed by the command, date and machine its figures come from. Runs nothing.",
    options: {
      loader: { kind: "text", value: "FILE", description: "what `bun run bench:loader` wrote (default docs/data/loader.json)" },
      copy: { kind: "text", value: "FILE", description: "what `bun run bench --json` printed (default docs/data/copy.json)" },
      help: COMMON_OPTIONS.help,
    },
  });
  const loaderFile = resolve(options.loader ?? join(root, "docs", "data", "loader.json"));
  const copyFile = resolve(options.copy ?? join(root, "docs", "data", "copy.json"));
  if (existsSync(loaderFile)) {
    const loader: LoaderResults = JSON.parse(readFileSync(loaderFile, "utf8"));
    console.log(`## Loader (${relative(root, loaderFile)})\n\n${loaderTables(loader)}\n`);
    console.log(`### Where prediction pays\n\n${predictionTable(loader)}\n`);
    console.log(`### Faults per predictor and pages per fault\n\n${predictorTable(loader)}\n`);
    console.log(`### Paging mechanisms\n\n${mechanismTable(loader)}\n`);
    console.log(`### Costs\n\n${costTable(loader)}\n`);
  } else {
    console.error(`report:tables: no ${loaderFile}; run bun run bench:loader`);
  }
  if (existsSync(copyFile)) {
    console.log(`## Lazy copy (${relative(root, copyFile)})\n\n${copyTables(JSON.parse(readFileSync(copyFile, "utf8")))}`);
  } else {
    console.error(`report:tables: no ${copyFile}; run bun run bench --json > ${copyFile}`);
  }
}
