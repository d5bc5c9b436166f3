/**
 * spawn(): a program under a pager, as a subprocess shaped like
 * Bun.spawn's. The effects around a launch (src/loader/launch.ts): the program's
 * standard streams (socket pairs for "pipe", as Bun makes them; /dev/null;
 * a memfd of the bytes given as input), the files the run writes
 * (src/view/record.ts), the kill signal sent by kill(), a timeout or an
 * AbortSignal, and the live events read from the pager's event pipe.
 * Which options are right is decided by src/run/spawn-options.ts, what an
 * event line means by src/run/events.ts.
 *
 *   const proc = spawn(["/bin/ls", "-l"], { pager: "dpager", quiet: true });
 *   const listing = await new Response(proc.stdout).text();
 *   await proc.exited;                   // the exit code, or 128 + the signal's number
 *   const { faults } = await proc.report;
 */
import { closeSync, constants as fsConstants, fstatSync, openSync } from "node:fs";
import type { FileSink, ResourceUsage } from "bun";
import { plainHandover, type HandedDescriptor, type Handover } from "../loader/caller.ts";
import { MappingIndex, eventsOfLine, startMappingEvents, type FaultEvent, type MappingEvent } from "./events.ts";
import { startLaunch, type LaunchOutcome, type Mapping, type StartedLaunch } from "../loader/launch.ts";
import { PagedRun } from "./paged-run.ts";
import type { RunReport } from "./report.ts";
import { currentSignalMask, eventPipe, SocketReader, stdinMemfd, streamPair, type ChildExit } from "../shim/shim.ts";
import { checkSpawnOptions, exitedValue, signalCodeOf, signalNumberOf, spawnCall, type ExtraPlan, type OutputOption, type OutputPlan, type SpawnOptions, type SpawnPlan, type StdinOption, type StdinPlan, type Subprocess } from "./spawn-options.ts";

export type { Subprocess, StdinHandle, OutputHandle } from "./spawn-options.ts";

/** One line on the stream this process writes warnings to. */
function stderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** An error to surface where nobody awaits it: a callback that threw, as
 * an event listener's exception is (uncaught, on its own). */
function throwLater(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

/** Hand each line read from the socket `fd` to `take`, until its end;
 * the socket is closed then. Never rejects: a callback that throws is
 * surfaced on its own. */
function readLines(fd: number, take: (line: string) => void, holds: Holds): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  const give = (line: string) => {
    try {
      take(line);
    } catch (error) {
      throwLater(error);
    }
  };
  return new Promise<void>((resolve) => {
    const socket = new SocketReader(
      fd,
      (bytes) => {
        const lines = (partial + decoder.decode(bytes, { stream: true })).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) give(line);
      },
      (error) => {
        if (partial !== "") give(partial);
        if (error) throwLater(error);
        resolve();
      },
    );
    holds.add((on) => socket.hold(on));
  });
}

/** Linux's O_CLOEXEC (not among Node's typed constants). */
const O_CLOEXEC = 0o2000000;

/** A file descriptor given as a standard stream must be open. */
function requireOpen(fd: number, option: string): void {
  try {
    fstatSync(fd);
  } catch {
    throw new TypeError(`${option}: ${fd} is not an open file descriptor`);
  }
}

/** A file for the program, opened here: close-on-exec, so only the
 * program's copy (at its number) outlives the spawn. */
function openForProgram(path: string, flags: number, option: string): number {
  try {
    return openSync(path, flags | O_CLOEXEC);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "error";
    throw Object.assign(new Error(`${option}: cannot open ${path} (${code})`), { code });
  }
}

/** The bytes a Blob, buffer, Response or Request holds: now when they are
 * in memory already (the program then reads a memfd of them, as Bun.spawn
 * gives it), or later (a body still streaming in: then through a pipe). */
function bytesOf(source: Blob | ArrayBufferView | Response | Request): Uint8Array | Promise<Uint8Array> {
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  if (!(source instanceof Blob) && source.body === null) return new Uint8Array(0);
  return Bun.peek(source.bytes());
}

