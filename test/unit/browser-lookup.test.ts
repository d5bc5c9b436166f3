/**
 * Where the run page's tests look for Chromium (test/support/browser.ts):
 * $FAULTLINE_CHROMIUM first, then chromium, chromium-browser and
 * google-chrome on PATH, in that order; and when a missing one is a failure.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumRequired, findChromium, noChromiumLine } from "../support/browser.ts";

/** A file check that knows only `present`. */
const only = (...present: string[]) => (path: string) => present.includes(path);

describe("findChromium", () => {
  test("takes the first of chromium, chromium-browser, google-chrome on PATH, in PATH's order per name", () => {
    const env = { PATH: "/opt/bin:/usr/bin" };
    expect(findChromium(env, only("/usr/bin/chromium", "/opt/bin/google-chrome"))).toBe("/usr/bin/chromium");
    expect(findChromium(env, only("/usr/bin/chromium-browser", "/opt/bin/google-chrome"))).toBe("/usr/bin/chromium-browser");
    expect(findChromium(env, only("/usr/bin/google-chrome", "/opt/bin/google-chrome"))).toBe("/opt/bin/google-chrome");
  });

  test("prefers $FAULTLINE_CHROMIUM, a path or a name on PATH, and does not fall back when it names nothing", () => {
    expect(findChromium({ PATH: "/usr/bin", FAULTLINE_CHROMIUM: "/srv/chrome/chrome" }, only("/srv/chrome/chrome", "/usr/bin/chromium"))).toBe("/srv/chrome/chrome");
    expect(findChromium({ PATH: "/usr/bin", FAULTLINE_CHROMIUM: "chrome" }, only("/usr/bin/chrome", "/usr/bin/chromium"))).toBe("/usr/bin/chrome");
    expect(findChromium({ PATH: "/usr/bin", FAULTLINE_CHROMIUM: "/nowhere/chrome" }, only("/usr/bin/chromium"))).toBeNull();
  });

  test("is null without a browser, skips relative PATH entries and an empty variable", () => {
    expect(findChromium({ PATH: "/usr/bin:/bin" }, only("/usr/bin/firefox"))).toBeNull();
    expect(findChromium({}, only("/usr/bin/chromium"))).toBeNull();
    expect(findChromium({ PATH: "bin:/usr/bin" }, only("bin/chromium"))).toBeNull();
    expect(findChromium({ PATH: "/usr/bin", FAULTLINE_CHROMIUM: " " }, only("/usr/bin/chromium"))).toBe("/usr/bin/chromium");
  });

  test("finds real executables only: a directory or a file without execute permission is not a browser", () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-browser-"));
    mkdirSync(join(dir, "chromium"));
    writeFileSync(join(dir, "chromium-browser"), "#!/bin/sh\n", { mode: 0o644 });
    try {
      expect(findChromium({ PATH: dir })).toBeNull();
      chmodSync(join(dir, "chromium-browser"), 0o755);
      expect(findChromium({ PATH: dir })).toBe(join(dir, "chromium-browser"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("chromiumRequired", () => {
  test("is set by FAULTLINE_REQUIRE_CHROMIUM, except empty or 0", () => {
    expect(chromiumRequired({ FAULTLINE_REQUIRE_CHROMIUM: "1" })).toBe(true);
    expect(chromiumRequired({ FAULTLINE_REQUIRE_CHROMIUM: "0" })).toBe(false);
    expect(chromiumRequired({ FAULTLINE_REQUIRE_CHROMIUM: "" })).toBe(false);
    expect(chromiumRequired({})).toBe(false);
  });

  test("the line for a missing browser is one line naming where it looked", () => {
    const line = noChromiumLine("skipping");
    expect(line).not.toContain("\n");
    expect(line).toContain("$FAULTLINE_CHROMIUM");
    expect(line).toContain("chromium, chromium-browser, google-chrome on PATH");
  });
});
