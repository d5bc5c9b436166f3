/**
 * What the pager's caller handed it, so the program gets it as execve would
 * have handed it over: the descriptors, the ignored signals, the signal
 * mask, the open-files limit and the interval timers.
 *
 * Bun changes some of that before any of faultline's code runs, and the
 * kernel keeps no copy of what it was:
 *   - it marks every inherited descriptor above 2 close-on-exec (a
 *     descriptor that came through execve was by definition not), and opens
 *     its own event loop's (an epoll and an eventfd);
 *   - it ignores SIGPIPE and SIGXFSZ, whatever the caller did;
 *   - it raises the soft RLIMIT_NOFILE to the hard limit;
 *   - `bun run` goes further: the script it starts gets only descriptors 0-2
 *     and every signal at its default; only the mask comes through.
 * So the hand-over is read from the process the caller really started (this
 * one, or the `bun run` that started it), Bun's own changes taken out, and
 * where Bun overwrote the caller's choice (SIGPIPE, SIGXFSZ, the open-files
 * limit) from the process that invoked it: a shell hands its children its
 * own ignored signals and limits.
 *
 * Reading /proc is the only effect here besides taking descriptors and
 * timers through the shim; the decisions are pure functions of those facts.
 */
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { codeOf } from "./program-file.ts";
import { constants as osConstants } from "node:os";

export const SIGPIPE = osConstants.signals.SIGPIPE;
export const SIGXFSZ = osConstants.signals.SIGXFSZ;
/** Signals Bun ignores for itself at start-up. */
const BUN_IGNORED_SIGNALS: readonly number[] = [SIGPIPE, SIGXFSZ];
/** The highest signal number the kernel has (_NSIG). */
const SIGNAL_COUNT = 64;
/** The real-time signals glibc keeps for itself (SIGCANCEL, SIGSETXID). */
const GLIBC_CANCEL = 32;
const GLIBC_SETXID = 33;
/** The pager's notice that `bun run` died (shim/loader/relay.c). */
const PARENT_GONE_SIGNAL = 64;

/** Shells, which hand their children their own ignored signals and limits
 * (`trap '' PIPE`, `ulimit -n`). Other programs often differ: Python, Node
 * and Bun ignore SIGPIPE themselves and give their children the default. */
const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "busybox", "yash", "posh", "fish"]);

/** Descriptors of Bun's own making: its event loop's epoll and eventfd, and
 * the pidfd `bun run` watches its script with. A caller hands over files,
 * pipes, sockets and terminals, practically never one of these. */
const BUN_OWN_DESCRIPTORS = /^anon_inode:\[(eventpoll|eventfd|pidfd|signalfd|timerfd)\]$/;

/** One descriptor the program receives: a copy of `source` (a descriptor of
 * this process) at number `target`. */
export interface HandedDescriptor {
  target: number;
  source: number;
}

/** setitimer(2)'s three timers, in microseconds (0: disarmed). */
interface IntervalTimer {
  intervalMicros: number;
  valueMicros: number;
}
export type IntervalTimers = readonly [real: IntervalTimer, virtual: IntervalTimer, profiling: IntervalTimer];

export interface Handover {
  descriptors: HandedDescriptor[];
  /** Signals the program starts with ignored; every other one at its default. */
  ignored: readonly number[];
  /** The signal mask (bit sig - 1). */
  mask: bigint;
  /** The soft RLIMIT_NOFILE to give the program; null leaves this process's. */
  openFilesLimit: number | null;
  /** The caller's interval timers, taken from this process; null when none
   * was armed. */
  timers: IntervalTimers | null;
  /** What could not be handed over, in words (a descriptor that could not be
   * taken from `bun run`, say). */
  notes: string[];
  /** The pager was started by `bun run`, which passes on the signals it
   * gets (a terminal's keys included). */
  underBunRun: boolean;
  /** Under `bun run`: the working directory and environment its caller gave
   * it, for the program. The script `bun run` starts runs in the package's
   * directory with npm_* variables and node_modules/.bin on PATH; the
   * program gets what the caller handed over instead. Null when not under
   * `bun run` (this process's are the caller's) or when they cannot be read
   * (a note says so). */
  caller: CallerContext | null;
}

/** A working directory and an environment. */
interface CallerContext {
  cwd: string;
  env: Record<string, string>;
}

/** An environment block as /proc/PID/environ holds it: NUL-separated
 * NAME=value strings. A string without '=' names nothing and is left out,
 * and the first of two with the same name counts, as getenv finds it. */
