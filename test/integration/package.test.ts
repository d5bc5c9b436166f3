/**
 * The package as a user gets it: packed (npm pack, which makes types/),
 * installed into a new project with npm and with Bun as the README says,
 * its `faultline` command run with npx and bunx where no Bun is on PATH
 * (npm's project) or only the user's own (Bun's), the shim built on first
 * use; and a consumer's TypeScript importing it type-checks.
 *
 * Installing needs the packages faultline depends on: from npm's and Bun's
 * caches when they have them (.ci/run's `npm install` fills npm's), else
 * from the registry.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { ROOT } from "../support/programs.ts";
import { relativeLinks } from "../support/readme.ts";
import { runProcess, type Ran } from "../support/run.ts";

/** Installing copies Bun itself (about 100 MB) and may fetch packages. */
const INSTALL_LIMIT_MS = 300_000;
setDefaultTimeout(INSTALL_LIMIT_MS);

let dir = "";
let tarball = "";
/** PATH without any Bun: node, npm and the C compiler only. */
let bare = "";
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-package-"));
  const packed = await runProcess(["npm", "pack", "--silent", "--pack-destination", dir], { cwd: ROOT, timeout: INSTALL_LIMIT_MS });
  expect(packed.exitCode).toBe(0);
  tarball = join(dir, packed.stdout.trim().split("\n").at(-1)!);
  const node = (await runProcess(["sh", "-c", "command -v node"])).stdout.trim();
  bare = [...new Set([dirname(node), "/usr/bin", "/bin"])].join(":");
}, INSTALL_LIMIT_MS);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A command in `cwd` with `path` as its whole PATH. */
function inProject(argv: string[], cwd: string, path: string, timeout = 120_000): Promise<Ran> {
  return runProcess(argv, { cwd, timeout, env: { HOME: process.env.HOME, PATH: path, TMPDIR: process.env.TMPDIR } });
}

/** A new project with the README's example program built in it. */
async function project(name: string): Promise<string> {
  const cwd = join(dir, name);
  mkdirSync(cwd);
  writeFileSync(join(cwd, "package.json"), `${JSON.stringify({ name, version: "1.0.0", private: true, type: "module" }, null, 2)}\n`);
  const built = await runProcess(["cc", "-O1", "-static", "-o", join(cwd, "prog"), join(ROOT, "examples/hello.c")]);
  expect(built.exitCode).toBe(0);
  return cwd;
}

test("the tarball holds the command, the sources the shim is built from, and the declarations", async () => {
  const listed = await runProcess(["tar", "tzf", tarball]);
  const files = listed.stdout.trim().split("\n");
  for (const file of ["package/bin/faultline", "package/src/index.ts", "package/src/cli/faultline.ts", "package/shim/loader/loader.c", "package/shim/loader/subprocess.c", "package/shim/launch.h", "package/shim/contract.h", "package/types/index.d.ts", "package/types/run/subprocess.d.ts"]) {
    expect(files).toContain(file);
  }
  expect(files.some((f) => f.startsWith("package/shim/build/") || f.startsWith("package/build/") || f.startsWith("package/test/"))).toBe(false);
  const modes = await runProcess(["tar", "tzvf", tarball, "package/bin/faultline"]);
  expect(modes.stdout).toStartWith("-rwxr-xr-x");
});

test("the README's links lead to pages the tarball holds", async () => {
  const files = (await runProcess(["tar", "tzf", tarball])).stdout.trim().split("\n");
  const linked = relativeLinks(readFileSync(join(ROOT, "README.md"), "utf8")).filter((link) => link.path !== "");
  expect(linked.map((link) => link.path)).toContain("docs/pagers.md");
  expect(linked.filter((link) => !files.includes(`package/${link.path}`)).map((link) => link.path)).toEqual([]);
});

