/**
 * Real programs nobody here wrote, natively and under apager: the same
 * stdout, the same exit status.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/programs.ts";
import { canDropPrivilege, runNative, runPager, runProcess, unprivileged, verdict } from "../support/run.ts";

// Loaded programs run in subprocesses with their own time limits
// (test/support/run.ts); a test may run several of them.
setDefaultTimeout(60_000);

const bun = realpathSync(process.execPath);

const cases: Array<{ name: string; argv: string[]; stdin?: string }> = [
  { name: "ls -l of a directory", argv: ["/bin/ls", "-l", "/usr/include/linux/"] },
  { name: "ls of a missing file (exit 2)", argv: ["/bin/ls", "/no/such/file"] },
  { name: "ls found on PATH", argv: ["ls", "-a", `${ROOT}/test`] },
  { name: "sh -c with a pipeline and an exit code", argv: ["/bin/sh", "-c", 'printf "%s\\n" c a b | sort; echo "$0 $#"; exit 7', "name", "x", "y"] },
  { name: "sh killed by a signal", argv: ["/bin/sh", "-c", "kill -SEGV $$"] },
  { name: "env prints the same environment", argv: ["/usr/bin/env"] },
  { name: "cat copies stdin", argv: ["/bin/cat"], stdin: "line one\nline two\n" },
  { name: "python3 -c", argv: ["/usr/bin/python3", "-c", "import sys, os; print(sys.argv, sys.executable, os.getcwd()); sys.exit(4)", "a"] },
  { name: "python3 through PATH (a #! shim on some machines)", argv: ["python3", "-c", "print(sum(range(1000)))"] },
  { name: "perl -e", argv: ["/usr/bin/perl", "-e", 'print "perl $0 @ARGV\\n"; exit 9', "p", "q"] },
  { name: "bun -e (Bun itself under apager)", argv: [bun, "-e", "console.log('bun', 6 * 7, process.argv.length)"] },
];

describe("system programs under apager", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const env = { ...process.env, FAULTLINE_TEST_MARK: "1" };
      const [native, loaded] = await Promise.all([
        runNative(c.argv, { env, stdin: c.stdin }),
        runPager("apager", c.argv, { env, stdin: c.stdin }),
      ]);
      expect(native.stdout.length + (native.exitCode ?? 0) + (native.signal ? 1 : 0)).toBeGreaterThan(0);
      expect(verdict(loaded)).toEqual(verdict(native));
    });
  }

  test("mapping lines go to stderr, one per mapping, stdout untouched", async () => {
    const loaded = await runPager("apager", ["/bin/true"], { flags: [] });
    const lines = loaded.stderr.trim().split("\n").filter((l) => !l.includes(": note: "));
    expect(loaded.stdout).toBe("");
    expect(loaded.exitCode).toBe(0);
    expect(lines.length).toBeGreaterThanOrEqual(6);
    for (const line of lines) expect(line).toMatch(/^apager: map addr=0x[0-9a-f]+ size=0x[0-9a-f]+ off=(0x[0-9a-f]+|-) prot=[r-][w-][x-] (file=\/|anon=)/);
    expect(lines.some((l) => l.includes("ld-linux"))).toBe(true);
    expect(lines.some((l) => l.endsWith("anon=stack"))).toBe(true);
  });
});

/**
 * As an ordinary user (no CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=0),
 * dpager and hpager page with a user-mode-only userfaultfd: the programs
 * the issue met failing ("Bad address", SIGSEGV) must run as natively.
 */
describe.skipIf(!canDropPrivilege())("real programs as an ordinary user, under dpager and hpager [root]", () => {
  const home = mkdtempSync(join(tmpdir(), "faultline-user-"));
  chmodSync(home, 0o777);
  const input = join(home, "input");
  writeFileSync(input, "hello, gzip\n".repeat(100));
  chmodSync(input, 0o644);
  const env = { ...process.env, HOME: home };
  const userCases: Array<{ name: string; argv: string[] }> = [
    { name: "git --version", argv: ["/usr/bin/git", "--version"] },
    { name: "gzip -c", argv: ["/bin/gzip", "-c", input] },
    { name: "ssh-keygen", argv: ["/bin/sh", "-c", `/usr/bin/ssh-keygen -q -t ed25519 -N '' -C faultline -f ${home}/key$$ && wc -l < ${home}/key$$.pub`] },
    { name: "bash with a pipe and process substitution", argv: ["/bin/bash", "-c", "echo a | tr a b; diff <(echo x) <(echo x) && echo same"] },
    { name: "node -e", argv: ["/usr/bin/node", "-e", "console.log(process.argv.length, [1, 2, 3].map((x) => x * 2))"] },
    { name: "python3 with a subprocess", argv: ["/usr/bin/python3", "-c", "import json, subprocess; print(json.dumps([1, 2]), subprocess.run(['echo', 'x'], capture_output=True).stdout)"] },
    { name: "vim in Ex mode", argv: ["/usr/bin/vim", "-u", "NONE", "-i", "NONE", "-es", "-c", 'put =6*7', "-c", "%print", "-c", "q!"] },
  ];
  for (const c of userCases) {
    for (const pager of ["dpager", "hpager"]) {
      // Run by the shell as the program (a #! line or a plain program alike).
      test(`${pager}: ${c.name}`, async () => {
        const [native, loaded] = await Promise.all([
          runProcess(unprivileged(c.argv), { env, stdin: "" }),
          runProcess(unprivileged([process.execPath, join(ROOT, "src/cli/cli.ts"), pager, "--report", join(home, `${pager}-report-${process.hrtime.bigint()}.json`), "-q", ...c.argv]), { env, stdin: "" }),
        ]);
        expect(native.exitCode).toBe(0);
        expect(verdict(loaded)).toEqual(verdict(native));
        expect(loaded.stderr).toBe(native.stderr);
      });
    }
  }
});
