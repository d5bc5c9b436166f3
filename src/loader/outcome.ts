/**
 * How a launch ended, in words: given what the loader wrote in its status
 * and how the process ended, the outcome a caller gets (exit code or
 * signal, the report's figures), the ways the run differed from a
 * kernel-started one, why the pager ended the program or why a fault went
 * unseen, and the one line that explains a loader failure. Pure: facts in,
 * an outcome out; waiting for the process and reading its status are
 * src/loader/launch.ts's.
 */
import { constants as osConstants } from "node:os";
import { PAGE_SIZE, type ElfImage } from "./elf.ts";
import { LoadError, errnoName, hex, printable } from "./errors.ts";
import type { Plan } from "./plan.ts";
import type { OpenedFile } from "./program-file.ts";
import { STAGE, STAGE_WORDS, stageNamed, type LaunchStatus, type Mechanism, type PredictorName } from "./spec.ts";
import type { PlacedRegion, PrefetchSeen, PrefetchUse, ProfileImage } from "../paging/working-set.ts";
import type { ChildExit, EventDelivery } from "../shim/shim.ts";
import type { PagerName } from "./pagers.ts";

export { PAGERS, type PagerName } from "./pagers.ts";

/** ENOMEM: what the fault server meets when memory or mappings run out. */
const ENOMEM = 12;

/** st_mode bits: set-user-ID, set-group-ID, and group execute permission
 * (without which set-group-ID means mandatory locking, not a new group). */
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

/** Signals a process gets for a fault of its own: the loader dying of one
 * before the program started is a failure to load. Any other signal that
 * ends it then was sent to it (by kill(), a timeout, a relay). */
const FAULT_SIGNALS: ReadonlySet<number> = new Set(
  (["SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGTRAP", "SIGSYS", "SIGABRT"] as const).map((name) => osConstants.signals[name]),
);

/** One mapping the loader made at start, as logged. */
export interface Mapping {
  address: number;
  size: number;
  offset: number | null;
  prot: number;
  source: string;
  /** Reserved only; its pages come on demand. */
  demand: boolean;
}


/** What an ordinary user's demand paging leaves to the kernel, said before
 * the program starts. */
export function userModeNote(pager: PagerName, plan: Plan): string {
  const paged = plan.regions.some((r) => r.demand);
  return pager === "hpager"
    ? "as an ordinary user, hpager leaves the bss to the kernel: userfaultfd then serves only the program's own accesses, and a system call into an untouched page would fail (root, or vm.unprivileged_userfaultfd=1, pages it too)"
    : `as an ordinary user, dpager pages ${paged ? "only the program's code" : "nothing of this program (its code is not kept apart from its data)"}: userfaultfd then serves only the program's own accesses, and a system call into an untouched page would fail; the kernel pages the rest (root, or vm.unprivileged_userfaultfd=1, pages it all)`;
}


/** How a launched program ended, and what its run did: the report's
 * figures (src/run/report.ts). */
