/**
 * One run of a program under a pager, from a command line to how it ended:
 *   find and read the program (and its interpreter), validate them, read the
 *   machine's facts, keep memory for the spec, plan the load, build the stack
 *   image, encode the spec, spawn the loader, send it the plan, wait without
 *   blocking.
 * The effects live here and in src/shim/shim.ts; every decision is made by the
 * pure modules (elf, plan, stack, auxv, spec), and what the end means (the
 * outcome, its differences, a loader failure's one line) by
 * src/loader/outcome.ts.
 */
import { accessSync, closeSync, constants as fsConstants, readSync, statSync, writeSync } from "node:fs";
import { basename, resolve } from "node:path";
import { availableParallelism } from "node:os";
import { programAuxv } from "./auxv.ts";
import { PAGE_SIZE, originSearchPaths, requireLoadable, type ElfImage } from "./elf.ts";
import { LoadError, hex, printable } from "./errors.ts";
import { machineFactsOf, memoryFactsFor, type MachineFacts, type ProcessFacts } from "./machine.ts";
import { PROT_EXEC, PROT_READ, PROT_WRITE, mergeRanges, noRandomness, planAgain, planLoad, type DemandScope, type Plan, type Policy, type Random, type Region } from "./plan.ts";
import { openForLoading, readAt, resolveProgram, type OpenedFile } from "./program-file.ts";
import { copyLayout } from "./image-copy.ts";
import {
  abandonLoader,
  currentSignalMask,
  loaderHello,
  pidfdOpen,
  pidfdSignal,
  errnoName,
  sendPlan,
  spawnLoader,
  prestartLoader,
  retirePrestarted,
  takePrestarted,
  type LoaderRequest,
  type PrestartHandle,
  userfaultfdAccess,
  type UserfaultfdAccess,
  startWaiter,
  type Notice,
  type Waiter,
  type SpawnedLoader,
  type SpecMemory,
} from "../shim/shim.ts";
import { LOADER } from "../shim/shim-build.ts";
import { rememberRunning } from "./running-programs.ts";
import { acquireSpecMemory, imageCopyFor, knownHead, loaderMemory, machineFacts, parsedImage, plannedAgain, releaseSpecMemory } from "./launch-caches.ts";
import { plainHandover, type Handover } from "./caller.ts";
import {
  BASES,
  NOMINAL_STACK_TOP,
  PLAN_ADDRESS,
  encodeSpec,
  type SpecRegion,
  type SpecPrefetchRun,
  type SpecStartLine,
  pagesBySignal,
  readStatus,
  specBound,
  STACK_ALIGN_RANDOM_BYTES,
  type Base,
  type Mechanism,
  type PredictorName,
} from "./spec.ts";
import { followScripts } from "./script.ts";
import { identityFields, prefetchPlan, prefetchSeenUnder, profileMismatch, type PlacedRegion, type PrefetchPlan, type ProfileImage, type TargetRegion, type WorkingSetProfile } from "../paging/working-set.ts";
import { EndLook } from "../paging/end-look.ts";
import { buildStack, type StackImage } from "./stack.ts";
import { DEFAULT_PREDICT_PAGES, POLICY_OF, belowUserfaultfd, choosePaging, type PagerName, type PagingChoice } from "./pagers.ts";
import {
  TAMPERED,
  describeFailure,
  endBeforeLaunch,
  ignoredPrivilege,
  killedBeforeStart,
  originNote,
  outcomeOf,
  prefetchStopped,
  userModeNote,
  type LaunchOutcome,
  type Mapping,
  type PrefetchOutcome,
  type RunDelivery,
} from "./outcome.ts";

export { TAMPERED, ignoredPrivilege, prefetchStopped, type LaunchOutcome, type Mapping, type PrefetchOutcome, type RunDelivery };
export { DEFAULT_PREDICT_PAGES, PAGERS, PAGING_CHOICES, POLICY_OF, PREDICTORS, type PagerName, type PagingChoice } from "./pagers.ts";


/** The platform string the kernel puts on the stack (ELF_PLATFORM). */
const PLATFORM = "x86_64";
/** Longest process name the kernel keeps (TASK_COMM_LEN less the NUL). */
const PROCESS_NAME_LENGTH = 15;
/** kill(2)'s errno when the process is gone. */
const ESRCH = 3;

export interface LaunchOptions {
  pager?: PagerName;
  /** The file to run, where it is not argv[0] found on PATH: a program
   * run again through /proc/self/exe (its argv[0] is whatever it passed). */
  program?: string;
  /** How dpager and hpager catch faults (default "auto"). */
  paging?: PagingChoice;
  /** A genuine SIGSEGV or SIGBUS ends with an encouraging message and a
   * diagnosis, as libetsbefriends.so gives dynamic programs (static ones
   * too, since the pager installs the reporter itself). */
  friendly?: boolean;
  /** hpager's predictor (default "next") and pages per fault (default 2). */
  predictor?: PredictorName;
  pages?: number;
  /** A descriptor to write one JSON line per fault to (--trace). */
  traceFd?: number;
  /** The live event pipe's non-blocking write end: the same lines, never
   * waited for (src/shim/shim.ts eventPipe). The launch takes it over, closed
   * once no event can come, even when the launch fails. */
  eventFd?: number;
  /** The program's working directory (default: this process's). A relative
   * PROGRAM, a PATH entry, a #! interpreter and an ELF interpreter are found
   * from it, as the kernel would find them in the program. */
  cwd?: string;
  /** The program's environment; Bun's own by default. */
  env?: Record<string, string | undefined>;
  /** Log the mappings to `faultLogFd` (stderr by default), a line each:
   * those made at start, written by the loader itself just before the
   * program's first instruction (no trip through JavaScript), then the
   * demand-paged ones as they happen, by the shim. */
  log?: boolean | null;
  faultLogFd?: number;
  /** Called with the child's pid once it exists (before startLaunch
   * returns), and how its demand faults are caught (null: apager, none). */
  onStart?: (pid: number, paging: Mechanism | null) => void;
  /** Called once the program is placed with the mappings the loader made
   * (or reserved) at start and the milliseconds since the plan was sent
   * to the loader (the trace's clock). The loader does not wait
   * for it: the program may be running, or have ended, by then. */
  onPlaced?: (mappings: readonly Mapping[], elapsedMs: number) => void;
  /** Called, once every file the launch reads (the program, the #! scripts
   * on the way to it, the interpreter) is open and checked, and before
   * anything runs, with their identities: may throw to refuse the launch
   * (an output file that is one of them, say). */
  onFilesRead?: (files: readonly ReadFile[]) => void;
  /** Called before the program starts with each way the run will differ
   * from a kernel-started one that is known by then (a set-user-ID bit that
   * gives no privilege). The same text is in the outcome's `differences`. */
  note?: ((text: string) => void) | null;
  /** Called as soon as set-user-ID or set-group-ID bits are found to give
   * no privilege, with that note (which `note` is given too, later, with
   * the others): the CLI says it even under --quiet. */
  privilegeNote?: ((text: string) => void) | null;
  /** Called once the program is mapped, before its first instruction, with
   * its pid and its ELF file (absolute: a script's interpreter); the program
   * starts once the promise settles (--gdb attaches a debugger then), unless
   * it settles to false: it ended the program itself, and no go is sent. */
  beforeStart?: (pid: number, program: string) => Promise<boolean>;
  /** Randomness for addresses; the kernel's choice (randomize_va_space,
   * personality) decides whether it is used. Tests pass their own. */
  random?: Random;
  /** A learned working set to map before the program needs it (--prefetch):
   * the profile and where it came from. A profile made for other files is
   * refused (`onRefused` says why) and the run goes on without it. */
  prefetch?: { profile: WorkingSetProfile; path: string; onRefused?: (reason: string) => void } | null;
  /** Also hash the program's files after the run, for a profile of it
   * (--record): the outcome's `images` then carry their SHA-256. */
  record?: boolean;
  /** What the program receives as execve would hand it over: descriptors,
   * ignored signals, mask, limits, timers (src/loader/caller.ts). By default what
   * Bun.spawn gives: standard input, output and error, every signal at its
   * default, this thread's mask. */
  handover?: Handover;
}

