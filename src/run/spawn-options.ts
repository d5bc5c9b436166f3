/**
 * spawn()'s and run()'s options: Bun.spawn's (working directory,
 * environment, standard streams, AbortSignal, timeout, kill signal), the
 * pagers' own, and the live event callbacks; and the checks that turn a
 * wrong option into one error naming it, thrown before anything runs, as
 * Bun.spawn throws (a TypeError for the wrong kind of value, a RangeError
 * for one out of range); and the shape of the subprocess spawn() returns. Pure.
 */
import { constants as osConstants } from "node:os";
import type { FaultEvent, MappingEvent } from "./events.ts";
import { PAGERS, PAGING_CHOICES, PREDICTORS, type PagerName, type PagingChoice } from "../loader/launch.ts";
import { MAX_PREDICT_PAGES } from "../loader/pagers.ts";
import type { PredictorName } from "../loader/spec.ts";
import type { FileSink, ResourceUsage } from "bun";
import type { RunReport } from "./report.ts";

/** What the program reads as standard input: this process's ("inherit"),
 * nothing ("ignore" or null: /dev/null), a pipe this process writes
 * (`subprocess.stdin`, a FileSink), a file descriptor of this process, or
 * the bytes of a Blob (a `Bun.file()` opens its file), a buffer, or a
 * Response's or Request's body. */
export type StdinOption = "inherit" | "pipe" | "ignore" | null | number | Blob | ArrayBufferView | Response | Request;

/** Where the program's standard output or error goes: this process's
 * ("inherit"), nowhere ("ignore" or null: /dev/null), a pipe this process
 * reads (`subprocess.stdout` or `.stderr`, a ReadableStream), or a file
 * descriptor of this process. */
export type OutputOption = "inherit" | "pipe" | "ignore" | null | number;

/** The pagers' options, as the command line has them. */
export interface PagerOptions {
  /** "apager" (default), "dpager" or "hpager". */
  pager?: PagerName;
  /** A genuine segfault ends with a friendly message, a diagnosis and
   * where it happened (the program then exits 139, as --friendly). */
  friendly?: boolean;
  /** dpager, hpager: "auto" (default), "userfaultfd" or "signal". */
  paging?: PagingChoice;
  /** hpager: "next" (default), "stride" or "readahead". */
  predictor?: PredictorName;
  /** hpager: pages each fault maps, the faulting one included: a whole
   * number from 1 to 16 (default 2). */
  pages?: number;
  /** Write every page fault as one JSON line to this file (--trace). */
  trace?: string;
  /** Write a page of the run to this file (--html). */
  html?: string;
  /** Write the report as JSON to this file (--report). */
  report?: string;
  /** dpager, hpager: write the run's working set (every page it first
   * touched, in order) to this file, as a profile for `prefetch`
   * (--record). */
  record?: string;
  /** dpager, hpager: map the working set recorded in this file before the
   * program needs it (--prefetch). A file that cannot be used (none yet,
   * or made for other files) is one warning line, and the run goes on
   * without it. */
  prefetch?: string;
  /** Log nothing: the default, as Bun.spawn prints nothing of its own.
   * `quiet: false` is `log: true`. */
  quiet?: boolean;
  /** The mapping lines the command line prints (one per mapping made or
   * reserved at start, one per page mapped on demand): `true` writes them
   * to this process's stderr; a function receives each of them, without
   * its newline, and the run's warnings, instead of stderr. Not logged by
   * default. */
  log?: boolean | ((line: string) => void);
}

/** The process's options, as Bun.spawn has them. */
export interface ProcessOptions {
  /** The program's working directory (default: this process's). A
   * relative PROGRAM, and PATH entries, are found from it. */
  cwd?: string;
  /** The program's environment (default: this process's). Its PATH is the
   * one PROGRAM is looked up on. */
  env?: Record<string, string | undefined>;
  /** Aborting it kills the program with `killSignal`; aborted already, the
   * program is not started and spawn() throws an AbortError. */
  signal?: AbortSignal;
  /** Milliseconds the program may run before it is killed with
   * `killSignal`. */
  timeout?: number;
  /** The signal `timeout` and `signal` kill with (default "SIGTERM"). */
  killSignal?: NodeJS.Signals | number;
}

