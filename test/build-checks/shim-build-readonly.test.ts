/**
 * The shim built on a user's machine: an install the user cannot write (a
 * read-only copy, owned by root, run as nobody when this process is root,
 * else as this user) builds into the user's cache directory, without
 * -Werror, once; and where nothing is writable, one line says so. The
 * commands run in subprocesses with time limits.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/programs.ts";
import { UNPRIVILEGED_ID, canDropPrivilege, runProcess } from "../support/run.ts";

/** Two builds of the shim on a loaded machine. */
setDefaultTimeout(240_000);
const RUN_LIMIT_MS = 120_000;

let dir = "";
let copy = "";
let home = "";
let lockedHome = "";
let compilerLog = "";
let wrapper = "";
const asNobody = canDropPrivilege();

/** argv as the user the test plays: nobody when this process is root. */
function asUser(argv: string[]): string[] {
  return asNobody ? ["setpriv", `--reuid=${UNPRIVILEGED_ID}`, `--regid=${UNPRIVILEGED_ID}`, "--clear-groups", "--", ...argv] : argv;
}

/** Make path the test user's own. */
function own(path: string): void {
  if (asNobody) chownSync(path, UNPRIVILEGED_ID, UNPRIVILEGED_ID);
}

/** Every file and directory under path, read-only for everybody. */
function readOnly(path: string): void {
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) readOnly(child);
    else chmodSync(child, 0o444);
  }
  chmodSync(path, 0o555);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-readonly-"));
  chmodSync(dir, 0o755);
  copy = join(dir, "package");
  mkdirSync(copy);
  // The package as npm would install it: its sources, no shim/build.
  for (const entry of ["src", "shim", "package.json", "bunfig.toml", "tsconfig.json"]) {
    cpSync(join(ROOT, entry), join(copy, entry), { recursive: true, filter: (source) => !source.startsWith(join(ROOT, "shim", "build")) });
  }
  // Bun and the dependencies, linked (never made read-only here: the
  // links are the checkout's own files).
  const linked = Bun.spawnSync(["cp", "-al", join(ROOT, "node_modules"), join(copy, "node_modules")]);
  if (linked.exitCode !== 0) throw new Error(`linking node_modules failed: ${linked.stderr.toString()}`);
  for (const entry of ["src", "shim", "package.json", "bunfig.toml", "tsconfig.json"]) {
    const path = join(copy, entry);
    if (entry.includes(".")) chmodSync(path, 0o444);
    else readOnly(path);
  }
  chmodSync(copy, 0o555);
  home = join(dir, "home");
  mkdirSync(home);
  own(home);
  lockedHome = join(dir, "locked-home");
  mkdirSync(lockedHome);
  chmodSync(lockedHome, 0o555);
  compilerLog = join(home, "cc.log");
  // A compiler that notes its arguments, then compiles.
  wrapper = join(dir, "cc-noting");
  writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> "$CC_LOG"\nexec cc "$@"\n`, { mode: 0o755 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `faultline apager /bin/echo hi` from the read-only copy, as the user. */
function echoHi(userHome: string) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: userHome, CC: wrapper, CC_LOG: compilerLog };
  return runProcess(asUser([join(copy, "node_modules", "bun", "bin", "bun.exe"), join(copy, "src", "cli", "cli.ts"), "apager", "/bin/echo", "hi"]), { env, cwd: dir, timeout: RUN_LIMIT_MS });
}

test("a read-only install builds into the user's cache directory, once, without -Werror", async () => {
  const first = await echoHi(home);
  expect(first.stderr).not.toContain("Permission denied");
  expect({ exitCode: first.exitCode, stdout: first.stdout }).toEqual({ exitCode: 0, stdout: "hi\n" });
  // Mapping lines, and notes of what an ordinary user cannot have (its
  // /proc/self/exe); no compiler output.
  expect(first.stderr.split("\n").filter((line) => line !== "" && !/^apager: (map |note: )/.test(line))).toEqual([]);
  const cache = join(home, ".cache", "faultline");
  // Beside the image store's images/, if it made one.
  const copies = readdirSync(cache).filter((name) => name !== "images");
  expect(copies).toHaveLength(1);
  expect(copies[0]).toMatch(/^shim-[0-9a-f]{12}$/);
  expect(readdirSync(join(cache, copies[0]!)).sort()).toEqual(["faultline-loader", "libfaultline.so"]);
  expect(existsSync(join(copy, "shim", "build"))).toBe(false);
  const compiles = readFileSync(compilerLog, "utf8").trim().split("\n");
  expect(compiles.length).toBeGreaterThan(10);
  expect(compiles.filter((line) => line.includes("-Werror"))).toEqual([]);
  // The second run finds it there: nothing is compiled again.
  const second = await echoHi(home);
  expect({ exitCode: second.exitCode, stdout: second.stdout }).toEqual({ exitCode: 0, stdout: "hi\n" });
  expect(readFileSync(compilerLog, "utf8").trim().split("\n")).toHaveLength(compiles.length);
});

test("the command's bundles of a read-only install are built into the user's cache directory, once", async () => {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home };
  const command = () => runProcess(asUser([join(copy, "node_modules", "bun", "bin", "bun.exe"), join(copy, "src", "cli", "command.ts"), "apager", "-q", "/bin/echo", "hi"]), { env, cwd: dir, timeout: RUN_LIMIT_MS });
  const first = await command();
  expect({ exitCode: first.exitCode, stdout: first.stdout, stderr: first.stderr }).toEqual({ exitCode: 0, stdout: "hi\n", stderr: "" });
  const cache = join(home, ".cache", "faultline");
  const bundles = readdirSync(cache).filter((name) => name.startsWith("command-"));
  expect(bundles).toHaveLength(1);
  expect(bundles[0]).toMatch(/^command-[0-9a-f]{12}$/);
  const folder = join(cache, bundles[0]!);
  expect(readdirSync(folder)).toEqual(expect.arrayContaining(["bun-version", "cli.js", "cli.js.jsc", "service-main.js"]));
  expect(existsSync(join(copy, "build"))).toBe(false);
  // The second run loads it: nothing is built again.
  const built = statSync(join(folder, "cli.js")).mtimeMs;
  const second = await command();
  expect({ exitCode: second.exitCode, stdout: second.stdout }).toEqual({ exitCode: 0, stdout: "hi\n" });
  expect(statSync(join(folder, "cli.js")).mtimeMs).toBe(built);
});

test("where neither the install nor the cache directory is writable, one line says so", async () => {
  const ran = await echoHi(lockedHome);
  expect(ran.exitCode).toBe(126);
  expect(ran.stdout).toBe("");
  expect(ran.stderr).toMatch(
    new RegExp(`^faultline: cannot build the shim: neither ${join(copy, "shim", "build")} nor ${join(lockedHome, ".cache", "faultline")}/shim-[0-9a-f]{12} is writable \\(EACCES\\); set XDG_CACHE_HOME to a writable directory, or run 'bun run build:shim' once as the package's owner\\n$`),
  );
});
