/** The native peak-RSS launcher (test/tools/peak_rss.c), built static once. */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./programs.ts";

export async function peakRssTool(): Promise<string> {
  const source = join(ROOT, "test", "tools", "peak_rss.c");
  const output = join(ROOT, "test", "build", "tools", "peak_rss");
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return output;
  mkdirSync(join(ROOT, "test", "build", "tools"), { recursive: true });
  const proc = Bun.spawn([process.env.CC?.trim() || "cc", "-static", "-O2", "-o", output, source], { stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`building peak_rss failed: ${await new Response(proc.stderr).text()}`);
  return output;
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
