/**
 * spawn(): the same program run with Bun.spawn and with faultline's spawn()
 * under apager and dpager must look the same from outside: its output,
 * byte for byte, through every kind of standard stream; its directory and
 * environment; how it ends when killed, aborted or timed out. Live events
 * must add up to the report's totals and never slow the program down.
 * Every run happens in a fixture subprocess with a time limit
 * (test/support/fixture-spawn.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, buildProgram } from "../support/programs.ts";
import { runProcess, TIME_LIMIT_MS, type Ran } from "../support/run.ts";

setDefaultTimeout(120_000);

const FIXTURE = join(ROOT, "test/support/fixture-spawn.ts");
/** The pattern's bytes for 10 MB through a pipe. */
const TEN_MB = 10 * 1024 * 1024;

let dir = "";
const programs: Record<string, string> = {};
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "faultline-spawn-"));
  chmodSync(dir, 0o755);
  programs.static = await buildProgram("streams.c", "static");
  programs.pie = await buildProgram("streams.c", "pie");
  programs.touch = await buildProgram("touch_pages.c", "static");
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let results = 0;
/** Run the fixture with `spec`; its JSON result, and the run itself. */
async function fixture<T>(spec: Record<string, unknown>, options: { stdin?: string } = {}): Promise<{ result: T; ran: Ran }> {
  const file = join(dir, `result-${results++}.json`);
  const ran = await runProcess([process.execPath, FIXTURE, file, JSON.stringify(spec)], { timeout: 2 * TIME_LIMIT_MS, ...options });
  if (ran.exitCode !== 0) throw new Error(`the fixture failed (${ran.exitCode ?? ran.signal}): ${ran.stderr}`);
  return { result: JSON.parse(readFileSync(file, "utf8")) as T, ran };
}

interface Stream {
  length: number;
  hash: string;
  text: string | null;
}
interface Captured {
  exited: number;
  exitCode: number | null;
  signalCode: string | number | null;
  killed: boolean;
  stdout: Stream | null;
  stderr: Stream | null;
  stdinIsSink: boolean;
  stdoutIsStream: boolean;
  stderrIsStream: boolean;
}

/** Standard streams each way Bun.spawn takes them. */
const CAPTURE_CASES = [
  { name: "stdin from a Blob, stdout and stderr piped", args: ["copy"], stdin: { kind: "blob", text: "hello\nfrom a blob\n" }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin from an ArrayBufferView", args: ["copy"], stdin: { kind: "view", text: "a typed array\n" }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin from a Response", args: ["copy"], stdin: { kind: "response", text: "a response body\n" }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin from a Response still streaming in", args: ["copy"], stdin: { kind: "response-stream", pieces: ["one\n", "two\n", "three\n"], delayMs: 30 }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin from a pipe written in pieces", args: ["copy"], stdin: { kind: "pipe", pieces: ["first piece, ", "second piece, ", "last piece\n"], delayMs: 30 }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin from a file descriptor", args: ["copy"], stdin: { kind: "file", text: "from a file\n" }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin from Bun.file()", args: ["copy"], stdin: { kind: "bunfile", text: "from Bun.file\n" }, stdout: "pipe", stderr: "pipe" },
  { name: "stdin ignored", args: ["copy"], stdin: { kind: "ignore" }, stdout: "pipe", stderr: "pipe" },
  { name: "stdout and stderr to file descriptors", args: ["generate", "100000", "7"], stdin: { kind: "ignore" }, stdout: "file", stderr: "file" },
  { name: "stdout and stderr ignored", args: ["generate", "100000", "7"], stdin: { kind: "ignore" }, stdout: "ignore", stderr: "ignore" },
  { name: "10 MB through a pipe", args: ["generate", String(TEN_MB), "42"], stdin: { kind: "ignore" }, stdout: "pipe", stderr: "pipe" },
  { name: "what the program's descriptors are: a memfd and sockets", args: ["where"], stdin: { kind: "blob", text: "x" }, stdout: "pipe", stderr: "pipe" },
  { name: "what the program's descriptors are: /dev/null and a file", args: ["where"], stdin: { kind: "ignore" }, stdout: "file", stderr: "ignore" },
  { name: "a working directory", args: ["where"], stdin: { kind: "ignore" }, stdout: "pipe", stderr: "pipe", cwd: "/usr/share" },
  { name: "an environment of its own", args: ["env", "FOO", "PATH", "HOME"], stdin: { kind: "ignore" }, stdout: "pipe", stderr: "pipe", env: { FOO: "bar baz", PATH: "/usr/bin:/bin" } },
] as const;

