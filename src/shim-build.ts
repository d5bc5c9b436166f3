/**
 * Builds the C shim with the system compiler whenever the shared object is
 * missing or older than any of its sources. Bun does not run dependencies'
 * install scripts, so the library builds on first use instead of at install.
 *
 * Run directly (`bun run build:shim`) to build now; `--force` rebuilds.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

export const SHIM_DIR = resolve(import.meta.dir, "..", "shim");
export const BUILD_DIR = join(SHIM_DIR, "build");
export const SHIM_LIBRARY = join(BUILD_DIR, "libfaultline.so");

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

const COMMON_FLAGS = ["-std=gnu11", "-O2", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror"];

/** Translation units and whether they run on the freestanding path. */
const UNITS: ReadonlyArray<{ source: string; freestanding: boolean }> = [
  { source: "child.c", freestanding: true },
  { source: "fault.c", freestanding: true },
  { source: "launch.c", freestanding: false },
  // Lazy copy: the fault path runs in a signal handler in the Bun process;
  // the bookkeeping runs on Bun's threads and uses libc.
  { source: "chunk-fault.c", freestanding: true },
  { source: "chunk.c", freestanding: false },
];

function compilerName(): string {
  return process.env.CC && process.env.CC.trim() !== "" ? process.env.CC.trim() : "cc";
}

export interface BuildOptions {
  /** The C compiler (default: $CC, else cc). */
  cc?: string;
  /** Where the library goes (default: shim/build/libfaultline.so). */
  output?: string;
}

function newestSourceTime(): number {
  let newest = 0;
  for (const name of readdirSync(SHIM_DIR)) {
    if (!/\.(c|h|S)$/.test(name)) continue;
    newest = Math.max(newest, statSync(join(SHIM_DIR, name)).mtimeMs);
  }
  return newest;
}

export function shimIsStale(): boolean {
  if (!existsSync(SHIM_LIBRARY)) return true;
  return statSync(SHIM_LIBRARY).mtimeMs < newestSourceTime();
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

/** Objects on the freestanding path may call nothing but each other: once
 * the child has unmapped libc, any other call jumps into nothing. */
function assertSelfContained(objects: string[]): void {
  // The GOT is the shim's own table, filled in when Bun loads it.
  const defined = new Set([...objects.flatMap((o) => symbols(["--defined-only"], o)), "_GLOBAL_OFFSET_TABLE_"]);
  const outside = objects.flatMap((o) => symbols(["-u"], o)).filter((name) => !defined.has(name));
  if (outside.length > 0) {
    throw new ShimBuildError(`faultline: the shim's freestanding path calls outside itself: ${[...new Set(outside)].join(" ")}`);
  }
}

/** Build the shim into a temporary name and rename it into place, so a
 * concurrent loader never sees half a library. */
export function buildShim(options: BuildOptions = {}): string {
  const output = options.output ?? SHIM_LIBRARY;
  const buildDir = dirname(output);
  mkdirSync(buildDir, { recursive: true });
  const cc = options.cc ?? compilerName();
  const objects: string[] = [];
  const freestanding: string[] = [];
  const temporary = `${output}.${process.pid}.tmp`;
  try {
    for (const unit of UNITS) {
      const object = join(buildDir, unit.source.replace(/\.c$/, `.${process.pid}.o`));
      const flags = unit.freestanding ? [...COMMON_FLAGS, ...FREESTANDING_FLAGS] : [...COMMON_FLAGS, "-fno-stack-protector"];
      objects.push(object);
      run([cc, ...flags, "-c", join(SHIM_DIR, unit.source), "-o", object]);
      if (unit.freestanding) freestanding.push(object);
    }
    assertSelfContained(freestanding);
    run([cc, "-shared", "-Wl,-z,defs", "-Wl,-z,noexecstack", "-o", temporary, ...objects, "-lpthread"]);
    renameSync(temporary, output);
  } finally {
    for (const file of [...objects, temporary]) rmSync(file, { force: true });
  }
  return output;
}

/** The shim's path, built first if it is missing or stale. */
export function ensureShim(): string {
  if (shimIsStale()) buildShim();
  return SHIM_LIBRARY;
}

if (import.meta.main) {
  try {
    const path = process.argv.includes("--force") ? buildShim() : ensureShim();
    console.log(path);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
