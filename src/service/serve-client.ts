/**
 * One client of the user's service: the installed command's client
 * (shim/loader/client.c) asked for its plan. Its command line, environment
 * and working directory are read from /proc, the program is planned here as
 * the pagers' command would plan it, and the plan goes back over the
 * client's connection; the client maps it and jumps, and is the program.
 * What this process cannot do for a program it is not the parent of (a
 * report, a trace, a page or a working set written when it ends, which
 * needs its exit status; --friendly's source lines) is left to the plain
 * path: the client runs the command through Bun.
 */
import { closeSync, readFileSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { verdictOf } from "../cli/front-door.ts";
import { parseCommandLine, type CommandLine } from "../cli/options.ts";
import { contextOf, parseCmdline, plainHandover, programEnvironment } from "../loader/caller.ts";
import { LoadError } from "../loader/errors.ts";
import { startClientLaunch } from "../loader/launch.ts";
import { pagerChoices } from "../loader/pagers.ts";
import { lineWriter } from "../loader/run-again.ts";
import { programPathFor } from "../loader/program-file.ts";
import { LOADER, PROJECT_ROOT } from "../shim/shim-build.ts";
import { answerClient, duplicateDescriptor, type ServiceRequest } from "../shim/shim.ts";

/** Why a command line goes down the plain path, or null when the service
 * runs it. Pure. */
export function plainPathReason(line: CommandLine): string | null {
  if (line.help || line.version) return "help";
  if (line.report !== null || line.trace !== null || line.html !== null || line.record !== null) return "an output written when the program ends";
  if (line.prefetch !== null) return "a working set to prefetch";
  if (line.friendly) return "--friendly";
  // gdb is started by the pager, on its terminal, before the jump.
  if (line.gdb) return "--gdb";
  return null;
}

/** The command's words from the client's /proc/PID/cmdline (NUL after
 * each argument), without the client's own name. Pure. */
export function clientWords(cmdline: string): string[] {
  return parseCmdline(cmdline).slice(1);
}

/** Whether path (from the caller's directory) leads to this command: the
 * package's bin/faultline, or the loader it runs. A shell exports `_` as
 * the path it ran the command by. */
function namesThisCommand(path: string, cwd: string): boolean {
  try {
    const real = realpathSync(resolve(cwd, path));
    return real === realpathSync(join(PROJECT_ROOT, "bin", "faultline")) || real === realpathSync(LOADER);
  } catch {
    return false;
  }
}

/** The client's answer when the plan cannot be sent: how the service said
 * it, or the plain path. */
type Answer = { verdict: "plain" } | { verdict: "exit"; status: number };

/**
 * Serve one client: plan its program and send the plan, or answer. Settles
 * once nothing more is owed to it (the program runs; with faults to serve,
 * has ended). `log` takes what the service itself should keep (an internal
 * error).
 */
export async function serveClient(request: ServiceRequest, log: (text: string) => void): Promise<void> {
  const { pid, stderr } = request;
  // Kept to answer on: the launch takes the control socket, and closes it
  // when it fails.
  const answerFd = duplicateDescriptor(request.control);
  const say = lineWriter(stderr);
  let name = "faultline";
  let answer: Answer | null = null;
  let launched = false;
  try {
    const words = clientWords(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    name = words[0] ?? name;
    let line: CommandLine;
    try {
      line = parseCommandLine(words[0] ?? "", words.slice(1));
    } catch {
      // Bun's path says what is wrong with the line, as it always has.
      answer = { verdict: "plain" };
      return;
    }
    if (plainPathReason(line) !== null) {
      answer = { verdict: "plain" };
      return;
    }
    // A directory removed since, or unreadable: Bun's path says so.
    const context = contextOf(pid);
    if (typeof context === "string") {
      answer = { verdict: "plain" };
      return;
    }
    const { cwd, env } = context;
    const programEnv = programEnvironment(env, (path) => namesThisCommand(path, cwd), () => programPathFor(line.argv[0], env.PATH, cwd));
    const speaks = !line.quiet && stderr >= 0;
    launched = true;
    const started = startClientLaunch(
      line.argv,
      {
        pager: line.pager,
        log: speaks,
        faultLogFd: stderr,
        note: speaks ? (text) => say(`${line.pager}: note: ${text}`) : null,
        ...pagerChoices(line),
        cwd,
        env: programEnv,
        handover: plainHandover(0n),
      },
      { control: request.control, pid, facts: request },
    );
    const failure = await started.served;
    // The client waits to hear why before it exits 126.
    if (failure) say(verdictOf(line.pager, failure).line);
  } catch (error) {
    if (error instanceof LoadError || !(error instanceof Error)) {
      const verdict = verdictOf(name, error);
      say(verdict.line);
      answer = { verdict: "exit", status: verdict.exitCode };
    } else {
      // A fault of the service's own: the command still runs, through Bun.
      log(`serving pid ${pid}: ${error.stack ?? error.message}`);
      say(`${name}: note: the faultline service failed (${error.message}); running through Bun`);
      answer = { verdict: "plain" };
    }
  } finally {
    // The launch takes the control socket; one never started leaves it here.
    if (!launched) closeSync(request.control);
    if (answer) answerClient(answerFd, answer.verdict, answer.verdict === "exit" ? answer.status : 0);
    closeSync(answerFd);
    if (stderr >= 0) closeSync(stderr);
  }
}
