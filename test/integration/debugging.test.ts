/**
 * Debugging a program run under a pager, against debugging its native run:
 * with --gdb, gdb (in batch, its commands on standard input) stops at a
 * breakpoint on a function of the program and at its crash, with the same
 * backtrace as natively; and a core dump of the program, under every pager,
 * names the program and gives the same backtrace through `gdb PROGRAM core`.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gdbArguments, tracerOf } from "../../src/cli/debugger.ts";
import { ROOT, buildProgram, type Variant } from "../support/programs.ts";
import { canDropPrivilege, runPager, runProcess, unprivileged } from "../support/run.ts";

setDefaultTimeout(120_000);

const gdb = Bun.which("gdb");
const RUNS: Array<{ pager: string; flags: string[] }> = [
  { pager: "apager", flags: [] },
  { pager: "dpager", flags: ["--paging", "signal"] },
  { pager: "dpager", flags: ["--paging", "userfaultfd"] },
  { pager: "hpager", flags: ["--paging", "signal"] },
  { pager: "hpager", flags: ["--paging", "userfaultfd"] },
];
const label = (run: (typeof RUNS)[number]) => [run.pager, ...run.flags].join(" ");

/** The function names of gdb's backtrace, frame by frame (a core's first
 * frame is printed when it is read, then again by bt: the last one counts). */