export interface LaunchOutcome {
  /** The pager that ran it. */
  pager: PagerName;
  /** How demand faults were caught ("userfaultfd" or "signal"); null for apager. */
  paging: Mechanism | null;
  /** hpager's predictor and pages per fault ("none" and 1 otherwise). */
  predictor: PredictorName;
  pages: number;
  /** The ELF file that was loaded (a #! script's interpreter, for a script). */
  program: string;
  /** The arguments it was given (a script's: its interpreter's, as
   * binfmt_script makes them). */
  argv: string[];
  /** Its exit status, or null when a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it ("SIGSEGV"), or null when it exited. */
  signal: string | null;
  signalNumber: number | null;
  /** It dumped core. */
  coreDumped: boolean;
  /** Demand faults dpager or hpager resolved. */
  faults: number;
  /** Pages mapped: at start, on demand, and predicted. */
  pagesMapped: number;
  /** Milliseconds from sending the loader its plan until this process
   * learned the program had ended (later than the end itself while
   * JavaScript was busy). */
  wallMs: number;
  /** The program's own peak resident set, in KiB (Bun's memory excluded). */
  maxRssKiB: number;
  /** CPU time it spent in user space and in the kernel, in milliseconds. */
  userMs: number;
  systemMs: number;
  /** Its rusage as wait4 gave it (for resourceUsage()). */
  usage: ChildExit;
  /** Set when the program replaced itself by execve (a #! wrapper, `env`,
   * a version manager's shim): the name it last ran as. The pager's view
   * ends at the execve: its faults and pages are the paged program's, the
   * exit status, CPU time and peak memory the last program's. */
  execvedAs: string | null;
  /** The mappings made (or reserved) at start. */
  mappings: Mapping[];
  /** Ways this run may differ from a kernel-started one, in words. */
  differences: string[];
  /** Set when a demand-paged program died of a fault the pager's handler
   * never saw (SIGSEGV blocked, or a handler of the program's own). */
  unseenFault: string | null;
  /** Set when the pager could not map a page the program needed (its fault
   * handler or server met an error: memory, vm.max_map_count) and the
   * program was ended for it. */
  pagerFailure: string | null;
  /** The program wrote over memory it shares with the pager (SIGSEGV
   * paging's event ring and counters) in a way its handler never does: the
   * fault log and the counts may be wrong; the program's own exit status
   * is still its own. */
  tampered: boolean;
  /** What became of the live events and the trace (not reported). */
  delivery: RunDelivery;
  /** Pages mapped at start from a learned working set (--prefetch). */
  prefetched: number;
  /** What became of --prefetch: null when none was asked for (not
   * reported as such: see src/run/report.ts). */
  prefetch: PrefetchOutcome | null;
  /** The run's regions where they were, and what they are in their images
   * (for a profile of its working set; not reported). */
  placedRegions: PlacedRegion[];
  /** The files it loaded, as a profile names them (sha256 is "" unless
   * `record` was asked for; not reported). */
  images: ProfileImage[];
}

/** What became of a --prefetch profile in one run: its use, and the
 * pages it mapped with what the end look saw of them. */
export interface PrefetchOutcome extends PrefetchUse {
  /** The prefetched pages, at their addresses in this run. */
  pages: number[];
  /** What the end look could see of them (null: no look could be taken),
   * how many it saw touched, and which it saw untouched (the waste). */
  seen: PrefetchSeen | null;
  touched: number;
  untouched: number[];
}

/** What became of a run's events: those the live event pipe had no room
 * for and the trace's first write error (from the shim), and those the
 * SIGSEGV mechanism's ring had no room for, which no log, trace or event
 * saw (status.eventsDropped). */
export interface RunDelivery extends EventDelivery {
  eventsNotLogged: number;
}

function signalName(n: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name;
  return `SIG${n}`;
}

/** Stages whose status detail is a region's index. */
const REGION_STAGES: ReadonlySet<number> = new Set([STAGE.MAP_REGION, STAGE.ZERO_TAIL, STAGE.PROTECT]);

export function describeFailure(file: string, status: LaunchStatus, exit: ChildExit): LoadError {
  const named = stageNamed(status.stage);
  const stage = named === null ? `stage ${status.stage}` : STAGE_WORDS[named];
  const signaled = (exit.waitStatus & 0x7f) !== 0;
  if (signaled) {
    return new LoadError(file, `the loader was killed by ${signalName(exit.waitStatus & 0x7f)} while ${stage}`, "EFAULT");
  }
  const errno = errnoName(status.error);
  const detail = REGION_STAGES.has(status.stage) ? ` (region ${status.detail})` : status.detail ? ` (${hex(status.detail)})` : "";
  return new LoadError(file, `the loader failed while ${stage}${detail}: ${errno}`, errno === "EEXIST" ? "EEXIST" : "ENOMEM");
}

/**
 * What set-user-ID and set-group-ID bits would give natively and a pager
 * does not: the program runs with the caller's own IDs, as the kernel runs
 * it from a nosuid mount. null when the bits would change nothing (none set,
 * or they name the caller's own IDs).
 */
