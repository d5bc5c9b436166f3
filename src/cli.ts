#!/usr/bin/env bun
/**
 * The pagers' command line: `bun src/cli.ts PAGER [options] PROGRAM [ARGS...]`
 * (package scripts `apager`, `dpager`, `hpager`). Exits the way the program
 * did; loader errors are one line and exit 127 or 126.
 */
import { writeFileSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { EXIT_CANNOT_RUN, EXIT_USAGE, LoadError, UsageError } from "./errors.ts";
import { launch, type PagerName } from "./launch.ts";
import { parseCommandLine, usage } from "./options.ts";
import { ShimError, endWithSignal, sendSignal } from "./shim.ts";
import { ShimBuildError } from "./shim-build.ts";
import { ignoredAtStart } from "./signals.ts";
import { RunRecording } from "./view/record.ts";
import { OutputError } from "./view/write.ts";
import packageJson from "../package.json" with { type: "json" };

/** kill(2)'s answer when the process is gone. */
const ESRCH = 3;

/** Signals ignored in this process now (/proc/self/status SigIgn): before
 * the pager installs anything, these are what Bun's parent left ignored,
 * plus the two Bun ignores itself. */
function say(line: string): void {
  writeSync(2, `${line}\n`);
}

async function main(args: string[]): Promise<number> {
  const pagerArg = args[0] ?? "";
  const pager = (["apager", "dpager", "hpager"].includes(pagerArg) ? pagerArg : "apager") as PagerName;
  let line;
  try {
    line = parseCommandLine(pagerArg, args.slice(1));
  } catch (error) {
    if (error instanceof UsageError) {
      say(`${pager}: ${error.message}`);
      say(`Try 'bun run ${pager} --help'.`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (line.help) {
    process.stdout.write(`${usage(line.pager)}\n`);
    return 0;
  }
  if (line.version) {
    process.stdout.write(`faultline ${packageJson.version}\n`);
    return 0;
  }

  // While the program runs: a terminal's ^C reaches it directly (same
  // process group), so the pager only outlives it; a SIGTERM or SIGHUP sent
  // to the pager alone is passed on. A signal this process was started with
  // ignored (nohup, a background job) is left ignored, so the program
  // inherits that just as it would from execve.
  let child = 0;
  const inherited = ignoredAtStart();
  const watch = (signal: "SIGINT" | "SIGTERM" | "SIGHUP", action: () => void) => {
    if (!inherited.has(osConstants.signals[signal])) process.on(signal, action);
  };
  // The child may have ended an instant ago (its exit not yet reaped):
  // then there is nobody to pass the signal to, which is no error.
  const forward = (signal: "SIGTERM" | "SIGHUP") => () => {
    if (child <= 0) return;
    try {
      sendSignal(child, osConstants.signals[signal]);
    } catch (error) {
      if (!(error instanceof ShimError && error.errno === ESRCH)) throw error;
    }
  };
  watch("SIGINT", () => {});
  watch("SIGTERM", forward("SIGTERM"));
  watch("SIGHUP", forward("SIGHUP"));

  // Files the run writes besides the report are claimed before the program
  // starts: one that cannot be written is refused now, with nothing run.
  let recording: RunRecording;
  try {
    recording = RunRecording.begin({ trace: line.trace, html: line.html });
  } catch (error) {
    if (error instanceof OutputError) {
      say(`${line.pager}: ${error.message}`);
      return EXIT_USAGE;
    }
    throw error;
  }
  // Notes known before the program starts (a set-user-ID bit that gives no
  // privilege) are said then, so they come before anything the program says.
  const noted = new Set<string>();
  const note = (text: string) => {
    noted.add(text);
    say(`${line.pager}: note: ${text}`);
  };
  let outcome;
  try {
    outcome = await launch(line.argv, {
      pager: line.pager,
      log: line.quiet ? null : say,
      note: line.quiet ? null : note,
      traceFd: recording.traceFd,
      ...(line.predictor ? { predictor: line.predictor } : {}),
      ...(line.pages ? { pages: line.pages } : {}),
      ...(line.paging ? { paging: line.paging } : {}),
      ...(line.friendly ? { friendly: true } : {}),
      onStart: (pid, paging) => {
        child = pid;
        recording.started(pid, paging, line.pager);
      },
    });
  } catch (error) {
    recording.abandon();
    throw error;
  }
  child = 0;
  const { report, warnings } = await recording.finish(outcome);
  if (line.report) writeFileSync(line.report, `${JSON.stringify(report, null, 2)}\n`);
  for (const warning of warnings) say(`${line.pager}: ${warning}`);
  if (outcome.unseenFault) say(`${line.pager}: ${outcome.unseenFault}`);
  for (const difference of outcome.differences) {
    if (!line.quiet && difference !== outcome.unseenFault && !noted.has(difference)) say(`${line.pager}: note: ${difference}`);
  }
  if (outcome.signalNumber !== null) {
    process.removeAllListeners("SIGINT");
    process.removeAllListeners("SIGTERM");
    process.removeAllListeners("SIGHUP");
    endWithSignal(outcome.signalNumber);
    return 128 + outcome.signalNumber;
  }
  return outcome.exitCode ?? EXIT_CANNOT_RUN;
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  const pager = process.argv[2] ?? "faultline";
  if (error instanceof LoadError) {
    say(`${pager}: ${error.message}`);
    process.exit(error.exitCode);
  }
  if (error instanceof ShimBuildError) {
    say(error.message);
    process.exit(EXIT_CANNOT_RUN);
  }
  say(`${pager}: internal error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT_CANNOT_RUN);
}
