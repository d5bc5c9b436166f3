/**
 * Builds the C libraries in shim/ with the system compiler whenever one is
 * missing or older than any of its sources: libfaultline.so (the pagers' and
 * lazy copy's shim, loaded through bun:ffi) and libetsbefriends.so (friendly
 * segfaults, preloaded into other programs). Bun does not run dependencies'
 * install scripts, so they build on first use instead of at install.
 *
 * Run directly (`bun run build:shim`) to build both now; `--force` rebuilds.
 */
import { accessSync, constants as fsConstants, existsSync, fstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { PAGER_ADDRESS_SPACE_KIB } from "../loader/contract.ts";

/** Whether fd is a terminal, loading node:tty (and with it Node's streams,
 * milliseconds of every start) only for a character device. */
export function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return (createRequire(import.meta.url)("node:tty") as typeof import("node:tty")).isatty(fd);
}

/** The project's root, where shim/ is: the parent of src/, found by looking
 * upward from each of `starts` in turn. This module also runs bundled into
 * the command (build/command/cli.js, src/cli/command.ts), and a
 * bundle carries the directory it was built in: where that is out of reach
 * (a copy of the checkout run by another user), the script Bun was given
 * (src/cli/command.ts) says where the project is. */
function projectRoot(starts: readonly string[]): string {
  for (const start of starts) {
    for (let dir = start; ; dir = dirname(dir)) {
      if (existsSync(join(dir, "shim", "loader", "loader.c"))) return dir;
      if (dirname(dir) === dir) break;
    }
  }
  return resolve(starts[0]!, "..", "..");
}

export const PROJECT_ROOT = projectRoot([import.meta.dir, ...(process.argv[1] ? [dirname(resolve(process.argv[1]))] : [])]);
const SHIM_DIR = join(PROJECT_ROOT, "shim");
/** Where the package keeps what it builds, when it may write there. */
const PACKAGE_BUILD_DIR = join(SHIM_DIR, "build");
const SHIM_NAME = "libfaultline.so";
const FRIENDLY_NAME = "libetsbefriends.so";
const LOADER_NAME = "faultline-loader";
/** Where the loader is linked: a fixed address far from where programs go
 * (ET_EXEC near 0x400000, PIE near 0x555555554000, the mmap area under the
 * stack near 0x7f0000000000), which the plan keeps clear of. */
export const LOADER_ADDRESS = 0x200000000000;

/** Raised when the shim cannot be built; the message is one line for users. */
export class ShimBuildError extends Error {
  override name = "ShimBuildError";
}

/** Flags for code that must run with libc unmapped or inside signal handlers
 * (architecture notes): no builtins turned into libc calls, no stack
 * protector (its canary lives behind the thread pointer the program
 * replaces), no loops turned into memset/memcpy. */
const FREESTANDING_FLAGS = [
  "-ffreestanding",
  "-fno-builtin",
  "-fno-stack-protector",
  "-fno-tree-loop-distribute-patterns",
  "-fno-jump-tables",
];

/* Includes name their folder ("common/sys.h", "paging/regions.h"), found
 * from shim/ itself, so each file says which product it uses. */
