/**
 * A program run under a pager that runs itself again through /proc/self/exe
 * (node's child_process.fork, perl's $^X, a program that re-executes
 * itself): where the pager may not name the program there (no
 * CAP_SYS_RESOURCE), that link names faultline's loader, which the kernel
 * then runs with the program's arguments. The loader (shim/loader/client.c
 * fl_client_again) asks the process that ran the program (the user's
 * service, or a Bun pager: the process itself's or its parent's, for a
 * fork), and that process runs the program again, as the kernel would have:
 * the same file, the arguments and environment given, the same pager.
 *
 * A Bun pager (the pagers' command through Bun, a script of the library)
 * listens for its programs' loaders on an abstract socket named for its
 * pid (listenForRunsAgain); the service answers them on its own socket.
 */
import { closeSync, readFileSync, writeSync } from "node:fs";
import { answerClient, duplicateDescriptor, serviceListen, serviceRequests, type ServiceRequest } from "../shim/shim.ts";
import { contextOf, parseCmdline, plainHandover } from "./caller.ts";
import { EXIT_CANNOT_RUN, LoadError } from "./errors.ts";
import { startClientLaunch } from "./launch.ts";
import { pagerChoices } from "./pagers.ts";
import { machineFacts } from "./launch-caches.ts";
import { enableRunningPrograms, runningProgram } from "./running-programs.ts";

/** The name of a Bun pager's socket in the abstract namespace
 * (shim/loader/service.c fl_service_listen; client.c asks it). */
export function pagerSocketName(pid: number): string {
  return `@faultline-pager-${pid}`;
}

/** Lines to a client's standard error (-1: it has none), whatever became
 * of it: a line that cannot be written is nobody's to read. */
export function lineWriter(stderr: number): (line: string) => void {
  return (line) => {
    if (stderr < 0) return;
    try {
      writeSync(stderr, `${line}\n`);
    } catch {
      // The caller's standard error is gone: nothing to say it on.
    }
  };
}

/** The parent's pid from /proc/PID/stat's text (after the name, which
 * may hold spaces and parentheses); null when it is not there. Pure. */
export function parentPid(stat: string): number | null {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) && ppid > 0 ? ppid : null;
}

/**
 * Serve a loader run again through /proc/self/exe: run the program its
 * process (or its parent) was running again, with the arguments it gave,
 * or answer that this process knows none (the loader then asks elsewhere,
 * or says why in one line). Settles once nothing more is owed to it.
 */
export async function serveAgain(request: ServiceRequest): Promise<void> {
  const { pid, stderr } = request;
  // Kept to answer on: the launch takes the control socket.
  const answerFd = duplicateDescriptor(request.control);
  const say = lineWriter(stderr);
  let launched = false;
  let answer: { verdict: "plain" } | { verdict: "exit"; status: number } | null = null;
  let name = "faultline";
  try {
    const known = runningProgram(pid) ?? runningProgram(parentPid(readFileSync(`/proc/${pid}/stat`, "utf8")) ?? 0);
    const context = contextOf(pid);
    if (!known || typeof context === "string") {
      answer = { verdict: "plain" };
      return;
    }
    const { cwd, env } = context;
    const { options, file } = known;
    name = options.pager;
    const argv = parseCmdline(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    const speaks = options.logged && stderr >= 0;
    launched = true;
    const started = startClientLaunch(
      argv,
      {
        pager: options.pager,
        program: file,
        log: speaks,
        faultLogFd: stderr,
        note: speaks ? (text) => say(`${options.pager}: note: ${text}`) : null,
        ...pagerChoices(options),
        cwd,
        env,
        handover: plainHandover(0n),
      },
      { control: request.control, pid, facts: request },
    );
    const failure = await started.served;
    if (failure) say(`${name}: ${failure.message}`);
  } catch (error) {
    say(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    answer = { verdict: "exit", status: error instanceof LoadError ? error.exitCode : EXIT_CANNOT_RUN };
  } finally {
    if (!launched) closeSync(request.control);
    if (answer) answerClient(answerFd, answer.verdict, answer.verdict === "exit" ? answer.status : 0);
    closeSync(answerFd);
    if (stderr >= 0) closeSync(stderr);
  }
}

let listening = false;

/**
 * In a Bun pager: keep the programs launched from now on, and answer their
 * loaders when they run themselves again, on an abstract socket named for
 * this process's pid. Waiting for them keeps nothing alive. Only where the
 * pager may not name the program /proc/self/exe (else the kernel runs the
 * program itself) and once per process. Where no such socket can be made,
 * programs that run themselves again get the loader's one line, as before.
 */
export function listenForRunsAgain(): void {
  if (listening || machineFacts().mayReplaceExe) return;
  listening = true;
  let listener: number;
  try {
    listener = serviceListen(pagerSocketName(process.pid));
  } catch {
    return;
  }
  enableRunningPrograms();
  void (async () => {
    for await (const request of serviceRequests(listener, false)) {
      if (request.again) {
        void serveAgain(request);
        continue;
      }
      // Only the loaders of this process's programs come here.
      answerClient(request.control, "plain");
      closeSync(request.control);
      if (request.stderr >= 0) closeSync(request.stderr);
    }
  })();
}
