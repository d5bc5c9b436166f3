#!/usr/bin/env bun
/**
 * The pagers' command line: `bun src/cli/cli.ts PAGER [options] PROGRAM [ARGS...]`
 * (package scripts `apager`, `dpager`, `hpager`, and `faultline PAGER` through
 * src/cli/faultline.ts). Exits the way the program did; loader errors are one
 * line and exit 127 or 126.
 */
import { readFileSync, realpathSync } from "node:fs";
import { join, resolve } from "node:path";
import { EXIT_CANNOT_RUN, EXIT_NOT_FOUND, EXIT_USAGE } from "../loader/errors.ts";
import type { Mechanism } from "../loader/spec.ts";
import { attachDebugger, stoppedLine, type DebuggerSession } from "./debugger.ts";
import { addressLimitProblem, parseAddressSpaceLimit } from "../loader/machine.ts";
import { PAGERS, TAMPERED, launch, prefetchStopped, type PagerName } from "../loader/launch.ts";
import { readProfile } from "../paging/profile-file.ts";
import { commandName } from "./commands.ts";
import { endAsTheProgramDid, readCommandLine, runCommand, say } from "./front-door.ts";
import { parseCommandLine, usage } from "./options.ts";
import { relaySignalsTo, startSignalRelay } from "./signals.ts";
import { captureHandover, programEnvironment, releaseHandover } from "../loader/caller.ts";
import { programPathFor } from "../loader/program-file.ts";
import { listenForRunsAgain } from "../loader/run-again.ts";
import { PROJECT_ROOT, quietBuilds } from "../shim/shim-build.ts";
import { takeDescriptor, takeIntervalTimers } from "../shim/shim.ts";
import { startStyledSourceResolver } from "../friendly/source-resolver.ts";
import { stderrColoured } from "./colour.ts";
import { RunRecording } from "../view/record.ts";
import { OutputError } from "../view/write.ts";

/** Whether path leads to what a shell ran to start this command: the Bun
 * executable, or the package's bin/faultline, which runs it. */
function startsThisCommand(path: string): boolean {
  try {
    const real = realpathSync(path);
    return real === realpathSync(process.execPath) || real === realpathSync(join(PROJECT_ROOT, "bin", "faultline"));
  } catch {
    return false;
  }
}


function isPager(word: string): word is PagerName {
  return (PAGERS as readonly string[]).includes(word);
}

