/**
 * One run of a program under a pager, from a command line to how it ended:
 *   find and read the program (and its interpreter), validate them, read the
 *   machine's facts, keep memory for the spec, plan the load, build the stack
 *   image, encode the spec, fork, wait without blocking, and explain a loader
 *   failure in one line.
 * The effects live here and in src/shim.ts; every decision is made by the
 * pure modules (elf, plan, stack, auxv, spec).
 */
import { closeSync } from "node:fs";
import { basename } from "node:path";
import { constants as osConstants } from "node:os";
import { programAuxv } from "./auxv.ts";
import { PAGE_SIZE, parseElf, requireLoadable, type ElfImage } from "./elf.ts";
import { LoadError, printable } from "./errors.ts";
import { DEFAULT_STACK_LIMIT, readMachineFacts, readMemoryFacts, type MachineFacts } from "./machine.ts";
import { PROT_EXEC, PROT_READ, PROT_WRITE, noRandomness, pageDown, pageUp, planLoad, type AddressRange, type Plan, type Policy, type Random, type Region } from "./plan.ts";
import { openForLoading, resolveProgram, type OpenedFile } from "./program-file.ts";
import { forkAndLaunch, mapKept, shimExtent, unmapKept, userfaultfdAvailable, waitForExit, errnoName, type ChildExit, type KeptMemory } from "./shim.ts";
import { STAGES, encodeSpec, readStatus, specLength, type LaunchStatus, type Mechanism, type PredictorName } from "./spec.ts";
import { MAX_SCRIPT_DEPTH, parseShebang, scriptArgv } from "./script.ts";
import { buildStack, type StackImage } from "./stack.ts";

export type PagerName = "apager" | "dpager" | "hpager";
export const PAGERS: readonly PagerName[] = ["apager", "dpager", "hpager"];

/** The kernel's answer when /proc/self/exe's file is still mapped: the
 * program is Bun's own executable, so /proc/self/exe is right already. */
const EBUSY = 16;
/** The platform string the kernel puts on the stack (ELF_PLATFORM). */
const PLATFORM = "x86_64";
/** arch_align_stack's random offset is below 8 KiB. */
const STACK_ALIGN_RANDOM_BYTES = 8192;
/** The kernel keeps 256 pages free below a growing stack (stack_guard_gap). */
const STACK_GUARD_GAP = 256 * PAGE_SIZE;
/** Longest process name the kernel keeps (TASK_COMM_LEN less the NUL). */
const PROCESS_NAME_LENGTH = 15;
/** Signals Bun ignores for itself; the program gets them at their defaults. */
const BUN_IGNORED_SIGNALS = [osConstants.signals.SIGPIPE, osConstants.signals.SIGXFSZ];
/** Upper bound of the stack image's bytes besides the strings: the random
 * gap, platform string, random bytes, padding and a page of slack. */
const STACK_IMAGE_OVERHEAD = STACK_ALIGN_RANDOM_BYTES + 2 * PAGE_SIZE;
/** st_mode bits: set-user-ID, set-group-ID, and group execute permission
 * (without which set-group-ID means mandatory locking, not a new group). */
const S_ISUID = 0o4000;
const S_ISGID = 0o2000;
const S_IXGRP = 0o010;

/** The paging policy each pager runs. */
export const POLICY_OF: Record<PagerName, Policy> = { apager: "eager", dpager: "demand", hpager: "hybrid" };
export const PREDICTORS: readonly PredictorName[] = ["next", "stride", "readahead"];
/** Pages per fault when hpager is not told otherwise. */
export const DEFAULT_PREDICT_PAGES = 2;

/** "auto" pages with userfaultfd where the kernel allows it (see
 * userfaultfdAvailable), else with the SIGSEGV handler. */
export type PagingChoice = "auto" | Mechanism;
export const PAGING_CHOICES: readonly PagingChoice[] = ["auto", "signal", "userfaultfd"];

