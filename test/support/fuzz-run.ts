/**
 * Running the fuzzer's cases (test/support/fuzz.ts): each mutated file is
 * run natively with execve and under each pager, in a session of its own,
 * as an unprivileged user when this process is root, with a time limit.
 * Every pager run is classified:
 *   ran      the program ran (its report was written): how it ended is its own
 *   refused  one line naming the file and the errno, exit 126 or 127
 *   crashed  anything else: the pager died without a report, printed
 *            something else, or exited otherwise (Bun crashed)
 *   hung     the time limit hit, the native run did not, and the run made
 *            no progress: its memory did not grow (spinning on the CPU, a
 *            fault handler retrying a fault for ever, is no progress)
 *   slow     the time limit hit while the run was still growing its memory
 *            (apager populating a bss of many GiB, say)
 * and its verdict is compared with the kernel's.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execveVerdictTool } from "./build-tools.ts";
import { tinyProgram } from "./craft.ts";
import { fuzzCase, type FuzzCase, type SeedProgram } from "./fuzz.ts";
import { ROOT, buildProgram } from "./programs.ts";
import { unprivileged } from "./run.ts";
import { describeVerdict, kernelVerdict, type Verdict } from "./verdict.ts";

export type Classification = "ran" | "refused" | "crashed" | "hung" | "slow";

export interface PagerResult {
  pager: string;
  classification: Classification;
  verdict: Verdict;
  /** The refusal line, or what made it a crash. */
  detail: string;
  /** Compared with the kernel's verdict: the same, a documented difference
   * (the kernel fails past execve's point of no return, or the refusal is a
   * limit of faultline's), or neither. */
  agreement: "same" | "documented" | "unexplained";
}

export interface CaseResult {
  fuzzCase: FuzzCase;
  native: Verdict;
  pagers: PagerResult[];
}

export interface FuzzOptions {
  cases: number;
  seed: number;
  pagers: string[];
  /** Per run; the native run's too. */
  timeLimitMs: number;
  /** Cases run at the same time. */
  concurrency: number;
  /** Where to keep cases that crashed, hung or disagreed unexplained. */
  keep?: string;
  /** Run only these case numbers (of the same seeded run). */
  only?: number[];
  /** Cases numbered this or above run their pagers through spawn() in a
   * long-lived library process (fixture-fuzz-library.ts), one per worker,
   * rather than through the command line, each of which starts Bun; the
   * cases below it still take the command line. Unset: every case does. */
  libraryFrom?: number;
  onCase?: (result: CaseResult) => void;
}

/** The seed programs: crafted minimal ones, a real static, static-pie and
 * dynamic PIE program, and a system program. */
export async function seedPrograms(): Promise<SeedProgram[]> {
  const seeds: SeedProgram[] = [
    { name: "tiny", bytes: tinyProgram(7) },
    { name: "tiny-pie", bytes: tinyProgram(7, 0, 3) },
  ];
  for (const variant of ["static", "static-pie", "pie"] as const) {
    seeds.push({ name: `exit_code (${variant})`, bytes: readFileSync(await buildProgram("exit_code.c", variant)) });
  }
  if (existsSync("/bin/true")) seeds.push({ name: "/bin/true", bytes: readFileSync("/bin/true") });
  return seeds;
}

/** How long a run ending at its time limit is watched for progress. */
const PROGRESS_SAMPLE_MS = 300;
/** What a case runs with: nothing of the tester's environment. */
const CASE_ENV = { PATH: "/usr/bin:/bin", LANG: "C" };
/** The most stderr kept from one run. */
const STDERR_LIMIT = 4096;

interface Limited {
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  timedOut: boolean;
  progressing: boolean;
}

/** Resident pages of every process in session `sid`. */
function sessionResidentPages(sid: number): number {
  let pages = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // After the name: state ppid pgrp session ... rss (the 24th field).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[3]) === sid) pages += Number(fields[21]);
  }
  return pages;
}

/** Run argv in a session of its own; at the time limit, see whether its
 * memory is still growing, then kill the whole session. */