async function main(args: string[]): Promise<number> {
  const pagerArg = args[0] ?? "";
  const pager = isPager(pagerArg) ? pagerArg : "apager";
  const command = commandName(pager, process.argv[1]);
  const line = readCommandLine(pager, command, () => parseCommandLine(pagerArg, args.slice(1)), (l) => usage(l.pager, command));
  if (typeof line === "number") return line;
  // The shim's first build shows a progress line on a terminal, not under --quiet.
  if (line.quiet) quietBuilds();
  // Before anything else fails for it (bun:ffi without the JIT, a thread
  // that cannot get a stack): a limit too tight for Bun itself.
  const tooTight = addressLimitProblem(parseAddressSpaceLimit(readFileSync("/proc/self/limits", "utf8")));
  if (tooTight) {
    say(`${line.pager}: ${tooTight}`);
    return EXIT_CANNOT_RUN;
  }

  // What the caller handed the pager goes to the program (descriptors,
  // ignored signals, mask, limits, timers), taken before this process opens
  // anything of its own; signals somebody sends the pager from now on are
  // relayed to the program (shim/loader/relay.c).
  const handover = captureHandover({ take: takeDescriptor }, takeIntervalTimers);
  startSignalRelay(handover.ignored, handover.underBunRun);
  for (const text of handover.notes) if (!line.quiet) say(`${line.pager}: note: ${text}`);
  // Under `bun run`, the program starts where the caller was and with the
  // environment it gave (not the script's: the package's directory, npm_*
  // variables, node_modules/.bin on PATH), and the files named on the
  // command line are found from there.
  const caller = handover.caller;
  const fromCaller = (path: string | null) => (path === null || caller === null ? path : resolve(caller.cwd, path));
  const cwd = caller?.cwd ?? process.cwd();
  const env = caller?.env ?? process.env;
  const programEnv = programEnvironment(env, (path) => startsThisCommand(resolve(cwd, path)), () => programPathFor(line.argv[0], env.PATH, cwd));

  // A profile to prefetch is read now; one that cannot be used is a warning
  // (said even under --quiet), and the run goes on without it.
  const prefetchWarning = (problem: string) => say(`${line.pager}: warning: --prefetch ${line.prefetch}: ${problem}; running without it`);
  const reading = line.prefetch === null ? null : readProfile(fromCaller(line.prefetch)!);
  if (reading?.problem) prefetchWarning(reading.problem);
  const profile = reading?.profile ?? null;
  // Files the run writes are claimed before the program starts: one that
  // cannot be written is refused now, with nothing run.
  const recording = RunRecording.begin({ trace: fromCaller(line.trace), html: fromCaller(line.html), report: fromCaller(line.report), record: fromCaller(line.record), prefetched: profile });
  // Notes known before the program starts (a set-user-ID bit that gives no
  // privilege) are said then, so they come before anything the program says.
  const noted = new Set<string>();
  const note = (text: string) => {
    if (noted.has(text)) return;
    noted.add(text);
    say(`${line.pager}: note: ${text}`);
  };
  // --gdb: gdb attaches to the program before its first instruction.
  const gdb = line.gdb ? Bun.which("gdb") : null;
  if (line.gdb && gdb === null) {
    recording.abandon();
    say(`${line.pager}: --gdb: no gdb on PATH`);
    return EXIT_NOT_FOUND;
  }
  let paging: Mechanism | null = null;
  let debuggerSession: DebuggerSession | null = null;
  const beforeStart = async (pid: number, program: string) => {
    say(`${line.pager}: ${stoppedLine(program, pid)}`);
    debuggerSession = await attachDebugger(gdb!, program, pid, paging);
    // gdb said why it could not attach: the program is not run (and its
    // loader, killed, is owed no go).
    if (!debuggerSession.attached) process.kill(pid, "SIGKILL");
    return debuggerSession.attached;
  };
  // --friendly: a crash report names source lines, asked of this process.
  const resolver = line.friendly ? startStyledSourceResolver({ colour: stderrColoured().isColorSupported }) : null;
  let outcome;
  try {
    // A program that runs itself again through /proc/self/exe is run
    // again from here, where that link names the loader.
    listenForRunsAgain();
    outcome = await launch(line.argv, {
      pager: line.pager,
      log: !line.quiet,
      note: line.quiet ? null : note,
      // Said even under --quiet: without it a set-user-ID program silently
      // tells other facts (its own user's), with a success.
      privilegeNote: note,
      traceFd: recording.traceFd,
      ...(line.predictor ? { predictor: line.predictor } : {}),
      ...(line.pages ? { pages: line.pages } : {}),
      ...(line.paging ? { paging: line.paging } : {}),
      ...(profile ? { prefetch: { profile, path: line.prefetch!, onRefused: (reason: string) => prefetchWarning(`made for other files: ${reason}`) } } : {}),
      ...(line.record ? { record: true } : {}),
      ...(caller ? { cwd: caller.cwd } : {}),
      env: programEnv,
      ...(resolver ? { friendly: true, env: resolver.environment(programEnv) } : {}),
      handover,
      // An output that is one of the files run is refused too.
      onFilesRead: (files) => recording.refuseInputs(files),
      ...(gdb ? { beforeStart } : {}),
      onStart: (pid, mechanism) => {
        paging = mechanism;
        relaySignalsTo(pid);
        recording.started(pid, mechanism, line.pager);
      },
    });
  } catch (error) {
    recording.abandon();
    throw error;
  } finally {
    releaseHandover(handover);
    resolver?.stop();
  }
  // The pager ends once gdb has (it stays with the program's end on screen).
  const session = debuggerSession as DebuggerSession | null;
  if (session) {
    await session.exited;
    if (!session.attached) {
      recording.abandon();
      say(`${line.pager}: --gdb: gdb did not attach to the program, which was not run`);
      return EXIT_CANNOT_RUN;
    }
  }
  const { warnings } = await recording.finish(outcome);
  for (const warning of warnings) say(`${line.pager}: ${warning}`);
  prefetchStopped(outcome, say, `${line.pager}: warning: --prefetch ${line.prefetch}`);
  // Why the pager ended the program, or why it died: said even under
  // --quiet, which would otherwise leave a bare "Segmentation fault".
  if (outcome.unseenFault) say(`${line.pager}: ${outcome.unseenFault}`);
  if (outcome.pagerFailure) say(`${line.pager}: ${outcome.pagerFailure}`);
  // Said even under --quiet: the run's figures are not to be believed.
  if (outcome.tampered) say(`${line.pager}: warning: ${TAMPERED}`);
  for (const difference of outcome.differences) {
    if (!line.quiet && difference !== outcome.unseenFault && difference !== outcome.pagerFailure && difference !== TAMPERED && !noted.has(difference)) say(`${line.pager}: note: ${difference}`);
  }
  return endAsTheProgramDid(outcome);
}

// No top-level await: the command is also built as one bytecode-compiled
// file (src/cli/command.ts), which must be a script. An output file that
// cannot be written is a usage error; the rest, the front door's.
const name = process.argv[2] ?? "faultline";
void runCommand(name, () => main(process.argv.slice(2)), (error) => (error instanceof OutputError ? { line: `${name}: ${error.message}`, exitCode: EXIT_USAGE } : null));
