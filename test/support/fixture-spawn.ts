/**
 * Subprocess fixture for spawn(): runs the same program with Bun.spawn
 * (natively) and with faultline's spawn() under a pager, the same options
 * given to both, and writes what each side saw as JSON to RESULT. Run by
 * test/integration/spawn.test.ts under a time limit: a launch that never
 * returns cannot hang the test runner.
 *
 *   bun fixture-spawn.ts RESULT SPEC
 *
 * SPEC is JSON: { scenario, pager, paging?, program, side?, cases? ... };
 * see the Spec types below. `side` runs only one of the two ("native" or
 * "paged"), for cases whose output goes to this process's own streams.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pagesMappedBy, spawn, type FaultEvent, type MappingEvent, type PagerName, type PagingChoice, type SpawnOptions } from "../../src/index.ts";

type StdinSpec =
  | { kind: "ignore" | "inherit" }
  | { kind: "pipe"; pieces: string[]; delayMs: number }
  | { kind: "blob" | "view" | "response" | "file" | "bunfile"; text: string }
  | { kind: "response-stream"; pieces: string[]; delayMs: number };
type OutputSpec = "pipe" | "ignore" | "inherit" | "file";

interface CaptureCase {
  name: string;
  args: string[];
  stdin: StdinSpec;
  stdout: OutputSpec;
  stderr: OutputSpec;
  cwd?: string;
  env?: Record<string, string>;
}
interface SignalCase {
  name: string;
  how: "kill-at-once" | "kill-when-ready" | "abort" | "timeout";
  signal?: NodeJS.Signals | number;
}
type Spec = { pager: PagerName; paging?: PagingChoice; program: string; side?: "native" | "paged" } & (
  | { scenario: "capture"; cases: CaptureCase[] }
  | { scenario: "signals"; cases: SignalCase[] }
  | { scenario: "events"; args: string[]; consumer: "count" | "stuck" }
  | { scenario: "refusals"; directory: string }
  | { scenario: "bun-api" }
  | { scenario: "log"; args: string[] }
  | { scenario: "unwaited"; file: string }
  | { scenario: "unref"; again: boolean; stdout: "pipe" | "ignore" }
);

const [resultFile, specText] = process.argv.slice(2) as [string, string];
const spec = JSON.parse(specText) as Spec;
const scratch = mkdtempSync(join(tmpdir(), "faultline-fixture-spawn-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
const encoder = new TextEncoder();

/** What a side saw of one stream: its text (or, when long, its length and
 * hash), or null when it was not captured. */
function seen(bytes: Uint8Array | null): { length: number; hash: string; text: string | null } | null {
  if (bytes === null) return null;
  return { length: bytes.length, hash: Bun.hash(bytes).toString(16), text: bytes.length <= 4096 ? new TextDecoder().decode(bytes) : null };
}

async function feed(sink: { write(chunk: string): unknown; end(): unknown }, pieces: string[], delayMs: number): Promise<void> {
  for (const piece of pieces) {
    sink.write(piece);
    await Bun.sleep(delayMs);
  }
  await sink.end();
}

function stdinOf(stdin: StdinSpec, file: string): unknown {
  switch (stdin.kind) {
    case "ignore":
    case "inherit":
      return stdin.kind;
    case "pipe":
      return "pipe";
    case "blob":
      return new Blob([stdin.text]);
    case "view":
      return encoder.encode(stdin.text);
    case "response":
      return new Response(stdin.text);
    case "response-stream": {
      const { pieces, delayMs } = stdin;
      return new Response(
        new ReadableStream({
          async start(controller) {
            for (const piece of pieces) {
              controller.enqueue(encoder.encode(piece));
              await Bun.sleep(delayMs);
            }
            controller.close();
          },
        }),
      );
    }
    case "file":
      writeFileSync(file, stdin.text);
      return openSync(file, "r");
    case "bunfile":
      writeFileSync(file, stdin.text);
      return Bun.file(file);
  }
}

