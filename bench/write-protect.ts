/**
 * What write-protecting a chunk costs the kernel, by mechanism: the measure
 * behind lazy copy's choice of moving page tables aside and protecting the
 * empty range with mprotect, over userfaultfd write-protection.
 *
 *   bun run bench:protect [--reps N] [--mib M] [--json]
 *
 * Builds and runs bench/write-protect.c (see its comment for the ways
 * measured), and, when this process is root and has setpriv, runs it again
 * as an ordinary user (nobody), who gets only a user-mode userfaultfd. Each
 * figure is a median of N runs, beside an eager copy of the same chunk
 * measured in the same run.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const json = args.includes("--json");
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at >= 0 ? Number(args[at + 1]) || fallback : fallback;
};
const reps = option("--reps", 9);
const mib = option("--mib", 64);
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

const program = build();
const command = [program, "--reps", String(reps), "--mib", String(mib)];
const runs: Array<{ user: string; measured: Measured }> = [{ user: process.getuid?.() === 0 ? "root" : "this user", measured: run(command) }];
// bench/build must be reachable by nobody: checkouts under a private
// directory are not, and then only this user's figures are shown.
if (process.getuid?.() === 0 && Bun.which("setpriv")) {
  try {
    runs.push({ user: "nobody", measured: run(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", ...command]) });
  } catch (error) {
    if (!json) console.log(`(not run as nobody: ${(error as Error).message})`);
  }
}

const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
if (json) {
  console.log(JSON.stringify({ benchmark: "write-protect", statistic: "median us", load, runs }, null, 2));
} else {
  for (const { user, measured } of runs) {
    console.log(`write-protecting a populated ${measured.mib} MiB shared chunk for a lazy copy, as ${user} (userfaultfd: ${measured.userfaultfd}); medians of ${measured.reps} runs, load ${load}`);
    console.log(`  eager copy (populate + memcpy)  ${(measured.eagerCopyUs / 1e3).toFixed(2)} ms`);
    for (const c of measured.copies) console.log(`  ${c.way.padEnd(31)} ${c.us.toFixed(1).padStart(8)} us  eager / this ${c.eagerOver.toFixed(0).padStart(5)}x  source mappings ${c.sourceMappings}`);
    console.log("  making pages writable again in place, one at a time:");
    for (const p of measured.inPlace) console.log(`  ${p.way.padEnd(31)} ${p.usPerPage.toFixed(2).padStart(8)} us a page  mappings after ${p.pages} pages: ${p.mappings}`);
  }
}