function backtrace(output: string): string[] {
  const frames: string[] = [];
  for (const m of output.matchAll(/^(?:\(gdb\) )*#(\d+)\s+(?:0x[0-9a-f]+ in )?(\w+) \(/gm)) frames[Number(m[1])] = m[2]!;
  return frames;
}

const variants: Variant[] = ["pie", "static"];
const built = new Map<Variant, string>();
beforeAll(async () => {
  for (const variant of variants) built.set(variant, await buildProgram("debuggee.c", variant, "debug-O0"));
}, 120_000);

describe("gdb's command line and what the pager reads of it", () => {
  test("the program's own file, its pid; SIGSEGV passed on quietly only under SIGSEGV paging", () => {
    expect(gdbArguments("/bin/prog", 42, "userfaultfd")).toEqual(["-q", "-iex", "set exec-file-mismatch off", "/bin/prog", "-p", "42"]);
    expect(gdbArguments("/bin/prog", 42, "signal")).toContain("handle SIGSEGV nostop noprint pass");
    expect(gdbArguments("/bin/prog", 42, null)).not.toContain("handle SIGSEGV nostop noprint pass");
  });
  test("TracerPid from /proc/PID/status", () => {
    expect(tracerOf("Name:\tprog\nTracerPid:\t1234\nUid:\t0\n")).toBe(1234);
    expect(tracerOf("Name:\tprog\nTracerPid:\t0\n")).toBe(0);
  });
});

describe.skipIf(gdb === null)("--gdb", () => {
  for (const variant of variants) {
    test(`a breakpoint on a function of the program, as natively (${variant})`, async () => {
      const program = built.get(variant)!;
      const native = await runProcess([gdb!, "-q", "-batch", "-ex", "break compute", "-ex", "run", "-ex", "bt", "-ex", "continue", "--args", program]);
      expect(native.stdout).toContain("Breakpoint 1, compute (x=7)");
      expect(backtrace(native.stdout)).toEqual(["compute", "main"]);
      for (const run of RUNS) {
        const loaded = await runPager(run.pager, [program], { flags: ["-q", "--gdb", ...run.flags], stdin: "break compute\ncontinue\nbt\ncontinue\n" });
        const seen = { run: label(run), exitCode: loaded.exitCode, stopped: loaded.stdout.includes("Breakpoint 1, compute (x=7)"), backtrace: backtrace(loaded.stdout), ran: loaded.stdout.includes("compute=43") };
        expect(seen).toEqual({ run: label(run), exitCode: 0, stopped: true, backtrace: backtrace(native.stdout), ran: true });
      }
    });

    test(`a backtrace at a crash, with function names, as natively (${variant})`, async () => {
      const program = built.get(variant)!;
      const native = await runProcess([gdb!, "-q", "-batch", "-ex", "run", "-ex", "bt", "--args", program, "crash"]);
      expect(native.stdout).toContain("Program received signal SIGSEGV");
      expect(backtrace(native.stdout)).toEqual(["crash_here", "main"]);
      // Under SIGSEGV paging gdb passes SIGSEGV on (every first touch is
      // one): the crash is then seen in a core dump (below).
      for (const run of RUNS.filter((r) => !r.flags.includes("signal"))) {
        const loaded = await runPager(run.pager, [program, "crash"], { flags: ["-q", "--gdb", ...run.flags], stdin: "continue\nbt\n" });
        const seen = { run: label(run), signal: loaded.signal, received: loaded.stdout.includes("Program received signal SIGSEGV"), backtrace: backtrace(loaded.stdout) };
        // gdb detaches at the end of its commands, and the program dies of its fault.
        expect(seen).toEqual({ run: label(run), signal: "SIGSEGV", received: true, backtrace: backtrace(native.stdout) });
      }
    });
  }

  test.skipIf(!canDropPrivilege())("as an ordinary user (nobody), dpager's userfaultfd serving only the program: the breakpoint as natively [root]", async () => {
    const program = built.get("pie")!;
    const argv = unprivileged([process.execPath, join(ROOT, "src/cli/cli.ts"), "dpager", "-q", "--gdb", program]);
    const loaded = await runProcess(argv, { stdin: "break compute\ncontinue\nbt\ncontinue\n" });
    expect({ exitCode: loaded.exitCode, backtrace: backtrace(loaded.stdout), ran: loaded.stdout.includes("compute=43") }).toEqual({ exitCode: 0, backtrace: ["compute", "main"], ran: true });
  });

  test("a gdb that cannot attach (refused by Yama, say): the program is not run, one line, exit 126", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-gdb-"));
    try {
      writeFileSync(join(dir, "gdb"), "#!/bin/sh\necho 'ptrace: Operation not permitted.' >&2\nexit 1\n");
      chmodSync(join(dir, "gdb"), 0o755);
      const loaded = await runPager("apager", [built.get("static")!], { flags: ["-q", "--gdb"], env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
      expect({ stdout: loaded.stdout, exitCode: loaded.exitCode }).toEqual({ stdout: "", exitCode: 126 });
      expect(loaded.stderr).toContain("ptrace: Operation not permitted.\n");
      expect(loaded.stderr.endsWith("apager: --gdb: gdb did not attach to the program, which was not run\n")).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("without gdb on PATH: one line, exit 127, nothing run", async () => {
    const loaded = await runPager("apager", [built.get("static")!], { flags: ["-q", "--gdb"], env: { ...process.env, PATH: "/nonexistent" } });
    expect({ stdout: loaded.stdout, stderr: loaded.stderr, exitCode: loaded.exitCode }).toEqual({ stdout: "", stderr: "apager: --gdb: no gdb on PATH\n", exitCode: 127 });
  });
});

/** Where the kernel writes a core: a plain file name in the crashing
 * process's directory (not a pipe to a handler, nor another directory). */
const corePattern = readFileSync("/proc/sys/kernel/core_pattern", "utf8").trim();
const coresHere = !corePattern.startsWith("|") && !corePattern.includes("/");

describe.skipIf(gdb === null || !coresHere)("core dumps", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "faultline-cores-"));
    chmodSync(dir, 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Run argv in a directory of its own with cores on; the core's path. */
  async function crashWithCore(name: string, argv: string[]): Promise<string> {
    const cwd = join(dir, name);
    await Bun.$`mkdir -p ${cwd}`.quiet();
    const ran = await runProcess(["/bin/sh", "-c", 'ulimit -c unlimited && exec "$@"', "cores", ...argv], { cwd });
    expect({ name, signal: ran.signal }).toEqual({ name, signal: "SIGSEGV" });
    const cores = readdirSync(cwd).filter((f) => f.startsWith("core"));
    expect({ name, cores: cores.length }).toEqual({ name, cores: 1 });
    return join(cwd, cores[0]!);
  }

  /** What gdb says of a core: the command that made it, and its backtrace. */
  async function readCore(program: string, core: string): Promise<{ generatedBy: string; backtrace: string[] }> {
    const read = await runProcess([gdb!, "-q", "-batch", "-ex", "bt", program, core]);
    return { generatedBy: /^Core was generated by `(.*)'\.$/m.exec(read.stdout)?.[1] ?? "", backtrace: backtrace(read.stdout) };
  }

  for (const variant of variants) {
    test(`the program's core under every pager names it and has its symbols, as natively (${variant})`, async () => {
      const program = built.get(variant)!;
      const native = await readCore(program, await crashWithCore(`native-${variant}`, [program, "crash"]));
      expect(native).toEqual({ generatedBy: `${program} crash`, backtrace: ["crash_here", "main"] });
      for (const run of RUNS) {
        const name = `${label(run).replace(/[ -]+/g, "-")}-${variant}`;
        const core = await crashWithCore(name, [`${ROOT}/bin/faultline`, run.pager, "-q", ...run.flags, program, "crash"]);
        expect({ run: label(run), ...(await readCore(program, core)) }).toEqual({ run: label(run), ...native });
      }
    });
  }
});