/** A file a launch reads, and which file it is (st_dev:st_ino). */
export interface ReadFile {
  path: string;
  inode: string;
  role: "script" | "program" | "interpreter";
}

/** The program's RPATH and RUNPATH strings that name $ORIGIN, read from
 * its file (the first DYNAMIC_READ_MAX_BYTES of its dynamic section, far
 * more than a linker writes); only a dynamic program has any that ld.so
 * reads. A file that cannot be read here gives none: the note is advice. */
const DYNAMIC_READ_MAX_BYTES = 64 * 1024;
function programOriginPaths(image: ElfImage, fd: number): string[] {
  if (image.interpreter === null || image.dynamic === null) return [];
  const { offset, size } = image.dynamic;
  try {
    return originSearchPaths(readAt(fd, Math.min(size, DYNAMIC_READ_MAX_BYTES), offset), image.segments, (at, length) => readAt(fd, length, at));
  } catch {
    return [];
  }
}


/** A launch under way: the program exists (or its loader failed before it
 * could), and runs. */
export interface StartedLaunch {
  /** The program's pid; the loader's when it ended before cloning itself
   * (the launch then fails). */
  pid: number;
  /** How its demand faults are caught (null: apager). */
  paging: Mechanism | null;
  /** Send `signal` to the program; false once it has ended (nothing sent).
   * A signal that ends it before it starts ends the launch as it would
   * have ended the program, not as a failure to load. */
  signal(signal: number): boolean;
  /** How it ended; rejects with a LoadError when the loader failed after
   * the plan was sent. */
  finished: Promise<LaunchOutcome>;
  /** Whether waiting for it keeps this process alive (yes unless told
   * otherwise: spawn()'s unref()). */
  hold(on: boolean): void;
}

/**
 * The installed command's client (shim/loader/client.c), connected to the
 * user's service: the process the caller's shell started, which asked for
 * its plan and becomes the program itself. The service plans and serves
 * it, but is not its parent: how it ends is its caller's to see.
 */
export interface LaunchClient {
  /** The connection, the launch's control socket (the launch takes it). */
  control: number;
  pid: number;
  /** What the plan depends on, as the client has it: the program is to be
   * that process. */
  facts: ProcessFacts;
}

/** A client's launch under way: settles once the program runs (the
 * loader jumped), or with the LoadError of a loader that failed on the
 * way (null: it was killed before it could jump). With faults to serve, it
 * settles once the program has ended. */
export interface StartedClientLaunch {
  pid: number;
  paging: Mechanism | null;
  /** The ELF file that runs (a #! script's interpreter). */
  program: string;
  served: Promise<LoadError | null>;
}

/** A non-zero seed for the friendly reporter's choice of message. */
function friendlySeed(): bigint {
  const words = new BigUint64Array(1);
  do crypto.getRandomValues(words);
  while (words[0] === 0n);
  return words[0]!;
}

/** FAULTLINE_FRIENDLY_RERAISE in the program's environment, read as
 * libetsbefriends.so reads it: set to anything but "" or "0". */
function reraiseWanted(env: Record<string, string | undefined>): boolean {
  const value = env.FAULTLINE_FRIENDLY_RERAISE;
  return value !== undefined && value !== "" && value !== "0";
}

function cryptoRandom(bound: number): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  const unit = (words[0]! * 2 ** 21 + (words[1]! >>> 11)) / 2 ** 53;
  return Math.floor(unit * bound);
}

/** A protection as the mapping log writes it: "r-x" and the like. */
export function protString(prot: number): `${"r" | "-"}${"w" | "-"}${"x" | "-"}` {
  return `${prot & PROT_READ ? "r" : "-"}${prot & PROT_WRITE ? "w" : "-"}${prot & PROT_EXEC ? "x" : "-"}`;
}

/** A mapping's line split where its address goes (in hexadecimal): the
 * loader puts the address in, once it knows it (spec.ts SpecStartLine). A
 * region reserved for demand paging (`reserved`: by which mechanism) has no
 * pages yet: under SIGSEGV paging it is inaccessible until each page is
 * touched; under userfaultfd it has its protection already. */
function mappingLineParts(pager: PagerName, m: Omit<Mapping, "address">, reserved: Mechanism | null): [head: string, tail: string] {
  const offset = m.offset === null ? "-" : hex(m.offset);
  if (reserved === "signal") return [`${pager}: reserve addr=`, ` size=${hex(m.size)} off=${offset} prot=--- (${protString(m.prot)} on demand) ${m.source}`];
  if (reserved === "userfaultfd") return [`${pager}: reserve addr=`, ` size=${hex(m.size)} off=${offset} prot=${protString(m.prot)} (pages on demand) ${m.source}`];
  return [`${pager}: map addr=`, ` size=${hex(m.size)} off=${offset} prot=${protString(m.prot)} ${m.source}`];
}