const COMMON_FLAGS = ["-std=gnu11", "-O2", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", `-I${SHIM_DIR}`];

/** Set to 1 by the project's own tests and CI: warnings fail the build
 * there. A user's build never fails on a warning a newer compiler adds. */
const STRICT_ENV = "FAULTLINE_WERROR";

/** A translation unit (its path under shim/, which has one folder per
 * product and the TypeScript/C contract at its top) and whether it runs on
 * a freestanding path. */
interface Unit {
  source: string;
  freestanding: boolean;
  /** Macros it is compiled with (-D), beyond the common flags. */
  defines?: readonly string[];
}

/** How one library (or the loader) is made from its units. */
interface Recipe {
  /** Its file's name in the build directory. */
  name: string;
  units: readonly Unit[];
  /** How the objects are linked: the flags before them, and the libraries
   * after them. */
  linkFlags: readonly string[];
  link: readonly string[];
  /** What its freestanding units are, for the error if they call out. */
  freestandingPart: string;
}

/** The friendly fault handler: the report, and the backtrace it gives
 * (shim/friendly/backtrace.h). All freestanding: they run in a crashing
 * program. */
const FRIENDLY_REPORT_UNITS: readonly Unit[] = ["friendly-report.c", "address-space.c", "module.c", "unwind.c", "symbols.c", "source-lines.c", "instruction.c", "abort-message.c"].map((name) => ({
  source: `friendly/${name}`,
  freestanding: true,
}));

/** A shared library for Bun or for LD_PRELOAD: -z defs, so a missing symbol
 * fails the build, not a load. */
const SHARED_LIBRARY = ["-shared", "-Wl,-z,defs", "-Wl,-z,noexecstack"];

const SHIM_RECIPE: Recipe = {
  name: SHIM_NAME,
  units: [
    // The vfork child that executes the loader, in Bun's memory: no libc.
    { source: "loader/spawn.c", freestanding: true },
    { source: "loader/launch.c", freestanding: false },
    // The TS/C contract's layout, checked by src/loader/contract.ts.
    { source: "contract-layout.c", freestanding: false },
    { source: "loader/prestart.c", freestanding: false },
    { source: "loader/image-copy.c", freestanding: false },
    { source: "paging/events.c", freestanding: false },
    { source: "paging/serve.c", freestanding: false },
    // Holding a program's memory past its exit for the end look.
    { source: "paging/pin.c", freestanding: false },
    // spawn()'s standard streams, event pipe, pid and pidfd.
    { source: "loader/subprocess.c", freestanding: false },
    // What the caller handed over, the signal relay, the shim's threads.
    { source: "loader/handover.c", freestanding: false },
    { source: "loader/relay.c", freestanding: false },
    // The user's service: its socket, and its clients accepted.
    { source: "loader/service.c", freestanding: false },
    { source: "common/threads.c", freestanding: false },
    // Lazy copy: the fault path runs in a signal handler in the Bun process;
    // the bookkeeping runs on Bun's threads and uses libc.
    { source: "chunks/chunk-fault.c", freestanding: true },
    { source: "chunks/chunk.c", freestanding: false },
  ],
  linkFlags: SHARED_LIBRARY,
  link: ["-lpthread"],
  freestandingPart: "the shim's freestanding path",
};

/** The loader: static, no libc at all (it runs alone in a fresh address
 * space, then as the program's fault handler), linked at LOADER_ADDRESS.
 * Its headers, code and read-only data share one segment
 * (-z noseparate-code): two file-backed mappings instead of four stay in
 * the program, and become_anonymous (shim/loader/loader.c) moves two. */
const LOADER_RECIPE: Recipe = {
  name: LOADER_NAME,
  units: [
    { source: "loader/loader.c", freestanding: true },
    // The installed command's client (bin/faultline): it asks the user's
    // service for the plan, and runs bin/faultline down the plain path
    // when none answers; where that is, the Bun the service runs on, and
    // the address space Bun needs, are fixed for this install.
    { source: "loader/client.c", freestanding: true, defines: [`FL_PACKAGE_ROOT=${JSON.stringify(PROJECT_ROOT)}`, `FL_BUN_PATH=${JSON.stringify(process.execPath)}`, `FL_SERVICE_ADDRESS_SPACE_KIB=${PAGER_ADDRESS_SPACE_KIB}`] },
    // Paging in the program: the SIGSEGV handler, the event ring it writes,
    // and userfaultfd's registration and hand-off.
    { source: "paging/fault-handler.c", freestanding: true },
    { source: "paging/event-ring.c", freestanding: true },
    { source: "paging/userfaultfd.c", freestanding: true },
    { source: "loader/friendly-start.c", freestanding: true },
    // The pagers' --friendly reports genuine faults with the same code as
    // libetsbefriends.so.
    ...FRIENDLY_REPORT_UNITS,
  ],
  linkFlags: ["-static", "-nostdlib", "-no-pie", `-Wl,-Ttext-segment=0x${LOADER_ADDRESS.toString(16)}`, "-Wl,-z,noexecstack", "-Wl,--build-id=none", "-Wl,--no-relax", "-Wl,-z,noseparate-code"],
  link: [],
  freestandingPart: "the loader",
};

/** The set-up links libc (dlsym, pthread keys); the fault handler is
 * freestanding, so the build proves it calls nothing that is not
 * async-signal-safe. --as-needed: on glibc 2.34+ libdl is part of libc, and
 * a preloaded library should not drag an empty libdl into every program. */
const FRIENDLY_RECIPE: Recipe = {
  name: FRIENDLY_NAME,
  units: [
    { source: "friendly/friendly.c", freestanding: false },
    ...FRIENDLY_REPORT_UNITS,
  ],
  linkFlags: SHARED_LIBRARY,
  link: ["-Wl,--as-needed", "-ldl"],
  freestandingPart: "libetsbefriends.so's fault handler",
};

function compilerName(): string {
  return process.env.CC && process.env.CC.trim() !== "" ? process.env.CC.trim() : "cc";
}

interface BuildOptions {
  /** The C compiler (default: $CC, else cc). */
  cc?: string;
  /** Where the library goes (default: in BUILD_DIR). */
  output?: string;
  /** Warnings are errors (-Werror): the project's own tests (default: when
   * FAULTLINE_WERROR=1). */
  strict?: boolean;
}

/** Each source file under shim/ (by its path there) and its modification
 * time, read once per process. */
let sourceTimes: Map<string, number> | null = null;

/** The C sources under dir, its build output apart. */
function collectSourceTimes(dir: string, times: Map<string, number>): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== PACKAGE_BUILD_DIR) collectSourceTimes(path, times);
    } else if (/\.(c|h|S)$/.test(entry.name)) {
      times.set(relative(SHIM_DIR, path), statSync(path).mtimeMs);
    }
  }
}