/** One side of a capture case. `start` is Bun.spawn or faultline's spawn. */
async function capture(side: string, c: CaptureCase, start: (argv: string[], options: Record<string, unknown>) => any) {
  const dir = mkdtempSync(join(scratch, `${side}-`));
  const files = { stdin: join(dir, "stdin"), stdout: join(dir, "stdout"), stderr: join(dir, "stderr") };
  const stdin = stdinOf(c.stdin, files.stdin);
  const output = (which: "stdout" | "stderr", how: OutputSpec) => (how === "file" ? openSync(files[which], "w") : how);
  const options: Record<string, unknown> = { stdin, stdout: output("stdout", c.stdout), stderr: output("stderr", c.stderr), timeout: 20_000, killSignal: "SIGKILL" };
  if (c.cwd) options.cwd = c.cwd;
  if (c.env) options.env = c.env;
  const proc = start([spec.program, ...c.args], options);
  const shape = { stdinIsSink: typeof proc.stdin?.write === "function", stdoutIsStream: proc.stdout instanceof ReadableStream, stderrIsStream: proc.stderr instanceof ReadableStream };
  if (c.stdin.kind === "pipe") void feed(proc.stdin, c.stdin.pieces, c.stdin.delayMs);
  // As a Bun user would: wait for the end first, then read what came.
  const exited = await proc.exited;
  const read = async (which: "stdout" | "stderr", how: OutputSpec) =>
    how === "pipe" ? seen(new Uint8Array(await new Response(proc[which]).arrayBuffer())) : how === "file" ? seen(readFileSync(files[which])) : null;
  const [stdout, stderr] = await Promise.all([read("stdout", c.stdout), read("stderr", c.stderr)]);
  for (const fd of [stdin, options.stdout, options.stderr]) if (typeof fd === "number") closeSync(fd);
  return { exited, exitCode: proc.exitCode, signalCode: proc.signalCode, killed: proc.killed, stdout, stderr, ...shape };
}

// Quiet as Bun.spawn by default: nothing asks for mapping lines here.
function paged(argv: string[], options: Record<string, unknown>) {
  return spawn(argv, { ...(options as SpawnOptions), pager: spec.pager, ...(spec.paging ? { paging: spec.paging } : {}) });
}

function native(argv: string[], options: Record<string, unknown>) {
  return Bun.spawn(argv, options as Parameters<typeof Bun.spawn>[1]);
}

/** One side of a signal case: the program waits ("ready") until a signal
 * ends it. */
async function signalled(c: SignalCase, start: (argv: string[], options: Record<string, unknown>) => any) {
  const controller = new AbortController();
  const options: Record<string, unknown> = { stdout: "pipe" };
  if (c.how === "abort") options.signal = controller.signal;
  if (c.how === "timeout") options.timeout = 200;
  if (c.signal !== undefined && (c.how === "abort" || c.how === "timeout")) options.killSignal = c.signal;
  const proc = start([spec.program, "wait"], options);
  const killedAtFirst = proc.killed;
  if (c.how === "kill-at-once") proc.kill(c.signal);
  const reader = proc.stdout.getReader();
  const first = await reader.read();
  const ready = first.done ? "" : new TextDecoder().decode(first.value);
  if (c.how === "kill-when-ready") proc.kill(c.signal);
  if (c.how === "abort") controller.abort();
  const exited = await proc.exited;
  return { ready: c.how === "kill-at-once" ? null : ready, exited, exitCode: proc.exitCode, signalCode: proc.signalCode, killedAtFirst, killed: proc.killed };
}