function regionMappings(regions: readonly Region[], program: string, interpreter: string | null): Mapping[] {
  return regions.map((r: Region) => ({
    address: r.start,
    size: r.length,
    offset: r.offset,
    prot: r.prot,
    source: printable(r.offset === null ? `anon=bss(${r.file === "program" ? basename(program) : basename(interpreter ?? "")})` : `file=${r.file === "program" ? program : interpreter}`),
    demand: r.demand,
  }));
}



/** Run argv under a pager and report how it ended. Rejects with a LoadError
 * when the program cannot be run (exitCode 127 or 126 on the error). */
export async function launch(argv: readonly string[], options: LaunchOptions = {}): Promise<LaunchOutcome> {
  return startLaunch(argv, options).finished;
}

/**
 * Start argv under a pager: find, read, check and plan the program, start
 * its loader and learn its pid, all before returning; the launch's
 * `finished` settles once the program has ended. Throws a LoadError
 * (exitCode 127 or 126 on the error) when the program cannot be run.
 */
export function startLaunch(argv: readonly string[], options: LaunchOptions = {}): StartedLaunch {
  const { program: _, ...started } = startAnyLaunch(argv, options, null);
  // Only a client's launch ends in anything but an outcome.
  return { ...started, finished: started.finished as Promise<LaunchOutcome> };
}

/** Start argv for the installed command's client, which becomes the
 * program (LaunchClient). Throws a LoadError as startLaunch does; the
 * caller then says why and answers the client. */
export function startClientLaunch(argv: readonly string[], options: LaunchOptions, client: LaunchClient): StartedClientLaunch {
  const started = startAnyLaunch(argv, options, client);
  return { pid: started.pid, paging: started.paging, program: started.program, served: started.finished as Promise<LoadError | null> };
}

interface AnyStartedLaunch extends Omit<StartedLaunch, "finished"> {
  program: string;
  finished: Promise<LaunchOutcome | LoadError | null>;
}

function startAnyLaunch(argv: readonly string[], options: LaunchOptions, client: LaunchClient | null): AnyStartedLaunch {
  const pager = options.pager ?? "apager";
  const eventFd = options.eventFd ?? -1;
  const cwd = options.cwd ?? null;
  const opened: OpenedFile[] = [];
  let launching: Launching | null = null;
  try {
    if (argv.length === 0 || argv[0] === undefined) throw new LoadError("''", "no program given", "ENOENT");
    // A directory to change to; a client is in its own already, reachable
    // or not (as natively, a path found from it needs it searchable).
    if (cwd !== null && client === null) requireDirectory(cwd);
    // The loader is spawned first (or was, ahead of need): the kernel
    // executes it while the program is found, read and checked here.
    const plain = options.handover === undefined && cwd === null && client === null;
    const handover = options.handover ?? plainHandover(currentSignalMask());
    const loader = client ? { pid: 0, control: client.control, programPid: client.pid } : loaderFor(handover, plain, cwd);
    launching = { loader, programPid: loader.programPid ?? 0, waiting: false, plain, handover, eventFd, client };
    return startPlanned(launching, findProgram(pager, argv, cwd, options, opened), options);
  } finally {
    // Until the waiter has it, the launch is this function's to undo.
    if (!launching?.waiting) {
      // A client is nobody's to reap here: it hears the hang-up.
      if (client) closeSync(client.control);
      else if (launching) abandonLoader(launching.loader, launching.programPid);
      for (const file of opened) closeSync(file.fd);
      const unsent = launching ? launching.eventFd : eventFd;
      if (unsent >= 0) closeSync(unsent);
    }
  }
}

/**
 * Find, open, read and check the program as execve would, before its point
 * of no return: argv[0] on PATH (or options.program), #! lines followed to
 * the ELF interpreter that runs them (binfmt_script), the ELF image and its
 * interpreter parsed and checked for what the kernel would meet mapping
 * them. Each file opened goes into `opened` (the caller closes them if the
 * launch goes no further).
 */
function findProgram(pager: PagerName, argv: readonly string[], cwd: string | null, options: LaunchOptions, opened: OpenedFile[]): FoundProgram {
  const read: ReadFile[] = [];
  const identify = (file: OpenedFile, role: ReadFile["role"]) => read.push({ path: file.path, inode: file.inode, role });
  // A program's PATH is the one it will have (Bun.spawn's rule too).
  const searchPath = options.env ? options.env.PATH : process.env.PATH;
  const execfn = options.program ?? resolveProgram(argv[0]!, searchPath, cwd);
  const openProgram = (path: string) => {
    const file = openForLoading(path, "program", knownHead, cwd);
    opened.push(file);
    return file;
  };
  const followed = followScripts(openProgram(execfn), argv, execfn, openProgram, (script) => {
    identify(script, "script");
    closeSync(opened.pop()!.fd);
  });
  const program = followed.file;
  identify(program, "program");
  const image = parsedImage(program, "program");
  let interpreterImage: ElfImage | null = null;
  if (image.interpreter !== null) {
    const interpreter = openForLoading(image.interpreter, "interpreter", knownHead, cwd);
    opened.push(interpreter);
    identify(interpreter, "interpreter");
    interpreterImage = parsedImage(interpreter, "interpreter");
  }
  // Everything execve checks before its point of no return has passed;
  // what the kernel would meet after it, mapping the program and then the
  // interpreter, is refused now.
  requireLoadable(image);
  if (interpreterImage) requireLoadable(interpreterImage);
  options.onFilesRead?.(read);
  const privilege = ignoredPrivilege(program, process.geteuid?.() ?? 0, process.getegid?.() ?? 0);
  if (privilege !== null) options.privilegeNote?.(privilege);
  return { pager, argv: followed.argv, execfn, image, interpreterImage, files: opened, notes: privilege === null ? [] : [privilege] };
}

/** A working directory the loader can change to, or the LoadError chdir's
 * errno would give. */
