/**
 * Builds the C (and C++) test programs under test/programs in the four ways
 * the pagers must load: static, static-pie, PIE and non-PIE dynamic, with
 * -O1 unless a profile says otherwise (the crash reports' tests want debug
 * information, optimization without frame pointers, or no unwind tables).
 * Builds are cached in test/build and redone when a source is newer than
 * its binary.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..", "..");
export const PROGRAMS = join(ROOT, "test", "programs");
const BUILD = join(ROOT, "test", "build");

export const VARIANTS = {
  static: ["-static"],
  "static-pie": ["-static-pie", "-fPIE"],
  pie: ["-pie", "-fPIE"],
  "no-pie": ["-no-pie", "-fno-PIE"],
} as const;
export type Variant = keyof typeof VARIANTS;
export const ALL_VARIANTS = Object.keys(VARIANTS) as Variant[];

/** Code generation: how optimized, with what debug and unwind information. */
export const PROFILES = {
  default: ["-O1"],
  /** Line information, frame pointers, nothing moved or merged. */
  "debug-O0": ["-O0", "-g"],
  /** Line information, but optimized and without frame pointers: only the
   * .eh_frame call-frame information says where a caller's frame is. */
  "debug-O2-nofp": ["-O2", "-fomit-frame-pointer", "-g"],
  /** Line information at -O1. */
  debug: ["-O1", "-g"],
  /** Frame pointers and no call-frame information for the program's own
   * code: only rbp says where a caller's frame is. */
  "fp-no-unwind-tables": ["-O0", "-fno-omit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"],
  /** PT_GNU_STACK with PF_X: the kernel gives the program an executable stack. */
  execstack: ["-O1", "-Wl,-z,execstack"],
  /** No C library, start-up files or stack protector: the program's own
   * _start runs first (maps_raw.c). */
  bare: ["-O1", "-nostdlib", "-fno-stack-protector", "-Wl,-z,noexecstack"],
  "bare-execstack": ["-O1", "-nostdlib", "-fno-stack-protector", "-Wl,-z,execstack"],
} as const;
export type Profile = keyof typeof PROFILES;

function compilerFor(source: string): string[] {
  return source.endsWith(".cpp") ? ["g++", "-std=gnu++17"] : [process.env.CC?.trim() || "cc", "-std=gnu11"];
}

/** Build test/programs/<source> as <variant> (and profile); returns the
 * binary's path. */
export async function buildProgram(source: string, variant: Variant, profile: Profile = "default"): Promise<string> {
  const input = join(PROGRAMS, source);
  const dir = join(BUILD, profile === "default" ? variant : `${variant}-${profile}`);
  const output = join(dir, source.replace(/\.(c|cpp)$/, ""));
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(input).mtimeMs) return output;
  mkdirSync(dir, { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  const argv = [...compilerFor(source), ...PROFILES[profile], "-pthread", "-Wall", ...VARIANTS[variant], "-o", temporary, input];
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [code, errors] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`building ${source} (${variant}) failed: ${argv.join(" ")}\n${errors}`);
  await Bun.$`mv ${temporary} ${output}`.quiet();
  return output;
}

/** Build several programs in all variants, two compilers at a time. Keys
 * are "source:variant", or "source:variant:profile" for other profiles. */
export async function buildAll(sources: readonly string[], variants: readonly Variant[] = ALL_VARIANTS, profiles: readonly Profile[] = ["default"]): Promise<Map<string, string>> {
  const jobs = sources.flatMap((source) => variants.flatMap((variant) => profiles.map((profile) => ({ source, variant, profile }))));
  const built = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      const key = job.profile === "default" ? `${job.source}:${job.variant}` : `${job.source}:${job.variant}:${job.profile}`;
      built.set(key, await buildProgram(job.source, job.variant, job.profile));
    }
  };
  await Promise.all([worker(), worker()]);
  return built;
}

/** Build test/programs/<source> as a shared library (for LD_PRELOAD);
 * returns its path, test/build/shared/lib<name>.so. */
export async function buildSharedLibrary(source: string): Promise<string> {
  const input = join(PROGRAMS, source);
  const dir = join(BUILD, "shared");
  const output = join(dir, `lib${source.replace(/\.c$/, "")}.so`);
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(input).mtimeMs) return output;
  mkdirSync(dir, { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  const argv = [process.env.CC?.trim() || "cc", "-std=gnu11", "-O1", "-Wall", "-shared", "-fPIC", "-o", temporary, input];
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [code, errors] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`building ${source} (shared) failed: ${argv.join(" ")}\n${errors}`);
  await Bun.$`mv ${temporary} ${output}`.quiet();
  return output;
}
