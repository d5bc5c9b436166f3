/**
 * The service's pure parts: where it lives and how long it stays
 * (src/service/paths.ts), what it serves and what it leaves to Bun, a
 * client's words and its parent (src/service/serve-client.ts), where a
 * package manager links the command (src/shim/installed-command.ts), and
 * the facts a client's hello gives (src/loader/machine.ts).
 */
import { describe, expect, test } from "bun:test";
import { parseCommandLine } from "../../src/cli/options.ts";
import { machineFactsOf } from "../../src/loader/machine.ts";
import { DEFAULT_IDLE_SECONDS, idleSeconds, parseServiceState, serviceDirectory, servicePaths } from "../../src/service/paths.ts";
import { readyFdOf } from "../../src/service/command.ts";
import { clientWords, plainPathReason } from "../../src/service/serve-client.ts";
import { pagerSocketName, parentPid } from "../../src/loader/run-again.ts";
import { installedCommandLink } from "../../src/shim/installed-command.ts";

describe("where the user's service lives", () => {
  test("in the session's runtime directory when it is the user's, else in /tmp by uid", () => {
    const owners: Record<string, number> = { "/run/user/1000": 1000, "/run/user/0": 0 };
    const ownerOf = (path: string) => owners[path] ?? null;
    expect(serviceDirectory({ XDG_RUNTIME_DIR: "/run/user/1000" }, 1000, ownerOf)).toBe("/run/user/1000/faultline");
    expect(serviceDirectory({}, 1000, ownerOf)).toBe("/tmp/faultline-1000");
    // Handed down from another user (su keeps it), or not there at all.
    expect(serviceDirectory({ XDG_RUNTIME_DIR: "/run/user/0" }, 1000, ownerOf)).toBe("/tmp/faultline-1000");
    expect(serviceDirectory({ XDG_RUNTIME_DIR: "/run/user/5" }, 5, ownerOf)).toBe("/tmp/faultline-5");
    // A relative or empty runtime directory is no place to look.
    expect(serviceDirectory({ XDG_RUNTIME_DIR: "run/user" }, 7, ownerOf)).toBe("/tmp/faultline-7");
    expect(serviceDirectory({ XDG_RUNTIME_DIR: "" }, 7, ownerOf)).toBe("/tmp/faultline-7");
    expect(servicePaths("/tmp/faultline-7")).toEqual({ directory: "/tmp/faultline-7", socket: "/tmp/faultline-7/service.sock", state: "/tmp/faultline-7/service.json", log: "/tmp/faultline-7/service.log" });
  });

  test("the idle time: seconds from the setting, else the default", () => {
    expect(idleSeconds(undefined)).toBe(DEFAULT_IDLE_SECONDS);
    expect(idleSeconds("30")).toBe(30);
    expect(idleSeconds("0.5")).toBe(0.5);
    for (const bad of ["", "0", "-5", "ten", "1e3", "5s"]) expect(idleSeconds(bad)).toBe(DEFAULT_IDLE_SECONDS);
  });

  test("a state file is read only when whole", () => {
    const state = { pid: 42, version: "0.1.0", startedAt: 1, idleSeconds: 900, socket: "/tmp/faultline-0/service.sock" };
    expect(parseServiceState(JSON.stringify(state))).toEqual(state);
    for (const bad of ["", "{", "null", "[]", JSON.stringify({ ...state, pid: "42" }), JSON.stringify({ ...state, socket: undefined })]) expect(parseServiceState(bad)).toBeNull();
  });
});

describe("what the service serves", () => {
  const line = (words: string[]) => parseCommandLine(words[0]!, words.slice(1));
  test("a run with nothing to write at its end is the service's; the rest goes through Bun", () => {
    expect(plainPathReason(line(["apager", "-q", "/bin/true"]))).toBeNull();
    expect(plainPathReason(line(["hpager", "--predict", "stride", "--pages", "4", "--paging", "signal", "prog"]))).toBeNull();
    expect(plainPathReason(line(["dpager", "--report", "r.json", "prog"]))).not.toBeNull();
    expect(plainPathReason(line(["dpager", "--trace", "t", "prog"]))).not.toBeNull();
    expect(plainPathReason(line(["dpager", "--html", "h", "prog"]))).not.toBeNull();
    expect(plainPathReason(line(["dpager", "--record", "w", "prog"]))).not.toBeNull();
    expect(plainPathReason(line(["dpager", "--prefetch", "w", "prog"]))).not.toBeNull();
    expect(plainPathReason(line(["apager", "--friendly", "prog"]))).not.toBeNull();
    expect(plainPathReason(line(["apager", "--help"]))).not.toBeNull();
    expect(plainPathReason(line(["dpager", "--gdb", "prog"]))).not.toBeNull();
  });

  test("a client's words are its arguments after its own name, empty ones kept", () => {
    expect(clientWords("/x/faultline\0apager\0-q\0prog\0\0last word\0")).toEqual(["apager", "-q", "prog", "", "last word"]);
    expect(clientWords("faultline\0")).toEqual([]);
  });

  test("a Bun pager's socket is in the abstract namespace, named for its pid", () => {
    expect(pagerSocketName(4242)).toBe("@faultline-pager-4242");
  });

  test("a process's parent, from /proc/PID/stat, whatever its name holds", () => {
    expect(parentPid("1234 (sh) S 99 1234 1234 0 -1")).toBe(99);
    expect(parentPid("1234 (a (b) c) R 7 1 1 0")).toBe(7);
    expect(parentPid("1234 (x) Z 0 0")).toBeNull();
    expect(parentPid("garbage")).toBeNull();
  });
});