function requireDirectory(cwd: string): void {
  let kind;
  try {
    kind = statSync(cwd);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOTDIR") throw new LoadError(cwd, "cannot be the working directory: a part of the path is not a directory", "ENOTDIR");
    if (code === "EACCES") throw new LoadError(cwd, "cannot be the working directory: permission denied", "EACCES");
    throw new LoadError(cwd, "cannot be the working directory: no such directory", "ENOENT");
  }
  if (!kind.isDirectory()) throw new LoadError(cwd, "cannot be the working directory: not a directory", "ENOTDIR");
  try {
    accessSync(cwd, fsConstants.X_OK);
  } catch {
    throw new LoadError(cwd, "cannot be the working directory: permission denied", "EACCES");
  }
}

/** A spawned loader, and how far the launch got with it: the process that
 * becomes the program once it reported, the waiter's once it was sent its
 * plan (until then, a failed launch hangs up on it and reaps it). */
interface Launching {
  loader: SpawnedLoader;
  programPid: number;
  waiting: boolean;
  /** The plain hand-over (the library's default): a loader can be started
   * ahead for the next such launch. */
  plain: boolean;
  handover: Handover;
  /** The live event pipe's write end until the waiter takes it (-1). */
  eventFd: number;
  /** The installed command's client, which is the loader here. */
  client: LaunchClient | null;
}

function loaderRequest(handover: Handover, cwd: string | null): LoaderRequest {
  return {
    loader: LOADER,
    descriptors: handover.descriptors,
    ignoredSignals: handover.ignored,
    signalMask: handover.mask,
    openFilesLimit: handover.openFilesLimit,
    cwd,
  };
}

/**
 * Loaders started ahead of need. Spawning one (vfork, execve, its own
 * setup) is part of what a launch costs beyond the program's run, so once
 * a plain launch has sent its plan, the next plain launch's loader can be
 * started on a shim thread while this program runs. The next launch takes
 * it when Bun's thread would spawn the same loader then (shim/loader/prestart.c
 * compares process state and descriptors; the mask is compared here);
 * otherwise, or after PRESTART_IDLE_MS unused, it is retired. It holds the
 * descriptors Bun had then (standard input, output and error) while it
 * waits.
 *
 * It pays only with a CPU to spare for it: the program and Bun's thread
 * keep two busy. On a 2-vCPU VM, started beside the program, it slowed
 * the program more than it saved (docs/benchmarks.md;
 * bench:launch measures both ways), so it is on by default only where
 * PRESTART_MIN_CPUS may run the process. FAULTLINE_PRESTART=1 or 0 in
 * Bun's environment, or prestartLoaders(), decides instead.
 */
let prestarted: { handle: PrestartHandle; mask: bigint; idle: ReturnType<typeof setTimeout> } | null = null;
const PRESTART_IDLE_MS = 1000;
const PRESTART_MIN_CPUS = 3;
let prestartWanted = prestartByDefault(process.env.FAULTLINE_PRESTART, availableParallelism());

/** Whether loaders are started ahead: as FAULTLINE_PRESTART says ("1" or
 * "0"), else when the process may run on PRESTART_MIN_CPUS CPUs or more. */
export function prestartByDefault(setting: string | undefined, cpus: number): boolean {
  if (setting === "1") return true;
  if (setting === "0") return false;
  return cpus >= PRESTART_MIN_CPUS;
}

/** Start loaders ahead of plain launches (the default with three CPUs or
 * more), or stop (retiring the one waiting, if any). */
export function prestartLoaders(on: boolean): void {
  prestartWanted = on;
  if (!on && prestarted) {
    clearTimeout(prestarted.idle);
    retirePrestarted(prestarted.handle);
    prestarted = null;
  }
}

function loaderFor(handover: Handover, plain: boolean, cwd: string | null): SpawnedLoader {
  if (plain && prestarted) {
    const { handle, mask, idle } = prestarted;
    prestarted = null;
    clearTimeout(idle);
    const taken = takePrestarted(handle);
    if (taken?.usable && mask === handover.mask) return taken.loader;
    if (taken) abandonLoader(taken.loader, taken.loader.programPid ?? 0);
  }
  return spawnLoader(loaderRequest(handover, cwd));
}

function prestartNext(handover: Handover): void {
  if (!prestartWanted || prestarted) return;
  const handle = prestartLoader(loaderRequest(handover, null));
  if (handle === null) return;
  const idle = setTimeout(() => {
    if (prestarted?.handle !== handle) return;
    prestarted = null;
    retirePrestarted(handle);
  }, PRESTART_IDLE_MS);
  idle.unref();
  prestarted = { handle, mask: handover.mask, idle };
}

/** The memory an image's loads ask for. */
function imageBytes(image: ElfImage): number {
  return image.segments.reduce((n, s) => n + s.memsz, 0);
}

/** A machine word: the stack's last one holds a byte to hold the program's
 * memory by (src/paging/end-look.ts). */
const WORD_BYTES = 8;

/** Bytes read from a file at a time to hash it. */
const HASH_CHUNK_BYTES = 1 << 20;

/** SHA-256 of a file's bytes, read through its open descriptor (the file
 * being loaded, whatever its path names by now), in hexadecimal. */
function sha256OfFile(fd: number): string {
  const hasher = new Bun.CryptoHasher("sha256");
  const chunk = Buffer.alloc(HASH_CHUNK_BYTES);
  for (let position = 0; ; ) {
    const n = readSync(fd, chunk, 0, chunk.length, position);
    if (n <= 0) break;
    hasher.update(chunk.subarray(0, n));
    position += n;
  }
  return hasher.digest("hex");
}

/** The files a run loads, as a profile names them (no hash yet). */
function profileImages(files: readonly OpenedFile[]): ProfileImage[] {
  return files.map((file, i) => ({ role: i === 0 ? "program" : "interpreter", path: file.path, ...identityFields(file.identity), sha256: "" }));
}

/** An image's load bias in the plan: what its fixed regions' addresses
 * include (0 for an image the kernel places: its regions are relative). */
function planBias(plan: Plan, role: "program" | "interpreter"): number {
  return role === "program" ? plan.program.bias : (plan.interpreter?.bias ?? 0);
}

/** The loader's regions with their addresses as linked, for finding a
 * profile's pages among them. */
function targetRegions(plan: Plan, regions: readonly Region[]): TargetRegion[] {
  return regions.map((r) => ({
    start: r.start,
    base: r.base,
    length: r.length,
    file: r.file,
    offset: r.offset,
    demand: r.demand,
    linkStart: r.start - (r.base === "fixed" ? planBias(plan, r.file) : 0),
  }));
}

