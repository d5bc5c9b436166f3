/**
 * The installed command's launch (`faultline PAGER -q PROGRAM`, the loader
 * started by the caller and served by the user's warm service), each row
 * against its baseline measured in the same run: the program started
 * directly by the same caller, `bun -e 0` for the first (cold) command, a
 * 16 KiB program for a 200 MB one. Part of `bun run bench:launch`.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOADER, ensureShim } from "../src/shim/shim-build.ts";
import { median } from "./statistics.ts";

const ROOT = join(import.meta.dir, "..");

export interface CommandRow {
  name: string;
  /** The row's command and its baseline, medians in ms. */
  commandMs: number;
  baselineMs: number;
  baseline: string;
  addedMs: number;
  ratio: number;
  target: string;
  /** Whether the target is met; null for a row shown for comparison. */
  met: boolean | null;
}

/** A row's target: at most this much added, or within this ratio. */
type Limit = { addedMs: number } | { ratio: number } | null;

/** A 200 MB static program (its data in the file) that touches one page,
 * and a small one that does the same. */
async function bigAndSmall(dir: string): Promise<[big: string, small: string]> {
  const source = (bytes: number) => `static char data[${bytes}] = { 1 };\nint main(void) { return data[0] - 1; }\n`;
  const paths: string[] = [];
  for (const [name, bytes] of [["big", 200 << 20], ["small", 16 << 10]] as const) {
    const c = join(dir, `${name}.c`);
    writeFileSync(c, source(bytes));
    const out = join(dir, name);
    const cc = Bun.spawnSync(["cc", "-O1", "-static", "-o", out, c]);
    if (cc.exitCode !== 0) throw new Error(`cc ${c}: ${cc.stderr.toString()}`);
    paths.push(out);
  }
  return [paths[0]!, paths[1]!];
}

/**
 * Time argv as a whole process, as a shell would start it (Bun.spawn, the
 * same for every row and its baseline).
 */
async function timeSpawn(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "ignore", stdin: "ignore", cwd: ROOT, env });
  await proc.exited;
  if (proc.exitCode !== 0) throw new Error(`${argv.join(" ")} exited with ${proc.exitCode}`);
  return performance.now() - started;
}

/** Medians of ways taken in turn (after a warm-up), so drift hits all alike. */
async function medians(ways: Array<() => Promise<number>>, count: number, warmup = 3): Promise<number[]> {
  for (let i = 0; i < warmup; i++) for (const way of ways) await way();
  const times = ways.map(() => [] as number[]);
  for (let i = 0; i < count; i++) for (const [j, way] of ways.entries()) times[j]!.push(await way());
  return times.map(median);
}

export async function measureInstalledCommand(runs: number, staticProgram: string): Promise<CommandRow[]> {
  ensureShim();
  const dir = mkdtempSync(join(tmpdir(), "faultline-bench-command-"));
  chmodSync(dir, 0o700);
  const env = { ...process.env, XDG_RUNTIME_DIR: dir };
  // The installed command: a link named faultline to the loader, as
  // src/shim/installed-command.ts makes the package manager's.
  mkdirSync(join(dir, "bin"));
  const command = join(dir, "bin", "faultline");
  symlinkSync(LOADER, command);
  const script = join(ROOT, "bin", "faultline");
  const stop = () => timeSpawn([command, "service", "stop"], env);
  const rows: CommandRow[] = [];
  const row = (name: string, commandMs: number, baseline: string, baselineMs: number, limit: Limit) => {
    const addedMs = commandMs - baselineMs;
    const ratio = commandMs / baselineMs;
    const target = limit === null ? "none (for comparison)" : "addedMs" in limit ? `adds at most ${limit.addedMs} ms` : `within ${limit.ratio}x`;
    const met = limit === null ? null : "addedMs" in limit ? addedMs <= limit.addedMs : ratio <= limit.ratio;
    rows.push({ name, commandMs, baselineMs, baseline, addedMs, ratio, target, met });
  };
  try {
    const python = ["/usr/bin/python3", "-c", "pass"];
    const [direct, apager, viaScript, dpager, trueDirect, trueApager, pythonDirect, pythonApager] = await medians(
      [
        () => timeSpawn([staticProgram], env),
        () => timeSpawn([command, "apager", "-q", staticProgram], env),
        () => timeSpawn([script, "apager", "-q", staticProgram], env),
        () => timeSpawn([command, "dpager", "-q", staticProgram], env),
        () => timeSpawn(["/bin/true"], env),
        () => timeSpawn([command, "apager", "-q", "/bin/true"], env),
        () => timeSpawn(python, env),
        () => timeSpawn([command, "apager", "-q", ...python], env),
      ],
      runs,
    );
    row("faultline apager -q, static", apager!, "the program", direct!, { addedMs: 3 });
    row("bin/faultline (checkout script) apager -q, static", viaScript!, "the program", direct!, null);
    row("faultline dpager -q, static", dpager!, "the program", direct!, { addedMs: 5 });
    row("faultline apager -q /bin/true", trueApager!, "/bin/true", trueDirect!, { addedMs: 3 });
    row("faultline apager -q python3 -c pass", pythonApager!, "python3 -c pass", pythonDirect!, { ratio: 1.3 });

    // The first command starts the service: each one after a stop (not
    // timed), beside `bun -e 0` from the same caller. As many runs as every
    // other row (the table's header says how many): a median of a few cold
    // starts on a loaded machine moves by milliseconds.
    const [bunAlone, cold] = await medians(
      [
        () => timeSpawn([process.execPath, "-e", "0"], env),
        async () => {
          await stop();
          return timeSpawn([command, "apager", "-q", staticProgram], env);
        },
      ],
      runs,
      1,
    );
    row("first (cold) command, faultline apager -q, static", cold!, "bun -e 0", bunAlone!, { ratio: 1.5 });

    // A demand-paged launch of a 200 MB program touching one page, launched
    // before (its image copy made then), against a 16 KiB one.
    const [big, small] = await bigAndSmall(dir);
    const [bigMs, smallMs] = await medians([() => timeSpawn([command, "dpager", "-q", big], env), () => timeSpawn([command, "dpager", "-q", small], env)], runs);
    row("faultline dpager -q, 200 MB static, again", bigMs!, "16 KiB static", smallMs!, { ratio: 1.2 });
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function commandRowLines(rows: readonly CommandRow[]): string[] {
  return rows.map(
    (r) => `  ${r.name.padEnd(52)} ${r.commandMs.toFixed(2).padStart(7)} ms   ${r.baseline} ${r.baselineMs.toFixed(2)} ms   +${r.addedMs.toFixed(2)} ms (${r.ratio.toFixed(2)}x)   target: ${r.target}`,
  );
}