/** A recipe's sources: its own units, and every header and assembly file
 * (any unit may include any header). */
function newestSourceTime(recipe: Recipe): number {
  if (!sourceTimes) {
    sourceTimes = new Map();
    collectSourceTimes(SHIM_DIR, sourceTimes);
  }
  const own = new Set(recipe.units.map((unit) => unit.source));
  let newest = 0;
  for (const [name, time] of sourceTimes) {
    if (own.has(name) || /\.(h|S)$/.test(name)) newest = Math.max(newest, time);
  }
  return newest;
}

function isStaleIn(dir: string, recipe: Recipe): boolean {
  const output = join(dir, recipe.name);
  if (!existsSync(output)) return true;
  return statSync(output).mtimeMs < newestSourceTime(recipe);
}

function isStale(recipe: Recipe): boolean {
  return isStaleIn(BUILD_DIR, recipe);
}

/** Whether this process may create or replace files in dir (or create dir). */
function mayWrite(dir: string): boolean {
  try {
    accessSync(existsSync(dir) ? dir : dirname(dir), fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The user's cache directory for faultline: $XDG_CACHE_HOME/faultline,
 * else ~/.cache/faultline (where src/loader/image-store.ts keeps its
 * images/ too). */
function userCacheDir(env: Record<string, string | undefined> = process.env): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache"), "faultline");
}

/** A short name for this copy of the package, from where it is: two
 * installs of different versions keep their builds apart. */
function copyName(): string {
  return `shim-${Bun.hash(SHIM_DIR).toString(16).padStart(16, "0").slice(0, 12)}`;
}

/**
 * Where the libraries are built and found: shim/build/ in the package
 * when this process may write there, or when what is there is complete
 * and current (built by the package's owner); else, for an install that
 * is read-only or another user's, this copy's folder in the user's cache
 * directory.
 */
function chooseBuildDir(): string {
  if (mayWrite(PACKAGE_BUILD_DIR)) return PACKAGE_BUILD_DIR;
  if (![SHIM_RECIPE, LOADER_RECIPE, FRIENDLY_RECIPE].some((recipe) => isStaleIn(PACKAGE_BUILD_DIR, recipe))) return PACKAGE_BUILD_DIR;
  return join(userCacheDir(), copyName());
}

const BUILD_DIR = chooseBuildDir();
const SHIM_LIBRARY = join(BUILD_DIR, SHIM_NAME);
const FRIENDLY_LIBRARY = join(BUILD_DIR, FRIENDLY_NAME);
/** The loader: the executable Bun spawns in the program's place. */
export const LOADER = join(BUILD_DIR, LOADER_NAME);

function shimIsStale(): boolean {
  return isStale(SHIM_RECIPE) || isStale(LOADER_RECIPE);
}

function friendlyLibraryIsStale(): boolean {
  return isStale(FRIENDLY_RECIPE);
}

function run(argv: string[]): string {
  let result;
  try {
    result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  } catch {
    throw new ShimBuildError(
      `faultline: cannot build the shim: C compiler '${argv[0]}' not found (install gcc or clang, or set CC)`,
    );
  }
  if (result.exitCode !== 0) {
    const detail = (result.stderr.toString() + result.stdout.toString()).trim();
    throw new ShimBuildError(`faultline: building the shim failed: ${argv.join(" ")}\n${detail}`);
  }
  return result.stdout.toString();
}

function symbols(args: string[], object: string): string[] {
  return run(["nm", ...args, object])
    .split("\n")
    .map((line) => line.trim().split(/\s+/).pop() ?? "")
    .filter((name) => name !== "");
}

/** Objects on a freestanding path may call nothing but each other: once
 * the child has unmapped libc, any other call jumps into nothing; in a
 * signal handler, any other call may not be async-signal-safe. */
function assertSelfContained(objects: string[], part: string): void {
  // The GOT is the shim's own table, filled in when Bun loads it; the ELF
  // header is the linker's, where the loader finds its own segments.
  const defined = new Set([...objects.flatMap((o) => symbols(["--defined-only"], o)), "_GLOBAL_OFFSET_TABLE_", "__ehdr_start"]);
  const outside = objects.flatMap((o) => symbols(["-u"], o)).filter((name) => !defined.has(name));
  if (outside.length > 0) {
    throw new ShimBuildError(`faultline: ${part} calls outside itself: ${[...new Set(outside)].join(" ")}`);
  }
}

/** Whether a build may show its progress line (the commands' --quiet
 * says not). */
let progressWanted = true;

/** No progress line while building: the commands' --quiet. */
export function quietBuilds(): void {
  progressWanted = false;
}

/** The width a progress line keeps within: a terminal's usual least. */
const TERMINAL_COLUMNS = 80;
/** Terminal control: back to the line's start, and clear it. */
const CLEAR_LINE = "\r\x1b[K";

/**
 * The one line a build keeps rewritten on stderr while it compiles (the
 * first run waits several seconds for it): only on a terminal, and cleared
 * once done, so what the command prints afterwards is what it always
 * prints. Nothing at all when stderr is a file or a pipe, or when quiet.
 */
class BuildProgress {
  private what = "";
  private done = 0;
  private total = 0;
  private shown = false;

  begin(what: string, total: number): void {
    this.what = what;
    this.done = 0;
    this.total = total;
    this.shown = progressWanted && isTerminal(2);
  }

  unit(source: string): void {
    this.done++;
    if (!this.shown) return;
    // Within 80 columns, without asking the terminal (process.stderr would
    // open a stream of Bun's, a descriptor the pager then hands on).
    const line = `faultline: building ${this.what} (about 10 s, once): ${this.done}/${this.total} ${basename(source)}`;
    writeSync(2, `${CLEAR_LINE}${line.length < TERMINAL_COLUMNS ? line : `${line.slice(0, TERMINAL_COLUMNS - 2)}…`}`);
  }

  end(): void {
    if (this.shown) writeSync(2, CLEAR_LINE);
    this.shown = false;
  }
}

const progress = new BuildProgress();

/** The build directory, made if needed (the cache's only for this user);
 * where it cannot be, one line says where faultline tried. */
function makeBuildDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: dir === PACKAGE_BUILD_DIR ? 0o755 : 0o700 });
    accessSync(dir, fsConstants.W_OK);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "error";
    const where = dir === PACKAGE_BUILD_DIR ? `${dir} is not writable` : `neither ${PACKAGE_BUILD_DIR} nor ${dir} is writable`;
    throw new ShimBuildError(`faultline: cannot build the shim: ${where} (${code}); set XDG_CACHE_HOME to a writable directory, or run 'bun run build:shim' once as the package's owner`);
  }
}

