/**
 * Launch overhead, measured in one run against baselines measured in the
 * same run:
 *
 *   - apager through the library (`run`) against Bun.spawn of the same
 *     program, for a static and a dynamic program; dpager beside them, and
 *     apager with loaders started ahead the other way from this machine's
 *     default (src/loader/launch.ts);
 *   - the command a shell runs, `bun run apager -q PROGRAM`, against
 *     `bun -e 0` (Bun's own start-up) and the program spawned directly;
 *   - the installed command, `faultline PAGER -q PROGRAM` through the
 *     user's warm service (bench/launch-command.ts), against the program
 *     started directly, the first (cold) command against `bun -e 0`, and a
 *     200 MB program's demand-paged launch against a 16 KiB one's.
 *
 *   bun run bench:launch [--runs N] [--library] [--json] [--check] [--quiet]
 *
 * Prints medians and the ratios. Targets: run() within 1.25x of Bun.spawn;
 * the command within 2.5x of `bun -e 0`; the installed command's, in
 * bench/launch-command.ts.
 */
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { prestartLoaders, run } from "../src/index.ts";
import { prestartByDefault } from "../src/loader/launch.ts";
import { buildProgram } from "../test/support/programs.ts";
import { COMMON_OPTIONS, finish, JSON_OPTION, Progress, readBenchLine, readLoad, TARGET_OPTIONS } from "./cli.ts";
import { median } from "./statistics.ts";
import { commandRowLines, measureInstalledCommand } from "./launch-command.ts";

/** Targets: run() against Bun.spawn of the same program; the command
 * against Bun's own start-up. */
const TARGET_RUN_RATIO = 1.25;
const TARGET_COMMAND_RATIO = 2.5;
const { values: options } = readBenchLine({
  command: "bun run bench:launch",
  summary: `Launch overhead against baselines measured in the same run: run() under apager and dpager (and apager with loaders started ahead the other way from this machine's default) against Bun.spawn of the same static and dynamic program; and the command a shell runs, \`bun run apager -q PROGRAM\`, against \`bun -e 0\`. Prints median times in ms and ratios to the baseline (2.00x: twice as long). Targets: run() within ${TARGET_RUN_RATIO}x of Bun.spawn, the command within ${TARGET_COMMAND_RATIO}x of \`bun -e 0\`. Takes about a minute.`,
  options: {
    runs: { kind: "count", value: "N", description: "launches of each way (default 60; the command a quarter of that, at least 10)" },
    library: { kind: "flag", description: "only run() against Bun.spawn (neither command is measured)" },
    ...JSON_OPTION, ...TARGET_OPTIONS, ...COMMON_OPTIONS },
});
const runs = options.runs ?? 60;
const libraryOnly = options.library;
const { json } = options;
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:launch", options.quiet);
const ROOT = join(import.meta.dir, "..");

async function timeSpawn(argv: string[], cwd = ROOT): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore", stdin: "ignore", cwd });
  await proc.exited;
  if (proc.exitCode !== 0) throw new Error(`${argv.join(" ")} exited with ${proc.exitCode}`);
  return performance.now() - started;
}

function timeRun(pager: "apager" | "dpager") {
  return async (argv: string[]): Promise<number> => {
    const started = performance.now();
    await run(argv, { quiet: true, pager });
    return performance.now() - started;
  };
}

/** apager with loaders started ahead on or off (whichever this machine's
 * default is not): with them on, an untimed launch first starts the loader
 * the timed one takes. The default is put back after. */
const SETTLE_MS = 20;
const aheadByDefault = prestartByDefault(process.env.FAULTLINE_PRESTART, availableParallelism());
function timeRunAhead(ahead: boolean) {
  return async (argv: string[]): Promise<number> => {
    prestartLoaders(ahead);
    if (ahead) await run(argv, { quiet: true, pager: "apager" });
    const started = performance.now();
    await run(argv, { quiet: true, pager: "apager" });
    const elapsed = performance.now() - started;
    prestartLoaders(aheadByDefault);
    // A loader retired (or spawned) on a shim thread is done before the
    // next way is timed.
    await Bun.sleep(SETTLE_MS);
    return elapsed;
  };
}

/** Alternate the ways of running (after a warm-up) so that drift on the
 * machine affects all alike; the median of each. */
async function medians(ways: Array<() => Promise<number>>, count: number): Promise<number[]> {
  for (let i = 0; i < 5; i++) for (const way of ways) await way();
  const times = ways.map(() => [] as number[]);
  for (let i = 0; i < count; i++) for (const [j, way] of ways.entries()) times[j]!.push(await way());
  return times.map(median);
}