for (const [pager, variant] of [
  ["apager", "pie"],
  ["dpager", "static"],
] as const) {
  describe(`${pager}: standard streams, directory and environment as Bun.spawn gives them`, () => {
    let captured: Record<string, { native: Captured; paged: Captured }> = {};
    beforeAll(async () => {
      captured = (await fixture<typeof captured>({ scenario: "capture", pager, program: programs[variant], cases: CAPTURE_CASES })).result;
    }, 4 * TIME_LIMIT_MS);

    for (const c of CAPTURE_CASES) {
      test(c.name, () => {
        const { native, paged } = captured[c.name]!;
        expect(native.exited).toBe(0);
        expect(paged).toEqual(native);
      });
    }

    test("the output is what the program wrote: 10 MB, and the descriptors' kinds", () => {
      const big = captured["10 MB through a pipe"]!.paged;
      expect(big.stdout!.length).toBe(TEN_MB);
      expect(big.stderr!.text).toBe(`streams: ${TEN_MB} bytes out\n`);
      expect(captured["stdin from a pipe written in pieces"]!.paged.stdout!.text).toBe("first piece, second piece, last piece\n");
      expect(captured["stdin from a Response still streaming in"]!.paged.stdout!.text).toBe("one\ntwo\nthree\n");
      expect(captured["stdin from a Blob, stdout and stderr piped"]!.paged).toMatchObject({ stdinIsSink: false, stdoutIsStream: true, stderrIsStream: true });
      expect(captured["stdin from a pipe written in pieces"]!.paged.stdinIsSink).toBe(true);
      expect(captured["what the program's descriptors are: a memfd and sockets"]!.paged.stdout!.text).toContain("fd0=memfd\nfd1=socket\nfd2=socket\n");
      expect(captured["what the program's descriptors are: /dev/null and a file"]!.paged.stdout!.text).toContain("fd0=null\nfd1=file\nfd2=null\n");
      expect(captured["a working directory"]!.paged.stdout!.text).toStartWith(`cwd=${realpathSync("/usr/share")}\n`);
      expect(captured["an environment of its own"]!.paged.stdout!.text).toBe("FOO=bar baz\nPATH=/usr/bin:/bin\nHOME unset\n");
      expect(captured["stdout and stderr ignored"]!.paged).toMatchObject({ exited: 0, stdout: null, stderr: null, stdoutIsStream: false });
    });

    test("inherited streams are this process's own", async () => {
      const c = { name: "inherit", args: ["copy"], stdin: { kind: "inherit" }, stdout: "inherit", stderr: "inherit" };
      const sides = await Promise.all(
        (["native", "paged"] as const).map((side) => fixture({ scenario: "capture", pager, program: programs[variant], side, cases: [c] }, { stdin: "handed down\n" })),
      );
      const [native, paged] = sides.map(({ ran }) => ({ stdout: ran.stdout, stderr: ran.stderr }));
      expect(native).toEqual({ stdout: "handed down\n", stderr: "streams: 12 bytes in\n" });
      expect(paged).toEqual(native);
    });
  });
}

interface Signalled {
  ready: string | null;
  exited: number;
  exitCode: number | null;
  signalCode: string | number | null;
  killedAtFirst: boolean;
  killed: boolean;
}

const SIGNAL_CASES = [
  { name: "kill() at once", how: "kill-at-once" },
  { name: "kill('SIGKILL') at once", how: "kill-at-once", signal: "SIGKILL" },
  { name: "kill() once it runs", how: "kill-when-ready" },
  { name: "kill('SIGINT') once it runs", how: "kill-when-ready", signal: "SIGINT" },
  { name: "kill(9) once it runs", how: "kill-when-ready", signal: 9 },
  { name: "kill('SIGUSR1') once it runs", how: "kill-when-ready", signal: "SIGUSR1" },
  { name: "an AbortSignal aborted", how: "abort" },
  { name: "an AbortSignal aborted, killSignal SIGKILL", how: "abort", signal: "SIGKILL" },
  { name: "a timeout", how: "timeout" },
  { name: "a timeout, killSignal SIGINT", how: "timeout", signal: "SIGINT" },
] as const;

