/**
 * What the CLIs need to know about this process's signals before they touch
 * any: which ones it was started with ignored.
 */
import { readFileSync } from "node:fs";

/** Signals ignored in this process now (/proc/self/status SigIgn). Read
 * before a CLI installs anything, these are what Bun's parent left ignored
 * (nohup, a background job), plus the two Bun ignores itself. */
export function ignoredAtStart(): Set<number> {
  const match = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
  const mask = BigInt(`0x${match?.[1] ?? "0"}`);
  const ignored = new Set<number>();
  for (let sig = 1; sig <= 64; sig++) if ((mask >> BigInt(sig - 1)) & 1n) ignored.add(sig);
  return ignored;
}