/** What a region holds, as the report names it ("prog text"). */
function regionName(r: Region, program: string, interpreter: string | null): string {
  const image = basename(r.file === "program" ? program : (interpreter ?? ""));
  const role = r.offset === null ? "bss" : r.prot & PROT_WRITE ? "data" : r.prot & PROT_EXEC ? "text" : "read-only";
  return `${image} ${role}`;
}

/**
 * The start mappings' lines, which the loader writes with their addresses
 * put in (spec.ts SpecStartLine): a region's each (the loader orders them
 * by address), the stack's, then a prefetched run's each, the region's line
 * for its pages, marked as coming from the profile.
 */
function startLines(planned: PlannedLaunch): SpecStartLine[] {
  const { pager, plan, regions, stack, image, interpreterImage, prefetchRuns, mechanism } = planned;
  const mappings = regionMappings(regions, image.file, interpreterImage?.file ?? null);
  const lines = mappings.map((m, i): SpecStartLine => {
    const [head, tail] = mappingLineParts(pager, m, m.demand ? mechanism : null);
    return { address: regions[i]!.start, base: regions[i]!.base, head, tail };
  });
  const [stackHead, stackTail] = mappingLineParts(pager, { size: stack.top - stack.mappingStart, offset: null, prot: stackProtection(plan), source: "anon=stack", demand: false }, null);
  lines.push({ address: stack.mappingStart, base: "stack", head: stackHead, tail: stackTail });
  for (const run of prefetchRuns) {
    const index = regions.findIndex((r) => r.base === run.base && run.start >= r.start && run.start < r.start + r.length);
    const region = regions[index]!;
    const offset = region.offset === null ? null : region.offset + (run.start - region.start);
    const [head, tail] = mappingLineParts(pager, { ...mappings[index]!, size: run.pages * PAGE_SIZE, offset }, null);
    lines.push({ address: run.start, base: run.base, head, tail: `${tail} prefetched` });
  }
  return lines;
}

/** The pages of the runs, where they are in this run. */
function prefetchedPages(runs: readonly SpecPrefetchRun[], bases: readonly number[]): number[] {
  const pages: number[] = [];
  for (const run of runs) for (let i = 0; i < run.pages; i++) pages.push(locate(run.base, run.start, bases) + i * PAGE_SIZE);
  return pages;
}

/** The trace's record of prefetched pages: a line per run, before any
 * fault of the program's (the loader maps them before the jump). */
function prefetchTraceLines(runs: readonly SpecPrefetchRun[], bases: readonly number[]): string {
  return runs.map((run) => `${JSON.stringify({ t_ms: 0, kind: "prefetch", mapped: prefetchedPages([run], bases).map(hex) })}\n`).join("");
}

/** An address of the plan where the loader finds it: relative to its base. */
function locate(base: Base, value: number, bases: readonly number[]): number {
  return value + bases[BASES.indexOf(base)]!;
}

/** The program as the launch found it: its files (the program's first,
 * the interpreter's after), parsed, and what the run will say of them. */
interface FoundProgram {
  pager: PagerName;
  argv: string[];
  execfn: string;
  image: ElfImage;
  interpreterImage: ElfImage | null;
  files: OpenedFile[];
  notes: string[];
}

/** A launch planned: everything the loader is to do, decided. */
interface PlannedLaunch extends FoundProgram {
  facts: MachineFacts;
  policy: Policy;
  predictor: PredictorName;
  predictPages: number;
  /** How demand faults are caught (null: apager). */
  mechanism: Mechanism | null;
  access: UserfaultfdAccess;
  plan: Plan;
  /** The plan's regions as the loader maps them (from image copies under
   * userfaultfd), and the copies they need. */
  regions: SpecRegion[];
  copies: ReturnType<typeof copyLayout>["pieces"];
  stack: StackImage;
  envp: string[];
  specLength: number;
  /** The profile's images (a run's files as a profile names them). */
  images: ProfileImage[];
  /** --prefetch: why the profile was refused, and what of it is mapped. */
  refused: string | null;
  prefetching: PrefetchPlan | null;
  prefetchRuns: SpecPrefetchRun[];
  /** The loader waits for a go once placed; the waiter sends it itself. */
  waitForGo: boolean;
  waiterGoes: boolean;
}

/**
 * Plan the launch: the machine's (or the client's) facts, the profile to
 * prefetch, the paging mechanism, the regions (a plan made before for the
 * same files taken again, with new draws), the stack image, and whether the
 * loader waits for a go. Effects: none but reading; a program that cannot
 * be planned is a LoadError.
 */