/** Whether this process waits for a subprocess: each of its sockets and
 * timers held or not, as ref() and unref() say, whenever they come to
 * exist. */
class Holds {
  private held = true;
  private readonly holders: ((on: boolean) => void)[] = [];

  add(hold: (on: boolean) => void): void {
    this.holders.push(hold);
    if (!this.held) hold(false);
  }

  set(on: boolean): void {
    if (on === this.held) return;
    this.held = on;
    for (const hold of this.holders) hold(on);
  }
}

/** A stream of what the program writes on a socket: read as it comes,
 * into memory until taken (as Bun.spawn reads a piped stream), through
 * Bun's event loop. The socket is closed at its end, or when the stream is
 * cancelled. */
function outputStream(fd: number, holds: Holds): ReadableStream<Uint8Array> {
  let socket: SocketReader | null = null;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true;
      socket = new SocketReader(
        fd,
        (bytes) => {
          if (open) controller.enqueue(bytes);
        },
        (error) => {
          if (!open) return;
          open = false;
          if (error) controller.error(error);
          else controller.close();
        },
      );
      const reader = socket;
      holds.add((on) => reader.hold(on));
    },
    cancel() {
      socket?.close();
    },
  });
}

/** A FileSink on a socket to the program's standard input that closes the
 * socket once ended (Bun's FileSink on a descriptor leaves it open, and the
 * program would never see the end of its input). */
function stdinSink(fd: number): FileSink {
  const sink = Bun.file(fd).writer();
  const end = sink.end.bind(sink);
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  const endThenClose = (error?: Error): number | Promise<number> => {
    if (!open) return 0;
    let ended: number | Promise<number>;
    try {
      ended = end(error);
    } catch (failure) {
      close();
      throw failure;
    }
    if (ended instanceof Promise) return ended.finally(close);
    close();
    return ended;
  };
  // The prototype's end() is read-only; the sink's own one comes first.
  Object.defineProperty(sink, "end", { value: endThenClose, writable: false, enumerable: false, configurable: true });
  return sink;
}

/** Write bytes that come later into the program's standard input, then
 * end it. A program that stops reading (it ended) ends the writing. */
async function pumpLater(fd: number, bytes: Promise<Uint8Array>): Promise<void> {
  const sink = stdinSink(fd);
  try {
    sink.write(await bytes);
    await sink.end();
  } catch {
    try {
      await sink.end();
    } catch {
      // Nobody reads any more: nothing to deliver to.
    }
  }
}

/** Which of the program's streams a socket of ours serves. */
type Role = "stdin" | "stdout" | "stderr" | "later";

/** The program's standard streams, made before its loader is spawned. */
class StandardStreams {
  /** Where the program gets 0, 1 and 2 from, here. */
  readonly descriptors: HandedDescriptor[] = [];
  /** Descriptors opened here only for the program: closed once it has its
   * copies. */
  private readonly forProgram: number[] = [];
  /** This process's ends of the socket pairs, until they become streams. */
  private readonly ours = new Map<Role, number>();
  /** Bytes still to come for standard input (a body still streaming in). */
  private laterBytes: Promise<Uint8Array> | null = null;
  stdin: FileSink | undefined;
  stdout: ReadableStream<Uint8Array> | undefined;
  stderr: ReadableStream<Uint8Array> | undefined;
  /** All three inherited: the hand-over a prestarted loader can serve. */
  readonly plain: boolean;

  /** `subprocess.stdio`'s entries from 3 up. */
  readonly extra: (number | null)[] = [];
  /** Of those, this process's ends of socket pairs. */
  readonly extraPipes: number[] = [];

  constructor(stdin: StdinPlan, stdout: OutputPlan, stderr: OutputPlan, extra: readonly ExtraPlan[]) {
    try {
      this.descriptors.push({ target: 0, source: this.input(stdin) });
      this.descriptors.push({ target: 1, source: this.output(stdout, 1, "stdout") });
      this.descriptors.push({ target: 2, source: this.output(stderr, 2, "stderr") });
      extra.forEach((plan, i) => this.further(plan, i + 3));
    } catch (error) {
      this.abandon();
      throw error;
    }
    this.plain = stdin.kind === "inherit" && stdout.kind === "inherit" && stderr.kind === "inherit" && this.extra.every((fd) => fd === null);
  }

