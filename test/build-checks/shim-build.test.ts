import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ShimBuildError, buildFriendlyLibrary, buildShim } from "../../src/shim/shim-build.ts";
import { ROOT } from "../support/programs.ts";
import { runProcess } from "../support/run.ts";

test("a missing C compiler is one clear error", () => {
  const output = join(mkdtempSync(join(tmpdir(), "faultline-shim-")), "libfaultline.so");
  let error: unknown;
  try {
    buildShim({ cc: "/no/such/compiler", output });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ShimBuildError);
  expect((error as Error).message).toBe("faultline: cannot build the shim: C compiler '/no/such/compiler' not found (install gcc or clang, or set CC)");
  expect(existsSync(output)).toBe(false);
});

// Compiling every unit of both libraries takes seconds on a loaded machine.
const BUILD_TIME_LIMIT_MS = 120_000;

/** A compiler that notes its arguments in `log`, then compiles. */
function notingCompiler(dir: string, log: string): string {
  const path = join(dir, "cc-noting");
  writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec cc "$@"\n`, { mode: 0o755 });
  return path;
}

test("the shim builds with the system compiler, without a warning (-Werror, as the project's own builds have it), its freestanding path calling nothing outside itself", () => {
  const dir = mkdtempSync(join(tmpdir(), "faultline-shim-"));
  const output = join(dir, "libfaultline.so");
  const log = join(dir, "cc.log");
  expect(buildShim({ output, strict: true, cc: notingCompiler(dir, log) })).toBe(output);
  expect(existsSync(output)).toBe(true);
  const compiles = readFileSync(log, "utf8").trim().split("\n").filter((line) => line.includes(" -c "));
  expect(compiles.length).toBeGreaterThan(10);
  expect(compiles.filter((line) => !line.includes("-Werror"))).toEqual([]);
}, BUILD_TIME_LIMIT_MS);

test("libetsbefriends.so builds too, its fault handler calling nothing outside itself", () => {
  const output = join(mkdtempSync(join(tmpdir(), "faultline-shim-")), "libetsbefriends.so");
  expect(buildFriendlyLibrary({ output, strict: true })).toBe(output);
  expect(existsSync(output)).toBe(true);
}, BUILD_TIME_LIMIT_MS);

describe("the build's progress line", () => {
  /** `bun run build:shim --force` with a compiler that does not exist: the
   * first unit fails at once, after its progress line. */
  const argv = [process.execPath, join(ROOT, "src/shim/shim-build.ts"), "--force"];
  const env = { ...process.env, CC: "/no/such/compiler" };
  const failure = "faultline: cannot build the shim: C compiler '/no/such/compiler' not found (install gcc or clang, or set CC)";

  test("on a terminal: one line, rewritten in place and cleared before anything else is said", async () => {
    // script(1) gives the command a terminal; its output is the terminal's.
    const ran = await runProcess(["script", "-qec", argv.map((word) => `'${word}'`).join(" "), "/dev/null"], { env });
    expect(ran.exitCode).toBe(1);
    // Bun colours console.error's line on a terminal: its colour codes aside.
    const seen = ran.stdout.replaceAll("\r\n", "\n").replace(/\x1b\[[0-9;]*m/g, "");
    expect(seen).toMatch(new RegExp(`^\\r\\x1b\\[Kfaultline: building the shim \\(about 10 s, once\\): 1/\\d+ spawn\\.c\\r\\x1b\\[K${RegExp.escape(failure)}\\n$`));
  });

  test("not on a terminal: nothing but the error", async () => {
    const ran = await runProcess(argv, { env });
    expect({ exitCode: ran.exitCode, stdout: ran.stdout, stderr: ran.stderr }).toEqual({ exitCode: 1, stdout: "", stderr: `${failure}\n` });
  });
});
