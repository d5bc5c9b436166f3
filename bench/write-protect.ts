/**
 * What write-protecting a chunk costs the kernel, by mechanism: the measure
 * behind lazy copy's choice of moving page tables aside and protecting the
 * empty range with mprotect, over userfaultfd write-protection.
 *
 *   bun run bench:protect [--reps N] [--mib M] [--json] [--quiet]
 *
 * Builds and runs bench/write-protect.c (see its comment for the ways
 * measured), and, when this process is root and has setpriv, runs it again
 * as an ordinary user (nobody), who gets only a user-mode userfaultfd. Each
 * figure is a median of N runs, beside an eager copy of the same chunk
 * measured in the same run.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { COMMON_OPTIONS, finish, JSON_OPTION, Progress, readBenchLine, readLoad } from "./cli.ts";

const root = resolve(import.meta.dir, "..");
const { values: options } = readBenchLine({
  command: "bun run bench:protect",
  summary:
    "What write-protecting a populated shared chunk for a lazy copy costs the kernel, by mechanism (mprotect, userfaultfd write-protection, moving the page tables aside first), beside an eager copy of the same chunk measured in the same run; then making pages writable again in place, one at a time. As root it runs again as nobody, who gets only a user-mode userfaultfd. Times are medians: copies in us, with how many times faster than the eager copy each is, pages made writable in us a page. Takes about ten seconds.",
  options: {
    reps: { kind: "count", value: "N", description: "runs of each way (default 9)" },
    mib: { kind: "count", value: "M", description: "the chunk's size in MiB (default 64)" },
    ...JSON_OPTION,
    ...COMMON_OPTIONS,
  },
});
const { json } = options;
const reps = options.reps ?? 9;
const mib = options.mib ?? 64;
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench:protect", options.quiet);
/** The ordinary user a root run also measures as. */
const NOBODY = 65534;

interface CopyWay {
  way: string;
  us: number;
  eagerOver: number;
  sourceMappings: number;
}
interface InPlaceWay {
  way: string;
  pages: number;
  usPerPage: number;
  mappings: number;
}
interface Measured {
  mib: number;
  reps: number;
  userfaultfd: string;
  eagerCopyUs: number;
  copies: CopyWay[];
  inPlace: InPlaceWay[];
}

function build(): string {
  const source = join(root, "bench", "write-protect.c");
  const output = join(root, "bench", "build", "write-protect");
  if (!existsSync(output) || statSync(output).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(join(root, "bench", "build"), { recursive: true });
    const built = Bun.spawnSync([process.env.CC?.trim() || "cc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-o", output, source]);
    if (built.exitCode !== 0) throw new Error(`cannot build ${source}: ${built.stderr.toString()}`);
  }
  return output;
}

function run(argv: string[]): Measured {
  const ran = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (ran.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${ran.stderr.toString().trim()}`);
  return JSON.parse(ran.stdout.toString()) as Measured;
}

progress.say("building bench/write-protect.c");
const program = build();
progress.say(`measuring a ${mib} MiB chunk, ${reps} runs of each way`);
const command = [program, "--reps", String(reps), "--mib", String(mib)];
const runs: Array<{ user: string; measured: Measured }> = [{ user: process.getuid?.() === 0 ? "root" : "this user", measured: run(command) }];
// bench/build must be reachable by nobody: checkouts under a private
// directory are not, and then only this user's figures are shown.
if (process.getuid?.() === 0 && Bun.which("setpriv")) {
  try {
    progress.say(`measuring a ${mib} MiB chunk as nobody, ${reps} runs of each way`);
    runs.push({ user: "nobody", measured: run(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", ...command]) });
  } catch (error) {
    if (!json) console.log(`(not run as nobody: ${(error as Error).message})`);
  }
}
progress.done();

const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
if (json) {
  console.log(JSON.stringify({ benchmark: "write-protect", statistic: "median us", load, runs }, null, 2));
} else {
  for (const { user, measured } of runs) {
    console.log(`write-protecting a populated ${measured.mib} MiB shared chunk for a lazy copy, as ${user} (userfaultfd: ${measured.userfaultfd}); medians of ${measured.reps} runs, load ${load}`);
    console.log(`  ${"eager copy (populate + memcpy)".padEnd(31)} ${measured.eagerCopyUs.toFixed(1).padStart(8)} us`);
    for (const c of measured.copies) console.log(`  ${c.way.padEnd(31)} ${c.us.toFixed(1).padStart(8)} us  eager / this ${c.eagerOver.toFixed(0).padStart(5)}x  source mappings ${c.sourceMappings}`);
    console.log("  making pages writable again in place, one at a time:");
    for (const p of measured.inPlace) console.log(`  ${p.way.padEnd(31)} ${p.usPerPage.toFixed(2).padStart(8)} us a page  mappings after ${p.pages} pages: ${p.mappings}`);
  }
}
process.exit(finish({ json, check: false }, loadBefore));
