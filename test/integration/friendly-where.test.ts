/**
 * Friendly crash reports say where (issue 15): the faulting function, the
 * calls that led there, and source lines where the program has them; built
 * with and without frame pointers, on any thread, inside libc, through a
 * stack overflow, and from a corrupted stack, which must end the report
 * with what could be trusted, never a second crash or a hang. Under
 * `bun run friendly` (lines from addr2line through the resolver) and with
 * LD_PRELOAD alone (names from the symbol tables); the pagers' --friendly
 * is in pager-friendly.test.ts.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RESOLVER_VARIABLE } from "../../src/friendly/source-lines.ts";
import { ensureFriendlyLibrary } from "../../src/shim/shim-build.ts";
import { messagesIn } from "../support/friendly-messages.ts";
import { framesIn, lineOf, symbolAddress, unwindRanges, type Frame } from "../support/friendly-frames.ts";
import { PROGRAMS, buildProgram, type Profile } from "../support/programs.ts";
import { runFriendly, runProcess, type Ran } from "../support/run.ts";

// Loaded programs run in subprocesses with their own time limits.
setDefaultTimeout(60_000);

const CRASH_STATUS = 139;
/** How long the handler waits for a resolver (shim/friendly/source-lines.c). */
const RESOLVER_PATIENCE_MS = 5_000;

let library = "";
let dir = "";
const programs = new Map<string, string>();
const program = (source: string, profile: Profile = "default") => programs.get(`${source}:${profile}`)!;