  /** A descriptor beyond the standard three, at `target`. */
  private further(plan: ExtraPlan, target: number): void {
    if (plan.kind === "none") {
      this.extra.push(null);
      return;
    }
    if (plan.kind === "descriptor") {
      requireOpen(plan.fd, `options.stdio[${target}]`);
      this.descriptors.push({ target, source: plan.fd });
      this.extra.push(plan.fd);
      return;
    }
    const [ours, theirs] = streamPair();
    this.extraPipes.push(ours);
    this.extra.push(ours);
    this.descriptors.push({ target, source: this.opened(theirs) });
  }

  /** A socket pair: ours kept for `role`, theirs returned for the program. */
  private pair(role: Role): number {
    const [ours, theirs] = streamPair();
    this.ours.set(role, ours);
    return this.opened(theirs);
  }

  private opened(fd: number): number {
    this.forProgram.push(fd);
    return fd;
  }

  private input(plan: StdinPlan): number {
    switch (plan.kind) {
      case "inherit":
        return 0;
      case "descriptor":
        requireOpen(plan.fd, "options.stdin");
        return plan.fd;
      case "ignore":
        return this.opened(openForProgram("/dev/null", fsConstants.O_RDONLY, "options.stdin"));
      case "file":
        return this.opened(openForProgram(plan.path, fsConstants.O_RDONLY, "options.stdin"));
      case "pipe":
        return this.pair("stdin");
      case "bytes": {
        const bytes = bytesOf(plan.source);
        if (!(bytes instanceof Promise)) return this.opened(stdinMemfd(bytes));
        this.laterBytes = bytes;
        return this.pair("later");
      }
    }
  }

  private output(plan: OutputPlan, inherited: number, role: "stdout" | "stderr"): number {
    const option = `options.${role}`;
    switch (plan.kind) {
      case "inherit":
        return inherited;
      case "descriptor":
        requireOpen(plan.fd, option);
        return plan.fd;
      case "ignore":
        return this.opened(openForProgram("/dev/null", fsConstants.O_WRONLY, option));
      case "pipe":
        return this.pair(role);
    }
  }

  /** The program has its copies: the descriptors made for it are closed
   * here, and this process's ends become the streams. */
  started(holds: Holds): void {
    this.closeForProgram();
    for (const [role, fd] of this.ours) {
      if (role === "stdin") {
        const sink = stdinSink(fd);
        holds.add((on) => (on ? sink.ref() : sink.unref()));
        this.stdin = sink;
      } else if (role === "stdout") this.stdout = outputStream(fd, holds);
      else if (role === "stderr") this.stderr = outputStream(fd, holds);
      else if (this.laterBytes) void pumpLater(fd, this.laterBytes);
    }
    this.ours.clear();
  }

  private closeForProgram(): void {
    for (const fd of this.forProgram.splice(0)) closeSync(fd);
  }

  /** spawn() failed: close everything made for it. */
  abandon(): void {
    this.closeForProgram();
    for (const fd of this.ours.values()) closeSync(fd);
    this.ours.clear();
    for (const fd of this.extraPipes.splice(0)) closeSync(fd);
  }
}

/** Live events from the pager's event pipe, made into typed events and
 * handed to the callbacks as they come. */
class LiveEvents {
  private index: MappingIndex | null = null;
  private readonly waiting: string[] = [];
  /** Settles once the pipe has ended and every event is delivered. */
  readonly done: Promise<void>;

  constructor(
    fd: number,
    private readonly onMapping: ((event: MappingEvent) => void) | undefined,
    private readonly onFault: ((event: FaultEvent) => void) | undefined,
  ) {
    this.done = this.read(fd);
  }

  /** The program is placed: its mappings at start are events, and the
   * index that places the pages mapped later. */
  placed(mappings: readonly Mapping[], elapsedMs: number): void {
    this.index = new MappingIndex(mappings);
    if (this.onMapping) for (const event of startMappingEvents(mappings, elapsedMs)) this.call(this.onMapping, event);
    for (const line of this.waiting.splice(0)) this.deliver(line);
  }

