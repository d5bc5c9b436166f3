import { expect, test } from "bun:test";
import { existsSync, mkdtempSync } from "node:fs";
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

test("the shim builds with the system compiler, its freestanding path calling nothing outside itself", () => {
  const output = join(mkdtempSync(join(tmpdir(), "faultline-shim-")), "libfaultline.so");
  expect(buildShim({ output })).toBe(output);
  expect(existsSync(output)).toBe(true);
}, BUILD_TIME_LIMIT_MS);

test("libetsbefriends.so builds too, its fault handler calling nothing outside itself", () => {
  const output = join(mkdtempSync(join(tmpdir(), "faultline-shim-")), "libetsbefriends.so");
  expect(buildFriendlyLibrary({ output })).toBe(output);
  expect(existsSync(output)).toBe(true);
}, BUILD_TIME_LIMIT_MS);