/** Live events: called as the pager maps pages and resolves faults, while
 * the program runs. Paging never waits for them: events that come faster
 * than they are taken are dropped and counted (`eventsDropped`). */
export interface EventOptions {
  /** Each mapping the pager makes (or reserves) at start, and each page it
   * maps on demand, in that order. The program does not wait for them: its
   * start mappings are events once the loader has reported them, which may
   * be after the program started (or ended), never before a demand-paged
   * mapping's event. */
  onMapping?: (event: MappingEvent) => void;
  /** Each demand fault it resolves (dpager; hpager's bss). */
  onFault?: (event: FaultEvent) => void;
}

/** spawn()'s options: Bun.spawn's, the pagers', and the live events. The
 * standard streams default as Bun.spawn's do: stdin "ignore", stdout
 * "pipe", stderr "inherit". */
export interface SpawnOptions<In extends StdinOption = StdinOption, Out extends OutputOption = OutputOption, Err extends OutputOption = OutputOption>
  extends PagerOptions,
    ProcessOptions,
    EventOptions {
  stdin?: In;
  stdout?: Out;
  stderr?: Err;
  /** The program's descriptors from 0 up, as Bun.spawn takes them:
   * `[stdin, stdout, stderr, ...more]`, the first three overriding the
   * options of those names; each further one is given to the program at
   * its index (see ExtraStdioOption). */
  stdio?: readonly [In, Out, Err, ...ExtraStdioOption[]];
  /** Called once the program has ended (and its live events are
   * delivered), with its exit code or the signal that ended it; `error`
   * is set when the pager's loader failed after spawn() returned. */
  onExit?(subprocess: Subprocess<In, Out, Err>, exitCode: number | null, signalCode: NodeJS.Signals | number | null, error?: Error): void | Promise<void>;
}

/** A descriptor beyond the standard three, at its index of `stdio`, as
 * Bun.spawn takes it: a file descriptor of this process (the program gets
 * it at that number); "inherit", this process's own descriptor of that
 * number; "pipe" or "socket-fd", a socket pair whose end here is in
 * `subprocess.stdio` (see there); "ignore" or null, none. */
type ExtraStdioOption = "pipe" | "socket-fd" | "inherit" | "ignore" | null | number;

/** An extra descriptor, once checked: none, one of this process's, or a
 * socket pair. */
export type ExtraPlan = { kind: "none" } | { kind: "descriptor"; fd: number } | { kind: "pipe" };

/** What the program's standard input is, once checked. */
export type StdinPlan =
  | { kind: "inherit" }
  | { kind: "ignore" }
  | { kind: "pipe" }
  | { kind: "descriptor"; fd: number }
  | { kind: "file"; path: string }
  | { kind: "bytes"; source: Blob | ArrayBufferView | Response | Request };

/** Where standard output or error goes, once checked. */
export type OutputPlan = { kind: "inherit" } | { kind: "ignore" } | { kind: "pipe" } | { kind: "descriptor"; fd: number };

/** The options once checked: what spawn() acts on. */
export interface SpawnPlan {
  argv: string[];
  pager: PagerName;
  stdin: StdinPlan;
  stdout: OutputPlan;
  stderr: OutputPlan;
  /** The program's descriptors from 3 up (`stdio`'s fourth entry on). */
  extra: ExtraPlan[];
  killSignal: number;
  timeout: number | null;
}

/** The most a timeout can be: setTimeout's own limit (2^31 - 1 ms). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** The highest signal number (_NSIG). */
const MAX_SIGNAL = 64;

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return value.constructor?.name ?? "an object";
}

function hasNul(text: string): boolean {
  return text.includes("\0");
}

/** A string a system call can take: no NUL byte, which would end it early. */
function requireText(value: unknown, name: string, allowEmpty: boolean): string {
  if (typeof value !== "string") throw new TypeError(`${name} must be a string, not ${describe(value)}`);
  if (!allowEmpty && value === "") throw new TypeError(`${name} must not be empty`);
  if (hasNul(value)) throw new TypeError(`${name} must be a string without null bytes`);
  return value;
}