describe("installed with npm, where no Bun is on PATH [registry]", () => {
  let cwd = "";
  let native: Ran;
  beforeAll(async () => {
    cwd = await project("with-npm");
    native = await runProcess([join(cwd, "prog")]);
    // The README's `npm install ./faultline-*.tgz`: the packed tarball.
    const installed = await inProject(["npm", "install", "--prefer-offline", "--no-audit", "--no-fund", tarball], cwd, bare, INSTALL_LIMIT_MS);
    expect({ exitCode: installed.exitCode, stderr: installed.stderr.includes("ERR") ? installed.stderr : "" }).toEqual({ exitCode: 0, stderr: "" });
  }, INSTALL_LIMIT_MS);

  test("no Bun on PATH to begin with", async () => {
    expect((await inProject(["sh", "-c", "command -v bun || echo none"], cwd, bare)).stdout.trim()).toBe("none");
  });

  test("npx faultline apager ./prog: the program's output, a map line per mapping, its exit status", async () => {
    const ran = await inProject(["npx", "faultline", "apager", "./prog"], cwd, bare);
    expect(ran.exitCode).toBe(native.exitCode);
    expect(ran.stdout).toBe(native.stdout);
    const lines = ran.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line).toMatch(/^apager: map addr=0x[0-9a-f]+ size=0x[0-9a-f]+ off=(0x[0-9a-f]+|-) prot=[r-][w-][x-] (file=\.\/prog|anon=.*)$/);
    // The shim was built on first use, inside the installed package.
    expect(readdirSync(join(cwd, "node_modules/faultline/shim/build"))).toEqual(expect.arrayContaining(["libfaultline.so", "faultline-loader"]));
  });

  test("the other commands, --help and --version, and a wrong command line", async () => {
    const bin = join(cwd, "node_modules/.bin/faultline");
    const withArgs = await runProcess([join(cwd, "prog"), "one", "two"]);
    const dpager = await inProject([bin, "dpager", "-q", "./prog", "one", "two"], cwd, bare);
    expect({ exitCode: dpager.exitCode, stdout: dpager.stdout, stderr: dpager.stderr }).toEqual({ exitCode: withArgs.exitCode, stdout: withArgs.stdout, stderr: "" });
    expect(withArgs.stdout).toContain("argv[2] = two");
    // The service that ran it started from the command's bundle, built in
    // the installed package beside its sources, not in shim/build/.
    expect(readdirSync(join(cwd, "node_modules/faultline/build/command"))).toEqual(expect.arrayContaining(["bun-version", "cli.js", "service-main.js"]));
    expect(existsSync(join(cwd, "node_modules/faultline/shim/build/command"))).toBe(false);
    const friendly = await inProject(["npx", "faultline", "friendly", "/bin/sh", "-c", "echo friendly"], cwd, bare);
    expect({ exitCode: friendly.exitCode, stdout: friendly.stdout }).toEqual({ exitCode: 0, stdout: "friendly\n" });
    const version = await inProject(["npx", "faultline", "--version"], cwd, bare);
    expect(version.stdout).toBe(`faultline ${packageJson.version}\n`);
    const help = await inProject(["npx", "faultline", "--help"], cwd, bare);
    expect(help.stdout).toStartWith("Usage: faultline COMMAND [options] PROGRAM [ARGS...]");
    const pagerHelp = await inProject([bin, "hpager", "--help"], cwd, bare);
    expect(pagerHelp.stdout).toStartWith("Usage: faultline hpager [options] PROGRAM [ARGS...]");
    const wrong = await inProject([bin, "zpager", "./prog"], cwd, bare);
    expect({ exitCode: wrong.exitCode, stderr: wrong.stderr }).toEqual({ exitCode: 2, stderr: "faultline: unknown command 'zpager' (expected apager, dpager, hpager, friendly)\nTry 'faultline --help'.\n" });
    const option = await inProject([bin, "apager", "--frobnicate", "./prog"], cwd, bare);
    expect({ exitCode: option.exitCode, stderr: option.stderr }).toEqual({ exitCode: 2, stderr: "apager: unknown option '--frobnicate'\nTry 'faultline apager --help'.\n" });
  });

  test("a consumer's TypeScript importing the package type-checks, strict options and all", async () => {
    writeFileSync(
      join(cwd, "consumer.ts"),
      `import { spawn, run, LoadError, OutputError, pagesMappedBy, type FaultEvent, type MappingEvent, type RunReport, type Subprocess } from "faultline";

const proc = spawn(["./prog"], { pager: "dpager", quiet: true, stdin: "pipe", onFault: (f: FaultEvent) => void f.address, onMapping: (m: MappingEvent) => void pagesMappedBy(m) });
proc.stdin.write("input");
await proc.stdin.end();
const text: string = await new Response(proc.stdout).text();
const code: number = await proc.exited;
const report: RunReport = await proc.report;
const signal: NodeJS.Signals | number | null = proc.signalCode;
const inherited = spawn(["./prog"], { stdout: "inherit", stdin: new Blob(["x"]) });
// @ts-expect-error stdout is inherited: there is no stream to read
inherited.stdout.getReader();
// @ts-expect-error stdin is a Blob: there is nothing to write to
inherited.stdin.write("x");
const defaults: Subprocess<"ignore", "pipe", "inherit"> = spawn(["./prog"], { cwd: ".", env: { A: "1" }, timeout: 1000, killSignal: "SIGKILL", signal: AbortSignal.timeout(5000) });
// @ts-expect-error no such pager
spawn(["./prog"], { pager: "zpager" });
try {
  await run(["./prog"], { pager: "hpager", predictor: "stride", pages: 4, report: "r.json", onStart: (pid: number) => void pid });
} catch (error) {
  if (error instanceof LoadError) console.log(error.exitCode, error.errno);
  if (error instanceof OutputError) console.log(error.option, error.path);
}
const byObject = spawn({ cmd: ["./prog"], stdio: ["pipe", "pipe", "inherit", 3, "pipe"], log: (line: string) => void line, onExit: (sub, exitCode: number | null, signalName) => void [sub.pid, exitCode, signalName] });
byObject.stdin.write("x");
const extra: number | null | undefined = byObject.stdio[4];
const micros: bigint | undefined = byObject.resourceUsage()?.cpuTime.total;
// @ts-expect-error log is a switch or a function
spawn(["./prog"], { log: "stderr" });
console.log(text, code, report.faults, signal, defaults.pid, defaults.killed, extra, micros);
`,
    );
    const base = {
      lib: ["ESNext"],
      target: "ESNext",
      module: "Preserve",
      moduleDetection: "force",
      moduleResolution: "bundler",
      allowImportingTsExtensions: true,
      verbatimModuleSyntax: true,
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      noFallthroughCasesInSwitch: true,
      noUncheckedIndexedAccess: true,
      noImplicitOverride: true,
      // The user's own Bun types (`bun add -d @types/bun`): the same ones.
      types: ["bun-types"],
      typeRoots: [join(ROOT, "node_modules")],
    };
    const strict = { ...base, skipLibCheck: false, exactOptionalPropertyTypes: true, noUnusedLocals: true, noUnusedParameters: true, noPropertyAccessFromIndexSignature: true };
    for (const [name, options] of [["bun init's options", base], ["stricter options, the package's declarations checked too", strict]] as const) {
      writeFileSync(join(cwd, "tsconfig.json"), JSON.stringify({ compilerOptions: options, include: ["consumer.ts"] }));
      const checked = await runProcess([join(ROOT, "node_modules/.bin/tsc"), "--noEmit", "-p", cwd, "--listFiles"]);
      const errors = checked.stdout.split("\n").filter((line) => line.includes("error TS"));
      expect({ name, errors, exitCode: checked.exitCode }).toEqual({ name, errors: [], exitCode: 0 });
      // What was checked is the shipped declarations, not the sources.
      expect(checked.stdout).toContain(join(cwd, "node_modules/faultline/types/run/subprocess.d.ts"));
      expect(checked.stdout).not.toContain(join(cwd, "node_modules/faultline/src/"));
    }
  });
});