export function parseEnviron(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of text.split("\0")) {
    const equals = entry.indexOf("=");
    if (equals <= 0) continue;
    const name = entry.slice(0, equals);
    if (!Object.hasOwn(env, name)) env[name] = entry.slice(equals + 1);
  }
  return env;
}

/** A command line as /proc/PID/cmdline holds it: a NUL after each
 * argument, empty ones included. Pure. */
export function parseCmdline(text: string): string[] {
  const words = text.split("\0");
  words.pop();
  return words;
}

/** The working directory and environment of process pid, as it was
 * started (its environ is the block execve gave it), or the reason they
 * cannot be read. */
export function contextOf(pid: number): CallerContext | string {
  let cwd: string;
  try {
    cwd = readlinkSync(`/proc/${pid}/cwd`);
  } catch (error) {
    return `its working directory (${errorCode(error)})`;
  }
  // A working directory removed since: " (deleted)", and no path to it.
  if (!cwd.startsWith("/") || cwd.endsWith(" (deleted)")) return "its working directory (removed)";
  const environ = readText(`/proc/${pid}/environ`);
  if (environ === null) return "its environment (unreadable)";
  return { cwd, env: parseEnviron(environ) };
}

/**
 * The environment for the program from the one the caller gave `bun run`.
 * A shell exports `_` as the path it ran each command by: when the caller's
 * `_` names Bun's own executable (`namesBun`, after following links), it
 * was the shell's for `bun run`, and the program gets the one the shell
 * would have given it run directly (`programPath`, found as execvp finds
 * it, only then; null leaves `_` as it is).
 */
export function programEnvironment<Env extends Readonly<Record<string, string | undefined>>>(callerEnv: Env, namesBun: (path: string) => boolean, programPath: () => string | null): Env {
  const shellPath = callerEnv._;
  if (shellPath === undefined || !namesBun(shellPath)) return callerEnv;
  const path = programPath();
  return path === null ? callerEnv : { ...callerEnv, _: path };
}

function errorCode(error: unknown): string {
  return codeOf(error) || String(error);
}

/** What the program gets when nothing was handed over beyond standard
 * input, output and error: Bun.spawn's choice, used by the library. */
export function plainHandover(mask: bigint): Handover {
  return {
    descriptors: [0, 1, 2].map((fd) => ({ target: fd, source: fd })),
    ignored: [],
    mask,
    openFilesLimit: null,
    timers: null,
    notes: [],
    underBunRun: false,
    caller: null,
  };
}

/**
 * Signals a pager passes on to the program when somebody sends them to the
 * pager: every one a supervisor may send (timeout, tini, kill), but for
 * those that cannot be caught (SIGKILL, SIGSTOP), that are about the pager
 * itself (SIGCHLD; a fault or abort of Bun's own: SIGSEGV, SIGBUS, SIGILL,
 * SIGFPE, SIGTRAP, SIGSYS, SIGABRT), that stop it for job control (SIGTSTP,
 * SIGTTIN, SIGTTOU: the shell's business with the whole process group),
 * that Bun needs (SIGPWR for its collector, SIGPIPE and SIGXFSZ ignored),
 * glibc's own two (32, 33), and those the caller had ignored, which stay
 * ignored in both. Under `bun run` the last real-time signal is the
 * pager's notice that `bun run` died (shim/loader/relay.c), not relayed.
 */
export function relayedSignals(ignored: readonly number[], underBunRun: boolean): bigint {
  const s = osConstants.signals;
  const excluded = new Set<number>([
    s.SIGKILL, s.SIGSTOP, s.SIGCHLD, s.SIGSEGV, s.SIGBUS, s.SIGILL, s.SIGFPE, s.SIGTRAP, s.SIGSYS, s.SIGABRT,
    s.SIGTSTP, s.SIGTTIN, s.SIGTTOU, s.SIGPWR, SIGPIPE, SIGXFSZ, GLIBC_CANCEL, GLIBC_SETXID, ...ignored,
    ...(underBunRun ? [PARENT_GONE_SIGNAL] : []),
  ]);
  let set = 0n;
  for (let sig = 1; sig <= SIGNAL_COUNT; sig++) if (!excluded.has(sig)) set |= signalBit(sig);
  return set;
}

/** A signal set line of /proc/PID/status (SigIgn, SigBlk, SigPnd, ShdPnd). */
export function parseSignalSet(status: string, field: string): bigint {
  const match = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(status);
  return match ? BigInt(`0x${match[1]}`) : 0n;
}

export function signalBit(signal: number): bigint {
  return 1n << BigInt(signal - 1);
}