async function runLimited(argv: string[], cwd: string, timeLimitMs: number): Promise<Limited> {
  const proc = Bun.spawn(["setsid", ...argv], { cwd, env: CASE_ENV, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const stderr = new Response(proc.stderr).text();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"deadline">((resolve) => {
    timer = setTimeout(() => resolve("deadline"), timeLimitMs);
  });
  let timedOut = false;
  let progressing = false;
  if ((await Promise.race([proc.exited, deadline])) === "deadline") {
    timedOut = true;
    const before = sessionResidentPages(proc.pid);
    await Bun.sleep(PROGRESS_SAMPLE_MS);
    progressing = sessionResidentPages(proc.pid) > before;
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // the session ended meanwhile
    }
  }
  clearTimeout(timer);
  await proc.exited;
  return { exitCode: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stderr: (await stderr).slice(0, STDERR_LIMIT), timedOut, progressing };
}

const REFUSAL = /\((E[A-Z0-9]+)(?:; ([^)]*))?\)$/;
/** What Bun prints when it crashes or throws. */
const CRASH_SIGNS = [/internal error/, /panic/i, /Bun has crashed/, /^error: /m, /^\s+at /m];

/** How a run ended, from its report (the command line's --report file, or
 * spawn()'s): null when there is none. */
type Ending = { exitCode: number | null; signal: string | null } | null;

function classify(pager: string, run: Limited, report: Ending, native: Verdict): Omit<PagerResult, "agreement"> {
  if (run.timedOut) {
    const verdict: Verdict = { timeout: true };
    if ("timeout" in native) return { pager, classification: "ran", verdict, detail: "loops natively too" };
    return { pager, classification: run.progressing ? "slow" : "hung", verdict, detail: run.stderr };
  }
  if (report !== null) {
    const verdict: Verdict = report.signal !== null ? { signal: report.signal } : { exit: report.exitCode ?? -1 };
    return { pager, classification: "ran", verdict, detail: "" };
  }
  const lines = run.stderr.trim().split("\n");
  const refusal = lines.length === 1 && lines[0]!.startsWith(`${pager}: `) ? REFUSAL.exec(lines[0]!) : null;
  const crashed = CRASH_SIGNS.some((sign) => sign.test(run.stderr));
  if (refusal && !crashed && (run.exitCode === 126 || run.exitCode === 127)) {
    return { pager, classification: "refused", verdict: { refused: refusal[1]! }, detail: lines[0]! };
  }
  const how = run.signal !== null ? `killed by ${run.signal} without a report` : `exit ${run.exitCode} without a report`;
  return { pager, classification: "crashed", verdict: run.signal !== null ? { signal: run.signal } : { exit: run.exitCode ?? -1 }, detail: `${how}: ${run.stderr}` };
}

function agreement(result: Omit<PagerResult, "agreement">, native: Verdict): PagerResult["agreement"] {
  if (describeVerdict(result.verdict) === describeVerdict(native)) return "same";
  // Still populating when the time ran out: apager's way (README, Limits).
  if (result.classification === "slow") return "documented";
  // faultline refuses, before forking, what the kernel fails past execve's
  // point of no return (the process dies of SIGSEGV), and says so; and its
  // own limits say so too.
  if (result.classification === "refused" && / the kernel would start it and kill it with SIGSEGV\)$/.test(result.detail) && describeVerdict(native) === "SIGSEGV") return "documented";
  if (result.classification === "refused" && / a limit of faultline's: the kernel would run it\)$/.test(result.detail) && !("refused" in native)) return "documented";
  return "unexplained";
}

/** What the library process answers (fixture-fuzz-library.ts). */
type LibraryAnswer =
  | { ran: { exitCode: number | null; signal: string | null } }
  | { refused: string; exitCode: number }
  | { timedOut: true; progressing: boolean }
  | { error: string };

/** Time a library process has beyond a case's own limit to answer before
 * it is taken for hung (and killed with its session). */
const LIBRARY_GRACE_MS = 10_000;

/** The fixture, as the fuzzer's runs: an unprivileged user when this
 * process is root, in a session of its own. */
const LIBRARY_FIXTURE = join(ROOT, "test/support/fixture-fuzz-library.ts");

/** A long-lived library process that runs one case's pager at a time; a
 * new one is started after one dies or stops answering. */
class LibraryProcess {
  private proc: Bun.Subprocess<"pipe", "pipe", "pipe"> | null = null;
  private reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  private buffered = "";
  private readonly decoder = new TextDecoder();

