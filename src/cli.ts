#!/usr/bin/env bun
/**
 * The pagers' command line: `bun src/cli.ts PAGER [options] PROGRAM [ARGS...]`
 * (package scripts `apager`, `dpager`, `hpager`). Exits the way the program
 * did; loader errors are one line and exit 127 or 126.
 */
import { writeFileSync, writeSync } from "node:fs";
import { EXIT_CANNOT_RUN, EXIT_USAGE, LoadError, UsageError } from "./errors.ts";
import { launch, type PagerName } from "./launch.ts";
import { parseCommandLine, usage } from "./options.ts";
import { toReport } from "./report.ts";
import { endWithSignal, sendSignal } from "./shim.ts";
import packageJson from "../package.json" with { type: "json" };

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

  // While the program runs: a terminal's ^C and ^\ reach it directly (same
  // process group), so the pager only outlives them; a SIGTERM or SIGHUP sent
  // to the pager alone is passed on.
  let child = 0;
  const forward = (signal: NodeJS.Signals) => () => {
    if (child > 0) sendSignal(child, signal === "SIGTERM" ? 15 : 1);
  };
  const ignore = () => {};
  process.on("SIGINT", ignore);
  process.on("SIGTERM", forward("SIGTERM"));
  process.on("SIGHUP", forward("SIGHUP"));

  const outcome = await launch(line.argv, {
    pager: line.pager,
    log: line.quiet ? null : say,
    onStart: (pid) => {
      child = pid;
    },
  });
  child = 0;
  if (line.report) writeFileSync(line.report, `${JSON.stringify(toReport(outcome), null, 2)}\n`);
  for (const difference of outcome.differences) if (!line.quiet) say(`${line.pager}: note: ${difference}`);
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
  say(`${pager}: internal error: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(EXIT_CANNOT_RUN);
}