export interface LaunchOptions {
  pager?: PagerName;
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
  /** The program's environment; Bun's own by default. */
  env?: Record<string, string | undefined>;
  /** Called with each mapping line made at start (without the newline).
   * Demand-paged mappings are logged as they happen, by the shim, to
   * `faultLogFd` (stderr by default) when `log` is set. */
  log?: ((line: string) => void) | null;
  faultLogFd?: number;
  /** Called with the child's pid once it is running, and how its demand
   * faults are caught (null: apager, none). */
  onStart?: (pid: number, paging: Mechanism | null) => void;
  /** Called before the program starts with each way the run will differ
   * from a kernel-started one that is known by then (a set-user-ID bit that
   * gives no privilege). The same text is in the outcome's `differences`. */
  note?: ((text: string) => void) | null;
  /** Randomness for addresses; the kernel's choice (randomize_va_space,
   * personality) decides whether it is used. Tests pass their own. */
  random?: Random;
}

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

/** The mechanism for a demand-paged run: userfaultfd where the kernel
 * allows it (auto), or as asked; asking for userfaultfd where it is not
 * available is an error rather than a silent change of mechanism. */
function choosePaging(choice: PagingChoice, file: string, plan: Plan, minAddress: number): Mechanism {
  if (choice === "signal") return "signal";
  const available = userfaultfdAvailable();
  if (choice === "userfaultfd" && !available) {
    throw new LoadError(file, "userfaultfd paging is not available here (it needs CAP_SYS_PTRACE, or vm.unprivileged_userfaultfd=1 with fork events allowed); use --paging signal", "EPERM");
  }
  // The kernel serves no userfaultfd range below vm.mmap_min_addr (a program
  // mapped there by root): such a program is paged by the SIGSEGV handler.
  const low = plan.regions.some((r) => r.demand && r.start < minAddress);
  if (choice === "userfaultfd" && low) {
    throw new LoadError(file, `userfaultfd cannot page memory below vm.mmap_min_addr (${minAddress}); use --paging signal`, "EINVAL");
  }
  return available && !low ? "userfaultfd" : "signal";
}

export interface LaunchOutcome {
  pager: PagerName;
  /** How demand faults were caught ("userfaultfd" or "signal"); null for apager. */
  paging: Mechanism | null;
  /** hpager's predictor and pages per fault ("none" and 1 otherwise). */
  predictor: PredictorName;
  pages: number;
  program: string;
  argv: string[];
  exitCode: number | null;
  signal: string | null;
  signalNumber: number | null;
  coreDumped: boolean;
  faults: number;
  pagesMapped: number;
  wallMs: number;
  /** The program's own peak resident set, in KiB (Bun's memory excluded). */
  maxRssKiB: number;
  userMs: number;
  systemMs: number;
  mappings: Mapping[];
  /** Ways this run may differ from a kernel-started one, in words. */
  differences: string[];
  /** Set when a demand-paged program died of a fault the pager's handler
   * never saw (SIGSEGV blocked, or a handler of the program's own). */
  unseenFault: string | null;
}

/** Kept memory of finished launches, reused: a fresh shared mapping costs a
 * page fault per page on first write, which is most of a launch's set-up. */
const keptPool: KeptMemory[] = [];
const KEPT_POOL_SIZE = 4;

function acquireKept(length: number): KeptMemory {
  const index = keptPool.findIndex((m) => m.length >= length);
  if (index >= 0) return keptPool.splice(index, 1)[0]!;
  return mapKept(length);
}

function releaseKept(memory: KeptMemory): void {
  keptPool.push(memory);
  if (keptPool.length > KEPT_POOL_SIZE) unmapKept(keptPool.shift()!);
}

