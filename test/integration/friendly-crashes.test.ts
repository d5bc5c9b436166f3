/**
 * Friendly crash reports beyond segfaults (issue 27): division by zero and
 * INT_MIN / -1 (SIGFPE), failed asserts and the allocator's aborts
 * (SIGABRT, and C++'s std::terminate), compiler traps and jumps into data (SIGILL), breakpoints
 * (SIGTRAP) and system calls a seccomp filter forbids (SIGSYS). Each gets a
 * message of its own kind's set, the diagnosis, and where: the learner's
 * function first (the C library's abort path left out), with source lines.
 * The program still ends with its native signal, and says on stdout and
 * stderr what it says natively. Built at -O0 and at -O2 without frame
 * pointers (both with line information), and with frame pointers but no
 * unwind tables; dynamic under `bun run friendly`, static under the pagers'
 * --friendly.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import { ensureFriendlyLibrary } from "../../src/shim/shim-build.ts";
import { framesIn, lineOf, type Frame } from "../support/friendly-frames.ts";
import { MESSAGES_FOR, messagesIn } from "../support/friendly-messages.ts";
import { PROGRAMS, ROOT, buildAll, type Profile, type Variant } from "../support/programs.ts";
import { mapAtMost, runFriendly, runNative, runPager, runProcess, verdict, type Ran } from "../support/run.ts";

// Loaded programs run in subprocesses with their own time limits.
setDefaultTimeout(120_000);

const SOURCE = "crash_kinds.c";
const PROFILES: Profile[] = ["debug-O0", "debug-O2-nofp", "fp-no-unwind-tables"];
/** Kinds run at the same time, each its own pair of processes. */
const KINDS_AT_ONCE = 4;
/** The profiles built with line information. */
const WITH_LINES = new Set<Profile>(["debug-O0", "debug-O2-nofp"]);

interface Kind {
  mode: string;
  signal: string;
  /** The signal line's code, in parentheses. */
  code: string;
  /** Part of the cause line. */
  cause: string;
  /** The program's own frames, innermost first: function and the text of
   * the line it is at. */
  frames: Array<[string, string]>;
  /** Whether the first frame shown is the program's own (not for a jump
   * into data, whose first frame is the data, nor for a system call made
   * through libc's syscall()). */
  ownFirst: boolean;
}

const KINDS: Kind[] = [
  { mode: "divide", signal: "SIGFPE", code: "FPE_INTDIV", cause: "an integer division by zero", frames: [["share", "/* crash_kinds: divide */"], ["main", "result = share(argc * 10, none)"]], ownFirst: true },
  { mode: "most_negative", signal: "SIGFPE", code: "FPE_INTDIV", cause: "the most negative 32-bit number divided by -1", frames: [["halve_sign", "/* crash_kinds: most_negative */"], ["main", "result = halve_sign("]], ownFirst: true },
  { mode: "float_divide", signal: "SIGFPE", code: "FPE_FLTDIV", cause: "a floating-point division by zero", frames: [["ratio", "/* crash_kinds: float_divide */"], ["main", "result = (int)ratio("]], ownFirst: true },
  { mode: "assert", signal: "SIGABRT", code: "SI_TKILL", cause: 'an assertion failed: n > 0 && "count must be positive" was false here', frames: [["count_guests", "/* crash_kinds: assert */"], ["main", "result = count_guests(none)"]], ownFirst: true },
  { mode: "double_free", signal: "SIGABRT", code: "SI_TKILL", cause: "the same memory was freed twice (a double free)", frames: [["release_twice", "/* crash_kinds: double_free */"], ["main", "release_twice(malloc("]], ownFirst: true },
  { mode: "bad_free", signal: "SIGABRT", code: "SI_TKILL", cause: "free or realloc was given a pointer malloc never returned", frames: [["release_middle", "/* crash_kinds: bad_free */"], ["main", "release_middle(malloc("]], ownFirst: true },
  { mode: "overrun", signal: "SIGABRT", code: "SI_TKILL", cause: "the memory allocator found its own bookkeeping overwritten", frames: [["release", "/* crash_kinds: overrun */"], ["main", "release(neighbour)"]], ownFirst: true },
  { mode: "abort", signal: "SIGABRT", code: "SI_TKILL", cause: "the program called abort()", frames: [["give_up", "/* crash_kinds: abort */"], ["main", "give_up();"]], ownFirst: true },
  { mode: "trap", signal: "SIGILL", code: "ILL_ILLOPN", cause: "a trap the compiler put there on purpose (ud2)", frames: [["unreachable_case", "/* crash_kinds: trap */"], ["main", "unreachable_case();"]], ownFirst: true },
  { mode: "data_jump", signal: "SIGILL", code: "ILL_ILLOPN", cause: "bytes the processor cannot run (06 06 06 06): a jump into data", frames: [["jump_into_data", "/* crash_kinds: data_jump */"], ["main", "jump_into_data();"]], ownFirst: false },
  { mode: "breakpoint", signal: "SIGTRAP", code: "SI_KERNEL", cause: "a breakpoint with no debugger attached", frames: [["stop_here", "/* crash_kinds: breakpoint */"], ["main", "stop_here();"]], ownFirst: true },
  { mode: "seccomp", signal: "SIGSYS", code: "SYS_SECCOMP", cause: "is forbidden by this process's seccomp filter", frames: [["ask_parent", "/* crash_kinds: seccomp */"], ["main", "result = (int)ask_parent()"]], ownFirst: false },
  { mode: "thread_divide", signal: "SIGFPE", code: "FPE_INTDIV", cause: "an integer division by zero", frames: [["share", "/* crash_kinds: divide */"], ["thread_divide", "share(10, zero_people)"]], ownFirst: true },
  { mode: "thread_abort", signal: "SIGABRT", code: "SI_TKILL", cause: "an assertion failed", frames: [["count_guests", "/* crash_kinds: assert */"], ["thread_abort", "count_guests(zero_people)"]], ownFirst: true },
];