/** A signal's number, from its name ("SIGTERM") or number (0 to 64). */
export function signalNumberOf(value: unknown, name: string): number {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0 || value > MAX_SIGNAL) throw new RangeError(`${name} must be a signal number from 0 to ${MAX_SIGNAL}, not ${value}`);
    return value;
  }
  if (typeof value === "string") {
    const signals = osConstants.signals as Record<string, number | undefined>;
    const number = value.startsWith("SIG") ? signals[value] : undefined;
    if (number === undefined) throw new TypeError(`${name} must be a signal name such as "SIGTERM" or "SIGKILL", not ${describe(value)}`);
    return number;
  }
  throw new TypeError(`${name} must be a signal name or number, not ${describe(value)}`);
}

/** A signal as Bun.spawn's signalCode gives it: its name, or its number
 * when it has none (a real-time signal). */
export function signalCodeOf(signal: number): NodeJS.Signals | number {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === signal) return name as NodeJS.Signals;
  return signal;
}

/** What `exited` resolves to, as Bun.spawn's does: the exit code, or 128
 * plus the number of the signal that ended the program. */
export function exitedValue(exitCode: number | null, signal: number | null): number {
  return exitCode ?? 128 + (signal ?? 0);
}

function descriptor(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a file descriptor (a whole number, 0 or more), not ${value}`);
  return value;
}

function stdinPlan(value: unknown): StdinPlan {
  const name = "options.stdin";
  if (value === undefined || value === null || value === "ignore") return { kind: "ignore" };
  if (value === "inherit") return { kind: "inherit" };
  if (value === "pipe") return { kind: "pipe" };
  if (typeof value === "number") return { kind: "descriptor", fd: descriptor(value, name) };
  if (value instanceof Blob) {
    // Bun.file(path) is a Blob (not a File) whose name is its path: its
    // file is opened (Bun.spawn does the same); any other Blob, a File
    // included, gives its bytes.
    const path = (value as { name?: unknown }).name;
    const isBunFile = !(value instanceof File) && typeof (value as { exists?: unknown }).exists === "function" && typeof path === "string";
    return isBunFile ? { kind: "file", path: requireText(path, `${name}'s file name`, false) } : { kind: "bytes", source: value };
  }
  if (ArrayBuffer.isView(value) || value instanceof Response || value instanceof Request) {
    if ((value instanceof Response || value instanceof Request) && value.bodyUsed) throw new TypeError(`${name}: the body has been read already`);
    return { kind: "bytes", source: value };
  }
  throw new TypeError(`${name} must be "inherit", "pipe", "ignore", null, a file descriptor, a Blob, an ArrayBufferView, a Response or a Request, not ${describe(value)}`);
}

function outputPlan(value: unknown, name: string, fallback: OutputPlan): OutputPlan {
  if (value === undefined) return fallback;
  if (value === null || value === "ignore") return { kind: "ignore" };
  if (value === "inherit") return { kind: "inherit" };
  if (value === "pipe") return { kind: "pipe" };
  if (typeof value === "number") return { kind: "descriptor", fd: descriptor(value, name) };
  throw new TypeError(`${name} must be "inherit", "pipe", "ignore", null or a file descriptor, not ${describe(value)}`);
}

function oneOf<T extends string>(value: unknown, choices: readonly T[], name: string): T {
  if (typeof value === "string" && (choices as readonly string[]).includes(value)) return value as T;
  throw new TypeError(`${name} must be ${choices.map((c) => `"${c}"`).join(", ")}, not ${describe(value)}`);
}

function optionalFunction(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== "function") throw new TypeError(`${name} must be a function, not ${describe(value)}`);
}

function optionalBoolean(value: unknown, name: string): void {
  if (value !== undefined && typeof value !== "boolean") throw new TypeError(`${name} must be true or false, not ${describe(value)}`);
}

