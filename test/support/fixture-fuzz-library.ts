/**
 * Subprocess fixture: a long-lived library user for the fuzzer
 * (test/support/fuzz-run.ts), so that hundreds of cases do not each pay a
 * Bun start. Reads one request per line on stdin, runs it through spawn()
 * (the launch the command line makes, without the command line), and
 * answers one JSON line on stdout per request, in order, one at a time:
 *
 *   {"pager":"apager","file":"/tmp/.../program","cwd":"/tmp/...","timeLimitMs":5000}
 *
 *   {"ran":{"exitCode":7,"signal":null}}       the program ran and ended so
 *   {"refused":"apager: ...(ENOEXEC)","exitCode":126}
 *                                              the line the command prints
 *   {"timedOut":true,"progressing":false}      killed at the time limit,
 *                                              after looking whether its
 *                                              memory was still growing
 *   {"error":"..."}                            anything else thrown
 *
 *   bun fixture-fuzz-library.ts
 *
 * The fuzzer runs it in a session of its own with a time limit of its own:
 * if this process dies or stops answering, that case counts as a crash or
 * a hang of the pager, and a new one takes the next case.
 */
import { readFileSync } from "node:fs";
import { LoadError, spawn, type PagerName } from "../../src/index.ts";

interface Request {
  pager: PagerName;
  file: string;
  cwd: string;
  timeLimitMs: number;
}

/** How long a run at its time limit is watched for progress (as the
 * command line's runs are, fuzz-run.ts). */
const PROGRESS_SAMPLE_MS = 300;

/** Resident pages of process pid, 0 once it is gone. */
function residentPages(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After the name: state ppid ... rss (the 24th field).
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[21]);
  } catch {
    return 0;
  }
}

/** What the command line says of an error: a LoadError is its one refusal
 * line, whether spawn() threw it or the report rejected with it (the
 * loader failed before the program started); anything else is not. */
function failure(pager: string, error: unknown): object {
  if (error instanceof LoadError) return { refused: `${pager}: ${error.message}`, exitCode: error.exitCode };
  return { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
}

async function serve(request: Request): Promise<object> {
  let proc;
  try {
    proc = spawn([request.file], { pager: request.pager, quiet: true, cwd: request.cwd, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  } catch (error) {
    return failure(request.pager, error);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"deadline">((resolve) => {
    timer = setTimeout(() => resolve("deadline"), request.timeLimitMs);
  });
  const ended = await Promise.race([proc.exited.then(
    () => "exited" as const,
    () => "exited" as const,
  ), deadline]);
  clearTimeout(timer);
  if (ended === "deadline") {
    const before = residentPages(proc.pid);
    await Bun.sleep(PROGRESS_SAMPLE_MS);
    const progressing = residentPages(proc.pid) > before;
    proc.kill("SIGKILL");
    await proc.exited.catch(() => {});
    await proc.report.catch(() => {});
    return { timedOut: true, progressing };
  }
  try {
    const report = await proc.report;
    return { ran: { exitCode: report.exitCode, signal: report.signal } };
  } catch (error) {
    return failure(request.pager, error);
  }
}

for await (const line of console) {
  if (line.trim() === "") continue;
  process.stdout.write(`${JSON.stringify(await serve(JSON.parse(line) as Request))}\n`);
}