for (const [pager, variant] of [
  ["apager", "pie"],
  ["dpager", "static"],
] as const) {
  describe(`${pager}: killed, aborted, timed out, as Bun.spawn's program`, () => {
    let signalled: Record<string, { native: Signalled; paged: Signalled }> = {};
    beforeAll(async () => {
      signalled = (await fixture<typeof signalled>({ scenario: "signals", pager, program: programs[variant], cases: SIGNAL_CASES })).result;
    }, 4 * TIME_LIMIT_MS);

    for (const c of SIGNAL_CASES) {
      test(c.name, () => {
        const { native, paged } = signalled[c.name]!;
        // The program ended by the signal: exited resolved, signalCode set.
        expect(native.signalCode).not.toBeNull();
        expect(native.killed).toBe(true);
        expect(paged).toEqual(native);
      });
    }
  });
}

interface Counted {
  exited: number;
  stdout: string;
  faults: number;
  mappingPages: number;
  causes: Record<string, number>;
  dropped: number;
  endedWhileStuck: boolean | null;
  firstFault: { address: number; page: number; mapped: number[]; predicted: number; decision: string; timeMs: number } | null;
  firstMapping: { address: number; size: number; protection: string; source: string; cause: string } | null;
  report: { faults: number; pagesMapped: number; paging: string | null; wallMs: number };
}

describe("live events", () => {
  /** 2000 faults' lines fit in the event pipe (1 MiB) even if nothing
   * read them until the end: none may be dropped. */
  const FAULTS = "2000";
  for (const [pager, paging] of [
    ["dpager", "userfaultfd"],
    ["dpager", "signal"],
    ["hpager", "userfaultfd"],
    ["hpager", "signal"],
  ] as const) {
    test(`${pager} by ${paging}: every fault and every page mapped, as the report counts them`, async () => {
      const native = await runProcess([programs.touch!, FAULTS, "random"]);
      const { result: r } = await fixture<Counted>({ scenario: "events", pager, paging, program: programs.touch, args: [FAULTS, "random"], consumer: "count" });
      expect(r.exited).toBe(0);
      expect(r.stdout).toBe(native.stdout);
      expect(r.report.paging).toBe(paging);
      expect(r.dropped).toBe(0);
      expect(r.faults).toBe(r.report.faults);
      // hpager's predictions spare it some of the faults dpager takes.
      if (pager === "dpager") expect(r.report.faults).toBeGreaterThanOrEqual(Number(FAULTS));
      else expect(r.report.faults).toBeGreaterThan(Number(FAULTS) / 2);
      expect(r.mappingPages).toBe(r.report.pagesMapped);
      expect(r.causes.start).toBeGreaterThan(0);
      expect(r.causes.reserve).toBeGreaterThan(0);
      expect(r.causes.fault).toBe(r.faults);
      if (pager === "hpager") expect(r.causes.predicted).toBeGreaterThan(0);
      expect(r.firstFault!.page).toBe(r.firstFault!.address - (r.firstFault!.address % 4096));
      expect(r.firstFault!.mapped[0]).toBe(r.firstFault!.page);
      expect(r.firstFault!.predicted).toBe(r.firstFault!.mapped.length - 1);
      expect(r.firstFault!.decision).toBe(pager === "hpager" ? "next" : "none");
      expect(r.firstFault!.timeMs).toBeGreaterThan(0);
      expect(r.firstMapping).toMatchObject({ cause: expect.stringMatching(/^(start|reserve)$/), protection: expect.stringMatching(/^[r-][w-][x-]$/) });
    });
  }

  for (const paging of ["userfaultfd", "signal"] as const) {
    test(`a consumer stuck in its first event does not stop the program (hpager by ${paging}): the rest are dropped and counted`, async () => {
      const { result: r } = await fixture<Counted>({ scenario: "events", pager: "hpager", paging, program: programs.touch, args: ["20000", "random"], consumer: "stuck" });
      expect(r.exited).toBe(0);
      expect(r.stdout).toStartWith("pages=20000 ");
      // The program ran every fault to its end while the consumer's first
      // callback had not returned.
      expect(r.endedWhileStuck).toBe(true);
      expect(r.dropped).toBeGreaterThan(0);
      expect(r.faults + r.dropped).toBe(r.report.faults);
    });
  }
});

interface Thrown {
  name: string;
  message: string;
  code: string | null;
  exitCode: number | null;
}

