/**
 * The programs this process ran under a pager that run still, by pid: what
 * a program's process (or a fork of it) runs when it runs /proc/self/exe
 * again, where that link names faultline's loader (a pager may not name the
 * program there without CAP_SYS_RESOURCE). The loader then asks this process
 * (src/loader/run-again.ts), which runs the program again as the kernel
 * would have. Kept only once something may ask (enableRunningPrograms).
 */
import { closeSync } from "node:fs";
import { pidfdAlive, pidfdOpen } from "../shim/shim.ts";
import type { PagerName, PagingChoice } from "./pagers.ts";
import type { PredictorName } from "./spec.ts";

/** How a program ran, to run it the same way again. */
interface RunAgainOptions {
  pager: PagerName;
  paging: PagingChoice | null;
  predictor: PredictorName | null;
  pages: number | null;
  /** Its mappings were logged (to its standard error, on running again). */
  logged: boolean;
}

interface RunningProgram {
  /** Its process, which its pid names for as long as this is not readable. */
  pidfd: number;
  /** The ELF file it runs, which /proc/self/exe would name. */
  file: string;
  options: RunAgainOptions;
}

/** Past this many, programs that have ended are forgotten at each new one. */
const PRUNE_FROM = 64;

const byPid = new Map<number, RunningProgram>();
let enabled = false;

/** Keep the programs launched from now on (a listener may ask). */
export function enableRunningPrograms(): void {
  enabled = true;
}

/** A program started as pid, running `file`. */
export function rememberRunning(pid: number, file: string, options: RunAgainOptions): void {
  if (!enabled || pid <= 0) return;
  const pidfd = pidfdOpen(pid);
  if (pidfd < 0) return;
  forget(pid);
  if (byPid.size >= PRUNE_FROM) for (const [known, program] of byPid) if (!pidfdAlive(program.pidfd)) forget(known);
  byPid.set(pid, { pidfd, file, options });
}

/** The program pid runs, if this process ran it and it runs still. */
export function runningProgram(pid: number): RunningProgram | null {
  const known = byPid.get(pid);
  if (!known) return null;
  if (pidfdAlive(known.pidfd)) return known;
  forget(pid);
  return null;
}

function forget(pid: number): void {
  const known = byPid.get(pid);
  if (!known) return;
  closeSync(known.pidfd);
  byPid.delete(pid);
}
