/**
 * Hostile programs over many seeds: test/programs/scribble.c writes over
 * every shared writable mapping it has (once, or from a second thread all
 * along) under every pager and paging mechanism, static and PIE. Counts
 * runs where the Bun process crashed or hung (time limit), the report was
 * missing, a program that finished normally was reported otherwise, or
 * shared memory was written over without the report saying so.
 *
 *   bun run fuzz:hostile [--seeds N] [--quiet]     (default 100 per setting)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../src/shim/shim.ts";
import { buildAll } from "../test/support/programs.ts";
import { runPager } from "../test/support/run.ts";
import { COMMON_OPTIONS, Progress, readBenchLine } from "./cli.ts";

const { values: options } = readBenchLine({
  command: "bun run fuzz:hostile",
  summary:
    "Hostile programs over many seeds: a program that writes over every shared writable mapping it has (once, or from a second thread all along), under every pager and paging mechanism, static and PIE. Prints one line per run that went wrong, then one JSON line of counts: runs, the Bun process crashed, hung, no report, a normal end reported otherwise, shared memory written over without the report saying so (unflagged), and with it (flagged).",
  options: { seeds: { kind: "count", value: "N", description: "seeds per setting (default 100)" }, ...COMMON_OPTIONS },
});
const seeds = options.seeds ?? 100;
const progress = Progress.forTerminal("fuzz:hostile", options.quiet);
progress.say("building the program");
const built = await buildAll(["scribble.c"], ["static", "pie"]);
const settings = [
  { pager: "apager", flags: [] as string[] },
  ...["dpager", "hpager"].flatMap((pager) => (userfaultfdAvailable() ? ["signal", "userfaultfd"] : ["signal"]).map((paging) => ({ pager, flags: ["--paging", paging] }))),
];
const modes = ["once", "thread", "both"];
const dir = mkdtempSync(join(tmpdir(), "faultline-fuzz-hostile-"));
const totals = { runs: 0, crashed: 0, hung: 0, noReport: 0, misreported: 0, unflagged: 0, flagged: 0 };
for (const setting of settings) {
  for (const variant of ["static", "pie"] as const) {
    // A static threaded program under dpager's SIGSEGV mechanism dies in
    // pthread_create, hostile or not (docs/differences.md): only "once" is judged there.
    const judged = variant === "static" && setting.pager === "dpager" && setting.flags.includes("signal") ? ["once"] : modes;
    for (let seed = 1; seed <= seeds; seed++) {
      const mode = judged[seed % judged.length]!;
      const report = join(dir, "report.json");
      rmSync(report, { force: true });
      progress.say(`${setting.pager} ${setting.flags.join(" ")} ${variant}: seed ${seed} of ${seeds}`);
      const ran = await runPager(setting.pager, [built.get(`scribble.c:${variant}`)!, String(seed), mode], { flags: ["-q", "--report", report, ...setting.flags], timeout: 20_000 });
      totals.runs++;
      const label = `${setting.pager} ${setting.flags.join(" ")} ${variant} seed ${seed} ${mode}`;
      const say = (what: string) => {
        progress.done();
        process.stderr.write(`${what}: ${label}: exit ${ran.exitCode} ${ran.signal ?? ""}\n${ran.stderr.slice(0, 2000)}\n`);
      };
      if (ran.signal === "SIGKILL") {
        totals.hung++;
        say("hung");
      }
      if (ran.stderr.includes("internal error") || ran.stderr.includes("panic") || ran.stderr.includes("Bun v")) {
        totals.crashed++;
        say("crashed");
      }
      if (!existsSync(report)) {
        totals.noReport++;
        say("no report");
        continue;
      }
      const written = JSON.parse(readFileSync(report, "utf8"));
      const shared = Number(/^shared=(\d+)/.exec(ran.stdout)?.[1] ?? "0");
      if (ran.exitCode !== 0 || written.exitCode !== 0 || written.signal !== null) {
        totals.misreported++;
        say("misreported");
      }
      if (written.tampered) totals.flagged++;
      else if (shared > 0 && !setting.flags.includes("userfaultfd") && setting.pager !== "apager") {
        totals.unflagged++;
        say("unflagged");
      }
    }
  }
}
progress.done();
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ seedsPerSetting: seeds, ...totals }));