/** The pagers' options, checked as the command line checks its own. */
function checkPagerOptions(options: PagerOptions): PagerName {
  const pager = options.pager === undefined ? "apager" : oneOf(options.pager, PAGERS, "options.pager");
  if (options.paging !== undefined) {
    oneOf(options.paging, PAGING_CHOICES, "options.paging");
    if (pager === "apager") throw new TypeError("options.paging applies to dpager and hpager, not apager");
  }
  if (options.predictor !== undefined) oneOf(options.predictor, PREDICTORS, "options.predictor");
  if (options.pages !== undefined && (typeof options.pages !== "number" || !Number.isInteger(options.pages) || options.pages < 1 || options.pages > MAX_PREDICT_PAGES)) {
    throw new RangeError(`options.pages must be a whole number from 1 to ${MAX_PREDICT_PAGES}, not ${describe(options.pages)}`);
  }
  if (pager !== "hpager" && (options.predictor !== undefined || options.pages !== undefined)) {
    throw new TypeError(`options.predictor and options.pages apply to hpager, not ${pager}`);
  }
  for (const key of ["trace", "html", "report", "record", "prefetch"] as const) if (options[key] !== undefined) requireText(options[key], `options.${key}`, false);
  if (pager === "apager" && (options.record !== undefined || options.prefetch !== undefined)) {
    throw new TypeError("options.record and options.prefetch apply to dpager and hpager, not apager (it maps every page at start)");
  }
  optionalBoolean(options.friendly, "options.friendly");
  optionalBoolean(options.quiet, "options.quiet");
  if (options.log !== undefined && typeof options.log !== "boolean" && typeof options.log !== "function") {
    throw new TypeError(`options.log must be true, false or a function, not ${describe(options.log)}`);
  }
  return pager;
}

/** The environment as the program will have it: every value a string
 * (Bun.spawn turns numbers into text too), none with a NUL byte. */
function checkEnvironment(env: unknown): void {
  if (env === undefined) return;
  if (env === null || typeof env !== "object") throw new TypeError(`options.env must be an object, not ${describe(env)}`);
  for (const [key, value] of Object.entries(env)) {
    if (hasNul(key)) throw new TypeError(`options.env's names must not hold null bytes`);
    if (value !== undefined && hasNul(String(value))) throw new TypeError(`options.env["${key}"] must be a string without null bytes`);
  }
}

/** Bun.spawn's two calls, spawn(argv, options) and spawn({ cmd, ...options }),
 * as argv and options. */
export function spawnCall(first: unknown, second: unknown): { argv: unknown; options: unknown } {
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    if (second !== undefined) throw new TypeError("spawn({ cmd, ... }) takes no second argument: give the options in the same object");
    if (!("cmd" in first)) throw new TypeError("spawn() takes an argv array, or an options object with cmd, the argv array");
    const { cmd, ...options } = first as { cmd: unknown };
    return { argv: cmd, options };
  }
  return { argv: first, options: second };
}

function extraPlan(value: unknown, index: number): ExtraPlan {
  const name = `options.stdio[${index}]`;
  if (value === undefined || value === null || value === "ignore") return { kind: "none" };
  if (value === "pipe" || value === "socket-fd") return { kind: "pipe" };
  if (value === "inherit") return { kind: "descriptor", fd: index };
  if (typeof value === "number") return { kind: "descriptor", fd: descriptor(value, name) };
  throw new TypeError(`${name} must be "pipe", "socket-fd", "inherit", "ignore", null or a file descriptor, not ${describe(value)}`);
}

/** Check argv and every option; throws a TypeError or RangeError naming
 * the first one that is wrong. */
export function checkSpawnOptions(argv: unknown, options: SpawnOptions | undefined): SpawnPlan {
  if (!Array.isArray(argv)) throw new TypeError(`argv must be an array of strings, not ${describe(argv)}`);
  if (argv.length === 0) throw new TypeError("argv must not be empty: its first word is the program");
  argv.forEach((word, i) => requireText(word, `argv[${i}]`, true));
  const given: SpawnOptions = options ?? {};
  if (given === null || typeof given !== "object") throw new TypeError(`options must be an object, not ${describe(given)}`);
  const pager = checkPagerOptions(given);
  if (given.cwd !== undefined) requireText(given.cwd, "options.cwd", false);
  checkEnvironment(given.env);
  if (given.signal !== undefined && !(given.signal instanceof AbortSignal)) throw new TypeError(`options.signal must be an AbortSignal, not ${describe(given.signal)}`);
  let timeout: number | null = null;
  if (given.timeout !== undefined) {
    if (typeof given.timeout !== "number" || Number.isNaN(given.timeout) || given.timeout < 0 || given.timeout > MAX_TIMEOUT_MS) {
      throw new RangeError(`options.timeout must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, not ${describe(given.timeout)}`);
    }
    timeout = given.timeout;
  }
  const killSignal = given.killSignal === undefined ? osConstants.signals.SIGTERM : signalNumberOf(given.killSignal, "options.killSignal");
  optionalFunction(given.onMapping, "options.onMapping");
  optionalFunction(given.onFault, "options.onFault");
  optionalFunction(given.onExit, "options.onExit");
  const stdio: readonly unknown[] | undefined = given.stdio;
  if (stdio !== undefined && !Array.isArray(stdio)) throw new TypeError(`options.stdio must be an array, not ${describe(stdio)}`);
  // stdio's first three override stdin, stdout and stderr, as Bun.spawn's do.
  const standard = (index: number, option: unknown) => (stdio && index < stdio.length ? stdio[index] : option);
  return {
    argv: [...(argv as string[])],
    pager,
    stdin: stdinPlan(standard(0, given.stdin)),
    stdout: outputPlan(standard(1, given.stdout), "options.stdout", { kind: "pipe" }),
    stderr: outputPlan(standard(2, given.stderr), "options.stderr", { kind: "inherit" }),
    extra: (stdio ?? []).slice(3).map((value, i) => extraPlan(value, i + 3)),
    killSignal,
    timeout,
  };
}