  private start(): Bun.Subprocess<"pipe", "pipe", "pipe"> {
    const proc = Bun.spawn(["setsid", ...unprivileged([process.execPath, LIBRARY_FIXTURE])], { cwd: ROOT, env: CASE_ENV, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    this.reader = proc.stdout.getReader();
    this.buffered = "";
    return proc;
  }

  /** The next line it writes, or null when its output ends first. */
  private async line(): Promise<string | null> {
    for (;;) {
      const newline = this.buffered.indexOf("\n");
      if (newline >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await this.reader!.read();
      if (done) return null;
      this.buffered += this.decoder.decode(value, { stream: true });
    }
  }

  /** Kill it and whatever it runs. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null) return;
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // the session ended meanwhile
    }
    await proc.exited;
  }

  /** Run file under pager; its ending as runLimited gives the command
   * line's, and its report. */
  async run(pager: string, file: string, cwd: string, timeLimitMs: number): Promise<{ run: Limited; report: Ending }> {
    const proc = this.proc ?? this.start();
    proc.stdin.write(`${JSON.stringify({ pager, file, cwd, timeLimitMs })}\n`);
    proc.stdin.flush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"deadline">((resolve) => {
      timer = setTimeout(() => resolve("deadline"), timeLimitMs + LIBRARY_GRACE_MS);
    });
    const answered = await Promise.race([this.line(), deadline]);
    clearTimeout(timer);
    const limited = (over: Partial<Limited>): Limited => ({ exitCode: null, signal: null, stderr: "", timedOut: false, progressing: false, ...over });
    if (answered === "deadline") {
      await this.stop();
      return { run: limited({ timedOut: true, stderr: "the library process stopped answering" }), report: null };
    }
    if (answered === null) {
      const stderr = (await new Response(proc.stderr).text()).slice(0, STDERR_LIMIT);
      await this.stop();
      return { run: limited({ exitCode: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode), stderr: `the library process died: ${stderr}` }), report: null };
    }
    const answer = JSON.parse(answered) as LibraryAnswer;
    if ("ran" in answer) return { run: limited({}), report: answer.ran };
    if ("refused" in answer) return { run: limited({ exitCode: answer.exitCode, stderr: `${answer.refused}\n` }), report: null };
    if ("timedOut" in answer) return { run: limited({ timedOut: true, progressing: answer.progressing }), report: null };
    return { run: limited({ exitCode: 1, stderr: `${pager}: internal error: ${answer.error}` }), report: null };
  }
}

async function runCase(fuzzCase: FuzzCase, options: FuzzOptions, dir: string, launcher: string, library: LibraryProcess): Promise<CaseResult> {
  const caseDir = join(dir, String(fuzzCase.index));
  mkdirSync(caseDir);
  chmodSync(caseDir, 0o777); // the unprivileged runs write their reports here
  const file = join(caseDir, "program");
  writeFileSync(file, fuzzCase.bytes);
  chmodSync(file, 0o755);
  const nativeRun = await runLimited(unprivileged([launcher, file]), caseDir, options.timeLimitMs);
  const native: Verdict = nativeRun.timedOut ? { timeout: true } : kernelVerdict({ stdout: "", stderr: nativeRun.stderr, exitCode: nativeRun.exitCode, signal: nativeRun.signal });
  const pagers: PagerResult[] = [];
  const throughLibrary = options.libraryFrom !== undefined && fuzzCase.index >= options.libraryFrom;
  for (const pager of options.pagers) {
    let ran: { run: Limited; report: Ending };
    if (throughLibrary) {
      ran = await library.run(pager, file, caseDir, options.timeLimitMs);
    } else {
      const reportPath = join(caseDir, `${pager}.json`);
      const run = await runLimited(unprivileged([process.execPath, COMMAND, pager, "-q", "--report", reportPath, file]), caseDir, options.timeLimitMs);
      ran = { run, report: existsSync(reportPath) ? (JSON.parse(readFileSync(reportPath, "utf8")) as Ending) : null };
    }
    const result = classify(pager, ran.run, ran.report, native);
    pagers.push({ ...result, agreement: agreement(result, native) });
  }
  const keep = pagers.some((p) => p.classification === "crashed" || p.classification === "hung" || p.agreement === "unexplained");
  if (keep && options.keep) {
    mkdirSync(options.keep, { recursive: true });
    writeFileSync(join(options.keep, `case-${options.seed}-${fuzzCase.index}`), fuzzCase.bytes);
  }
  rmSync(caseDir, { recursive: true, force: true });
  return { fuzzCase, native, pagers };
}

/** The command as `bun run apager` starts it: the bytecode bundle of
 * src/cli/cli.ts (src/cli/command.ts), a quarter faster to start than the
 * sources, which matters over hundreds of runs. */
const COMMAND = join(ROOT, "src/cli/command.ts");

/** Build the command's bundle now, as this user: an unprivileged run cannot
 * write it, and would run the slower sources instead. */
async function prepareCommand(): Promise<void> {
  const proc = Bun.spawn([process.execPath, COMMAND, "apager", "-q", "/bin/true"], { stdout: "ignore", stderr: "pipe", timeout: 120_000 });
  const stderr = await new Response(proc.stderr).text();
  if ((await proc.exited) !== 0) throw new Error(`the command does not run: ${stderr}`);
}

/** Run cases 0..cases-1 of a seeded run, `concurrency` at a time. */
export async function runFuzz(options: FuzzOptions): Promise<CaseResult[]> {
  await prepareCommand();
  const launcher = await execveVerdictTool();
  const seeds = await seedPrograms();
  const dir = mkdtempSync(join(tmpdir(), "faultline-fuzz-"));
  chmodSync(dir, 0o755);
  const results: CaseResult[] = [];
  const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => i);
  let next = 0;
  const libraries = Array.from({ length: options.concurrency }, () => new LibraryProcess());
  const worker = async (library: LibraryProcess) => {
    while (next < indices.length) {
      const generated = fuzzCase(seeds, options.seed, indices[next++]!);
      const result = await runCase(generated, options, dir, launcher, library);
      results.push(result);
      options.onCase?.(result);
    }
  };
  try {
    await Promise.all(libraries.map(worker));
  } finally {
    await Promise.all(libraries.map((library) => library.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
  return results.sort((a, b) => a.fuzzCase.index - b.fuzzCase.index);
}

export interface Tally {
  cases: number;
  perPager: Record<string, Record<Classification, number>>;
  agreement: Record<PagerResult["agreement"], number>;
  /** Pairs of (kernel's verdict -> pager's) that differ, with their count. */
  differences: Map<string, number>;
}

export function tally(results: readonly CaseResult[]): Tally {
  const perPager: Tally["perPager"] = {};
  const agreementCounts = { same: 0, documented: 0, unexplained: 0 };
  const differences = new Map<string, number>();
  for (const result of results) {
    for (const p of result.pagers) {
      perPager[p.pager] ??= { ran: 0, refused: 0, crashed: 0, hung: 0, slow: 0 };
      perPager[p.pager]![p.classification]++;
      agreementCounts[p.agreement]++;
      if (p.agreement !== "same") {
        const key = `${p.agreement}: kernel ${describeVerdict(result.native)} -> ${p.pager} ${describeVerdict(p.verdict)}`;
        differences.set(key, (differences.get(key) ?? 0) + 1);
      }
    }
  }
  return { cases: results.length, perPager, agreement: agreementCounts, differences };
}

/** The tally as lines for a person. */
export function describeTally(t: Tally): string[] {
  const lines = [`${t.cases} cases`];
  for (const [pager, c] of Object.entries(t.perPager)) lines.push(`${pager}: ran ${c.ran}, refused ${c.refused}, crashed ${c.crashed}, hung ${c.hung}, slow ${c.slow}`);
  lines.push(`against the kernel's verdict: same ${t.agreement.same}, documented differences ${t.agreement.documented}, unexplained ${t.agreement.unexplained}`);
  for (const [key, n] of [...t.differences].sort((a, b) => b[1] - a[1])) lines.push(`  ${n} x ${key}`);
  return lines;
}

/** One line per case worth a look: a crash, a hang, an unexplained difference. */
export function describeProblems(results: readonly CaseResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    for (const p of r.pagers) {
      if (p.classification !== "crashed" && p.classification !== "hung" && p.agreement !== "unexplained") continue;
      lines.push(`case ${r.fuzzCase.index} (${r.fuzzCase.seed}: ${r.fuzzCase.mutations.join("; ")}): kernel ${describeVerdict(r.native)}, ${p.pager} ${p.classification} ${describeVerdict(p.verdict)} ${p.detail.trim().slice(0, 300)}`);
    }
  }
  return lines;
}