/** Build a library into a temporary name and rename it into place, so a
 * concurrent loader never sees half a library. */
function buildLibrary(recipe: Recipe, options: BuildOptions): string {
  const output = options.output ?? join(BUILD_DIR, recipe.name);
  const buildDir = dirname(output);
  makeBuildDir(buildDir);
  const cc = options.cc ?? compilerName();
  const strict = options.strict ?? process.env[STRICT_ENV] === "1";
  const common = strict ? [...COMMON_FLAGS, "-Werror"] : COMMON_FLAGS;
  const objects: string[] = [];
  const freestanding: string[] = [];
  const temporary = `${output}.${process.pid}.tmp`;
  try {
    for (const unit of recipe.units) {
      const object = join(buildDir, basename(unit.source).replace(/\.c$/, `.${process.pid}.o`));
      const flags = unit.freestanding ? [...common, ...FREESTANDING_FLAGS] : [...common, "-fno-stack-protector"];
      objects.push(object);
      progress.unit(unit.source);
      run([cc, ...flags, ...(unit.defines ?? []).map((d) => `-D${d}`), "-c", join(SHIM_DIR, unit.source), "-o", object]);
      if (unit.freestanding) freestanding.push(object);
    }
    assertSelfContained(freestanding, recipe.freestandingPart);
    run([cc, ...recipe.linkFlags, "-o", temporary, ...objects, ...recipe.link]);
    renameSync(temporary, output);
  } finally {
    for (const file of [...objects, temporary]) rmSync(file, { force: true });
  }
  return output;
}