/** Whether a process has ended (it is a zombie, or gone). */
function ended(pid: number): boolean {
  const path = `/proc/${pid}/stat`;
  if (!existsSync(path)) return true;
  try {
    const stat = readFileSync(path, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** The live events of one run, counted against its report. With the
 * "stuck" consumer, the first fault's callback does not return until the
 * program has ended (at most STUCK_LIMIT_MS): paging must not wait for it. */
async function events() {
  const STUCK_LIMIT_MS = 20_000;
  let faults = 0;
  let mappingPages = 0;
  const causes: Record<string, number> = {};
  let pid = 0;
  let endedWhileStuck: boolean | null = null;
  let firstFault: FaultEvent | null = null;
  let firstMapping: MappingEvent | null = null;
  const onFault = (event: FaultEvent) => {
    faults++;
    firstFault ??= event;
    if (spec.scenario === "events" && spec.consumer === "stuck" && endedWhileStuck === null) {
      const until = performance.now() + STUCK_LIMIT_MS;
      while (!ended(pid) && performance.now() < until) Bun.sleepSync(1);
      endedWhileStuck = ended(pid);
    }
  };
  const onMapping = (event: MappingEvent) => {
    mappingPages += pagesMappedBy(event);
    causes[event.cause] = (causes[event.cause] ?? 0) + 1;
    firstMapping ??= event;
  };
  const args = spec.scenario === "events" ? spec.args : [];
  const proc = spawn([spec.program, ...args], { pager: spec.pager, ...(spec.paging ? { paging: spec.paging } : {}), quiet: true, stdout: "pipe", onFault, onMapping });
  pid = proc.pid;
  const stdout = await new Response(proc.stdout).text();
  const exited = await proc.exited;
  const report = await proc.report;
  return { exited, stdout, faults, mappingPages, causes, dropped: proc.eventsDropped, endedWhileStuck, firstFault, firstMapping, report: { faults: report.faults, pagesMapped: report.pagesMapped, paging: report.paging, wallMs: report.wallMs } };
}

/** What a call threw: its class, message and code (null if it did not). */
function thrown(call: () => unknown): { name: string; message: string; code: string | null; exitCode: number | null } | null {
  try {
    const proc = call() as { kill?: () => void } | undefined;
    proc?.kill?.();
    return null;
  } catch (error) {
    const e = error as Error & { code?: unknown; exitCode?: unknown };
    return { name: e.name, message: e.message, code: e.code === undefined ? null : String(e.code), exitCode: typeof e.exitCode === "number" ? e.exitCode : null };
  }
}

/** This process's children, from every thread's list: none may be left
 * by a refused spawn. */
function children(): string[] {
  return readdirSync("/proc/self/task").flatMap((task) => readFileSync(`/proc/self/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean));
}

/** Calls that must be refused before anything runs, each beside what
 * Bun.spawn does with the same call where it takes one. */
function refusals(directory: string) {
  const aborted = new AbortController();
  aborted.abort();
  const program = spec.program;
  const bad = (options: Record<string, unknown>) => options as SpawnOptions;
  const cases: Record<string, { paged: () => unknown; native?: () => unknown }> = {
    "a missing program": { paged: () => spawn([join(directory, "missing")]), native: () => Bun.spawn([join(directory, "missing")]) },
    "a name not on PATH": { paged: () => spawn(["faultline-no-such-command"]), native: () => Bun.spawn(["faultline-no-such-command"]) },
    "a directory": { paged: () => spawn([directory]), native: () => Bun.spawn([directory]) },
    "a missing working directory": { paged: () => spawn([program, "where"], { cwd: join(directory, "missing") }), native: () => Bun.spawn([program, "where"], { cwd: join(directory, "missing") }) },
    "a file as the working directory": { paged: () => spawn([program, "where"], { cwd: program }), native: () => Bun.spawn([program, "where"], { cwd: program }) },
    "an aborted signal": { paged: () => spawn([program, "where"], { signal: aborted.signal }), native: () => Bun.spawn([program, "where"], { signal: aborted.signal }) },
    "an empty argv": { paged: () => spawn([]), native: () => Bun.spawn([]) },
    "a NUL in an argument": { paged: () => spawn([program, "env\0x"]), native: () => Bun.spawn([program, "env\0x"]) },
    "a NUL in the environment": { paged: () => spawn([program, "where"], { env: { A: "x\0y" } }), native: () => Bun.spawn([program, "where"], { env: { A: "x\0y" } }) },
    "a negative timeout": { paged: () => spawn([program, "where"], { timeout: -1 }), native: () => Bun.spawn([program, "where"], { timeout: -1 }) },
    "an unknown kill signal": { paged: () => spawn([program, "where"], bad({ killSignal: "SIGNOPE" })), native: () => Bun.spawn([program, "where"], { killSignal: "SIGNOPE" }) },
    "an unknown stdout": { paged: () => spawn([program, "where"], bad({ stdout: "loud" })), native: () => Bun.spawn([program, "where"], bad({ stdout: "loud" }) as never) },
    "a descriptor that is not open": { paged: () => spawn([program, "where"], { stdout: 999 }), native: () => Bun.spawn([program, "where"], { stdout: 999 }) },
    "an unknown pager": { paged: () => spawn([program, "where"], bad({ pager: "zpager" })) },
    "pages out of range": { paged: () => spawn([program, "where"], { pager: "hpager", pages: 99 }) },
    "a predictor for dpager": { paged: () => spawn([program, "where"], { pager: "dpager", predictor: "stride" }) },
    "paging for apager": { paged: () => spawn([program, "where"], { paging: "signal" }) },
    "a report in a missing directory": { paged: () => spawn([program, "where"], { report: join(directory, "missing", "r.json") }) },
    "a trace that is the program": { paged: () => spawn([program, "where"], { pager: "dpager", trace: program }) },
    "a report and a trace in one file": { paged: () => spawn([program, "where"], { pager: "dpager", report: join(directory, "same"), trace: join(directory, "same") }) },
  };
  const programBefore = Bun.hash(readFileSync(program)).toString(16);
  const results: Record<string, unknown> = {};
  for (const [name, c] of Object.entries(cases)) results[name] = { paged: thrown(c.paged), native: c.native ? thrown(c.native) : null };
  return { results, programUnchanged: Bun.hash(readFileSync(program)).toString(16) === programBefore, children: children(), leftBehind: readdirSync(directory) };
}

/** ResourceUsage's fields, as bun-types documents them (Bun's own object
 * has them as getters, which no enumeration lists). */
const USAGE_FIELDS = ["contextSwitches.voluntary", "contextSwitches.involuntary", "cpuTime.user", "cpuTime.system", "cpuTime.total", "maxRSS", "messages.sent", "messages.received", "ops.in", "ops.out", "shmSize", "signalCount", "swapCount"];

/** Each field's type, for comparing two sides' usage without its values. */
function usageShape(usage: unknown): Record<string, string> {
  const at = (path: string) => path.split(".").reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], usage);
  return Object.fromEntries(USAGE_FIELDS.map((path) => [path, typeof at(path)]));
}

/** Bun.spawn's other ways in, one side: the object form with cmd, a
 * stdio array with descriptors beyond the standard three, onExit,
 * resourceUsage(); and onExit for a program a signal ends. */
async function bunApi(start: (options: Record<string, unknown>) => any) {
  const file = join(mkdtempSync(join(scratch, "api-")), "given");
  writeFileSync(file, "x");
  const given = openSync(file, "r");
  const exits: unknown[] = [];
  const proc = start({
    cmd: [spec.program, "beyond", "8"],
    stdio: ["ignore", "pipe", "pipe", given, "pipe", "ignore", "socket-fd", null],
    onExit: (subprocess: unknown, exitCode: unknown, signalCode: unknown, error: unknown) => {
      exits.push({ same: subprocess === proc, exitCode, signalCode, error: error ?? null });
    },
  });
  const usageBefore = proc.resourceUsage();
  const stdio = proc.stdio as (number | null)[];
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const exited = await proc.exited;
  // onExit may come a moment after exited resolves, as Bun's does.
  for (let i = 0; i < 100 && exits.length === 0; i++) await Bun.sleep(10);
  const usage = proc.resourceUsage();
  const heard = stdio.map((fd, i) => (i === 4 || i === 6) && fd !== null ? readFileSync(fd, "utf8") : null);
  for (const fd of [stdio[4], stdio[6]]) if (typeof fd === "number") closeSync(fd);
  closeSync(given);
  const waiting = start({ cmd: [spec.program, "wait"], stdout: "pipe", onExit: (_: unknown, exitCode: unknown, signalCode: unknown) => exits.push({ exitCode, signalCode }) });
  await waiting.stdout.getReader().read();
  waiting.kill("SIGTERM");
  await waiting.exited;
  for (let i = 0; i < 100 && exits.length < 2; i++) await Bun.sleep(10);
  return {
    exited,
    stdout,
    stderr,
    stdio: stdio.map((fd, i) => (fd === null ? null : i === 3 ? (fd === given ? "the given descriptor" : fd) : typeof fd)),
    heard,
    exits,
    usageBefore: usageBefore === undefined ? "undefined" : usageBefore,
    usageShape: usageShape(usage),
    cpuTotalIsSum: usage.cpuTime.total === usage.cpuTime.user + usage.cpuTime.system,
    maxRSSPositive: usage.maxRSS > 0,
  };
}

/** spawn()'s log function: every mapping line, demand-paged ones
 * included, and nothing on stderr. */
async function logged(args: string[]) {
  const lines: string[] = [];
  const proc = spawn([spec.program, ...args], { pager: spec.pager, ...(spec.paging ? { paging: spec.paging } : {}), stdout: "ignore", log: (line) => lines.push(line) });
  const exited = await proc.exited;
  const report = await proc.report;
  return { exited, lines, faults: report.faults, pagesMapped: report.pagesMapped };
}

/** A log function and onMapping, and this thread kept from its event loop
 * once spawn() returns: the program (`spec.program FILE`, which makes
 * FILE) must start all the same, its start mappings logged by the loader.
 * Each start line beside the line its onMapping event makes. */
async function unwaited(file: string) {
  const lines: string[] = [];
  const events: MappingEvent[] = [];
  const proc = spawn([spec.program, file], { pager: spec.pager, stdout: "ignore", log: (line) => lines.push(line), onMapping: (event) => events.push(event) });
  const deadline = Date.now() + UNWAITED_MS;
  while (!existsSync(file) && Date.now() < deadline);
  const ranUnwaited = existsSync(file);
  const exited = await proc.exited;
  await proc.report;
  const hex = (n: number) => `0x${n.toString(16)}`;
  const expected = events
    .filter((e) => e.cause === "start")
    .map((e) => `${spec.pager}: map addr=${hex(e.address)} size=${hex(e.size)} off=${e.offset === null ? "-" : hex(e.offset)} prot=${e.protection} ${e.source}`);
  return { ranUnwaited, exited, lines, expected };
}
/** How long the thread is kept from its event loop, at most. */
const UNWAITED_MS = 10_000;

async function main(): Promise<unknown> {
  switch (spec.scenario) {
    case "capture": {
      const results: Record<string, unknown> = {};
      for (const c of spec.cases) {
        results[c.name] = {
          native: spec.side === "paged" ? null : await capture("native", c, native),
          paged: spec.side === "native" ? null : await capture("paged", c, paged),
        };
      }
      return results;
    }
    case "signals": {
      const results: Record<string, unknown> = {};
      for (const c of spec.cases) results[c.name] = { native: await signalled(c, native), paged: await signalled(c, paged) };
      return results;
    }
    case "events":
      return events();
    case "refusals":
      return refusals(spec.directory);
    case "bun-api":
      return {
        native: spec.side === "paged" ? null : await bunApi((options) => Bun.spawn(options as unknown as Parameters<typeof Bun.spawn>[0])),
        paged: spec.side === "native" ? null : await bunApi((options) => spawn({ ...(options as unknown as SpawnOptions & { cmd: string[] }), pager: spec.pager, ...(spec.paging ? { paging: spec.paging } : {}) })),
      };
    case "log":
      return logged(spec.args);
    case "unwaited":
      return unwaited(spec.file);
    case "unref": {
      // `spec.program` runs for seconds; this process then has nothing to
      // do but wait for it, unless unref() says not to.
      // Its stderr not this process's: the test reads that to its end.
      const options = { stdout: spec.stdout, stderr: "ignore" as const };
      const proc = spec.side === "native" ? Bun.spawn(spec.program.split(" "), options) : spawn(spec.program.split(" "), { ...options, pager: spec.pager });
      proc.unref();
      if (spec.again) proc.ref();
      return { pid: proc.pid };
    }
  }
}

writeFileSync(resultFile, JSON.stringify(await main()));