describe("where a package manager links the command", () => {
  test("beside the package in node_modules, scoped or not; nowhere for a checkout", () => {
    expect(installedCommandLink("/p/node_modules/faultline")).toBe("/p/node_modules/.bin/faultline");
    expect(installedCommandLink("/p/node_modules/@me/faultline")).toBe("/p/node_modules/.bin/faultline");
    expect(installedCommandLink("/home/me/src/faultline")).toBeNull();
  });
});

describe("the facts a client gives of itself", () => {
  /** An auxiliary vector as the kernel lays it out: (type, value) words. */
  const auxv = (entries: [number, number][]) => new Uint8Array(new BigUint64Array(entries.flatMap(([t, v]) => [BigInt(t), BigInt(v)])).buffer);
  const AT_PAGESZ = 6;
  const AT_HWCAP = 16;
  test("its auxiliary vector, stack limit, capabilities and personality are the program's", () => {
    const base = { auxv: auxv([[AT_HWCAP, 0x178bfbff], [AT_PAGESZ, 4096], [0, 0]]), stackLimit: 8 << 20, capabilities: 0n, personality: 0 };
    const plain = machineFactsOf(base);
    // Up to AT_NULL, which is not kept.
    expect(plain.auxvTemplate).toEqual([[AT_HWCAP, 0x178bfbffn], [AT_PAGESZ, 4096n]]);
    expect(plain.stackLimit).toBe(8 << 20);
    expect(plain.mayReplaceExe).toBe(false);
    expect(plain.mayMapLowPages).toBe(false);
    // CAP_SYS_RAWIO (17), CAP_SYS_RESOURCE (24), CAP_CHECKPOINT_RESTORE (40).
    expect(machineFactsOf({ ...base, capabilities: 1n << 17n }).mayMapLowPages).toBe(true);
    expect(machineFactsOf({ ...base, capabilities: 1n << 24n }).mayReplaceExe).toBe(true);
    expect(machineFactsOf({ ...base, capabilities: 1n << 40n }).mayReplaceExe).toBe(true);
    // setarch -R: ADDR_NO_RANDOMIZE.
    expect(machineFactsOf({ ...base, personality: 0x0040000 }).randomize).toBe(false);
    expect(machineFactsOf({ ...base, stackLimit: null }).stackLimit).toBeNull();
  });
});

describe("faultline service run's options, read without node:util", () => {
  test("--ready-fd N and --ready-fd=N, the last given winning; none at all", () => {
    expect(readyFdOf(["--ready-fd", "5"])).toBe(5);
    expect(readyFdOf(["--ready-fd=7"])).toBe(7);
    expect(readyFdOf(["--ready-fd", "5", "--ready-fd=9"])).toBe(9);
    expect(readyFdOf([])).toBeNull();
    expect(readyFdOf(["--"])).toBeNull();
  });

  test("what parseArgs refused is refused in its words", () => {
    expect(() => readyFdOf(["--x=1"])).toThrow("Unknown option '--x'");
    expect(() => readyFdOf(["-q"])).toThrow("Unknown option '-q'");
    expect(() => readyFdOf(["--ready-fd"])).toThrow("Option '--ready-fd <value>' argument missing");
    expect(() => readyFdOf(["pos"])).toThrow("Unexpected argument 'pos'. This command does not take positional arguments");
    expect(() => readyFdOf(["--", "pos"])).toThrow("Unexpected argument 'pos'. This command does not take positional arguments");
    expect(() => readyFdOf(["--ready-fd=3x"])).toThrow("--ready-fd takes a descriptor number, not '3x'");
  });
});
