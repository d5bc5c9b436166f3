#!/usr/bin/env bun
/**
 * The `faultline` command, as the package installs it (bin/faultline finds
 * the Bun to run this on):
 *
 *   faultline apager|dpager|hpager [options] PROGRAM [ARGS...]   src/cli/command.ts, as `bun run apager`
 *   faultline friendly [options] PROGRAM [ARGS...]               src/cli/friendly.ts, as `bun run friendly`
 *   faultline service run|status|stop                            src/service/command.ts
 *   faultline --help | --version
 *   faultline help [COMMAND]                                     as --help, or COMMAND --help
 *
 * Only the command's name is read here; each command reads the rest of
 * its line itself, and names itself `faultline COMMAND` in its messages.
 */
import { writeSync } from "node:fs";
import { EXIT_USAGE } from "../loader/errors.ts";
import { COMMANDS, faultlineUsage, quietAsked, versionLine } from "./commands.ts";

// --no-service (bin/faultline's plain path: the command through Bun) is
// bin/faultline's to read; here it changes nothing.
if (process.argv[2] === "--no-service") process.argv.splice(2, 1);
let [command, ...rest] = process.argv.slice(2);

// `faultline help COMMAND` is `faultline COMMAND --help`, as git and
// other GNU-style tools have it; `faultline help` is `faultline --help`.
if (command === "help") {
  const topic = rest[0];
  const topics: readonly string[] = [...COMMANDS, "service"];
  if (topic !== undefined && !topics.includes(topic)) {
    writeSync(2, `faultline: no help for '${topic}' (expected ${topics.join(", ")})\nTry 'faultline --help'.\n`);
    process.exit(EXIT_USAGE);
  }
  [command, ...rest] = topic === undefined ? ["--help"] : [topic, "--help"];
  process.argv.splice(2, process.argv.length - 2, command, ...rest);
}

if (command === "apager" || command === "dpager" || command === "hpager") {
  // From now on the caller's shell starts the loader itself for these.
  const [{ ensureShim, quietBuilds, LOADER, PROJECT_ROOT }, { linkInstalledCommand }] = await Promise.all([import("../shim/shim-build.ts"), import("../shim/installed-command.ts")]);
  if (quietAsked(rest)) quietBuilds();
  try {
    ensureShim();
    linkInstalledCommand(PROJECT_ROOT, LOADER);
  } catch {
    // The command says why the shim cannot be built, as it always has.
  }
  // src/cli/cli.ts reads the pager and its words from process.argv, as under
  // `bun run apager`.
  await import("./command.ts");
} else if (command === "friendly") {
  const { runFriendly } = await import("./friendly.ts");
  await runFriendly(rest, "faultline friendly");
} else if (command === "service") {
  const { runServiceCommand } = await import("../service/command.ts");
  process.exit(await runServiceCommand(rest));
} else if (command === "-h" || command === "--help") {
  process.stdout.write(`${faultlineUsage()}\n`);
  process.exit(0);
} else if (command === "--version") {
  process.stdout.write(`${versionLine()}\n`);
  process.exit(0);
} else {
  const problem = command === undefined ? "no COMMAND given" : `unknown command '${command}' (expected ${COMMANDS.join(", ")})`;
  writeSync(2, `faultline: ${problem}\nTry 'faultline --help'.\n`);
  process.exit(EXIT_USAGE);
}
