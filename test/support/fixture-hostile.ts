/**
 * Subprocess fixture: a long-lived library user running hostile programs
 * (test/programs/scribble.c) one after another through run(), under every
 * pager and mechanism. Prints one JSON line per run, then "alive".
 *
 *   bun fixture-hostile.ts PROGRAM RUNS
 */
import { run, type PagerName } from "../../src/index.ts";

const [program, runs] = process.argv.slice(2) as [string, string];
const settings: Array<{ pager: PagerName; paging?: "signal" | "userfaultfd" }> = [
  { pager: "apager" },
  { pager: "dpager", paging: "signal" },
  { pager: "dpager", paging: "userfaultfd" },
  { pager: "hpager", paging: "signal" },
  { pager: "hpager", paging: "userfaultfd" },
];
const modes = ["once", "thread", "both"];
for (let i = 0; i < Number(runs); i++) {
  const setting = settings[i % settings.length]!;
  const mode = modes[i % modes.length]!;
  const report = await run([program, String(1000 + i), mode], { quiet: true, ...setting });
  console.log(JSON.stringify({ ...setting, mode, exitCode: report.exitCode, signal: report.signal, tampered: report.tampered }));
}
console.log("alive");
