/**
 * Builds the C (and C++) test programs under test/programs in the four ways
 * the pagers must load: static, static-pie, PIE and non-PIE dynamic. Builds
 * are cached in test/build and redone when a source is newer than its binary.
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

function compilerFor(source: string): string[] {
  return source.endsWith(".cpp") ? ["g++", "-std=gnu++17"] : [process.env.CC?.trim() || "cc", "-std=gnu11"];
}

/** Build test/programs/<source> as <variant>; returns the binary's path. */
export async function buildProgram(source: string, variant: Variant): Promise<string> {
  const input = join(PROGRAMS, source);
  const dir = join(BUILD, variant);
  const output = join(dir, source.replace(/\.(c|cpp)$/, ""));
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(input).mtimeMs) return output;
  mkdirSync(dir, { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  const argv = [...compilerFor(source), "-O1", "-pthread", "-Wall", ...VARIANTS[variant], "-o", temporary, input];
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [code, errors] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`building ${source} (${variant}) failed: ${argv.join(" ")}\n${errors}`);
  await Bun.$`mv ${temporary} ${output}`.quiet();
  return output;
}

/** Build several programs in all variants, two compilers at a time. */
export async function buildAll(sources: readonly string[], variants: readonly Variant[] = ALL_VARIANTS): Promise<Map<string, string>> {
  const jobs = sources.flatMap((source) => variants.map((variant) => ({ source, variant })));
  const built = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      built.set(`${job.source}:${job.variant}`, await buildProgram(job.source, job.variant));
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