  private call<T>(callback: (event: T) => void, event: T): void {
    try {
      callback(event);
    } catch (error) {
      throwLater(error);
    }
  }

  private deliver(line: string): void {
    if (this.index === null) {
      this.waiting.push(line);
      return;
    }
    let events;
    try {
      events = eventsOfLine(line, this.index);
    } catch (error) {
      // The shim wrote a line that is not a trace line: a bug of
      // faultline's, said out loud; the run and the other events go on.
      throwLater(error);
      return;
    }
    if (events.fault && this.onFault) this.call(this.onFault, events.fault);
    if (this.onMapping) for (const mapping of events.mappings) this.call(this.onMapping, mapping);
  }

  /** Read the pipe to its end (the waiter closes its writing end once no
   * event can come); never rejects. */
  private async read(fd: number): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    try {
      for await (const chunk of Bun.file(fd).stream()) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) if (line !== "") this.deliver(line);
      }
    } catch (error) {
      throwLater(error);
    } finally {
      closeSync(fd);
    }
  }
}

/** Bun.spawn's AbortError, for a signal aborted before the program was
 * started. */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error("The operation was aborted", { cause: signal.reason }), { name: "AbortError", code: "ABORT_ERR" });
}

/** Bun.spawn's ResourceUsage, from the program's rusage. */
function resourceUsageOf(exit: ChildExit): ResourceUsage {
  const user = BigInt(exit.userMicros);
  const system = BigInt(exit.systemMicros);
  const { counts } = exit;
  return {
    contextSwitches: { voluntary: counts.voluntarySwitches, involuntary: counts.involuntarySwitches },
    cpuTime: { user, system, total: user + system },
    maxRSS: exit.maxRssKiB * 1024,
    messages: { sent: counts.messagesSent, received: counts.messagesReceived },
    ops: { in: counts.inBlocks, out: counts.outBlocks },
    shmSize: counts.sharedKiB,
    signalCount: counts.signals,
    swapCount: counts.swaps,
  };
}

class PagedSubprocess implements Subprocess {
  readonly pid: number;
  readonly stdin: FileSink | undefined;
  readonly stdout: ReadableStream<Uint8Array> | undefined;
  readonly stderr: ReadableStream<Uint8Array> | undefined;
  readonly exited: Promise<number>;
  readonly report: Promise<RunReport>;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | number | null = null;
  eventsDropped = 0;
  private ended = false;
  private usage: ResourceUsage | undefined;
  private readonly extra: (number | null)[];
  /** The socket pairs' ends of `stdio`, until the caller takes them (by
   * reading `stdio`) or the program ends. */
  private extraPipes: number[];

  constructor(
    private readonly launch: StartedLaunch,
    streams: StandardStreams,
    ended: Promise<LaunchOutcome>,
    finish: (outcome: LaunchOutcome) => Promise<RunReport>,
    private readonly holds: Holds,
  ) {
    this.pid = launch.pid;
    this.stdin = streams.stdin;
    this.stdout = streams.stdout;
    this.stderr = streams.stderr;
    this.extra = streams.extra;
    this.extraPipes = streams.extraPipes;
    const settled = ended.then(
      (outcome) => {
        this.ended = true;
        this.exitCode = outcome.exitCode;
        this.signalCode = outcome.signalNumber === null ? null : signalCodeOf(outcome.signalNumber);
        this.eventsDropped = outcome.delivery.eventsUndelivered + outcome.delivery.eventsNotLogged;
        this.usage = resourceUsageOf(outcome.usage);
        this.closeUntakenPipes();
        return outcome;
      },
      (error: unknown) => {
        this.ended = true;
        this.closeUntakenPipes();
        throw error;
      },
    );
    this.exited = settled.then((outcome) => exitedValue(outcome.exitCode, outcome.signalNumber));
    this.report = settled.then(finish);
    // Either may go unawaited: a failure is the other's to report.
    this.exited.catch(() => {});
    this.report.catch(() => {});
  }

