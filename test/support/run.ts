/**
 * Running programs for comparison: natively, under a pager through the CLI,
 * and with friendly segfaults, each in a subprocess with a time limit (an
 * FFI call that never returns can only be timed out from outside).
 */
import { ROOT } from "./programs.ts";

export interface Ran {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: string | null;
}

/** Generous: loaded programs start in milliseconds, but CI machines are slow. */
export const TIME_LIMIT_MS = 30_000;

export async function runProcess(argv: string[], options: { env?: Record<string, string | undefined>; stdin?: string; timeout?: number; cwd?: string } = {}): Promise<Ran> {
  const proc = Bun.spawn(argv, {
    stdout: "pipe",
    stderr: "pipe",
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    env: options.env ?? { ...process.env },
    cwd: options.cwd ?? ROOT,
    timeout: options.timeout ?? TIME_LIMIT_MS,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { stdout, stderr, exitCode: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) };
}

export function runNative(argv: string[], options: Parameters<typeof runProcess>[1] = {}): Promise<Ran> {
  return runProcess(argv, options);
}

/** Run argv under a pager via the CLI (src/cli.ts), quiet unless asked. */
export function runPager(pager: string, argv: string[], options: Parameters<typeof runProcess>[1] & { flags?: string[] } = {}): Promise<Ran> {
  return runProcess([process.execPath, `${ROOT}/src/cli.ts`, pager, ...(options.flags ?? ["-q"]), ...argv], options);
}

/** Run argv with libetsbefriends.so preloaded via `bun run friendly`'s
 * script (src/friendly.ts), with its flags first if given. */
export function runFriendly(argv: string[], options: Parameters<typeof runProcess>[1] & { flags?: string[] } = {}): Promise<Ran> {
  return runProcess([process.execPath, `${ROOT}/src/friendly.ts`, ...(options.flags ?? []), ...argv], options);
}

/** The user and group a privileged test drops to (nobody). */
export const UNPRIVILEGED_ID = 65534;

/** Whether this process can run commands as another user (it is root and
 * has setpriv). */
export function canDropPrivilege(): boolean {
  return process.getuid?.() === 0 && Bun.which("setpriv") !== null;
}

/** argv to run as an unprivileged user: as nobody when this process is root
 * (setpriv execs in place, so the exit status is the command's), as itself
 * otherwise. */
export function unprivileged(argv: string[]): string[] {
  if (!canDropPrivilege()) return argv;
  return ["setpriv", `--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, "--clear-groups", "--", ...argv];
}

/** The part of a run the program itself decides. */
export function verdict(ran: Ran): { stdout: string; exitCode: number | null; signal: string | null } {
  return { stdout: ran.stdout, exitCode: ran.exitCode, signal: ran.signal };
}
