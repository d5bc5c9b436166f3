/**
 * Every benchmark script (each package script that runs a file in bench/)
 * and `bun run view` answer --help with their usage and refuse an unknown
 * option in one line, exit 2, without measuring anything; and the progress
 * line shows on a terminal only, not with --quiet. Each run is a
 * subprocess with a time limit: none of them starts a benchmark.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

/** Time a script may take to print its help or refuse its line: it loads
 * its modules and stops. */
const ANSWER_LIMIT_MS = 15_000;

const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
/** The package scripts that run a benchmark script (bench/*.ts), and view. */
const benchScripts = Object.entries(scripts)
  .filter(([, command]) => /^bun bench\/[\w-]+\.ts$/.test(command))
  .map(([name]) => name);

function bunRun(script: string, args: string[]) {
  return runProcess([process.execPath, "run", "--silent", script, ...args], { timeout: ANSWER_LIMIT_MS, cwd: ROOT });
}

test("the benchmark scripts are the ones the README names", () => {
  expect(benchScripts.sort()).toEqual(["bench", "bench:friendly", "bench:friendly-crash", "bench:launch", "bench:loader", "bench:protect", "bench:view", "fuzz", "fuzz:hostile", "report:tables"]);
});

describe.each([...benchScripts, "view"])("bun run %s", (script) => {
  test("--help prints its usage on stdout and exits 0, measuring nothing", async () => {
    const ran = await bunRun(script, ["--help"]);
    expect(ran.stderr).toBe("");
    expect(ran.exitCode).toBe(0);
    expect(ran.stdout).toStartWith(`Usage: bun run ${script} `);
    expect(ran.stdout).toContain("--help");
  });

  test("an unknown option is one line and exit 2, measuring nothing", async () => {
    const ran = await bunRun(script, ["--no-such-option"]);
    expect(ran.exitCode).toBe(2);
    expect(ran.stdout).toBe("");
    const name = script === "view" ? "view" : `bun run ${script}`;
    expect(ran.stderr).toBe(`${name}: unknown option '--no-such-option'\nTry 'bun run ${script} --help'.\n`);
  });
});

describe("the progress line", () => {
  // A script that shows progress as the benchmarks do, then its result.
  const script = `import { Progress } from ${JSON.stringify(join(ROOT, "bench", "cli.ts"))};
const progress = Progress.forTerminal("bench:example", process.argv.includes("--quiet"));
progress.say("size 1 of 2");
progress.say("size 2 of 2");
progress.done();
console.log("result");`;
  const dir = mkdtempSync(join(tmpdir(), "faultline-progress-"));
  const file = join(dir, "progress.ts");
  writeFileSync(file, script);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;
  const onTerminal = (args: string[]) =>
    runProcess(["script", "--quiet", "--return", "--command", [process.execPath, file, ...args].map(quote).join(" "), "/dev/null"], { timeout: ANSWER_LIMIT_MS });

  test("is shown on a terminal, rewritten in place and cleared before the results", async () => {
    const ran = await onTerminal([]);
    expect(ran.exitCode).toBe(0);
    expect(ran.stdout).toContain("\r\x1b[2Kbench:example: size 1 of 2");
    expect(ran.stdout).toContain("\r\x1b[2Kbench:example: size 2 of 2\r\x1b[2Kresult");
  });

  test("is not shown with --quiet, nor into a pipe", async () => {
    const quiet = await onTerminal(["--quiet"]);
    expect(quiet.stdout).toBe("result\r\n");
    const piped = await runProcess([process.execPath, file], { timeout: ANSWER_LIMIT_MS });
    expect(piped).toMatchObject({ exitCode: 0, stdout: "result\n", stderr: "" });
  });
});
