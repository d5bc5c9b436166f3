/**
 * Running programs for comparison: natively, under a pager through the CLI,
 * and with friendly segfaults, each in a subprocess with a time limit (an
 * FFI call that never returns can only be timed out from outside).
 */
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { LOADER, ensureFriendlyLibrary, ensureShim } from "../../src/shim/shim-build.ts";
import { ROOT } from "./programs.ts";

export interface Ran {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: string | null;
}

/** Generous: loaded programs start in milliseconds, but CI machines are slow. */
export const TIME_LIMIT_MS = 30_000;

/** The environment runs get unless a test gives one: this process's, but
 * for `_`, which a shell sets to the path it ran this test run by. Where
 * that names Bun (`bun test` typed at a shell, not `npx bun test`), a pager
 * gives the program the path a shell would have given it (src/loader/
 * caller.ts, for `bun run`), and its environment would differ from the
 * native run's for a reason of the test run's own. */
function defaultEnv(): Record<string, string | undefined> {
  const { _: _shellPath, ...env } = process.env;
  return env;
}

export async function runProcess(argv: string[], options: { env?: Record<string, string | undefined>; stdin?: string; timeout?: number; cwd?: string } = {}): Promise<Ran> {
  const proc = Bun.spawn(argv, {
    stdout: "pipe",
    stderr: "pipe",
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    env: options.env ?? defaultEnv(),
    cwd: options.cwd ?? ROOT,
    timeout: options.timeout ?? TIME_LIMIT_MS,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  return { stdout, stderr, exitCode: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) };
}

/** fn over every item, at most `limit` at a time (subprocesses that mostly
 * wait need not wait in turn); the results in the items' order. */
export async function mapAtMost<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function runNative(argv: string[], options: Parameters<typeof runProcess>[1] = {}): Promise<Ran> {
  return runProcess(argv, options);
}

/** Where runPager's pagers start: the pagers' command through Bun as `bun
 * run apager` starts it (src/cli/command.ts: src/cli/cli.ts from its
 * bytecode bundle, which starts in half the time of the sources, over
 * hundreds of runs), or, with FAULTLINE_TEST_PAGER=installed, the installed
 * command (the loader itself, as the client of the user's service), or with
 * FAULTLINE_TEST_PAGER=source src/cli/cli.ts itself, to run a suite again
 * that way by hand. Tests that are about the sources' start name
 * src/cli/cli.ts themselves. */
export const PAGER_ENTRY =
  process.env.FAULTLINE_TEST_PAGER === "installed" ? [LOADER] : [process.execPath, `${ROOT}/src/cli/${process.env.FAULTLINE_TEST_PAGER === "source" ? "cli.ts" : "command.ts"}`];

/** Run argv under a pager via the CLI (PAGER_ENTRY), quiet unless asked. */
export function runPager(pager: string, argv: string[], options: Parameters<typeof runProcess>[1] & { flags?: string[] } = {}): Promise<Ran> {
  return runProcess([...PAGER_ENTRY, pager, ...(options.flags ?? ["-q"]), ...argv], options);
}

/** Run argv with libetsbefriends.so preloaded via `bun run friendly`'s
 * script (src/cli/friendly.ts), with its flags first if given. */
export function runFriendly(argv: string[], options: Parameters<typeof runProcess>[1] & { flags?: string[] } = {}): Promise<Ran> {
  return runProcess([process.execPath, `${ROOT}/src/cli/friendly.ts`, ...(options.flags ?? []), ...argv], options);
}

/** The user and group a privileged test drops to (nobody). */
export const UNPRIVILEGED_ID = 65534;

/** The permission bit that lets others search (enter) a directory. */
const OTHERS_SEARCH = 0o001;

/** Whether this process can run commands as another user (it is root and
 * has setpriv). */
export function canDropPrivilege(): boolean {
  return process.getuid?.() === 0 && Bun.which("setpriv") !== null;
}

/** Can another user reach path, every directory above it searchable by
 * others? A checkout under a private directory (a 0700 temporary one, a
 * home directory) is out of an unprivileged user's reach. */
function reachableByOthers(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & OTHERS_SEARCH) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/** What an unprivileged run of the pager reads from the checkout, mirrored
 * whole (build/, the command's bundles, where it has been made); files
 * under test/ (built programs, tools) are added as they are named. */
const MIRRORED = ["bin", "src", "shim", "build", "node_modules", "package.json", "bunfig.toml", "tsconfig.json"];
let mirror: string | null | undefined;

/** A world-searchable mirror of the checkout, made of hard links (cheap,
 * and the same inodes: modes and times are the checkout's), when the
 * checkout itself is out of an unprivileged user's reach; else null. */
function checkoutMirror(): string | null {
  if (mirror !== undefined) return mirror;
  if (reachableByOthers(join(ROOT, "src"))) return (mirror = null);
  const dir = mkdtempSync(join(tmpdir(), "faultline-unprivileged-"));
  chmodSync(dir, 0o755);
  for (const entry of MIRRORED) {
    if (!existsSync(join(ROOT, entry))) continue;
    const linked = Bun.spawnSync(["cp", "-al", join(ROOT, entry), join(dir, entry)]);
    if (linked.exitCode !== 0) throw new Error(`mirroring ${entry} for an unprivileged user failed: ${linked.stderr.toString()}`);
  }
  // Only links: removing them leaves the checkout as it was.
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return (mirror = dir);
}

/** The path an unprivileged user can reach for path: itself, or its twin
 * in the mirror (a file outside the mirrored parts is linked in on demand). */
function reachable(path: string, dir: string): string {
  if (path !== ROOT && !path.startsWith(`${ROOT}/`)) return path;
  const twin = join(dir, relative(ROOT, path));
  if (!existsSync(twin) && existsSync(path)) {
    mkdirSync(dirname(twin), { recursive: true, mode: 0o755 });
    linkSync(path, twin);
  }
  return twin;
}

/** argv to run as an unprivileged user: as nobody when this process is root
 * (setpriv execs in place, so the exit status is the command's), as itself
 * otherwise. Paths into a checkout nobody cannot reach are mapped into a
 * mirror of it, Bun's own executable included. */
export function unprivileged(argv: string[]): string[] {
  if (!canDropPrivilege()) return argv;
  // Built first, as this user: nobody cannot write shim/build, so a library
  // older than its sources would make every unprivileged run fail to build it.
  ensureShim();
  ensureFriendlyLibrary();
  const dir = checkoutMirror();
  const command = dir === null ? argv : argv.map((arg) => reachable(arg, dir));
  return ["setpriv", `--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, "--clear-groups", "--", ...command];
}

/** The part of a run the program itself decides. */
export function verdict(ran: Ran): { stdout: string; exitCode: number | null; signal: string | null } {
  return { stdout: ran.stdout, exitCode: ran.exitCode, signal: ran.signal };
}
