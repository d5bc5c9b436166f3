/**
 * --gdb: the program under gdb. The pager maps the program, and while the
 * loader waits just before the program's first instruction, starts gdb on
 * the program's own file, attached to its pid: gdb places the program's
 * symbols where they are from the auxiliary vector the loader handed the
 * kernel (/proc/PID/auxv: AT_ENTRY, AT_PHDR, AT_BASE), and follows ld.so's
 * libraries as for any process. The program starts once gdb has attached;
 * the pager ends once both the program and gdb have.
 *
 * The argument list and the reading of /proc are pure and exported for
 * tests; starting gdb and waiting for it to attach are the effects.
 */
import { readFileSync } from "node:fs";
import type { Mechanism } from "../loader/spec.ts";

/** How often the pager looks whether gdb has attached. */
const ATTACH_POLL_MS = 10;

/** gdb's command line for the program's file and pid. gdb would take
 * /proc/PID/exe for the program, which may name faultline's loader: its
 * own check is turned off. Under SIGSEGV paging every first touch of a page
 * is a SIGSEGV the pager's handler serves: gdb passes them on without
 * stopping (a crash then ends the program without a stop; a core dump or
 * userfaultfd paging keeps it). */
export function gdbArguments(program: string, pid: number, mechanism: Mechanism | null): string[] {
  const handling = mechanism === "signal" ? ["-iex", "handle SIGSEGV nostop noprint pass"] : [];
  return ["-q", "-iex", "set exec-file-mismatch off", ...handling, program, "-p", String(pid)];
}

/** TracerPid from /proc/PID/status: the pid of the process tracing it, 0 for none. */
export function tracerOf(status: string): number {
  const match = /^TracerPid:\s*(\d+)$/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** The line the pager says before gdb starts. */
export function stoppedLine(program: string, pid: number): string {
  return `--gdb: ${program} (pid ${pid}) waits before its first instruction, in faultline's loader (frames there have no names): set breakpoints, then continue`;
}

export interface DebuggerSession {
  /** gdb's exit status, once it has ended. */
  exited: Promise<number>;
  /** Whether gdb attached (false: it ended first). */
  attached: boolean;
}

/**
 * Start gdb on the program (it inherits the pager's terminal and standard
 * streams) and resolve once it traces the program, or has ended without
 * doing so (it said why).
 */
export async function attachDebugger(gdb: string, program: string, pid: number, mechanism: Mechanism | null): Promise<DebuggerSession> {
  const child = Bun.spawn([gdb, ...gdbArguments(program, pid, mechanism)], { stdio: ["inherit", "inherit", "inherit"] });
  let ended = false;
  const exited = child.exited.then((code) => {
    ended = true;
    return code;
  });
  for (;;) {
    let tracer = 0;
    try {
      tracer = tracerOf(readFileSync(`/proc/${pid}/status`, "utf8"));
    } catch {
      // The program is gone: nothing to attach to.
      return { exited, attached: false };
    }
    if (tracer !== 0) return { exited, attached: true };
    if (ended) return { exited, attached: false };
    await Bun.sleep(ATTACH_POLL_MS);
  }
}