/** `subprocess.stdin`: a FileSink when standard input is "pipe". */
export type StdinHandle<In extends StdinOption> = In extends "pipe" ? FileSink : undefined;
/** `subprocess.stdout` and `.stderr`: a ReadableStream of the program's
 * bytes when the stream is "pipe". */
export type OutputHandle<Out extends OutputOption> = Out extends "pipe" ? ReadableStream<Uint8Array> : undefined;

/** A program running under a pager, with Bun.spawn's names. */
export interface Subprocess<In extends StdinOption = StdinOption, Out extends OutputOption = OutputOption, Err extends OutputOption = OutputOption> extends AsyncDisposable {
  /** The program's process ID. */
  readonly pid: number;
  /** Its standard input, when "pipe": write, then end() to give it the end
   * of the file. */
  readonly stdin: StdinHandle<In>;
  /** Its standard output, when "pipe": read as it comes, or once it has
   * ended (it is read into memory meanwhile, as Bun.spawn does). */
  readonly stdout: OutputHandle<Out>;
  /** Its standard error, when "pipe". */
  readonly stderr: OutputHandle<Err>;
  /** Resolves once the program has ended, and every live event has been
   * delivered, to its exit code, or 128 plus the number of the signal that
   * ended it (as Bun.spawn's). Rejects with a LoadError when the pager's
   * loader failed after the program was found good (rare: see LoadError). */
  readonly exited: Promise<number>;
  /** The exit code once it has exited; null while it runs, or when a
   * signal ended it. */
  readonly exitCode: number | null;
  /** The signal that ended it (its name, or its number when it has none);
   * null while it runs, or when it exited. */
  readonly signalCode: NodeJS.Signals | number | null;
  /** Whether it has ended (Bun.spawn's meaning of the name). */
  readonly killed: boolean;
  /** Send it a signal (default "SIGTERM"); nothing once it has ended. */
  kill(signal?: NodeJS.Signals | number): void;
  /** The run's report, once the program has ended and the files the run
   * writes (report, trace, html) are written; a file that could not be
   * written is a warning line, not a rejection. */
  readonly report: Promise<RunReport>;
  /** Live events not delivered: the callbacks fell behind (the pager never
   * waits for them) or the fault log did. Final once `exited` resolves. */
  readonly eventsDropped: number;
  /** The program's descriptors as `options.stdio` gave them: null for the
   * standard three, then for each further one the descriptor here (the
   * same number for a descriptor given; this process's end of a "pipe" or
   * "socket-fd"), or null for none. Reading it makes the pipes' ends the
   * caller's to close; unread, they are closed when the program ends. */
  readonly stdio: [null, null, null, ...(number | null)[]];
  /** The program's resource usage once it has ended (undefined before), as
   * Bun.spawn's: CPU time in microseconds, maxRSS in bytes. maxRSS is the
   * program's own peak; Bun.spawn's counts the memory of the Bun process
   * its child was forked from. */
  resourceUsage(): ResourceUsage | undefined;
  /** Let this process exit while the program runs (Bun.spawn's unref()):
   * its pipes and timeout stop holding the event loop open, and the
   * program runs on, on its own. Live event callbacks still hold it until
   * the program ends. */
  unref(): void;
  /** Wait for the program again before exiting (undoes unref()). */
  ref(): void;
}