export function ignoredPrivilege(file: Pick<OpenedFile, "path" | "mode" | "uid" | "gid">, euid: number, egid: number): string | null {
  const setuid = (file.mode & S_ISUID) !== 0 && file.uid !== euid;
  const setgid = (file.mode & (S_ISGID | S_IXGRP)) === (S_ISGID | S_IXGRP) && file.gid !== egid;
  if (!setuid && !setgid) return null;
  const bits = [setuid ? `set-user-ID (uid ${file.uid})` : null, setgid ? `set-group-ID (gid ${file.gid})` : null].filter((b) => b !== null).join(" and ");
  return `${printable(file.path)} is ${bits}; it runs with your own user and group IDs, as from a nosuid mount: a pager gains no privilege`;
}

/** The note for a program whose own RPATH or RUNPATH names $ORIGIN, run
 * where /proc/self/exe cannot name it: ld.so expands $ORIGIN from that link,
 * which then names faultline's loader. */
export function originNote(file: string, paths: readonly string[]): string | null {
  if (paths.length === 0) return null;
  return `${printable(file)} finds libraries through $ORIGIN (${paths.map(printable).join(", ")}), which ld.so takes from /proc/self/exe; naming the program there needs CAP_SYS_RESOURCE, without it the link names faultline's loader and those libraries may not be found`;
}

/** What is known of a run once its process has ended. */
export interface RunFacts {
  pager: PagerName;
  mechanism: Mechanism | null;
  predictor: PredictorName;
  predictPages: number;
  image: ElfImage;
  argv: string[];
  notes: string[];
  status: LaunchStatus;
  exit: ChildExit;
  wallMs: number;
  mappings: Mapping[];
  delivery: RunDelivery;
  prefetch: PrefetchOutcome | null;
  placedRegions: PlacedRegion[];
  images: ProfileImage[];
}

/** What the pager saw of a run: its faults and mappings, and where the run
 * differed from a kernel-started one. */
type PagerSeen = Pick<LaunchOutcome, "faults" | "pagesMapped" | "mappings" | "differences" | "unseenFault" | "pagerFailure" | "prefetched">;

/** A run's outcome: what every ended run reports of itself (who ran what,
 * how it ended, its time and memory), with what the pager saw of it. */
function endedRun(run: RunFacts, seen: PagerSeen): LaunchOutcome {
  const { exit } = run;
  const signalNumber = exit.waitStatus & 0x7f;
  return {
    pager: run.pager,
    paging: run.mechanism,
    predictor: run.predictor,
    pages: run.predictPages,
    program: run.image.file,
    argv: run.argv,
    exitCode: signalNumber === 0 ? (exit.waitStatus >> 8) & 0xff : null,
    signal: signalNumber === 0 ? null : signalName(signalNumber),
    signalNumber: signalNumber === 0 ? null : signalNumber,
    coreDumped: (exit.waitStatus & 0x80) !== 0,
    faults: seen.faults,
    pagesMapped: seen.pagesMapped,
    wallMs: run.wallMs,
    maxRssKiB: exit.maxRssKiB,
    userMs: exit.userMicros / 1000,
    systemMs: exit.systemMicros / 1000,
    usage: exit,
    execvedAs: exit.execvedAs,
    mappings: seen.mappings,
    differences: seen.differences,
    unseenFault: seen.unseenFault,
    pagerFailure: seen.pagerFailure,
    delivery: run.delivery,
    tampered: run.status.tampered,
    prefetched: seen.prefetched,
    prefetch: run.prefetch,
    placedRegions: run.placedRegions,
    images: run.images,
  };
}

/** A program killed by a signal sent to it before it started (while its
 * loader placed it): it ends as a program killed at its first instruction
 * would, with nothing mapped or faulted to report. */
export function killedBeforeStart(run: RunFacts): LaunchOutcome {
  return endedRun(run, { faults: 0, pagesMapped: 0, mappings: [], differences: [...run.notes], unseenFault: null, pagerFailure: null, prefetched: 0 });
}

/** The note of a program that replaced itself by execve: what it ran
 * last, and that the pager saw only the part before. */
function execveNote(program: string, ranAs: string): string {
  return `${printable(program)} replaced itself by execve and was running as '${printable(ranAs)}' when it ended; the pager's view ends at the execve (faults and pages mapped are ${printable(program)}'s; the exit status, time and peak memory are the last program's)`;
}