export function signalsOf(set: bigint): number[] {
  const signals: number[] = [];
  for (let sig = 1; sig <= SIGNAL_COUNT; sig++) if (set & signalBit(sig)) signals.push(sig);
  return signals;
}

/** "Max open files" of /proc/PID/limits: soft and hard (null: unlimited). */
export function parseOpenFilesLimit(limits: string): { soft: number | null; hard: number | null } | null {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!match) return null;
  const value = (text: string) => (text === "unlimited" ? null : Number(text));
  return { soft: value(match[1]!), hard: value(match[2]!) };
}

/** The flags of /proc/PID/fdinfo/FD (octal, as open(2) takes them). */
export function parseDescriptorFlags(fdinfo: string): number | null {
  const match = /^flags:\s*([0-7]+)$/m.exec(fdinfo);
  return match ? parseInt(match[1]!, 8) : null;
}

function isBunOwnDescriptor(link: string): boolean {
  return BUN_OWN_DESCRIPTORS.test(link);
}

export function isShell(comm: string): boolean {
  return SHELLS.has(comm.trim());
}

/** Whether argv (from /proc/PID/cmdline) is Bun's `bun run ...`: "run"
 * before the first word that is not an option. */
export function isBunRun(argv: readonly string[]): boolean {
  for (const word of argv.slice(1)) {
    if (word === "run") return true;
    if (!word.startsWith("-")) return false;
  }
  return false;
}

/** Facts about the process the caller started (the entry) and the one that
 * started it (the invoker), as read from /proc. */
interface EntryFacts {
  /** The entry's ignored signals (SigIgn), Bun's own included. */
  ignored: bigint;
  /** The signals it catches (SigCgt): Bun's crash handlers, and under
   * `bun run` every signal it passes on to its script, whatever the caller
   * had made of them. */
  caught: bigint;
  /** Its open-files limit, raised by Bun. */
  openFiles: { soft: number | null; hard: number | null } | null;
}
interface InvokerFacts {
  comm: string;
  ignored: bigint;
  openFiles: { soft: number | null; hard: number | null } | null;
}

/**
 * The ignored signals the caller handed over: the entry's, but for those
 * Bun overwrote (the two it ignores itself, and those it catches), which
 * count only where the invoker is a shell that ignores them (a shell hands
 * its children what it ignores; anything else, the default).
 */
export function decideIgnored(entry: EntryFacts, invoker: InvokerFacts | null): number[] {
  const overwritten = BUN_IGNORED_SIGNALS.reduce((set, sig) => set | signalBit(sig), entry.caught);
  let ignored = entry.ignored & ~overwritten;
  if (invoker && isShell(invoker.comm)) ignored |= invoker.ignored & overwritten;
  return signalsOf(ignored);
}

/**
 * The soft open-files limit the caller handed over: Bun raised its own to
 * the hard limit, so the invoker's (which it passes to every child) is the
 * best witness, capped at the hard limit in force. null keeps this
 * process's (nothing known, or Bun did not raise it).
 */
export function decideOpenFilesLimit(entry: EntryFacts, invoker: InvokerFacts | null): number | null {
  const hard = entry.openFiles?.hard ?? null;
  const soft = invoker?.openFiles?.soft ?? null;
  if (soft === null || entry.openFiles === null) return null;
  const capped = hard === null ? soft : Math.min(soft, hard);
  return capped === entry.openFiles.soft ? null : capped;
}

/** Descriptor numbers above 2 of a /proc/PID/fd listing that the caller
 * handed over: every one but Bun's own. */