describe("installed with Bun, the user's own Bun on PATH [registry]", () => {
  let cwd = "";
  let path = "";
  let native: Ran;
  beforeAll(async () => {
    cwd = await project("with-bun");
    native = await runProcess([join(cwd, "prog")]);
    const userBin = join(dir, "user-bin");
    mkdirSync(userBin);
    symlinkSync(process.execPath, join(userBin, "bun"));
    symlinkSync(process.execPath, join(userBin, "bunx"));
    path = `${userBin}:${bare}`;
    // The README's `bun add ./faultline-0.1.0.tgz`: the packed tarball.
    const installed = await inProject(["bun", "add", tarball], cwd, path, INSTALL_LIMIT_MS);
    expect({ exitCode: installed.exitCode, stderr: installed.exitCode === 0 ? "" : installed.stderr }).toEqual({ exitCode: 0, stderr: "" });
  }, INSTALL_LIMIT_MS);

  test("bunx faultline apager ./prog", async () => {
    const ran = await inProject(["bunx", "faultline", "apager", "./prog"], cwd, path);
    expect(ran.exitCode).toBe(native.exitCode);
    expect(ran.stdout).toBe(native.stdout);
    expect(ran.stderr).toMatch(/^apager: map addr=0x[0-9a-f]+ size=0x[0-9a-f]+ off=0x0 prot=r-- file=\.\/prog\n/);
  });

  test("the package's API from a script of the project", async () => {
    writeFileSync(
      join(cwd, "script.ts"),
      `import { spawn } from "faultline";
const proc = spawn(["./prog"], { pager: "dpager", quiet: true });
const out = await new Response(proc.stdout).text();
console.log(JSON.stringify({ out, exited: await proc.exited, faults: (await proc.report).faults }));
`,
    );
    const ran = await inProject(["bun", "script.ts"], cwd, path);
    expect(ran.exitCode).toBe(0);
    const result = JSON.parse(ran.stdout);
    expect(result.out).toBe(native.stdout);
    expect(result.exited).toBe(native.exitCode);
    expect(result.faults).toBeGreaterThan(0);
  });
});

test("`bun run apager` in the checkout keeps working", async () => {
  const copy = join(dir, "checkout-prog");
  const built = await runProcess(["cc", "-O1", "-static", "-o", copy, join(ROOT, "examples/hello.c")]);
  expect(built.exitCode).toBe(0);
  const ran = await runProcess([process.execPath, "run", "apager", "-q", copy], { cwd: ROOT });
  expect({ exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(ran.stdout).toStartWith("hello from a program loaded by faultline");
  expect(readFileSync(join(ROOT, "package.json"), "utf8")).toContain('"apager": "bun src/cli/command.ts apager"');
});
