/** Native helper tools (test/tools/*.c), each built static once. */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./programs.ts";

/** Build test/tools/<name>.c as a static executable; returns its path. */
export async function nativeTool(name: string): Promise<string> {
  const source = join(ROOT, "test", "tools", `${name}.c`);
  const output = join(ROOT, "test", "build", "tools", name);
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return output;
  mkdirSync(join(ROOT, "test", "build", "tools"), { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  const proc = Bun.spawn([process.env.CC?.trim() || "cc", "-static", "-O2", "-Wall", "-Wextra", "-o", temporary, source], { stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`building ${name} failed: ${await new Response(proc.stderr).text()}`);
  await Bun.$`mv ${temporary} ${output}`.quiet();
  return output;
}

/** The native peak-RSS launcher (test/tools/peak_rss.c). */
export function peakRssTool(): Promise<string> {
  return nativeTool("peak_rss");
}

/** The kernel's verdict launcher (test/tools/execve_verdict.c). */
export function execveVerdictTool(): Promise<string> {
  return nativeTool("execve_verdict");
}

/** Peak RSS of a native run, in KiB, from the launcher's last stderr line. */
export function peakFrom(stderr: string): number {
  return nativeFigures(stderr).peakRssKiB;
}

/** The launcher's figures: peak RSS in KiB, minor page faults, and the
 * wall time from its fork to the end of its wait. */
export function nativeFigures(stderr: string): { peakRssKiB: number; minorFaults: number; wallMs: number } {
  const match = /peak_rss_kib (\d+) minor_faults (\d+) wall_us (\d+)\s*$/.exec(stderr);
  if (!match) throw new Error(`no peak_rss line in: ${stderr}`);
  return { peakRssKiB: Number(match[1]), minorFaults: Number(match[2]), wallMs: Number(match[3]) / 1000 };
}

/** Build test/tools/<name>.c as a shared library (for bun:ffi); returns its
 * path. */
export async function nativeLibrary(name: string): Promise<string> {
  const source = join(ROOT, "test", "tools", `${name}.c`);
  const output = join(ROOT, "test", "build", "tools", `lib${name}.so`);
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return output;
  mkdirSync(join(ROOT, "test", "build", "tools"), { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  const proc = Bun.spawn([process.env.CC?.trim() || "cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-pthread", "-o", temporary, source], { stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`building lib${name}.so failed: ${await new Response(proc.stderr).text()}`);
  await Bun.$`mv ${temporary} ${output}`.quiet();
  return output;
}