describe("what spawn() refuses, before anything runs", () => {
  let refused: { results: Record<string, { paged: Thrown | null; native: Thrown | null }>; programUnchanged: boolean; children: string[]; leftBehind: string[] } | null = null;
  beforeAll(async () => {
    const directory = mkdtempSync(join(dir, "refusals-"));
    refused = (await fixture<NonNullable<typeof refused>>({ scenario: "refusals", pager: "apager", program: programs.static, directory })).result;
  }, 2 * TIME_LIMIT_MS);

  const expected: Record<string, { name: string; message: RegExp; exitCode?: number }> = {
    "a missing program": { name: "LoadError", message: /missing: no such file \(ENOENT\)$/, exitCode: 127 },
    "a name not on PATH": { name: "LoadError", message: /command not found \(ENOENT\)$/, exitCode: 127 },
    "a directory": { name: "LoadError", message: /is a directory \(EACCES\)$/, exitCode: 126 },
    "a missing working directory": { name: "LoadError", message: /cannot be the working directory: no such directory \(ENOENT\)$/, exitCode: 127 },
    "a file as the working directory": { name: "LoadError", message: /cannot be the working directory: not a directory \(ENOTDIR\)$/, exitCode: 126 },
    "an aborted signal": { name: "AbortError", message: /aborted/ },
    "an empty argv": { name: "TypeError", message: /argv must not be empty/ },
    "a NUL in an argument": { name: "TypeError", message: /argv\[1\] must be a string without null bytes/ },
    "a NUL in the environment": { name: "TypeError", message: /options\.env\["A"\] must be a string without null bytes/ },
    "a negative timeout": { name: "RangeError", message: /options\.timeout must be a number of milliseconds/ },
    "an unknown kill signal": { name: "TypeError", message: /options\.killSignal must be a signal name/ },
    "an unknown stdout": { name: "TypeError", message: /options\.stdout must be "inherit", "pipe", "ignore", null or a file descriptor, not "loud"/ },
    "a descriptor that is not open": { name: "TypeError", message: /options\.stdout: 999 is not an open file descriptor/ },
    "an unknown pager": { name: "TypeError", message: /options\.pager must be "apager", "dpager", "hpager", not "zpager"/ },
    "pages out of range": { name: "RangeError", message: /options\.pages must be a whole number from 1 to 16, not 99/ },
    "a predictor for dpager": { name: "TypeError", message: /apply to hpager, not dpager/ },
    "paging for apager": { name: "TypeError", message: /options\.paging applies to dpager and hpager, not apager/ },
    "a report in a missing directory": { name: "OutputError", message: /^report .*missing\/r\.json: cannot write: no such directory \(ENOENT\)$/ },
    "a trace that is the program": { name: "OutputError", message: /^trace .*: cannot write: it is the program to be run$/ },
    "a report and a trace in one file": { name: "OutputError", message: /^trace .*same: cannot write: report names the same file$/ },
  };
  /** The calls Bun.spawn refuses too (it has no pager options or files).
   */
  const NATIVE_REFUSES = Object.fromEntries(
    ["a missing program", "a name not on PATH", "a directory", "a missing working directory", "a file as the working directory", "an aborted signal", "an empty argv", "a NUL in an argument", "a NUL in the environment", "a negative timeout", "an unknown kill signal", "an unknown stdout", "a descriptor that is not open"].map((n) => [n, true]),
  );

  for (const [name, want] of Object.entries(expected)) {
    test(name, () => {
      const { paged, native } = refused!.results[name]!;
      expect(paged).toMatchObject({ name: want.name, message: expect.stringMatching(want.message) });
      if (want.exitCode !== undefined) expect(paged!.exitCode).toBe(want.exitCode);
      // Where Bun.spawn takes the same call, it refuses it too.
      expect(native !== null).toBe(name in NATIVE_REFUSES);
    });
  }
  test("nothing was started or left behind, and the program's file is untouched", () => {
    expect(refused!.children).toEqual([]);
    expect(refused!.leftBehind).toEqual([]);
    expect(refused!.programUnchanged).toBe(true);
  });
});

interface BunApi {
  exited: number;
  stdout: string;
  stderr: string;
  stdio: (string | number | null)[];
  heard: (string | null)[];
  exits: { same?: boolean; exitCode: number | null; signalCode: string | number | null; error?: unknown }[];
  usageBefore: unknown;
  usageShape: unknown;
  cpuTotalIsSum: boolean;
  maxRSSPositive: boolean;
}