  get killed(): boolean {
    return this.ended;
  }

  get stdio(): [null, null, null, ...(number | null)[]] {
    this.extraPipes = [];
    return [null, null, null, ...this.extra];
  }

  private closeUntakenPipes(): void {
    for (const fd of this.extraPipes.splice(0)) closeSync(fd);
  }

  resourceUsage(): ResourceUsage | undefined {
    return this.usage;
  }

  ref(): void {
    this.holds.set(true);
  }

  unref(): void {
    this.holds.set(false);
  }

  kill(signal: NodeJS.Signals | number = "SIGTERM"): void {
    const number = signalNumberOf(signal, "signal");
    if (this.ended) return;
    this.launch.signal(number);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.ended) this.kill();
    await this.exited.catch(() => {});
  }
}

/**
 * Run argv[0] with arguments argv.slice(1) under a pager, as Bun.spawn
 * runs a program: returns at once with the running program (its pid, its
 * piped streams, `exited`, `kill()`) and, once it has ended, its `report`.
 *
 * Throws before anything runs: a LoadError (exitCode 127 or 126) when the
 * program cannot be run, an OutputError when a file the run writes cannot
 * be written, a TypeError or RangeError naming an option that is wrong, an
 * AbortError when `signal` is aborted already.
 */
export function spawn<const In extends StdinOption = "ignore", const Out extends OutputOption = "pipe", const Err extends OutputOption = "inherit">(
  options: SpawnOptions<In, Out, Err> & { cmd: readonly string[] },
): Subprocess<In, Out, Err>;
export function spawn<const In extends StdinOption = "ignore", const Out extends OutputOption = "pipe", const Err extends OutputOption = "inherit">(
  argv: readonly string[],
  options?: SpawnOptions<In, Out, Err>,
): Subprocess<In, Out, Err>;
export function spawn(first: unknown, second?: unknown): Subprocess {
  const call = spawnCall(first, second);
  const plan = checkSpawnOptions(call.argv, call.options as SpawnOptions | undefined);
  const given = (call.options ?? {}) as SpawnOptions;
  if (given.signal?.aborted) throw abortError(given.signal);
  const { logTo, warn } = linesOf(given);
  const run = PagedRun.begin({
    pager: plan.pager,
    speaker: "faultline",
    optionPrefix: "",
    warn,
    filesFrom: null,
    trace: given.trace ?? null,
    html: given.html ?? null,
    report: given.report ?? null,
    record: given.record ?? null,
    prefetch: given.prefetch ?? null,
    friendly: given.friendly ? { colour: false } : null,
    predictor: given.predictor ?? null,
    pages: given.pages ?? null,
    paging: given.paging ?? null,
    cwd: given.cwd ?? null,
    env: given.env ?? null,
  });
  const { started, streams, events, faultLog } = startProgram(plan, given, run, logTo);
  const holds = new Holds();
  holds.add((on) => started.hold(on));
  streams.started(holds);
  const faultLogRead = faultLog && logTo ? readLines(faultLog[0], logTo, holds) : null;
  const stopKilling = killWhenDue(plan, given.signal, holds, () => subprocess.kill(plan.killSignal));
  const ended = (async () => {
    try {
      const outcome = await started.finished.finally(() => {
        // The waiter is done: no line can come any more.
        if (faultLog) closeSync(faultLog[1]);
      });
      await events?.done;
      await faultLogRead;
      return outcome;
    } finally {
      stopKilling();
      run.programEnded();
    }
  })();
  ended.catch(() => run.abandon());
  const subprocess = new PagedSubprocess(started, streams, ended, (outcome) => run.finish(outcome), holds);
  if (given.onExit) callOnExit(given.onExit, subprocess, ended);
  return subprocess;
}

/** Where spawn()'s lines go: the mapping lines (quiet unless asked: to
 * stderr with log: true or quiet: false, or to the caller's function,
 * demand-paged ones included), and the run's warnings (the caller's
 * function, or stderr). */
