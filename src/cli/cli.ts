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
import { PAGERS, TAMPERED, launch, type LaunchOutcome, type PagerName } from "../loader/launch.ts";
import { commandName } from "./commands.ts";
import { endAsTheProgramDid, readCommandLine, runCommand, say } from "./front-door.ts";
import { parseCommandLine, usage, type CommandLine } from "./options.ts";
import { relaySignalsTo, startSignalRelay } from "./signals.ts";
import { captureHandover, programEnvironment, releaseHandover, type Handover } from "../loader/caller.ts";
import { programPathFor } from "../loader/program-file.ts";
import { PROJECT_ROOT, quietBuilds } from "../shim/shim-build.ts";
import { takeDescriptor, takeIntervalTimers } from "../shim/shim.ts";
import { stderrColoured } from "./colour.ts";
import { PagedRun } from "../run/paged-run.ts";
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

/** The notes a run says, each once, as `PAGER: note: ...`. */
class Notes {
  readonly said = new Set<string>();
  constructor(private readonly pager: PagerName) {}

  readonly say = (text: string): void => {
    if (this.said.has(text)) return;
    this.said.add(text);
    say(`${this.pager}: note: ${text}`);
  };
}

/** --gdb: gdb attaches to the program before its first instruction, and
 * the pager ends once gdb has (it stays with the program's end on screen). */
class DebuggerHandOff {
  private paging: Mechanism | null = null;
  private session: DebuggerSession | null = null;

  constructor(
    private readonly gdb: string,
    private readonly pager: PagerName,
  ) {}

  /** The program exists, paged by `paging` (gdb is told how its faults are caught). */
  started(paging: Mechanism | null): void {
    this.paging = paging;
  }

  /** The launch's beforeStart: gdb attaches, or says why it could not;
   * then the program is not run (and its loader, killed, is owed no go). */
  readonly beforeStart = async (pid: number, program: string): Promise<boolean> => {
    say(`${this.pager}: ${stoppedLine(program, pid)}`);
    const session = await attachDebugger(this.gdb, program, pid, this.paging);
    this.session = session;
    if (!session.attached) process.kill(pid, "SIGKILL");
    return session.attached;
  };

  /** Once the launch has ended: wait for gdb to end; false when it never
   * attached to the program, which was not run. */
  async attached(): Promise<boolean> {
    const session = this.session;
    if (session === null) return true;
    await session.exited;
    return session.attached;
  }
}

/** What the caller handed the pager goes to the program (descriptors,
 * ignored signals, mask, limits, timers), taken before this process opens
 * anything of its own; signals somebody sends the pager from now on are
 * relayed to the program (shim/loader/relay.c). */
function takeHandover(line: CommandLine): Handover {
  const handover = captureHandover({ take: takeDescriptor }, takeIntervalTimers);
  startSignalRelay(handover.ignored, handover.underBunRun);
  for (const text of handover.notes) if (!line.quiet) say(`${line.pager}: note: ${text}`);
  return handover;
}

/** The run the command line asks for. Under `bun run`, the program starts
 * where the caller was and with the environment it gave (not the script's:
 * the package's directory, npm_* variables, node_modules/.bin on PATH), and
 * the files named on the command line are found from there. */
function beginRun(line: CommandLine, handover: Handover): PagedRun {
  const caller = handover.caller;
  const cwd = caller?.cwd ?? process.cwd();
  const env = caller?.env ?? process.env;
  const programEnv = programEnvironment(env, (path) => startsThisCommand(resolve(cwd, path)), () => programPathFor(line.argv[0], env.PATH, cwd));
  return PagedRun.begin({
    pager: line.pager,
    speaker: line.pager,
    optionPrefix: "--",
    // Said even under --quiet: a profile that cannot be used, a file that
    // could not be written.
    warn: say,
    filesFrom: caller?.cwd ?? null,
    trace: line.trace,
    html: line.html,
    report: line.report,
    record: line.record,
    prefetch: line.prefetch,
    // A crash report names source lines, asked of this process.
    friendly: line.friendly ? { colour: stderrColoured().isColorSupported } : null,
    predictor: line.predictor,
    pages: line.pages,
    paging: line.paging,
    cwd: caller?.cwd ?? null,
    env: programEnv,
  });
}

/** Why the pager ended the program, or why it died, and that the run's
 * figures are not to be believed: said even under --quiet, which would
 * otherwise leave a bare "Segmentation fault". Then the other ways the run
 * differed from a kernel-started one, not noted before. */
function sayHowItEnded(line: CommandLine, outcome: LaunchOutcome, noted: ReadonlySet<string>): void {
  if (outcome.unseenFault) say(`${line.pager}: ${outcome.unseenFault}`);
  if (outcome.pagerFailure) say(`${line.pager}: ${outcome.pagerFailure}`);
  if (outcome.tampered) say(`${line.pager}: warning: ${TAMPERED}`);
  for (const difference of outcome.differences) {
    if (!line.quiet && difference !== outcome.unseenFault && difference !== outcome.pagerFailure && difference !== TAMPERED && !noted.has(difference)) say(`${line.pager}: note: ${difference}`);
  }
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
  const handover = takeHandover(line);
  // Files the run writes are claimed before the program starts: one that
  // cannot be written is refused now, with nothing run.
  const run = beginRun(line, handover);
  // Notes known before the program starts (a set-user-ID bit that gives no
  // privilege) are said then, so they come before anything the program says.
  const notes = new Notes(line.pager);
  const gdb = line.gdb ? Bun.which("gdb") : null;
  if (line.gdb && gdb === null) {
    run.abandon();
    say(`${line.pager}: --gdb: no gdb on PATH`);
    return EXIT_NOT_FOUND;
  }
  const debugging = gdb === null ? null : new DebuggerHandOff(gdb, line.pager);
  let outcome;
  try {
    outcome = await launch(
      line.argv,
      run.prepareLaunch({
        log: !line.quiet,
        note: line.quiet ? null : notes.say,
        // Said even under --quiet: without it a set-user-ID program silently
        // tells other facts (its own user's), with a success.
        privilegeNote: notes.say,
        handover,
        ...(debugging ? { beforeStart: debugging.beforeStart } : {}),
        onStart: (pid, paging) => {
          debugging?.started(paging);
          relaySignalsTo(pid);
        },
      }),
    );
  } catch (error) {
    run.abandon();
    throw error;
  } finally {
    releaseHandover(handover);
    run.programEnded();
  }
  if (debugging && !(await debugging.attached())) {
    run.abandon();
    say(`${line.pager}: --gdb: gdb did not attach to the program, which was not run`);
    return EXIT_CANNOT_RUN;
  }
  await run.finish(outcome);
  sayHowItEnded(line, outcome, notes.said);
  return endAsTheProgramDid(outcome);
}

// No top-level await: the command is also built as one bytecode-compiled
// file (src/cli/command.ts), which must be a script. An output file that
// cannot be written is a usage error; the rest, the front door's.
const name = process.argv[2] ?? "faultline";
void runCommand(name, () => main(process.argv.slice(2)), (error) => (error instanceof OutputError ? { line: `${name}: ${error.message}`, exitCode: EXIT_USAGE } : null));
