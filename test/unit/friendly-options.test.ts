import { describe, expect, test } from "bun:test";
import { UsageError } from "../../src/loader/errors.ts";
import { friendlyEnvironment, friendlyUsage, parseFriendlyCommandLine, preloadList, staticRefusal } from "../../src/friendly/friendly-options.ts";

describe("friendly's command line", () => {
  test("options stop at PROGRAM; everything after belongs to it", () => {
    expect(parseFriendlyCommandLine(["/bin/ls", "--help", "-l"])).toEqual({ help: false, version: false, argv: ["/bin/ls", "--help", "-l"] });
  });
  test("-- ends the options", () => {
    expect(parseFriendlyCommandLine(["--", "-weird", "x"]).argv).toEqual(["-weird", "x"]);
  });
  test("--help and --version need no program", () => {
    expect(parseFriendlyCommandLine(["--help"]).help).toBe(true);
    expect(parseFriendlyCommandLine(["-h"]).help).toBe(true);
    expect(parseFriendlyCommandLine(["--version"]).version).toBe(true);
  });
  test("errors are usage errors", () => {
    expect(() => parseFriendlyCommandLine([])).toThrow(UsageError);
    expect(() => parseFriendlyCommandLine(["--quiet", "x"])).toThrow(/unknown option '--quiet'/);
  });
  test("the usage names the re-raise variable and documents the exit codes", () => {
    const text = friendlyUsage();
    expect(text).toContain("FAULTLINE_FRIENDLY_RERAISE=1");
    expect(text).toContain("139");
    for (const code of ["127", "126", "2"]) expect(text).toMatch(new RegExp(`^ +${code} `, "m"));
  });
});

describe("LD_PRELOAD", () => {
  const lib = "/opt/faultline/shim/build/libetsbefriends.so";
  test("the library alone, or first before what was there", () => {
    expect(preloadList(lib, undefined)).toBe(lib);
    expect(preloadList(lib, "")).toBe(lib);
    expect(preloadList(lib, "/a.so")).toBe(`${lib}:/a.so`);
    expect(preloadList(lib, " /a.so  /b.so:/c.so ")).toBe(`${lib}:/a.so:/b.so:/c.so`);
  });
  test("listed once, even if it was already there", () => {
    expect(preloadList(lib, `/a.so:${lib}`)).toBe(`${lib}:/a.so`);
  });
  test("a path the variable cannot hold is refused", () => {
    expect(() => preloadList("/my libs/x.so", undefined)).toThrow(/space or colon/);
    expect(() => preloadList("/a:b/x.so", undefined)).toThrow(/space or colon/);
  });
  test("the environment is copied, not changed", () => {
    const env = { PATH: "/bin", LD_PRELOAD: "/a.so" };
    expect(friendlyEnvironment(lib, env)).toEqual({ PATH: "/bin", LD_PRELOAD: `${lib}:/a.so` });
    expect(env.LD_PRELOAD).toBe("/a.so");
  });
});

test("a static program is refused in one line that says why", () => {
  expect(staticRefusal("./prog", null)).toBe("friendly: ./prog is statically linked: LD_PRELOAD cannot reach it, so its crashes cannot be made friendly; run it without friendly");
  expect(staticRefusal("./script", "/bin/busybox")).toStartWith("friendly: ./script runs /bin/busybox, which is statically linked: ");
  expect(staticRefusal("./prog", null)).not.toContain("\n");
});
