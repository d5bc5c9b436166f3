/**
 * The CLI contract: exit codes, one-line errors, help, --report, refusal to
 * load over the loader, and programs without section headers.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PF_R, PF_X, PT_LOAD, craftElf, tinyProgram, tinyProgram32 } from "../support/craft.ts";
import { ROOT } from "../support/programs.ts";
import { runPager, runProcess, unprivileged } from "../support/run.ts";

// Loaded programs run in subprocesses with their own time limits
// (test/support/run.ts); a test may run several of them.
setDefaultTimeout(60_000);

let dir = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-cli-"));
  chmodSync(dir, 0o755); // some runs drop to an unprivileged user
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer | string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  chmodSync(path, mode);
  return path;
}

async function refusal(argv: string[]) {
  const ran = await runPager("apager", argv);
  const lines = ran.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]!.startsWith("apager: ")).toBe(true);
  return { code: ran.exitCode, line: lines[0]! };
}

describe("loader errors: one line, the shells' exit codes", () => {
  test("a missing file: 127", async () => {
    const r = await refusal([join(dir, "missing")]);
    expect(r.code).toBe(127);
    expect(r.line).toContain("missing: no such file (ENOENT)");
  });
  test("a command not on PATH: 127", async () => {
    const r = await refusal(["faultline-no-such-command"]);
    expect(r.code).toBe(127);
    expect(r.line).toContain("command not found");
  });
  test("a directory: 126", async () => {
    mkdirSync(join(dir, "adir"));
    const r = await refusal([join(dir, "adir")]);
    expect(r).toMatchObject({ code: 126 });
    expect(r.line).toContain("is a directory");
  });
  test("a file without execute permission: 126", async () => {
    const r = await refusal([file("noexec", tinyProgram(0), 0o644)]);
    expect(r.code).toBe(126);
    expect(r.line).toContain("not executable");
  });
  test("a text file: 126, not an ELF file", async () => {
    const r = await refusal([file("text", "just some words\n")]);
    expect(r.code).toBe(126);
    expect(r.line).toContain("not an ELF file");
  });
  test("an i386 program: 126", async () => {
    const r = await refusal([file("elf32", tinyProgram32(3))]);
    expect(r.code).toBe(126);
    expect(r.line).toContain("32-bit x86 (i386) program");
  });
  test("a segment below vm.mmap_min_addr, for a user who may not map there: 126", async () => {
    const ran = await runProcess(unprivileged([process.execPath, `${ROOT}/src/cli/cli.ts`, "apager", "-q", file("low", tinyProgram(0, 0))]));
    expect(ran.exitCode).toBe(126);
    expect(ran.stderr).toMatch(/^apager: .*low: segments at 0x0-0x1000 lie below vm\.mmap_min_addr \(0x[0-9a-f]+\) \(EPERM; the kernel would start it and kill it with SIGSEGV\)\n$/);
  });
  test("a program whose interpreter is missing: 127 like execve's ENOENT", async () => {
    const path = new TextEncoder().encode("/no/such/ld.so\0");
    const bytes = craftElf({
      type: 3,
      segments: [
        { type: 3, flags: PF_R, offset: 0x200, vaddr: 0x200, filesz: path.length, memsz: path.length, align: 1 },
        { type: PT_LOAD, flags: PF_R | PF_X, offset: 0, vaddr: 0, filesz: 0x300, memsz: 0x300, align: 0x1000 },
      ],
      contents: [{ offset: 0x200, bytes: path }],
    });
    const r = await refusal([file("needs-interp", bytes)]);
    expect(r.code).toBe(127);
    expect(r.line).toContain("/no/such/ld.so: interpreter not found");
  });
  test("usage errors: 2", async () => {
    const ran = await runPager("apager", ["--frobnicate", "/bin/true"], { flags: [] });
    expect(ran.exitCode).toBe(2);
    expect(ran.stderr).toContain("unknown option '--frobnicate'");
  });
  test("--help prints the usage and exits 0", async () => {
    const ran = await runPager("apager", ["--help"], { flags: [] });
    expect(ran.exitCode).toBe(0);
    expect(ran.stdout).toContain("Usage: bun run apager [options] PROGRAM [ARGS...]");
  });
});

describe("programs the kernel would run", () => {
  test("a section-less static executable", async () => {
    const ran = await runPager("apager", [file("tiny", tinyProgram(42))]);
    expect(ran.exitCode).toBe(42);
  });
  test("a section-less static-pie executable", async () => {
    const ran = await runPager("apager", [file("tiny-pie", tinyProgram(43, 0, 3))]);
    expect(ran.exitCode).toBe(43);
  });
  test("a copy of a system program under another name", async () => {
    const copy = join(dir, "my-true");
    copyFileSync("/bin/true", copy);
    chmodSync(copy, 0o755);
    expect((await runPager("apager", [copy])).exitCode).toBe(0);
  });
});

test("refuses to load over the loader's code or memory, naming both ranges", async () => {
  const ran = await runProcess([process.execPath, join(ROOT, "test/support/fixture-overlap.ts")]);
  expect(ran.exitCode).toBe(0);
  const attempts = ran.stdout.trim().split("\n").map((l) => JSON.parse(l));
  expect(attempts).toHaveLength(2);
  for (const attempt of attempts) {
    expect(attempt.ran).toBe(false);
    expect(attempt.exitCode).toBe(126);
    // Adjacent ranges are named together ("loader+loader's memory").
    expect(attempt.message).toMatch(new RegExp(`PT_LOAD 0 at 0x${attempt.base.toString(16)}-0x[0-9a-f]+ would overlap the loader's [^ ]*${attempt.name}[^ ]* at 0x[0-9a-f]+-0x[0-9a-f]+`));
  }
});

test("SIGTERM to the pager and its program together: the pager ends as the program did, saying nothing", async () => {
  // timeout(1) and service managers signal the whole process group: the
  // program may be gone (and reaped) before the pager passes the signal on.
  for (let round = 0; round < 5; round++) {
    const proc = Bun.spawn(["setsid", process.execPath, `${ROOT}/src/cli/cli.ts`, "apager", "-q", "/bin/sleep", "10"], { stderr: "pipe", timeout: 30_000, killSignal: "SIGKILL" });
    await Bun.sleep(400 + 50 * round);
    process.kill(-proc.pid, "SIGTERM");
    const stderr = await new Response(proc.stderr).text();
    await proc.exited;
    expect({ signal: proc.signalCode, stderr }).toEqual({ signal: "SIGTERM", stderr: "" });
  }
});

test("--report writes the run's figures as JSON", async () => {
  const reportPath = join(dir, "report.json");
  const ran = await runPager("apager", ["/bin/sh", "-c", "exit 5"], { flags: ["-q", "--report", reportPath] });
  expect(ran.exitCode).toBe(5);
  const report = JSON.parse(readFileSync(reportPath, "utf8"));
  expect(report).toMatchObject({ pager: "apager", exitCode: 5, signal: null, faults: 0 });
  expect(report.pagesMapped).toBeGreaterThan(10);
  expect(report.wallMs).toBeGreaterThan(0);
  expect(report.maxRssKiB).toBeGreaterThan(0);
});

test("the library resolves with the report without blocking the event loop", async () => {
  const ran = await runProcess([process.execPath, join(ROOT, "test/support/fixture-library.ts"), "/bin/sh", "-c", "sleep 0.3; exit 3"]);
  expect(ran.exitCode).toBe(0);
  const { report, ticks, logged } = JSON.parse(ran.stdout);
  expect(report).toMatchObject({ pager: "apager", exitCode: 3, signal: null, faults: 0 });
  for (const field of ["pagesMapped", "wallMs", "maxRssKiB"]) expect(typeof report[field]).toBe("number");
  expect(report.wallMs).toBeGreaterThanOrEqual(300);
  expect(ticks).toBeGreaterThanOrEqual(10);
  expect(logged).toBe(report.mappings);
});

describe("the command as `bun run apager` starts it (src/cli/command.ts)", () => {
  /** The same command line through the bundled command and the sources. */
  async function both(args: string[]) {
    const bundled = await runProcess([process.execPath, join(ROOT, "src/cli/command.ts"), ...args]);
    const source = await runProcess([process.execPath, join(ROOT, "src/cli/command.ts"), ...args], { env: { ...process.env, FAULTLINE_COMMAND: "source" } });
    return { bundled, source };
  }

  test("runs from its bundle, built in the package's build/command/, and behaves as the sources do", async () => {
    const cases = [
      ["apager", "-q", "/bin/sh", "-c", "echo out; echo err >&2; exit 3"],
      ["dpager", "-q", join(dir, "does-not-exist")],
      ["hpager", "--pages", "99", "/bin/true"],
      ["apager", "--help"],
    ];
    for (const args of cases) {
      const { bundled, source } = await both(args);
      expect([args, bundled.exitCode, bundled.stdout, bundled.stderr]).toEqual([args, source.exitCode, source.stdout, source.stderr]);
    }
    expect(readFileSync(join(ROOT, "build/command/bun-version"), "utf8")).toBe(Bun.version);
    expect(readFileSync(join(ROOT, "build/command/cli.js"), "utf8")).toContain("src/cli/cli.ts");
    expect(existsSync(join(ROOT, "build/command/service-main.js"))).toBe(true);
  });
});