function planLaunch(found: FoundProgram, client: LaunchClient | null, options: LaunchOptions): PlannedLaunch {
  const { pager, argv, execfn, image, interpreterImage, files, notes } = found;
  const facts = client ? machineFactsOf(client.facts) : machineFacts();
  if (!facts.mayReplaceExe) {
    const note = originNote(image.file, programOriginPaths(image, files[0]!.fd));
    if (note) notes.push(note);
  }
  const random = facts.randomize ? (options.random ?? cryptoRandom) : noRandomness;
  // --prefetch: a profile made for these very files, or none.
  const images = profileImages(files);
  let profile = options.prefetch?.profile ?? null;
  const refused = profile ? profileMismatch(profile, images, (role) => sha256OfFile(files[role === "program" ? 0 : 1]!.fd)) : null;
  if (refused) {
    options.prefetch?.onRefused?.(refused);
    profile = null;
  }
  const envp = Object.entries(options.env ?? process.env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  const policy = POLICY_OF[pager];
  const specLength = specBound({
    argv,
    envp,
    execfn,
    auxvEntries: facts.auxvTemplate.length,
    segments: image.segments.length + (interpreterImage?.segments.length ?? 0),
    prefetchPages: profile && policy !== "eager" ? profile.pages.length : 0,
    eventRing: policy !== "eager",
    startLogNameBytes: options.log ? Math.max(Buffer.byteLength(image.file), Buffer.byteLength(interpreterImage?.file ?? "")) : null,
  });
  const memoryFacts = memoryFactsFor(imageBytes(image) + (interpreterImage ? imageBytes(interpreterImage) : 0));
  const kept = mergeRanges([...loaderMemory(), { start: PLAN_ADDRESS, end: PLAN_ADDRESS + specLength, name: "plan" }]);
  const access = policy === "eager" ? "none" : userfaultfdAccess();
  let mechanism = policy === "eager" ? null : choosePaging(options.paging ?? "auto", image.file, access);
  const scope: DemandScope = mechanism === "userfaultfd" && access === "user-mode" ? "code" : "all";
  const planOptions = {
    policy,
    scope,
    kept,
    minAddress: facts.mayMapLowPages ? 0 : facts.mmapMinAddress,
    random,
    ...(memoryFacts ? { commit: memoryFacts.commit } : {}),
    brkWindow: facts.brkWindow,
    legacyReadImpliesExec: facts.legacyReadImpliesExec,
    // Populated pages must fit; dpager's are mapped when touched.
    ...(policy === "demand" || !memoryFacts ? {} : { available: memoryFacts.available }),
  };
  // The same unchanged files planned the same way before: only the draws
  // are new (planAgain).
  const planKey = [files[0]!.identity, image.file, files[1]?.identity ?? "", interpreterImage?.file ?? "", policy, scope, planOptions.minAddress, ...kept.flatMap((k) => [k.start, k.end])].join(" ");
  const plan = plannedAgain(planKey, (previous) => (previous ? planAgain(previous, image, interpreterImage, planOptions) : planLoad(image, interpreterImage, planOptions)));
  if (mechanism === "userfaultfd" && belowUserfaultfd(plan, facts.mmapMinAddress)) {
    if (options.paging === "userfaultfd") {
      throw new LoadError(image.file, `userfaultfd cannot page memory below vm.mmap_min_addr (${facts.mmapMinAddress}); use --paging signal`, "EINVAL");
    }
    if (scope !== "all") throw new LoadError(image.file, `an ordinary user's userfaultfd cannot page memory below vm.mmap_min_addr (${facts.mmapMinAddress})`, "EINVAL");
    mechanism = "signal";
  }
  if (scope === "code") notes.push(userModeNote(pager, plan));
  // Under userfaultfd, file pages come from sealed copies of the files,
  // whose bytes stay in the kernel's page cache whatever happens to Bun.
  const layout = mechanism === "userfaultfd" ? copyLayout(plan.regions, { program: files[0]!.size, interpreter: files[1]?.size ?? 0 }) : null;
  const regions: SpecRegion[] = layout ? layout.regions : plan.regions;
  const prefetching: PrefetchPlan | null = profile && policy !== "eager" ? prefetchPlan(profile, targetRegions(plan, regions)) : null;
  const prefetchRuns: SpecPrefetchRun[] = (prefetching?.runs ?? []).map((run) => ({ start: run.start, base: run.base, pages: run.pages }));
  // The loader logs the start mappings itself and goes on; it waits for
  // Bun's go once placed only for --gdb (beforeStart attaches first) and
  // when it prefetches (the end look's hold comes first, and the trace's
  // prefetch lines before any fault's).
  const waitForGo = prefetchRuns.length > 0 || options.beforeStart !== undefined;
  // Prefetching with nothing to trace or attach: the program waits only
  // for the end look's hold, which the waiter takes, so the waiter sends
  // the go too (a trip through JavaScript's event loop costs a
  // millisecond or more).
  const waiterGoes = prefetchRuns.length > 0 && options.beforeStart === undefined && (options.traceFd ?? -1) < 0;
  const random16 = new Uint8Array(16);
  crypto.getRandomValues(random16);
  const stack: StackImage = buildStack({
    top: NOMINAL_STACK_TOP,
    argv,
    envp,
    execfn,
    platform: PLATFORM,
    random: random16,
    auxv: programAuxv(facts.auxvTemplate, {
      programHeaders: plan.programHeaders,
      programHeaderCount: image.phnum,
      interpreterBase: plan.interpreter ? plan.interpreter.bias : 0,
      programEntry: plan.programEntry,
      vdso: 0,
    }),
    alignGap: random(STACK_ALIGN_RANDOM_BYTES),
    stackLimit: facts.stackLimit ?? Infinity,
  });
  const predictor: PredictorName = pager === "hpager" ? (options.predictor ?? "next") : "none";
  const predictPages = pager === "hpager" ? (options.pages ?? DEFAULT_PREDICT_PAGES) : 1;
  return { ...found, facts, policy, predictor, predictPages, mechanism, access, plan, regions, copies: layout?.pieces ?? {}, stack, envp, specLength, images, refused, prefetching, prefetchRuns, waitForGo, waiterGoes };
}

/** Write the plan into the spec's memory, as the loader reads it
 * (spec.ts encodeSpec). Returns whether the program keeps the memory
 * mapped (SIGSEGV paging's ring), which then is never reused. */
function encodeLaunch(planned: PlannedLaunch, launching: Launching, options: LaunchOptions, spec: SpecMemory): boolean {
  const { plan, regions, stack, policy, mechanism, access, facts } = planned;
  const programBase: Base = plan.program.byKernel ? "program" : "fixed";
  const interpreterBase: Base = plan.interpreter?.byKernel ? "interpreter" : "fixed";
  encodeSpec(
    {
      regions,
      program: plan.program,
      interpreter: plan.interpreter,
      stack,
      entry: { at: plan.entry, base: plan.interpreter ? interpreterBase : programBase },
      programBase,
      interpreterBase,
      brkBase: plan.brkBase,
      waitForGo: planned.waitForGo,
      processName: basename(planned.execfn).slice(0, PROCESS_NAME_LENGTH),
      memory: {
        startCode: plan.startCode,
        endCode: plan.endCode,
        startData: plan.startData,
        endData: plan.endData,
        startBrk: plan.brk,
        brk: plan.brk,
        startStack: stack.sp,
        argStart: stack.argStart,
        argEnd: stack.argEnd,
        envStart: stack.envStart,
        envEnd: stack.envEnd,
        auxv: stack.auxvAt,
      },
      replaceExe: facts.mayReplaceExe,
      timers: launching.handover.timers,
      policy,
      predictor: planned.predictor,
      predictPages: planned.predictPages,
      eventsWanted: Boolean(options.log) || (options.traceFd ?? -1) >= 0 || launching.eventFd >= 0,
      mechanism: mechanism ?? "signal",
      friendlySeed: options.friendly ? friendlySeed() : 0n,
      friendlyReraise: options.friendly === true && reraiseWanted(options.env ?? process.env),
      userModeOnly: mechanism === "userfaultfd" && access === "user-mode",
      prefetch: planned.prefetchRuns,
      startLines: options.log ? startLines(planned) : [],
      startLinesSorted: options.log ? regions.length : 0,
      stackProt: stackProtection(plan),
      readImpliesExec: plan.readImpliesExec,
      vdso: facts.vdsoBlock,
    },
    spec.bytes,
  );
  return pagesBySignal(regions, mechanism ?? "signal") && policy !== "eager";
}

/** A launch whose loader has its plan: the program's pid (and a pidfd for
 * it, -1 where none could be opened) and the waiter that serves and
 * watches it. */
interface RunningLaunch {
  pid: number;
  pidfd: number;
  waiter: Waiter;
  /** When the plan was sent (performance.now()): the run's clock. */
  startedAt: number;
}

/**
 * Send the loader its plan (with the image copies userfaultfd paging maps
 * from), learn the program's pid and start the waiter. From here the
 * launch is the waiter's: `launching.waiting`.
 */
function startRun(planned: PlannedLaunch, launching: Launching, options: LaunchOptions, spec: SpecMemory): RunningLaunch {
  const { files, copies, client } = { ...planned, client: launching.client };
  const loader = launching.loader;
  const programCopy = copies.program ? imageCopyFor(files[0]!, copies.program) : -1;
  const interpreterCopy = copies.interpreter ? imageCopyFor(files[1]!, copies.interpreter) : -1;
  for (const note of planned.notes) options.note?.(note);
  const startedAt = performance.now();
  const fileFds: [number, number] = [files[0]!.fd, files[1]?.fd ?? -1];
  let pidfd = -1;
  // A client's end is learned from its pidfd: opened before the plan lets
  // it run (its caller may reap it at once after).
  if (client) {
    pidfd = pidfdOpen(client.pid);
    if (pidfd < 0) throw new Error(`the command's process ${client.pid} ended before its plan was sent (${errnoName(-pidfd)})`);
  }
  try {
    const sentAt = sendPlan(loader.control, spec, PLAN_ADDRESS, { program: fileFds[0], interpreter: fileFds[1], programCopy, interpreterCopy, log: options.log ? (options.faultLogFd ?? 2) : -1 });
    // The pid now, from the loader's hello (sent as soon as it has cloned
    // itself, while this thread planned): spawn() returns with it. A
    // pidfd opened before anything can reap the program signals it and no
    // process that takes its pid over afterwards.
    const pid = launching.programPid || loaderHello(loader.control);
    if (pid > 0 && !client) {
      launching.programPid = pid;
      loader.programPid = pid;
      pidfd = pidfdOpen(pid);
    }
    const waiter = startWaiter(loader, spec, {
      files: fileFds,
      logFd: options.log ? (options.faultLogFd ?? 2) : -1,
      traceFd: options.traceFd ?? -1,
      eventFd: launching.eventFd,
      labels: [planned.pager, printable(planned.image.file), printable(planned.interpreterImage?.file ?? "")],
      notifyStarted: false,
      go: !planned.waitForGo ? "none" : planned.waiterGoes ? "waiter" : "here",
      notifyPlaced: options.onPlaced !== undefined,
      clockStart: sentAt,
      // Held by a copy of a byte of its stack, written already.
      pinOffset: planned.prefetchRuns.length > 0 ? planned.stack.top - WORD_BYTES : 0,
      ...(client ? { programPidfd: pidfd } : {}),
    });
    launching.waiting = true;
    launching.eventFd = -1;
    // What it runs, should it run itself again through /proc/self/exe.
    const clientPid = client?.pid ?? pid;
    rememberRunning(clientPid, planned.image.file, { pager: planned.pager, paging: options.paging ?? null, predictor: options.predictor ?? null, pages: options.pages ?? null, logged: Boolean(options.log) });
    return { pid, pidfd, waiter, startedAt };
  } catch (error) {
    if (pidfd >= 0) closeSync(pidfd);
    throw error;
  }
}

/** How the run is watched while it runs: a signal sent to it, its end
 * look, and what onStart threw (the launch fails with it once the program
 * ended). */
interface RunWatch {
  ended: boolean;
  signalled: boolean;
  endLook: EndLook | null;
  startProblem: { error?: unknown; set: boolean };
}

/**
 * The program placed (its start mappings logged by the loader): when the
 * loader waits for a go, the prefetched runs to the trace, the end look
 * adopted, beforeStart and the go; then onPlaced, which the loader does not
 * wait for. Returns the next notice.
 */
async function goWhenPlaced(planned: PlannedLaunch, running: RunningLaunch, watch: RunWatch, spec: SpecMemory, options: LaunchOptions, notice: Notice): Promise<Notice> {
  if (notice.kind !== "placed") return notice;
  const { plan, regions, stack, image, interpreterImage, prefetchRuns } = planned;
  const bases = readStatus(spec.view).bases;
  if (planned.waitForGo) {
    if (prefetchRuns.length > 0 && (options.traceFd ?? -1) >= 0) writeSync(options.traceFd!, prefetchTraceLines(prefetchRuns, bases));
    // The waiter held the program's memory already, when prefetching.
    watch.endLook = notice.endLook ? EndLook.adopt(notice.endLook) : null;
    // beforeStart may have ended the program instead (false): no go is owed.
    const goes = options.beforeStart ? (await options.beforeStart(running.pid, resolve(options.cwd ?? process.cwd(), image.file))) !== false : true;
    if (goes && !planned.waiterGoes) running.waiter.go();
  }
  options.onPlaced?.(placedMappings(plan, regions, stack, bases, image, interpreterImage), performance.now() - running.startedAt);
  return running.waiter.next();
}

/** What the launch ends in, once the program has: its outcome, or the
 * LoadError of a loader that failed on the way; for a client, only that
 * failure (null: none), since its end is its caller's to see. */
function endOf(planned: PlannedLaunch, running: RunningLaunch, watch: RunWatch, spec: SpecMemory, options: LaunchOptions, client: LaunchClient | null, notice: Extract<Notice, { kind: "ended" }>): LaunchOutcome | LoadError | null {
  const { pager, mechanism, predictor, predictPages, image, interpreterImage, argv, notes, plan, regions, stack, files, images, prefetchRuns, prefetching } = planned;
  const status = readStatus(spec.view);
  if (client) return status.launched || status.error === 0 ? null : describeFailure(image.file, status, notice.exit);
  const wallMs = performance.now() - running.startedAt;
  const delivery = { ...notice.delivery, eventsNotLogged: status.eventsDropped };
  if (!status.launched) {
    // Killed on its way in (by a signal sent to it, not a fault of the
    // loader's own): it ends as the program would have.
    if (endBeforeLaunch(notice.exit, watch.signalled) === "killed") {
      return killedBeforeStart({ pager, mechanism, predictor, predictPages, image, argv, notes, status, exit: notice.exit, wallMs, mappings: [], delivery, prefetch: null, placedRegions: [], images });
    }
    throw describeFailure(image.file, status, notice.exit);
  }
  if (watch.startProblem.set) throw watch.startProblem.error;
  const mappings = placedMappings(plan, regions, stack, status.bases, image, interpreterImage);
  if (options.record) for (const [i, entry] of images.entries()) entry.sha256 = sha256OfFile(files[i]!.fd);
  const placedRegions: PlacedRegion[] = targetRegions(plan, regions).map((t, i) => ({
    role: t.file,
    name: regionName(regions[i]!, image.file, interpreterImage?.file ?? null),
    address: locate(t.base, t.start, status.bases),
    linkAddress: t.linkStart,
    length: t.length,
    offset: t.offset,
    demand: t.demand,
  }));
  const pages = prefetchedPages(prefetchRuns, status.bases);
  const seen = watch.endLook ? prefetchSeenUnder(mechanism) : null;
  const verdicts = seen ? watch.endLook!.judge(pages, seen) : [];
  const prefetch: PrefetchOutcome | null = options.prefetch
    ? {
        profile: options.prefetch.path,
        refused: planned.refused,
        profilePages: options.prefetch.profile.pages.length,
        planned: prefetching?.pages ?? 0,
        skipped: prefetching?.skipped ?? 0,
        runs: prefetchRuns.length,
        error: status.prefetchError ? errnoName(status.prefetchError) : null,
        pages,
        seen,
        touched: verdicts.filter((v) => v === "touched").length,
        untouched: pages.filter((_, i) => verdicts[i] === "untouched"),
      }
    : null;
  return outcomeOf({ pager, mechanism, predictor, predictPages, image, argv, notes, status, exit: notice.exit, wallMs, mappings, delivery, prefetch, placedRegions, images });
}

/**
 * Plan the launch, send the loader its plan, learn the program's pid and
 * start waiting for it: everything up to the program's run happens here, on
 * this thread, so a program that cannot be run is refused before this
 * returns. The returned launch's `finished` settles once it has ended.
 *
 *   planLaunch    the facts, the profile, the mechanism, the regions, the stack
 *   encodeLaunch  the plan in the spec's memory, as the loader reads it
 *   startRun      the plan sent, the pid, the waiter
 *   goWhenPlaced  the mappings logged and the loader's go, when it waits
 *   endOf         the outcome (or the loader's failure), once it has ended
 */
function startPlanned(launching: Launching, found: FoundProgram, options: LaunchOptions): AnyStartedLaunch {
  const client = launching.client;
  let spec: SpecMemory | null = null;
  let specKept = false;
  try {
    const planned = planLaunch(found, client, options);
    spec = acquireSpecMemory(planned.specLength);
    specKept = encodeLaunch(planned, launching, options, spec);
    const running = startRun(planned, launching, options, spec);
    // While the program runs, the next plain launch's loader is started.
    if (launching.plain) prestartNext(launching.handover);
    const memory = spec;
    const reusable = !specKept;
    spec = null;
    const watch: RunWatch = { ended: false, signalled: false, endLook: null, startProblem: { set: false } };
    const signal = (sig: number): boolean => {
      if (watch.ended || running.pid <= 0) return false;
      const result = running.pidfd >= 0 ? pidfdSignal(running.pidfd, sig) : trySignal(running.pid, sig);
      if (result === 0) watch.signalled = true;
      return result === 0;
    };
    const finished = (async (): Promise<LaunchOutcome | LoadError | null> => {
      try {
        const notice = await goWhenPlaced(planned, running, watch, memory, options, await running.waiter.next());
        running.waiter.close();
        if (notice.kind !== "ended") throw new Error(`faultline: the waiter said ${notice.kind} out of turn`);
        watch.ended = true;
        return endOf(planned, running, watch, memory, options, client, notice);
      } finally {
        watch.ended = true;
        watch.endLook?.release();
        if (running.pidfd >= 0) closeSync(running.pidfd);
        releaseSpecMemory(memory, reusable);
        for (const file of planned.files) closeSync(file.fd);
      }
    })();
    try {
      options.onStart?.(running.pid, planned.mechanism);
    } catch (error) {
      // The program runs all the same: its end is waited for, then this.
      watch.startProblem.error = error;
      watch.startProblem.set = true;
    }
    return { pid: running.pid > 0 ? running.pid : launching.loader.pid, paging: planned.mechanism, signal, finished, program: planned.image.file, hold: (on: boolean) => running.waiter.hold(on) };
  } finally {
    if (spec) releaseSpecMemory(spec, !specKept);
  }
}

/** The mappings the loader made at start, where it made them (sorted). */
function placedMappings(plan: Plan, regions: readonly Region[], stack: StackImage, bases: readonly number[], image: ElfImage, interpreter: ElfImage | null): Mapping[] {
  const mappings = regionMappings(regions, image.file, interpreter?.file ?? null).map((m, i) => ({ ...m, address: locate(regions[i]!.base, m.address, bases) }));
  mappings.sort((a, b) => a.address - b.address);
  mappings.push({ address: locate("stack", stack.mappingStart, bases), size: stack.top - stack.mappingStart, offset: null, prot: stackProtection(plan), source: "anon=stack", demand: false });
  return mappings;
}

/** The program's [stack], as the loader leaves it (place_stack). */
function stackProtection(plan: Plan): number {
  return PROT_READ | PROT_WRITE | (plan.executableStack ? PROT_EXEC : 0);
}

/** Send a signal by pid where no pidfd could be opened (a kernel before
 * 5.3): 0, or a negative errno. */
function trySignal(pid: number, signal: number): number {
  try {
    process.kill(pid, signal);
    return 0;
  } catch {
    return -ESRCH;
  }
}