beforeAll(async () => {
  library = ensureFriendlyLibrary();
  dir = mkdtempSync(join(tmpdir(), "faultline-where-"));
  const wanted: Array<[string, Profile]> = [
    ["nested.c", "debug-O0"],
    ["nested.c", "debug-O2-nofp"],
    ["nested.c", "fp-no-unwind-tables"],
    ["nested.c", "default"],
    ["libc_crash.c", "debug"],
    ["deep_calls.c", "default"],
    ["corrupt_stack.c", "default"],
    ["crash.c", "default"],
    ["thread_crash.c", "debug"],
  ];
  for (const [source, profile] of wanted) programs.set(`${source}:${profile}`, await buildProgram(source, "pie", profile));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runPreloaded(argv: string[], env: Record<string, string | undefined> = {}): Promise<Ran> {
  return runProcess(argv, { env: { ...process.env, LD_PRELOAD: library, ...env }, cwd: dir });
}

function expectFriendlyCrash(ran: Ran): Frame[] {
  expect(messagesIn(ran.stderr)).toHaveLength(1);
  expect(ran).toMatchObject({ exitCode: CRASH_STATUS, signal: null });
  expect(ran.stderr).not.toContain("Segmentation fault");
  // The frames come after the diagnosis and before the hint.
  expect(ran.stderr).toMatch(/ {2}cause: {3}.*\n(?: {2}mapping: .*\n)? {2}at: {6}.*\n(?:.*\n)* {2}hint: {4}/);
  return framesIn(ran.stderr);
}

const nestedSource = () => readFileSync(join(PROGRAMS, "nested.c"), "utf8");

/** deep_write, middle, main, each where the nested program says. */
function expectNestedFrames(frames: Frame[], withLines: boolean): void {
  const source = nestedSource();
  const expected = [
    { function: "deep_write", line: lineOf(source, "*p = 42;") },
    { function: "middle", line: lineOf(source, "deep_write(p);") },
    { function: "main", line: lineOf(source, "middle((int *)") },
  ];
  expect(frames.map((f) => f.function)).toEqual(expected.map((e) => e.function));
  for (const frame of frames) expect(frame.offset).not.toBeNull();
  if (withLines) expect(frames.map((f) => f.location)).toEqual(expected.map((e) => `test/programs/nested.c:${e.line}`));
  else for (const frame of frames) expect(frame.location).toBeNull();
  for (const frame of frames) expect(frame.module).toBeNull();
}

describe("the nested program: deep_write called from middle called from main", () => {
  for (const profile of ["debug-O0", "debug-O2-nofp"] as const) {
    test(`${profile} under friendly: each frame's function, offset and source line, innermost first, up to main`, async () => {
      const ran = await runFriendly([program("nested.c", profile)]);
      expect(ran.stdout).toBe("nested: calling middle\n");
      const frames = expectFriendlyCrash(ran);
      expect(ran.stderr).toContain("cause:   looks like a NULL-pointer dereference: the address is NULL + 0x10");
      expectNestedFrames(frames, true);
    });

    test(`${profile} with LD_PRELOAD alone: the same functions and offsets, from the symbol tables, without lines`, async () => {
      const [preloaded, friendly] = await Promise.all([runPreloaded([program("nested.c", profile)]), runFriendly([program("nested.c", profile)])]);
      const frames = expectFriendlyCrash(preloaded);
      expectNestedFrames(frames, false);
      const named = (fs: Frame[]) => fs.map((f) => `${f.function}+${f.offset}`);
      expect(named(frames)).toEqual(named(framesIn(friendly.stderr)));
    });
  }

  test("no unwind tables, only frame pointers: the walk follows rbp", async () => {
    const binary = program("nested.c", "fp-no-unwind-tables");
    // The program's own functions really have no call-frame information.
    const ranges = unwindRanges(binary);
    expect(ranges.length).toBeGreaterThan(0);
    for (const name of ["deep_write", "middle", "main"]) {
      const address = symbolAddress(binary, name);
      expect({ name, covered: ranges.some(([start, end]) => start <= address && address < end) }).toEqual({ name, covered: false });
    }
    const frames = expectFriendlyCrash(await runPreloaded([binary]));
    expect(frames.map((f) => f.function)).toEqual(["deep_write", "middle", "main"]);
  });

  test("no debug information: names and offsets under friendly too, and the file where the symbol table says", async () => {
    const frames = expectFriendlyCrash(await runFriendly([program("nested.c")]));
    expect(frames.map((f) => f.function)).toEqual(["deep_write", "middle", "main"]);
    for (const frame of frames) expect(frame.location === null || !/:\d+$/.test(frame.location)).toBe(true);
  });

  test("FAULTLINE_FRIENDLY_RERAISE=1: the frames, then the signal itself", async () => {
    const ran = await runFriendly([program("nested.c", "debug-O0")], { env: { ...process.env, FAULTLINE_FRIENDLY_RERAISE: "1" }, cwd: dir });
    expect(ran.signal).toBe("SIGSEGV");
    expect(framesIn(ran.stderr).map((f) => f.function)).toEqual(["deep_write", "middle", "main"]);
  });
});

describe("other crashes", () => {
  test("on a second thread: the thread's function, then libc's thread start", async () => {
    for (const ran of await Promise.all([runFriendly([program("thread_crash.c", "debug"), "null"]), runPreloaded([program("thread_crash.c", "debug"), "null"])])) {
      const frames = expectFriendlyCrash(ran);
      expect(ran.stderr).toMatch(/in thread \d+ \(not the main thread\)/);
      expect(frames[0]!.function).toBe("crash");
      expect(frames.length).toBeGreaterThanOrEqual(2);
      for (const frame of frames.slice(1)) expect(frame.module).toBe("libc.so.6");
    }
  });

  test("a stack overflow: the recursion is one line with its count, then main", async () => {
    for (const ran of await Promise.all([runPreloaded([program("crash.c"), "stack_overflow"]), runFriendly([program("crash.c"), "stack_overflow"], { cwd: dir })])) {
      const frames = expectFriendlyCrash(ran);
      expect(ran.stderr).toContain("cause:   looks like a stack overflow");
      expect(frames.map((f) => f.function)).toEqual(["recurse", "recurse", "main"]);
      // 1 KiB frames in an 8 MiB stack (RLIMIT_STACK allowing): thousands.
      expect(frames[1]!.repeat).toBeGreaterThan(1000);
      expect(frames[0]!.repeat).toBe(1);
    }
  });

  test("a crash inside memcpy: the first frame is libc's, the next the program's caller", async () => {
    const source = readFileSync(join(PROGRAMS, "libc_crash.c"), "utf8");
    const [friendly, preloaded] = await Promise.all([runFriendly([program("libc_crash.c", "debug")]), runPreloaded([program("libc_crash.c", "debug")])]);
    for (const ran of [friendly, preloaded]) {
      const frames = expectFriendlyCrash(ran);
      expect(frames[0]!.module).toBe("libc.so.6");
      expect(frames.slice(1).map((f) => f.function)).toEqual(["copy_block", "main"]);
    }
    expect(framesIn(friendly.stderr)[1]!.location).toBe(`test/programs/libc_crash.c:${lineOf(source, "memcpy(to, from, length);")}`);
  });

  test("in the program's own signal handler: the handler, the signal frame, then the code it interrupted", async () => {
    for (const ran of await Promise.all([runPreloaded([program("crash.c"), "in_handler"]), runFriendly([program("crash.c"), "in_handler"], { cwd: dir })])) {
      const frames = expectFriendlyCrash(ran);
      expect(frames[0]!.function).toBe("write_null");
      expect(frames[1]!.raw).toBe("<signal handler called>");
      expect(frames[frames.length - 1]!.function).toBe("main");
    }
  });

  test("more than 33 frames: the first 33, then how many more", async () => {
    const ran = await runPreloaded([program("deep_calls.c"), "50"]);
    const frames = expectFriendlyCrash(ran);
    expect(frames).toHaveLength(33);
    expect(frames.every((f) => f.function === "ping" || f.function === "pong")).toBe(true);
    // 51 calls of ping and pong, main, and libc's three before it.
    expect(ran.stderr).toMatch(/^ {11}\.\.\. and 22 more frames$/m);
  });
});

describe("a corrupted stack ends the walk, not the report", () => {
  const cases: Array<[string, (frames: Frame[], stderr: string) => void]> = [
    [
      "garbage_frame_pointer",
      (frames, stderr) => {
        expect(frames.map((f) => f.function)).toEqual(["garbage_frame_pointer"]);
        expect(stderr).toContain("(stopped here: no unwind information for this code, and its frame pointer, 0x4141414141414141, points at no frame: a corrupted stack?)");
      },
    ],
    [
      "frame_pointer_loop",
      (frames, stderr) => {
        expect(frames[0]!.function).toBe("frame_pointer_loop");
        expect(frames.length).toBeLessThanOrEqual(3);
        expect(stderr).toContain("(stopped here: ");
      },
    ],
    [
      "null_call",
      (frames) => {
        expect(frames[0]!.raw).toBe("0x0 (nothing is mapped there)");
        expect(frames.slice(1).map((f) => f.function)).toEqual(["main"]);
      },
    ],
    [
      "smashed_return",
      (frames, stderr) => {
        expect(frames.map((f) => f.function)).toEqual(["smashed_return"]);
        expect(stderr).toContain("(stopped here: the next return address, 0x4141414141414141, is not in any code: a corrupted stack?)");
      },
    ],
    [
      "return_to_garbage",
      (frames, stderr) => {
        expect(frames[0]!.raw).toBe("0x414141414141 (nothing is mapped there)");
        expect(stderr).toContain("executing address 0x414141414141");
      },
    ],
    [
      "garbage_stack_pointer",
      (frames, stderr) => {
        expect(frames.map((f) => f.function)).toEqual(["garbage_stack_pointer"]);
        expect(stderr).toContain("(stopped here: the stack cannot be read at 0x4141414141414140: a corrupted stack or frame pointer?)");
      },
    ],
  ];
  test("no descriptor left to open /proc/self/maps with: the faulting address, and why nothing more", async () => {
    const ran = await runPreloaded([program("crash.c"), "no_descriptors"]);
    const frames = expectFriendlyCrash(ran);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.raw).toMatch(/^0x[0-9a-f]+$/);
    expect(ran.stderr).toContain("(stopped here: /proc/self/maps cannot be read (errno 24), so no return address can be trusted)");
  });

  for (const [mode, check] of cases) {
    test(`${mode}: the message, the frames it could trust, status 139, with and without the resolver`, async () => {
      const runs = await Promise.all([runPreloaded([program("corrupt_stack.c"), mode]), runFriendly([program("corrupt_stack.c"), mode], { cwd: dir })]);
      for (const ran of runs) {
        expect(ran.stdout).toBe(`corrupt_stack: ${mode}\n`);
        check(expectFriendlyCrash(ran), ran.stderr);
      }
    });
  }
});

describe("the resolver", () => {
  test("the program sees its socket's path in one variable; the socket is private and gone after the run", async () => {
    const ran = await runFriendly(["sh", "-c", `echo "$${RESOLVER_VARIABLE}"; ls -ld "$(dirname "$${RESOLVER_VARIABLE}")"`]);
    const [path, listing] = ran.stdout.split("\n");
    expect(path).toMatch(/^\/.*\/socket$/);
    expect(listing).toStartWith("drwx------");
    expect(existsSync(path!)).toBe(false);
  });

  test("one that accepts and never answers: names without lines, once the handler stops waiting", async () => {
    const socketDir = mkdtempSync(join(tmpdir(), "faultline-silent-"));
    const socket = join(socketDir, "socket");
    const server = Bun.listen({ unix: socket, socket: { data() {} } });
    try {
      const started = performance.now();
      const ran = await runPreloaded([program("nested.c", "debug-O0")], { [RESOLVER_VARIABLE]: socket });
      const elapsed = performance.now() - started;
      expectNestedFrames(expectFriendlyCrash(ran), false);
      expect(elapsed).toBeGreaterThanOrEqual(RESOLVER_PATIENCE_MS - 500);
      expect(elapsed).toBeLessThan(RESOLVER_PATIENCE_MS * 3);
    } finally {
      server.stop(true);
      rmSync(socketDir, { recursive: true, force: true });
    }
  });

  test("one named but not there, or not a socket: names without lines, at once", async () => {
    for (const path of [join(dir, "no-such-socket"), "/etc/hostname"]) {
      const ran = await runPreloaded([program("nested.c", "debug-O0")], { [RESOLVER_VARIABLE]: path });
      expectNestedFrames(expectFriendlyCrash(ran), false);
    }
    expect(statSync("/etc/hostname").isFile()).toBe(true);
  });
});
