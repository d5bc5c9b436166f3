import { describe, expect, test } from "bun:test";
import { constants as osConstants } from "node:os";
import {
  parseEnviron,
  programEnvironment,
  SIGPIPE,
  SIGXFSZ,
  decideIgnored,
  decideOpenFilesLimit,
  handedDescriptorNumbers,
  isBunRun,
  isShell,
  parseDescriptorFlags,
  parseOpenFilesLimit,
  parseSignalSet,
  relayedSignals,
  signalBit,
  signalsOf,
} from "../../src/loader/caller.ts";
import { brkWindowOf, kernelVersion } from "../../src/loader/machine.ts";
import { BRK_RANDOM_BYTES, BRK_RANDOM_BYTES_WIDE, ET_DYN_HEAP_BASE, heapBase } from "../../src/loader/plan.ts";
import type { ElfImage } from "../../src/loader/elf.ts";

const SIGHUP = osConstants.signals.SIGHUP;
const SIGINT = osConstants.signals.SIGINT;
const SIGUSR1 = osConstants.signals.SIGUSR1;
const bits = (...signals: number[]) => signals.reduce((set, sig) => set | signalBit(sig), 0n);

describe("what the caller handed over", () => {
  test("signal sets from /proc/PID/status", () => {
    const status = "SigQ:\t0/96365\nSigPnd:\t0000000000000000\nSigBlk:\t0000000000000a00\nSigIgn:\t0000000000001001\n";
    expect(signalsOf(parseSignalSet(status, "SigBlk"))).toEqual([10, 12]);
    expect(signalsOf(parseSignalSet(status, "SigIgn"))).toEqual([1, 13]);
    expect(parseSignalSet(status, "ShdPnd")).toBe(0n);
  });

  test("the open-files limit and a descriptor's flags", () => {
    expect(parseOpenFilesLimit("Max open files            1024                 524288               files\n")).toEqual({ soft: 1024, hard: 524288 });
    expect(parseOpenFilesLimit("Max open files            unlimited            unlimited            files\n")).toEqual({ soft: null, hard: null });
    expect(parseDescriptorFlags("pos:\t0\nflags:\t02100002\nmnt_id:\t24\n")).toBe(0o2100002);
  });

  test("Bun's own descriptors are not the caller's", () => {
    const links = new Map([
      [0, "/dev/null"],
      [3, "anon_inode:[eventpoll]"],
      [4, "anon_inode:[eventfd]"],
      [5, "/etc/hostname"],
      [63, "pipe:[48250]"],
      [7, "anon_inode:[pidfd]"],
      [9, "socket:[1234]"],
    ]);
    expect(handedDescriptorNumbers(links)).toEqual([5, 9, 63]);
  });

  test("`bun run` is told from other Bun command lines", () => {
    expect(isBunRun(["/usr/bin/bun", "run", "apager", "-q", "prog"])).toBe(true);
    expect(isBunRun(["bun", "--silent", "run", "dpager"])).toBe(true);
    expect(isBunRun(["bun", "test"])).toBe(false);
    expect(isBunRun(["bun", "src/cli/cli.ts", "run"])).toBe(false);
    expect(isShell("bash\n")).toBe(true);
    expect(isShell("python3")).toBe(false);
  });

  test("ignored signals: the entry's, with Bun's own overwrites taken from a shell invoker", () => {
    const entry = { ignored: bits(SIGHUP, SIGPIPE, SIGXFSZ), caught: bits(SIGINT), openFiles: null };
    // A shell that ignores SIGPIPE (trap '' PIPE) hands it on ignored.
    expect(decideIgnored(entry, { comm: "sh", ignored: bits(SIGHUP, SIGPIPE), openFiles: null })).toEqual([SIGHUP, SIGPIPE]);
    // Python and Bun ignore SIGPIPE themselves and give children the default.
    expect(decideIgnored(entry, { comm: "python3", ignored: bits(SIGPIPE), openFiles: null })).toEqual([SIGHUP]);
    expect(decideIgnored(entry, null)).toEqual([SIGHUP]);
    // `bun run` catches what the caller ignored, to pass it on: the shell tells.
    const bunRun = { ignored: bits(SIGPIPE, SIGXFSZ), caught: bits(SIGHUP, SIGINT), openFiles: null };
    expect(decideIgnored(bunRun, { comm: "bash", ignored: bits(SIGHUP), openFiles: null })).toEqual([SIGHUP]);
  });

  test("the open-files limit: the invoker's soft limit, capped by the hard one; null when nothing changes", () => {
    const entry = { ignored: 0n, caught: 0n, openFiles: { soft: 524288, hard: 524288 } };
    expect(decideOpenFilesLimit(entry, { comm: "bash", ignored: 0n, openFiles: { soft: 1024, hard: 524288 } })).toBe(1024);
    expect(decideOpenFilesLimit({ ...entry, openFiles: { soft: 4096, hard: 524288 } }, { comm: "bash", ignored: 0n, openFiles: { soft: 1 << 30, hard: null } })).toBe(524288);
    expect(decideOpenFilesLimit(entry, { comm: "bun", ignored: 0n, openFiles: { soft: 524288, hard: 524288 } })).toBeNull();
    expect(decideOpenFilesLimit(entry, null)).toBeNull();
  });

  test("relayed signals leave out what cannot or must not be relayed", () => {
    const relayed = signalsOf(relayedSignals([SIGUSR1], false));
    for (const name of ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGWINCH", "SIGCONT"] as const) expect(relayed).toContain(osConstants.signals[name]);
    for (const name of ["SIGKILL", "SIGSTOP", "SIGCHLD", "SIGSEGV", "SIGPWR", "SIGPIPE", "SIGTSTP"] as const) expect(relayed).not.toContain(osConstants.signals[name]);
    expect(relayed).not.toContain(SIGUSR1);
    expect(relayed).not.toContain(32);
    expect(relayed).toContain(64);
    expect(signalsOf(relayedSignals([], true))).not.toContain(64);
  });
});

describe("the heap's start", () => {
  test("randomized over 1 GiB from Linux 6.9 on, 32 MiB before", () => {
    expect(kernelVersion("6.18.44-fc-v657")).toEqual([6, 18]);
    expect(brkWindowOf("6.18.44-fc-v657")).toBe(BRK_RANDOM_BYTES_WIDE);
    expect(brkWindowOf("6.9.0")).toBe(BRK_RANDOM_BYTES_WIDE);
    expect(brkWindowOf("6.8.12")).toBe(BRK_RANDOM_BYTES);
    expect(brkWindowOf("5.15.0-91-generic")).toBe(BRK_RANDOM_BYTES);
  });

  test("after the program, but at ELF_ET_DYN_BASE for an ET_DYN program without an interpreter", () => {
    const image = (type: "exec" | "dyn", interpreter: string | null) => ({ type, interpreter }) as unknown as ElfImage;
    expect(heapBase(image("exec", null), 0x4a9000)).toBe(0x4a9000);
    expect(heapBase(image("dyn", "/lib64/ld-linux-x86-64.so.2"), 0x555555560000)).toBe(0x555555560000);
    expect(heapBase(image("dyn", null), 0x7f0000010000)).toBe(ET_DYN_HEAP_BASE);
  });
});

describe("the caller's environment, as /proc/PID/environ holds it", () => {
  test("NAME=value strings in order; values may hold '=' or be empty", () => {
    const env = parseEnviron("HOME=/root\0EMPTY=\0EQ=a=b\0PATH=/usr/bin:/bin\0");
    expect(Object.entries(env)).toEqual([["HOME", "/root"], ["EMPTY", ""], ["EQ", "a=b"], ["PATH", "/usr/bin:/bin"]]);
  });
  test("a string without '=', or with an empty name, names nothing; the first of a name counts, as getenv finds it", () => {
    expect(parseEnviron("JUNK\0=x\0A=1\0A=2\0")).toEqual({ A: "1" });
    expect(parseEnviron("")).toEqual({});
  });
});

describe("the program's `_`: the path a shell would have run it by", () => {
  const bun = "/usr/local/bin/bun";
  const namesBun = (path: string) => path === bun;
  test("replaced where the caller's `_` was the shell's for Bun", () => {
    const env = programEnvironment({ A: "1", _: bun, Z: "2" }, namesBun, () => "/usr/bin/env");
    expect(Object.entries(env)).toEqual([["A", "1"], ["_", "/usr/bin/env"], ["Z", "2"]]);
  });
  test("left where it names something else, is missing, or the program has no path", () => {
    const neverAsked = () => {
      throw new Error("the program's path is looked up only for a `_` that was the shell's for Bun");
    };
    expect(programEnvironment({ _: "/bin/make" }, namesBun, neverAsked)).toEqual({ _: "/bin/make" });
    expect(programEnvironment({ A: "1" }, namesBun, neverAsked)).toEqual({ A: "1" });
    expect(programEnvironment({ _: bun }, namesBun, () => null)).toEqual({ _: bun });
  });
});
