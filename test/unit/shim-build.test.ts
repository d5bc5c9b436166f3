import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ShimBuildError, buildFriendlyLibrary, buildShim } from "../../src/shim/shim-build.ts";

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