let cachedFacts: MachineFacts | null = null;
function machineFacts(): MachineFacts {
  cachedFacts ??= readMachineFacts();
  return cachedFacts;
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

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

export function protString(prot: number): string {
  return `${prot & PROT_READ ? "r" : "-"}${prot & PROT_WRITE ? "w" : "-"}${prot & PROT_EXEC ? "x" : "-"}`;
}

export function mappingLine(pager: PagerName, m: Mapping, reserved = false): string {
  const offset = m.offset === null ? "-" : hex(m.offset);
  if (reserved) return `${pager}: reserve addr=${hex(m.address)} size=${hex(m.size)} off=${offset} prot=--- (${protString(m.prot)} on demand) ${m.source}`;
  return `${pager}: map addr=${hex(m.address)} size=${hex(m.size)} off=${offset} prot=${protString(m.prot)} ${m.source}`;
}

function signalName(n: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name;
  return `SIG${n}`;
}

/** Merge overlapping or touching ranges; sorted by start. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: AddressRange[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) {
      last.end = Math.max(last.end, r.end);
      last.name = `${last.name}+${r.name}`;
    } else merged.push({ ...r });
  }
  return merged;
}

function regionMappings(plan: Plan, program: string, interpreter: string | null): Mapping[] {
  return plan.regions.map((r: Region) => ({
    address: r.start,
    size: r.length,
    offset: r.offset,
    prot: r.prot,
    source: printable(r.offset === null ? `anon=bss(${r.file === "program" ? basename(program) : basename(interpreter ?? "")})` : `file=${r.file === "program" ? program : interpreter}`),
    demand: r.demand,
  }));
}

function describeFailure(file: string, status: LaunchStatus, exit: ChildExit): LoadError {
  const stage = STAGES[status.stage] ?? `stage ${status.stage}`;
  const signaled = (exit.waitStatus & 0x7f) !== 0;
  if (signaled) {
    return new LoadError(file, `the loader was killed by ${signalName(exit.waitStatus & 0x7f)} while ${stage}`, "EFAULT");
  }
  const errno = errnoName(status.error);
  const detail = status.stage === 7 || status.stage === 8 || status.stage === 9 ? ` (region ${status.detail})` : status.detail ? ` (${hex(status.detail)})` : "";
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

/** Run argv under a pager and report how it ended. Rejects with a LoadError
 * when the program cannot be run (exitCode 127 or 126 on the error). */
export async function launch(argv: readonly string[], options: LaunchOptions = {}): Promise<LaunchOutcome> {
  const pager = options.pager ?? "apager";
  if (argv.length === 0 || argv[0] === undefined) throw new LoadError("''", "no program given", "ENOENT");
  const opened: OpenedFile[] = [];
  try {
    // binfmt_script: follow #! lines to the ELF interpreter that runs them.
    const execfn = resolveProgram(argv[0]);
    let programArgv = [...argv];
    let program = openForLoading(execfn, "program");
    opened.push(program);
    for (let depth = 0; ; depth++) {
      const shebang = parseShebang(program.head);
      if (shebang === null) break;
      if (shebang === "malformed") throw new LoadError(program.path, "malformed #! line", "ENOEXEC");
      if (depth >= MAX_SCRIPT_DEPTH) throw new LoadError(execfn, `more than ${MAX_SCRIPT_DEPTH} levels of #! interpreters`, "ELOOP");
      programArgv = scriptArgv(shebang, program.path, programArgv);
      closeSync(opened.pop()!.fd);
      program = openForLoading(shebang.interpreter, "program");
      opened.push(program);
    }
    const image = parseElf(program.path, program.head, program.size, "program");
    let interpreterImage: ElfImage | null = null;
    if (image.interpreter !== null) {
      const interpreter = openForLoading(image.interpreter, "interpreter");
      opened.push(interpreter);
      interpreterImage = parseElf(interpreter.path, interpreter.head, interpreter.size, "interpreter");
    }
    // Everything execve checks before its point of no return has passed;
    // what the kernel would meet after it, mapping the program and then the
    // interpreter, is refused now.
    requireLoadable(image);
    if (interpreterImage) requireLoadable(interpreterImage);
    const notes = [ignoredPrivilege(program, process.geteuid?.() ?? 0, process.getegid?.() ?? 0)].filter((n) => n !== null);
    return await runPlanned(pager, programArgv, execfn, image, interpreterImage, opened, notes, options);
  } finally {
    for (const file of opened) closeSync(file.fd);
  }
}

async function runPlanned(
  pager: PagerName,
  argv: string[],
  execfn: string,
  image: ElfImage,
  interpreterImage: ElfImage | null,
  files: OpenedFile[],
  notes: string[],
  options: LaunchOptions,
): Promise<LaunchOutcome> {
  const facts = machineFacts();
  const random = facts.randomize ? (options.random ?? cryptoRandom) : noRandomness;
  const envp = Object.entries(options.env ?? process.env)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  // The stack's reach, kept clear of the plan, assumes the kernel's default
  // when RLIMIT_STACK is unlimited; the E2BIG limit takes it as it is.
  const stackLimit = facts.stackLimit ?? DEFAULT_STACK_LIMIT;

  const encoder = new TextEncoder();
  const stringBytes = [...argv, ...envp, execfn].reduce((n, s) => n + encoder.encode(s).length + 1, 0);
  const auxvBound = facts.auxvTemplate.length + 12;
  const pointerBytes = (argv.length + envp.length + 3 + 2 * auxvBound) * 8;
  const policy = POLICY_OF[pager];
  const predictor: PredictorName = pager === "hpager" ? (options.predictor ?? "next") : "none";
  const predictPages = pager === "hpager" ? (options.pages ?? DEFAULT_PREDICT_PAGES) : 1;
  const regionBound = 2 * (image.segments.length + (interpreterImage?.segments.length ?? 0));
  const keptBound = facts.specialMappings.length + 3;
  const length = specLength({
    keptCount: keptBound,
    regionCount: regionBound,
    auxvEntries: auxvBound,
    stackImageBytes: stringBytes + pointerBytes + STACK_IMAGE_OVERHEAD,
    // The mechanism is chosen once the plan is known; room for the SIGSEGV
    // mechanism's event ring is kept either way (untouched, it costs nothing).
    eventRing: policy !== "eager",
  });
  const memory = acquireKept(length);
  try {
    const shim = shimExtent();
    const kept = mergeRanges([
      { start: pageDown(shim.start), end: pageUp(shim.end), name: "shim" },
      { start: memory.address, end: memory.address + memory.length, name: "launch spec" },
      ...facts.specialMappings,
    ]);
    const stackReach: AddressRange = { start: facts.stackTop - stackLimit - STACK_GUARD_GAP, end: facts.stackTop, name: "stack" };
    const memoryFacts = readMemoryFacts();
    const vdso = facts.specialMappings.find((m) => m.name === "[vdso]");
    const plan = planLoad(image, interpreterImage, {
      policy,
      kept: [...kept, stackReach],
      minAddress: facts.mayMapLowPages ? 0 : facts.mmapMinAddress,
      random,
      commit: memoryFacts.commit,
      ...(vdso ? { topDownStart: vdso.end } : {}),
      // Populated pages must fit; dpager's are mapped when touched.
      ...(policy === "demand" ? {} : { available: memoryFacts.available }),
    });
    const mechanism = policy === "eager" ? null : choosePaging(options.paging ?? "auto", image.file, plan, facts.mmapMinAddress);
    const random16 = new Uint8Array(16);
    crypto.getRandomValues(random16);
    const stack: StackImage = buildStack({
      top: facts.stackTop,
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
      }),
      alignGap: random(STACK_ALIGN_RANDOM_BYTES),
      stackLimit: facts.stackLimit ?? Infinity,
    });
    const stackProt = PROT_READ | PROT_WRITE | (plan.executableStack ? PROT_EXEC : 0);
    encodeSpec(
      {
        kept,
        regions: plan.regions,
        files: [files[0]!.fd, files[1]?.fd ?? -1],
        stack,
        stackStart: stack.mappingStart,
        stackProt,
        entry: plan.entry,
        processName: basename(execfn).slice(0, PROCESS_NAME_LENGTH),
        signalsToDefault: BUN_IGNORED_SIGNALS.reduce((mask, sig) => mask | (1n << BigInt(sig - 1)), 0n),
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
        },
        rssReset: true,
        unmapAtJump: policy === "eager",
        policy,
        predictor,
        predictPages,
        eventsWanted: Boolean(options.log) || (options.traceFd ?? -1) >= 0,
        mechanism: mechanism ?? "signal",
        friendlySeed: options.friendly ? friendlySeed() : 0n,
        friendlyReraise: options.friendly === true && reraiseWanted(options.env ?? process.env),
      },
      memory.address,
      memory.bytes,
    );

    const mappings = regionMappings(plan, image.file, interpreterImage?.file ?? null);
    mappings.push({ address: stack.mappingStart, size: stack.top - stack.mappingStart, offset: null, prot: stackProt, source: "anon=stack", demand: false });
    if (options.log) for (const m of mappings) options.log(mappingLine(pager, m, m.demand));

    for (const note of notes) options.note?.(note);
    const started = performance.now();
    const pid = forkAndLaunch(memory.address);
    options.onStart?.(pid, mechanism);
    const exit = await waitForExit(pid, memory.address, {
      logFd: options.log ? (options.faultLogFd ?? 2) : -1,
      traceFd: options.traceFd ?? -1,
      labels: [pager, printable(image.file), printable(interpreterImage?.file ?? "")],
    });
    const wallMs = performance.now() - started;
    const status = readStatus(memory.view);
    if (!status.launched) throw describeFailure(image.file, status, exit);

    const signalNumber = exit.waitStatus & 0x7f;
    const differences: string[] = [...notes];
    if (status.mmMapError) differences.push(`the kernel refused the new memory layout (PR_SET_MM_MAP: ${errnoName(status.mmMapError)}): /proc/self/cmdline, environ and auxv, and brk, still describe Bun`);
    else if (status.exeError && status.exeError !== EBUSY) differences.push(`/proc/self/exe still names Bun (replacing it needs CAP_SYS_RESOURCE: ${errnoName(status.exeError)})`);
    if (status.rssResetError) differences.push(`maxRssKiB includes Bun's memory (/proc/self/clear_refs: ${errnoName(status.rssResetError)})`);
    if (status.handlerError) differences.push(`the ${mechanism === "userfaultfd" ? "userfaultfd server" : "fault handler"} could not map a page (${errnoName(status.handlerError)}${status.handlerError === 12 ? ": vm.max_map_count or memory exhausted" : ""}); the program was ended with SIGSEGV`);
    if (status.eventsDropped) differences.push(`${status.eventsDropped} fault events were not logged (the log fell behind)`);
    // A demand-paged program that died of SIGSEGV without the pager's
    // handler seeing any genuine fault died of a fault the handler never
    // saw: the program had SIGSEGV blocked (glibc does, inside
    // pthread_create, fork and abort, which a static program runs from pages
    // the pager demand-pages), or had installed a handler of its own. Both
    // are known limits of a signal-based pager. SIGBUS is never the pager's
    // doing (its handler takes SIGSEGV only): it is a page past the end of
    // the file, touched, as it would be natively.
    const unseenFault =
      mechanism === "signal" && status.pagesEnabled > 0 && status.genuineFaults === 0 && signalNumber === osConstants.signals.SIGSEGV
        ? `${printable(image.file)} touched a page ${pager} had not mapped yet while the pager's fault handler could not run: the program had SIGSEGV blocked (glibc blocks it inside pthread_create, which a static program runs from demand-paged pages) or handled by a handler of its own (language runtimes such as Bun install one). It died of that fault; a signal-based pager cannot run it yet: use apager${pager === "dpager" ? " or hpager" : ""}`
        : null;
    if (unseenFault) differences.push(unseenFault);
    const startPages = mappings.reduce((n, m) => n + (m.demand ? 0 : m.size / PAGE_SIZE), 0);
    return {
      pager,
      paging: mechanism,
      predictor,
      pages: predictPages,
      program: image.file,
      argv,
      exitCode: signalNumber === 0 ? (exit.waitStatus >> 8) & 0xff : null,
      signal: signalNumber === 0 ? null : signalName(signalNumber),
      signalNumber: signalNumber === 0 ? null : signalNumber,
      coreDumped: (exit.waitStatus & 0x80) !== 0,
      faults: status.faults,
      pagesMapped: startPages + status.pagesEnabled,
      wallMs,
      maxRssKiB: exit.maxRssKiB,
      userMs: exit.userMicros / 1000,
      systemMs: exit.systemMicros / 1000,
      mappings,
      differences,
      unseenFault: unseenFault,
    };
  } finally {
    releaseKept(memory);
  }
}
