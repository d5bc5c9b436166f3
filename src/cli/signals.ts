/**
 * The signals somebody sends a command while its program runs: relayed to
 * the program (shim/loader/relay.c), those that come before it exists as soon as
 * it does; one the command was started with ignored stays ignored (the
 * program inherits that). Both command lines relay the same way.
 */
import { readFileSync } from "node:fs";
import { relayedSignals } from "../loader/caller.ts";
import { relayTo, startRelay } from "../shim/shim.ts";

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

/** Start relaying now, before the program exists: signals that arrive
 * meanwhile wait for it. `underBunRun`: `bun run` started this process
 * (its end is relayed as the parent's going too). */
export function startSignalRelay(ignored: Iterable<number>, underBunRun: boolean): void {
  startRelay(relayedSignals([...ignored], underBunRun), underBunRun);
}

/** The program exists: the relay's signals go to `pid` from now on, the
 * waiting ones first. */
export function relaySignalsTo(pid: number): void {
  relayTo(pid);
}