for (const [pager, variant] of [
  ["apager", "pie"],
  ["dpager", "static"],
] as const) {
  test(`${pager}: spawn({ cmd }), a stdio array beyond three, onExit and resourceUsage() as Bun.spawn has them`, async () => {
    const { result } = await fixture<{ native: BunApi; paged: BunApi }>({ scenario: "bun-api", pager, program: programs[variant] });
    const { native, paged } = result;
    expect(native.stdout).toBe("fd3=file\nfd4=socket\nfd5=closed\nfd6=socket\nfd7=closed\n");
    expect(native.stdio).toEqual([null, null, null, "the given descriptor", "number", null, "number", null]);
    expect(native.heard[4]).toBe("hello on fd4\n");
    expect(native.exits).toEqual([
      { same: true, exitCode: 0, signalCode: null, error: null },
      { exitCode: null, signalCode: "SIGTERM" },
    ]);
    expect(native.usageBefore).toBe("undefined");
    expect(native.cpuTotalIsSum).toBe(true);
    expect(native.maxRSSPositive).toBe(true);
    expect(Object.values(native.usageShape as object)).toEqual(["number", "number", "bigint", "bigint", "bigint", "number", "number", "number", "number", "number", "number", "number", "number"]);
    expect(paged).toEqual(native);
  });
}

describe("quiet by default, lines on request", () => {
  test("a log function receives every mapping line, demand-paged ones included; nothing reaches stderr", async () => {
    const { result: r, ran } = await fixture<{ exited: number; lines: string[]; faults: number; pagesMapped: number }>({ scenario: "log", pager: "dpager", paging: "userfaultfd", program: programs.touch, args: ["300", "random"] });
    expect(r.exited).toBe(0);
    expect(ran.stderr).toBe("");
    expect(r.lines.every((line) => line.startsWith("dpager: "))).toBe(true);
    expect(r.lines.filter((line) => line.startsWith("dpager: reserve ")).length).toBeGreaterThan(0);
    // One line per page dpager mapped on a fault.
    expect(r.lines.filter((line) => / fault=0x[0-9a-f]+$/.test(line)).length).toBe(r.faults);
    expect(r.faults).toBeGreaterThanOrEqual(300);
  });
});

describe("no JavaScript between the spawn and the program's start", () => {
  test("touch, logged and with onMapping, runs while the spawning thread never returns to its event loop; its start lines are its onMapping events, byte for byte", async () => {
    const file = join(dir, "unwaited");
    const { result: r } = await fixture<{ ranUnwaited: boolean; exited: number; lines: string[]; expected: string[] }>({ scenario: "unwaited", pager: "apager", program: "/bin/touch", file });
    expect(r.ranUnwaited).toBe(true);
    expect(r.exited).toBe(0);
    // The program's, its interpreter's and the stack.
    expect(r.expected.length).toBeGreaterThanOrEqual(5);
    expect(r.lines).toEqual(r.expected);
  });

  test("a mapping log nobody reads any more (EPIPE) leaves the program to run and end as it would, not of the SIGPIPE its loader's write raised", async () => {
    const script = [
      `import { closeSync } from "node:fs";`,
      `import { launch } from ${JSON.stringify(join(ROOT, "src/loader/launch.ts"))};`,
      `import { streamPair } from ${JSON.stringify(join(ROOT, "src/shim/shim.ts"))};`,
      `const [ours, theirs] = streamPair();`,
      `closeSync(ours);`,
      `const outcome = await launch(["/bin/true"], { pager: "apager", log: true, faultLogFd: theirs });`,
      `console.log(JSON.stringify({ exitCode: outcome.exitCode, signalNumber: outcome.signalNumber }));`,
    ].join("\n");
    const ran = await runProcess([process.execPath, "-e", script], { timeout: TIME_LIMIT_MS });
    expect(ran.exitCode).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({ exitCode: 0, signalNumber: null });
  });
});

describe("unref() and ref(), as Bun.spawn's", () => {
  /** Whether a process exists and has not ended. */
  const running = (pid: number) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
    } catch {
      return false;
    }
  };
  for (const [pager, stdout] of [
    ["apager", "pipe"],
    ["dpager", "ignore"],
  ] as const) {
    test(`${pager}, stdout ${stdout}: unref() lets the spawning process exit while the program runs on; ref() again waits for it`, async () => {
      // The four fixtures at once: those that wait, wait for their own program.
      const sides = (["native", "paged"] as const).flatMap((side) => [false, true].map((again) => ({ side, again })));
      const looks = await Promise.all(
        sides.map(async ({ side, again }) => {
          const { result } = await fixture<{ pid: number }>({ scenario: "unref", side, pager, again, stdout, program: "/bin/sleep 3" });
          // The fixture has exited: the program is still running only if
          // nothing waited for it.
          return [`${side} ${again ? "unref() then ref()" : "unref()"}`, running(result.pid)] as const;
        }),
      );
      const seen: Record<string, boolean> = Object.fromEntries(looks);
      expect(seen).toEqual({ "native unref()": true, "native unref() then ref()": false, "paged unref()": true, "paged unref() then ref()": false });
    });
  }
});