const programs = [
  { name: "static", argv: [await buildProgram("exit_code.c", "static")] },
  { name: "dynamic", argv: ["/bin/true"] },
];

const library = [];
for (const [index, program] of programs.entries()) {
  progress.say(`run() of the ${program.name} program (${index + 1} of ${programs.length}), ${runs} launches each way`);
  const [native, apager, dpager, other] = await medians(
    [() => timeSpawn(program.argv), () => timeRun("apager")(program.argv), () => timeRun("dpager")(program.argv), () => timeRunAhead(!aheadByDefault)(program.argv)],
    runs,
  );
  library.push({
    program: program.name,
    argv: program.argv,
    runs,
    nativeMedianMs: native!,
    apagerMedianMs: apager!,
    dpagerMedianMs: dpager!,
    ratio: apager! / native!,
    dpagerRatio: dpager! / native!,
    loadersAhead: aheadByDefault,
    otherwiseMedianMs: other!,
    otherwiseRatio: other! / native!,
  });
}

/** The command: Bun started by a shell, as a script or a build runs it. */
async function measureCommand(commandRuns: number, commandProgram: string) {
  const bun = process.execPath;
  progress.say(`the command, ${commandRuns} runs each way`);
  const [bunAlone, programAlone, command] = await medians(
    [() => timeSpawn([bun, "-e", "0"]), () => timeSpawn([commandProgram]), () => timeSpawn([bun, "run", "apager", "-q", commandProgram])],
    commandRuns,
  );
  return { runs: commandRuns, program: commandProgram, bunMedianMs: bunAlone!, programMedianMs: programAlone!, commandMedianMs: command!, ratio: command! / bunAlone! };
}

const commandProgram = programs[0]!.argv[0]!;
const commandRuns = Math.max(10, Math.floor(runs / 4));
const startup = libraryOnly ? null : await measureCommand(commandRuns, commandProgram);
if (!libraryOnly) progress.say(`the installed command through the warm service, ${commandRuns} runs each way`);
const installed = libraryOnly ? [] : await measureInstalledCommand(commandRuns, commandProgram);
progress.done();
if (json) {
  console.log(JSON.stringify({ benchmark: "launch", results: library, command: startup, installed }, null, 2));
} else {
  console.log(`launch overhead, median of ${runs} runs each (run() against Bun.spawn, same run; loaders started ahead: ${aheadByDefault ? "on" : "off"} by default here)`);
  for (const r of library) {
    console.log(
      `  ${r.program.padEnd(8)} native ${r.nativeMedianMs.toFixed(3)} ms   apager ${r.apagerMedianMs.toFixed(3)} ms (${r.ratio.toFixed(2)}x)   dpager ${r.dpagerMedianMs.toFixed(3)} ms (${r.dpagerRatio.toFixed(2)}x)   apager with loaders ahead ${r.loadersAhead ? "off" : "on"} ${r.otherwiseMedianMs.toFixed(3)} ms (${r.otherwiseRatio.toFixed(2)}x)`,
    );
  }
  if (startup) {
    console.log(`the command, median of ${commandRuns} runs each`);
    console.log(
      `  bun -e 0 ${startup.bunMedianMs.toFixed(2)} ms   program alone ${startup.programMedianMs.toFixed(2)} ms   bun run apager -q ${startup.commandMedianMs.toFixed(2)} ms (${startup.ratio.toFixed(2)}x bun -e 0)`,
    );
    console.log(`the installed command through the warm service, median of ${commandRuns} runs each (each beside its baseline)`);
    for (const line of commandRowLines(installed)) console.log(line);
  }
}
const targets = [
  ...library.map((r) => ({ meaning: `run() of the ${r.program} program under apager within ${TARGET_RUN_RATIO}x of Bun.spawn's time`, measured: `${r.ratio.toFixed(2)}x`, met: r.ratio <= TARGET_RUN_RATIO })),
  ...(startup ? [{ meaning: `\`bun run apager -q PROGRAM\` within ${TARGET_COMMAND_RATIO}x of \`bun -e 0\``, measured: `${startup.ratio.toFixed(2)}x`, met: startup.ratio <= TARGET_COMMAND_RATIO }] : []),
  ...installed.filter((r) => r.met !== null).map((r) => ({ meaning: `${r.name}: ${r.target} (against ${r.baseline})`, measured: `+${r.addedMs.toFixed(2)} ms, ${r.ratio.toFixed(2)}x`, met: r.met! })),
];
process.exit(finish({ json, check: options.check }, loadBefore, targets));