/** Build the shim and, beside it, the loader. */
export function buildShim(options: BuildOptions = {}): string {
  progress.begin("the shim", SHIM_RECIPE.units.length + LOADER_RECIPE.units.length);
  try {
    const library = buildLibrary(SHIM_RECIPE, options);
    buildLibrary(LOADER_RECIPE, options.output ? { ...options, output: join(dirname(options.output), LOADER_NAME) } : options);
    return library;
  } finally {
    progress.end();
  }
}

export function buildFriendlyLibrary(options: BuildOptions = {}): string {
  progress.begin("libetsbefriends.so", FRIENDLY_RECIPE.units.length);
  try {
    return buildLibrary(FRIENDLY_RECIPE, options);
  } finally {
    progress.end();
  }
}

/** The shim's path, built first (with the loader) if either is missing or
 * stale. */
export function ensureShim(): string {
  if (shimIsStale()) buildShim();
  return SHIM_LIBRARY;
}

/** libetsbefriends.so's path, built first if it is missing or stale. */
export function ensureFriendlyLibrary(): string {
  if (friendlyLibraryIsStale()) buildFriendlyLibrary();
  return FRIENDLY_LIBRARY;
}

if (import.meta.main) {
  try {
    const force = process.argv.includes("--force");
    for (const path of force ? [buildShim(), buildFriendlyLibrary()] : [ensureShim(), ensureFriendlyLibrary()]) console.log(path);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