function linesOf(given: SpawnOptions): { logTo: ((line: string) => void) | null; warn: (line: string) => void } {
  const logTo = given.quiet === true ? null : typeof given.log === "function" ? given.log : given.log === true || given.quiet === false ? stderrLine : null;
  const warn = typeof given.log === "function" ? given.log : stderrLine;
  return { logTo, warn };
}

/** A started program and what this process reads of it besides its
 * streams: the live events, and the socket pair its demand-paged mapping
 * lines come on for a log function ([this process's reading end, the
 * shim's writing end]). */
interface StartedProgram {
  started: StartedLaunch;
  streams: StandardStreams;
  events: LiveEvents | null;
  faultLog: [number, number] | null;
}

/** Make the program's streams and the pipes its events and lines come on,
 * then start its launch. On a failure everything made for it is closed,
 * the run abandoned, and the error thrown on. */
function startProgram(plan: SpawnPlan, given: SpawnOptions, run: PagedRun, logTo: ((line: string) => void) | null): StartedProgram {
  let streams: StandardStreams | null = null;
  let events: LiveEvents | null = null;
  let faultLog: [number, number] | null = null;
  /** The event pipe's writing end, until startLaunch takes it over. */
  let eventWriter = -1;
  try {
    streams = new StandardStreams(plan.stdin, plan.stdout, plan.stderr, plan.extra);
    if (logTo !== null && logTo !== stderrLine) faultLog = streamPair();
    if (given.onMapping || given.onFault) {
      const [reader, writer] = eventPipe();
      eventWriter = writer;
      events = new LiveEvents(reader, given.onMapping, given.onFault);
    }
    const live = events;
    const handover: Handover | undefined = streams.plain ? undefined : { ...plainHandover(currentSignalMask()), descriptors: streams.descriptors };
    const options = run.prepareLaunch({
      log: logTo !== null,
      ...(faultLog ? { faultLogFd: faultLog[1] } : {}),
      eventFd: eventWriter,
      ...(handover ? { handover } : {}),
      ...(live ? { onPlaced: (mappings: readonly Mapping[], elapsedMs: number) => live.placed(mappings, elapsedMs) } : {}),
    });
    eventWriter = -1;
    return { started: startLaunch(plan.argv, options), streams, events, faultLog };
  } catch (error) {
    run.abandon();
    streams?.abandon();
    if (faultLog) for (const fd of faultLog) closeSync(fd);
    // startLaunch closes the event pipe's writing end when it fails; before
    // it is called, it is closed here: the reader then sees its end.
    if (eventWriter >= 0) closeSync(eventWriter);
    throw error;
  }
}

/** Kill the program with the kill signal when its timeout is up or
 * `signal` is aborted; returns what stops both once it has ended. */
function killWhenDue(plan: SpawnPlan, signal: AbortSignal | undefined, holds: Holds, kill: () => void): () => void {
  const cleanups: (() => void)[] = [];
  if (plan.timeout !== null) {
    const timer = setTimeout(kill, plan.timeout);
    holds.add((on) => (on ? timer.ref() : timer.unref()));
    cleanups.push(() => clearTimeout(timer));
  }
  if (signal) {
    signal.addEventListener("abort", kill, { once: true });
    cleanups.push(() => signal.removeEventListener("abort", kill));
  }
  return () => {
    for (const cleanup of cleanups) cleanup();
  };
}

/** options.onExit, once the program has ended (or its loader failed); what
 * it throws is surfaced on its own. */
function callOnExit(onExit: NonNullable<SpawnOptions["onExit"]>, subprocess: PagedSubprocess, ended: Promise<LaunchOutcome>): void {
  const call = (exitCode: number | null, signalCode: NodeJS.Signals | number | null, error?: Error) => {
    try {
      const result = onExit(subprocess as Subprocess, exitCode, signalCode, error);
      if (result instanceof Promise) result.catch(throwLater);
    } catch (failure) {
      throwLater(failure);
    }
  };
  ended.then(
    () => call(subprocess.exitCode, subprocess.signalCode),
    (error: unknown) => call(null, null, error instanceof Error ? error : new Error(String(error))),
  );
}