const source = () => readFileSync(join(PROGRAMS, SOURCE), "utf8");
let built = new Map<string, string>();
let sigbus = new Map<string, string>();
let uncaught = new Map<string, string>();
let dir = "";
beforeAll(async () => {
  ensureFriendlyLibrary();
  dir = mkdtempSync(join(tmpdir(), "faultline-crash-kinds-"));
  built = await buildAll([SOURCE], ["pie", "static"], PROFILES);
  sigbus = await buildAll(["sigbus_truncated.c"], ["static"]);
  uncaught = await buildAll(["uncaught_exception.cpp"], ["pie", "static"], ["debug-O0", "debug-O2-nofp"]);
}, 240_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const binary = (variant: Variant, profile: Profile) => built.get(`${SOURCE}:${variant}:${profile}`)!;

/** The program's own frames: not the C library's (a shared library's, or
 * in a static program the thread start and syscall()), nor code outside
 * any function. */
function ownFrames(frames: Frame[]): Frame[] {
  return frames.filter((f) => f.module === null && f.function !== null && !/^0x/.test(f.function) && !["syscall", "start_thread", "__clone3", "clone3"].includes(f.function));
}

/** One crash, checked against the same program's native run. */
function expectReport(kind: Kind, how: string, withLines: boolean, native: Ran, ran: Ran): void {
  const label = `${kind.mode} (${how})`;
  // Native: the signal the kind is about; reported: the same end, the same
  // output, the C library's own words first.
  expect({ label, signal: native.signal }).toEqual({ label, signal: kind.signal });
  expect({ label, ...verdict(ran) }).toEqual({ label, ...verdict(native) });
  expect(ran.stderr.startsWith(native.stderr)).toBe(true);
  expect({ label, messages: messagesIn(ran.stderr, MESSAGES_FOR[kind.signal]).length }).toEqual({ label, messages: 1 });
  expect(messagesIn(ran.stderr)).toHaveLength(1);
  expect(ran.stderr).toContain(`  signal:  ${kind.signal} (${kind.code}), `);
  expect(ran.stderr).toContain(kind.cause);
  const frames = framesIn(ran.stderr);
  const own = ownFrames(frames).slice(0, kind.frames.length);
  expect({ label, functions: own.map((f) => f.function) }).toEqual({ label, functions: kind.frames.map(([name]) => name) });
  if (kind.ownFirst) expect({ label, first: frames[0]?.function }).toEqual({ label, first: kind.frames[0]![0] });
  if (withLines) {
    const text = source();
    // Relative to the directory the program ran in, else absolute.
    expect({ label, locations: own.map((f) => f.location?.replace(`${ROOT}/`, "")) }).toEqual({ label, locations: kind.frames.map(([, line]) => `test/programs/${SOURCE}:${lineOf(text, line)}`) });
  }
}

describe("dynamic programs under `friendly`", () => {
  for (const profile of PROFILES) {
    test(`every kind (${profile})`, async () => {
      const program = binary("pie", profile);
      const runs = await mapAtMost(KINDS, KINDS_AT_ONCE, (kind) => Promise.all([runNative([program, kind.mode], { cwd: dir }), runFriendly([program, kind.mode], { cwd: dir })]));
      for (const [i, [native, ran]] of runs.entries()) {
        const kind = KINDS[i]!;
        expectReport(kind, profile, WITH_LINES.has(profile), native, ran);
        expect(ran.stderr).not.toContain("hint:");
      }
    });
  }

  test("with LD_PRELOAD alone: the same reports, with names but no lines", async () => {
    const program = binary("pie", "debug-O2-nofp");
    const runs = await mapAtMost(KINDS, KINDS_AT_ONCE, (kind) =>
      Promise.all([runNative([program, kind.mode], { cwd: dir }), runProcess([program, kind.mode], { env: { ...process.env, LD_PRELOAD: ensureFriendlyLibrary() }, cwd: dir })]),
    );
    for (const [i, [native, ran]] of runs.entries()) {
      const kind = KINDS[i]!;
      expectReport(kind, "LD_PRELOAD", false, native, ran);
      for (const frame of ownFrames(framesIn(ran.stderr))) expect(frame.location).toBeNull();
    }
  });

  test("the C library's abort path is left out, and said so", async () => {
    const ran = await runFriendly([binary("pie", "debug-O0"), "double_free"], { cwd: dir });
    expect(ran.stderr).toMatch(/\n {2}\(\d+ frames inside the C library's abort path not shown\)\n/);
    expect(ran.stderr).toContain("the C library said: free(): double free detected in tcache 2");
    expect(framesIn(ran.stderr).some((f) => f.module?.startsWith("libc.so"))).toBe(false);
  });

  test("FAULTLINE_FRIENDLY_RERAISE=1 still gives the signal itself, and says so", async () => {
    const env = { ...process.env, FAULTLINE_FRIENDLY_RERAISE: "1" };
    for (const [mode, signal] of [["divide", "SIGFPE"], ["assert", "SIGABRT"], ["breakpoint", "SIGTRAP"]] as const) {
      const ran = await runFriendly([binary("pie", "debug-O0"), mode], { env, cwd: dir });
      expect({ mode, signal: ran.signal, exitCode: ran.exitCode }).toEqual({ mode, signal, exitCode: null });
      expect(messagesIn(ran.stderr, MESSAGES_FOR[signal])).toHaveLength(1);
      expect(ran.stderr).toContain(`(re-raising ${signal} as FAULTLINE_FRIENDLY_RERAISE asks)`);
    }
  });

  test("a signal sent, not caused by the code, says so and still ends the program with it", async () => {
    const argv = ["/bin/sh", "-c", "kill -FPE $$"];
    const [native, ran] = await Promise.all([runNative(argv, { cwd: dir }), runProcess(argv, { env: { ...process.env, LD_PRELOAD: ensureFriendlyLibrary() }, cwd: dir })]);
    expect(native.signal).toBe("SIGFPE");
    expect(verdict(ran)).toEqual(verdict(native));
    expect(messagesIn(ran.stderr, MESSAGES_FOR.SIGFPE)).toHaveLength(1);
    expect(ran.stderr).toMatch(/signal: {2}SIGFPE \(SI_USER\), sent by process \d+ \(the program itself\)/);
    expect(ran.stderr).toContain("cause:   not an error in the code that ran: the signal was sent");
  });

  test("a program's own SIGFPE handler is the one that runs", async () => {
    const program = binary("pie", "debug-O0");
    const [native, friendly] = await Promise.all([runNative([program, "handled_divide"]), runFriendly([program, "handled_divide"])]);
    expect(native).toMatchObject({ stdout: "crash_kinds: handled_divide\ncrash_kinds: caught SIGFPE\n", stderr: "", exitCode: 42 });
    expect(friendly).toEqual(native);
  });

  test("the message follows the kind, and differs from run to run", async () => {
    const program = binary("pie", "debug-O0");
    const runs = await Promise.all(Array.from({ length: 12 }, () => runProcess([program, "divide"], { env: { ...process.env, LD_PRELOAD: ensureFriendlyLibrary() }, cwd: dir })));
    const seen = new Set(runs.flatMap((ran) => messagesIn(ran.stderr, MESSAGES_FOR.SIGFPE)));
    expect(seen.size).toBeGreaterThanOrEqual(3);
    for (const ran of runs) expect(messagesIn(ran.stderr, MESSAGES_FOR.SIGSEGV)).toHaveLength(0);
  });
});

describe("C++: an exception nobody catches", () => {
  const UNCAUGHT = "uncaught_exception.cpp";
  for (const profile of ["debug-O0", "debug-O2-nofp"] as const) {
    test(`std::terminate named, the throw first (${profile}), dynamic under friendly and static under apager`, async () => {
      const text = readFileSync(join(PROGRAMS, UNCAUGHT), "utf8");
      const lines = [lineOf(text, "// uncaught_exception: throw"), lineOf(text, "// uncaught_exception: call")];
      for (const variant of ["pie", "static"] as const) {
        const program = uncaught.get(`${UNCAUGHT}:${variant}:${profile}`)!;
        const [native, ran] = await Promise.all([
          runNative([program], { cwd: dir }),
          variant === "pie" ? runFriendly([program], { cwd: dir }) : runPager("apager", [program], { flags: ["-q", "--friendly"], cwd: dir }),
        ]);
        const label = `${variant} ${profile}`;
        expect({ label, signal: native.signal }).toEqual({ label, signal: "SIGABRT" });
        expect({ label, ...verdict(ran) }).toEqual({ label, ...verdict(native) });
        expect(ran.stderr.startsWith(native.stderr)).toBe(true);
        expect(native.stderr).toContain("terminate called after throwing an instance of 'std::invalid_argument'");
        expect(messagesIn(ran.stderr, MESSAGES_FOR.SIGABRT)).toHaveLength(1);
        expect(ran.stderr).toContain("cause:   a C++ exception was thrown and nothing caught it, so std::terminate stopped the program");
        expect(ran.stderr).toMatch(/\(\d+ frames inside the C and C\+\+ libraries' abort path not shown\)/);
        // Demangled names hold spaces ("parse_age(int) [clone .cold]"):
        // read the raw lines.
        const frames = framesIn(ran.stderr).map((f) => f.raw);
        expect({ label, functions: frames.map((raw) => /^\w+/.exec(raw)?.[0]) }).toEqual({ label, functions: ["parse_age", "main"] });
        expect({ label, locations: frames.map((raw) => /\(([^()]+)\)$/.exec(raw)?.[1]?.replace(`${ROOT}/`, "")) }).toEqual({ label, locations: lines.map((n) => `test/programs/${UNCAUGHT}:${n}`) });
      }
    });
  }
});

describe("static programs under the pagers' --friendly", () => {
  for (const profile of PROFILES) {
    test(`every kind (${profile}), dpager`, async () => {
      const program = binary("static", profile);
      const runs = await mapAtMost(KINDS, KINDS_AT_ONCE, (kind) => Promise.all([runNative([program, kind.mode], { cwd: dir }), runPager("dpager", [program, kind.mode], { flags: ["-q", "--friendly"], cwd: dir })]));
      for (const [i, [native, ran]] of runs.entries()) {
        const kind = KINDS[i]!;
        expectReport(kind, `static, ${profile}`, WITH_LINES.has(profile), native, ran);
      }
    });
  }

  const mechanisms = userfaultfdAvailable() ? ["userfaultfd", "signal"] : ["signal"];
  const configs: Array<[string, string[]]> = [["apager", []], ...["dpager", "hpager"].flatMap((pager) => mechanisms.map((m): [string, string[]] => [pager, ["--paging", m]]))];
  test("under every pager and paging mechanism, static and dynamic: a division by zero and a failed assert", async () => {
    for (const [pager, flags] of configs) {
      for (const [variant, kind] of (["static", "pie"] as const).flatMap((v) => KINDS.filter((k) => k.mode === "divide" || k.mode === "assert").map((k) => [v, k] as const))) {
        const ran = await runPager(pager, [binary(variant, "debug-O2-nofp"), kind.mode], { flags: ["-q", "--friendly", ...flags], cwd: dir });
        const label = `${pager} ${flags.join(" ")} ${variant} ${kind.mode}`;
        expect({ label, signal: ran.signal, messages: messagesIn(ran.stderr, MESSAGES_FOR[kind.signal]).length }).toEqual({ label, signal: kind.signal, messages: 1 });
        expect(ran.stderr).toContain(kind.cause);
        expect({ label, first: framesIn(ran.stderr)[0]?.function }).toEqual({ label, first: kind.frames[0]![0] });
      }
    }
  });

  test("SIGBUS: a mapped file cut short, with the bus errors' own messages", async () => {
    const file = join(dir, "truncated");
    const ran = await runPager("dpager", [sigbus.get("sigbus_truncated.c:static")!, file], { flags: ["-q", "--friendly"], cwd: dir });
    expect(ran).toMatchObject({ stdout: "sigbus_truncated: reading\n", exitCode: 135, signal: null });
    expect(messagesIn(ran.stderr, MESSAGES_FOR.SIGBUS)).toHaveLength(1);
    expect(ran.stderr).toContain("cause:   an access to a mapped file beyond its end");
    expect(framesIn(ran.stderr)[0]?.function).toBe("main");
  });

  test("a program's own SIGFPE handler, and FAULTLINE_FRIENDLY_RERAISE=1", async () => {
    const program = binary("static", "debug-O0");
    const [native, handled, reraised] = await Promise.all([
      runNative([program, "handled_divide"]),
      runPager("apager", [program, "handled_divide"], { flags: ["-q", "--friendly"] }),
      runPager("apager", [program, "trap"], { flags: ["-q", "--friendly"], env: { ...process.env, FAULTLINE_FRIENDLY_RERAISE: "1" }, cwd: dir }),
    ]);
    expect(handled).toEqual(native);
    expect(reraised.signal).toBe("SIGILL");
    expect(reraised.stderr).toContain("(re-raising SIGILL as FAULTLINE_FRIENDLY_RERAISE asks)");
  });
});