export function handedDescriptorNumbers(links: ReadonlyMap<number, string>): number[] {
  return [...links]
    .filter(([fd, link]) => fd > 2 && !isBunOwnDescriptor(link))
    .map(([fd]) => fd)
    .sort((a, b) => a - b);
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** fd number -> readlink of /proc/PID/fd/N, for the descriptors open now. */
function readDescriptorLinks(pid: number | "self"): Map<number, string> {
  const links = new Map<number, string>();
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return links;
  }
  for (const name of names) {
    const fd = Number(name);
    try {
      links.set(fd, readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed meanwhile (the listing's own descriptor, say)
    }
  }
  return links;
}

function invokerFacts(pid: number): InvokerFacts | null {
  const status = readText(`/proc/${pid}/status`);
  const comm = readText(`/proc/${pid}/comm`);
  if (status === null || comm === null) return null;
  const limits = readText(`/proc/${pid}/limits`);
  return { comm, ignored: parseSignalSet(status, "SigIgn"), openFiles: limits === null ? null : parseOpenFilesLimit(limits) };
}

function parentOf(pid: number | "self"): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name is in parentheses and may hold anything, spaces too.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/** The parent, when it is a `bun run` of the same Bun that runs this
 * process: the caller handed its descriptors and signals to it. */
export function bunRunParent(): number | null {
  const parent = parentOf("self");
  if (parent === null) return null;
  let sameBun = false;
  try {
    sameBun = readlinkSync(`/proc/${parent}/exe`) === readlinkSync("/proc/self/exe");
  } catch {
    return null;
  }
  const cmdline = readText(`/proc/${parent}/cmdline`);
  if (!sameBun || cmdline === null) return null;
  return isBunRun(cmdline.split("\0")) ? parent : null;
}

/** Ways to take a descriptor of another process (the shim's pidfd_getfd). */
interface DescriptorTaker {
  /** A close-on-exec copy of descriptor fd of process pid, or a negative
   * errno. */
  take(pid: number, fd: number): number;
}

/** O_ACCMODE and O_APPEND of open(2). */
const O_ACCMODE = 0o3;
const O_APPEND = 0o2000;
const O_CLOEXEC = 0o2000000;

/**
 * A copy of another process's descriptor: pidfd_getfd (the same open file,
 * offset and all), else reopening /proc/PID/fd/N with its access mode (a new
 * open of the same pipe, file or terminal; a socket cannot be reopened).
 */
function takeFrom(pid: number, fd: number, taker: DescriptorTaker): number | string {
  const taken = taker.take(pid, fd);
  if (taken >= 0) return taken;
  const flags = parseDescriptorFlags(readText(`/proc/${pid}/fdinfo/${fd}`) ?? "");
  if (flags === null) return "it closed meanwhile";
  try {
    return openSync(`/proc/${pid}/fd/${fd}`, (flags & (O_ACCMODE | O_APPEND)) | O_CLOEXEC);
  } catch (error) {
    return `neither pidfd_getfd (errno ${-taken}) nor reopening it through /proc (${errorCode(error)}) worked`;
  }
}

/**
 * Read what the caller handed over. Call it first thing, before this
 * process opens descriptors of its own or changes its signals; `takeTimers`
 * takes (and disarms here) the interval timers the caller armed.
 */
export function captureHandover(taker: DescriptorTaker, takeTimers: () => IntervalTimers | null): Handover {
  const status = readText("/proc/thread-self/status") ?? "";
  const ownStatus = readText("/proc/self/status") ?? "";
  const notes: string[] = [];
  const bunRun = bunRunParent();
  const entry = bunRun ?? ("self" as const);
  const entryStatus = bunRun === null ? ownStatus : (readText(`/proc/${bunRun}/status`) ?? ownStatus);
  const entryLimits = readText(`/proc/${entry}/limits`);
  const entryFacts: EntryFacts = {
    ignored: parseSignalSet(entryStatus, "SigIgn"),
    caught: parseSignalSet(entryStatus, "SigCgt"),
    openFiles: entryLimits === null ? null : parseOpenFilesLimit(entryLimits),
  };
  const invokerPid = parentOf(entry);
  const invoker = invokerPid === null ? null : invokerFacts(invokerPid);

  const descriptors: HandedDescriptor[] = [0, 1, 2].map((fd) => ({ target: fd, source: fd }));
  for (const fd of handedDescriptorNumbers(readDescriptorLinks(entry))) {
    if (bunRun === null) {
      descriptors.push({ target: fd, source: fd });
      continue;
    }
    const taken = takeFrom(bunRun, fd, taker);
    if (typeof taken === "number") descriptors.push({ target: fd, source: taken });
    else notes.push(`descriptor ${fd} that the caller handed to bun run cannot reach the program: ${taken}`);
  }
  let caller: CallerContext | null = null;
  if (bunRun !== null) {
    const context = contextOf(bunRun);
    if (typeof context === "string") notes.push(`the program runs in bun run's script's directory and environment: ${context} cannot be read from bun run`);
    else caller = context;
  }
  return {
    descriptors,
    ignored: decideIgnored(entryFacts, invoker),
    mask: parseSignalSet(status, "SigBlk"),
    openFilesLimit: decideOpenFilesLimit(entryFacts, invoker),
    timers: takeTimers(),
    notes,
    underBunRun: bunRun !== null,
    caller,
  };
}

/** Close the descriptors taken from another process (the program has its
 * copies once it is started). */
export function releaseHandover(handover: Handover): void {
  for (const { source, target } of handover.descriptors) if (source !== target) closeSync(source);
}
