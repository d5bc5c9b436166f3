/**
 * Verdicts: how a run of a file ended, seen from outside, so the kernel's
 * (from test/tools/execve_verdict) and a pager's (from its command line) can
 * be compared. A refusal carries the errno; a run carries the exit status or
 * the signal that ended it.
 */
import { constants as osConstants } from "node:os";
import { execveVerdictTool } from "./build-tools.ts";
import { PAGER_ENTRY, runProcess, type Ran } from "./run.ts";

export type Verdict = { refused: string } | { exit: number } | { signal: string } | { timeout: true };

export function describeVerdict(v: Verdict): string {
  if ("refused" in v) return v.refused;
  if ("exit" in v) return `exit ${v.exit}`;
  if ("signal" in v) return v.signal;
  return "timeout";
}

function signalName(n: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name;
  return `SIG${n}`;
}

/** The kernel's verdict from execve_verdict's last stderr line. */
export function kernelVerdict(ran: Ran): Verdict {
  const match = /execve_verdict (errno|exit|signal)=(\w+)\s*$/.exec(ran.stderr);
  if (!match) {
    if (ran.signal === "SIGKILL") return { timeout: true };
    throw new Error(`no verdict from execve_verdict: exit ${ran.exitCode} signal ${ran.signal} stderr ${ran.stderr}`);
  }
  if (match[1] === "errno") return { refused: match[2]! };
  if (match[1] === "exit") return { exit: Number(match[2]) };
  return { signal: signalName(Number(match[2])) };
}

/** A pager's refusal line: "PAGER: FILE: REASON (ERRNO)" or
 * "(ERRNO; what the kernel would do)". */
const REFUSAL = /^\w+: .*\((E[A-Z0-9]+)(?:; [^)]*)?\)$/;

/** A pager's verdict from its command line's run: a refusal is exit 126 or
 * 127 with one line on stderr naming the errno (the program under test says
 * nothing on stderr); anything else is the program's own end. */
export function pagerVerdict(ran: Ran): Verdict {
  if (ran.signal === "SIGKILL") return { timeout: true };
  if (ran.signal !== null) return { signal: ran.signal };
  const lines = ran.stderr.trim().split("\n").filter((l) => l !== "");
  const refusal = lines.length === 1 ? REFUSAL.exec(lines[0]!) : null;
  if ((ran.exitCode === 126 || ran.exitCode === 127) && refusal) return { refused: refusal[1]! };
  return { exit: ran.exitCode ?? -1 };
}

/** The pager's one refusal line, or "" when it did not refuse. */
export function refusalLine(ran: Ran): string {
  const lines = ran.stderr.trim().split("\n");
  return lines.length === 1 && REFUSAL.test(lines[0]!) ? lines[0]! : "";
}

/** Run argv with execve natively (argv[0] a path) and give the kernel's verdict. */
export async function runKernel(
  argv: string[],
  options: Parameters<typeof runProcess>[1] & { pad?: Array<[count: number, length: number]>; wrap?: (argv: string[]) => string[] } = {},
): Promise<{ ran: Ran; verdict: Verdict }> {
  const tool = await execveVerdictTool();
  const pads = (options.pad ?? []).flatMap(([count, length]) => ["--pad", String(count), String(length)]);
  const command = [tool, ...pads, ...argv];
  const ran = await runProcess(options.wrap ? options.wrap(command) : command, options);
  return { ran, verdict: kernelVerdict(ran) };
}

/** The pager command line for argv, quiet unless flags say otherwise. */
export function pagerCommand(pager: string, argv: string[], flags: string[] = ["-q"]): string[] {
  return [...PAGER_ENTRY, pager, ...flags, ...argv];
}