/** How a launched program ended, and what of its run differed from a
 * kernel-started one. */
export function outcomeOf(run: RunFacts): LaunchOutcome {
  const { pager, mechanism, status, exit, image, mappings } = run;
  const signalNumber = exit.waitStatus & 0x7f;
  const differences: string[] = [...run.notes];
  if (status.mmMapError) differences.push(`the kernel refused the new memory layout (PR_SET_MM_MAP: ${errnoName(status.mmMapError)}): /proc/self/cmdline, environ and auxv, and brk, still describe faultline's loader`);
  else if (status.exeError) differences.push(`/proc/self/exe names faultline's loader (naming the program needs CAP_SYS_RESOURCE: ${errnoName(status.exeError)})`);
  const pagerFailure = status.handlerError
    ? `the ${mechanism === "userfaultfd" ? "userfaultfd server" : "fault handler"} could not map a page (${errnoName(status.handlerError)}${status.handlerError === ENOMEM ? ": vm.max_map_count or memory exhausted" : ""}); the program was ended`
    : null;
  if (pagerFailure) differences.push(pagerFailure);
  if (status.eventsDropped) differences.push(`${status.eventsDropped} fault events were not logged (the log fell behind)`);
  if (status.tampered) differences.push(TAMPERED);
  if (exit.execvedAs !== null) differences.push(execveNote(image.file, exit.execvedAs));
  // A demand-paged program that died of SIGSEGV without the pager's
  // handler seeing any genuine fault died of a fault the handler never
  // saw: the program had SIGSEGV blocked (glibc does, inside
  // pthread_create, fork and abort, which a static program runs from pages
  // the pager demand-pages), or had installed a handler of its own. Both
  // are known limits of a signal-based pager. SIGBUS is never the pager's
  // doing (its handler takes SIGSEGV only): it is a page past the end of
  // the file, touched, as it would be natively.
  const unseenFault =
    mechanism === "signal" && exit.execvedAs === null && status.pagesEnabled > 0 && status.genuineFaults === 0 && signalNumber === osConstants.signals.SIGSEGV
      ? `${printable(image.file)} touched a page ${pager} had not mapped yet while the pager's fault handler could not run: the program had SIGSEGV blocked (glibc blocks it inside pthread_create, which a static program runs from demand-paged pages) or handled by a handler of its own (language runtimes such as Bun install one). It died of that fault; a signal-based pager cannot run it yet: use apager${pager === "dpager" ? " or hpager" : ""}`
      : null;
  if (unseenFault) differences.push(unseenFault);
  const startPages = mappings.reduce((n, m) => n + (m.demand ? 0 : m.size / PAGE_SIZE), 0);
  const pagesMapped = startPages + status.pagesEnabled + status.prefetched;
  return endedRun(run, { faults: status.faults, pagesMapped, mappings, differences, unseenFault, pagerFailure, prefetched: status.prefetched });
}

/** Say, after `prefix`, that the loader stopped prefetching early (an
 * errno, a file cut short under it): the rest was paged on demand. */
export function prefetchStopped(outcome: LaunchOutcome, say: (line: string) => void, prefix: string): void {
  const p = outcome.prefetch;
  if (p?.error) say(`${prefix}: the loader stopped prefetching after ${outcome.prefetched} of ${p.planned} pages (${p.error}); the rest were paged on demand`);
}

/** What a run whose program wrote over the pager's shared memory says. */
export const TAMPERED = "the program wrote over the memory it shares with the pager (the fault handler's event ring and counters): the fault log and counts of this run may be wrong";

/** How a loader that ended before the jump ended: "killed" by a signal sent
 * to it (by kill(), a timeout, a relay: the launch ends as the program
 * would have), or "failed" (it met an error, or a fault of its own). */
export function endBeforeLaunch(exit: ChildExit, signalled: boolean): "killed" | "failed" {
  const stopped = exit.waitStatus & 0x7f;
  return stopped !== 0 && (signalled || !FAULT_SIGNALS.has(stopped)) ? "killed" : "failed";
}
