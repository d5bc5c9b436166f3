/**
 * The files a run writes (--report, --trace, --html), tried as a new user
 * would get them wrong. Every one is checked before the program starts: a
 * path that cannot be written, or that would overwrite what is being run,
 * is one line naming the option and the path, exit 2, and the program never
 * starts (its canary file is never made). A failure to write once the
 * program has run is one warning line, and the exit status stays the
 * program's. No "internal error" for any of them.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPager, type Ran } from "../support/run.ts";

setDefaultTimeout(60_000);

let dir = "";
let canary = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "faultline-outputs-"));
  chmodSync(dir, 0o755);
  canary = join(dir, "canary");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A program that leaves its canary file and exits 3: whether it ran. */
function canaryProgram(): string[] {
  return ["/bin/sh", "-c", `: > '${canary}'; exit 3`];
}

function expectRefused(ran: Ran, pager: string, option: string, path: string, reason: string): void {
  expect({ exitCode: ran.exitCode, stderr: ran.stderr, stdout: ran.stdout }).toEqual({ exitCode: 2, stderr: `${pager}: ${option} ${path}: cannot write: ${reason}\n`, stdout: "" });
  expect(existsSync(canary)).toBe(false);
}

/** Where each option's file cannot be, and the reason given. */
const UNWRITABLE: Array<[string, () => string, string]> = [
  ["in a missing directory", () => join(dir, "no-such-dir", "out"), "no such directory (ENOENT)"],
  ["a directory", () => dir, "it is a directory (EISDIR)"],
  ["a path through a file", () => join(dir, "a-file", "out"), "a part of the path is not a directory (ENOTDIR)"],
  ["on a file system that makes no files", () => "/proc/faultline-out", "the file cannot be created there (ENOENT)"],
  ["a FIFO nobody reads (opening it would wait for a reader)", () => join(dir, "fifo"), "no process has the FIFO open for reading (ENXIO)"],
];

describe("a file that cannot be written is refused before the program starts", () => {
  beforeAll(async () => {
    writeFileSync(join(dir, "a-file"), "");
    const made = Bun.spawnSync(["mkfifo", join(dir, "fifo")]);
    expect(made.exitCode).toBe(0);
  });
  for (const option of ["--report", "--trace", "--html"]) {
    for (const [where, path, reason] of UNWRITABLE) {
      test(`${option} ${where}`, async () => {
        const pager = option === "--trace" ? "dpager" : "apager";
        const ran = await runPager(pager, canaryProgram(), { flags: ["-q", option, path()] });
        expectRefused(ran, pager, option, path(), reason);
      });
    }
  }
});

describe("a file the run would overwrite what it runs with is refused", () => {
  test("the program itself: refused, and left as it was", async () => {
    const program = join(dir, "true-copy");
    copyFileSync("/bin/true", program);
    const before = readFileSync(program);
    for (const option of ["--report", "--trace", "--html"]) {
      const ran = await runPager("dpager", [program], { flags: ["-q", option, program] });
      expect({ option, exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({ option, exitCode: 2, stderr: `dpager: ${option} ${program}: cannot write: it is the program to be run\n` });
      expect(readFileSync(program).equals(before)).toBe(true);
    }
  });

  test("the program under another name (a hard link)", async () => {
    const program = join(dir, "true-linked");
    copyFileSync("/bin/true", program);
    const other = join(dir, "true-other-name");
    linkSync(program, other);
    const ran = await runPager("apager", [program], { flags: ["-q", "--report", other] });
    expect(ran).toMatchObject({ exitCode: 2, stderr: `apager: --report ${other}: cannot write: it is the program to be run\n` });
  });

  test("a #! script the program is run through", async () => {
    const script = join(dir, "script.sh");
    writeFileSync(script, `#!/bin/sh\n: > '${canary}'\n`);
    chmodSync(script, 0o755);
    const ran = await runPager("apager", [script], { flags: ["-q", "--trace", script] });
    expectRefused(ran, "apager", "--trace", script, "it is a #! script the program is run through");
    expect(readFileSync(script, "utf8")).toStartWith("#!/bin/sh\n");
  });

  test("the program's ELF interpreter", async () => {
    // A copy of /bin/true whose PT_INTERP names ./ld.so, a copy of the
    // system's dynamic linker, found from the working directory.
    const original = readFileSync("/bin/true");
    const match = /\/[^\0]*ld-linux[^\0]*\0/.exec(original.toString("latin1"))!;
    const patched = Buffer.from(original);
    patched.fill(0, match.index, match.index + match[0].length);
    patched.write("./ld.so", match.index, "latin1");
    writeFileSync(join(dir, "interpreted"), patched);
    chmodSync(join(dir, "interpreted"), 0o755);
    copyFileSync(match[0].slice(0, -1), join(dir, "ld.so"));
    chmodSync(join(dir, "ld.so"), 0o755);
    const ran = await runPager("apager", ["./interpreted"], { flags: ["-q", "--report", "ld.so"], cwd: dir });
    expect(ran).toMatchObject({ exitCode: 2, stderr: "apager: --report ld.so: cannot write: it is the program's ELF interpreter\n" });
    // Allowed elsewhere, the same program runs.
    const ok = await runPager("apager", ["./interpreted"], { flags: ["-q", "--report", "r.json"], cwd: dir });
    expect({ exitCode: ok.exitCode, stderr: ok.stderr }).toEqual({ exitCode: 0, stderr: "" });
  });

  test("two options naming one file, by any path", async () => {
    const file = join(dir, "both.json");
    const ran = await runPager("dpager", canaryProgram(), { flags: ["-q", "--report", file, "--trace", join(dir, ".", "both.json")] });
    expectRefused(ran, "dpager", "--trace", join(dir, ".", "both.json"), "--report names the same file");
    const html = await runPager("dpager", canaryProgram(), { flags: ["-q", "--html", file, "--report", file] });
    expectRefused(html, "dpager", "--html", file, "--report names the same file");
  });

  test("a refused run leaves files that were there as they were, and makes none", async () => {
    const report = join(dir, "kept.json");
    writeFileSync(report, "before\n");
    const trace = join(dir, "kept-trace.jsonl");
    writeFileSync(trace, "old trace\n");
    const made = join(dir, "made.html");
    // The page cannot be written: the report and trace claimed before it are
    // let go untouched.
    const ran = await runPager("dpager", canaryProgram(), { flags: ["-q", "--report", report, "--trace", trace, "--html", join(dir, "no-such-dir", "p.html")] });
    expect(ran.exitCode).toBe(2);
    expect(existsSync(canary)).toBe(false);
    // The program cannot be run: the page claimed for it is removed again.
    const missing = await runPager("dpager", [join(dir, "no-such-program")], { flags: ["-q", "--report", report, "--trace", trace, "--html", made] });
    expect(missing.exitCode).toBe(127);
    expect(readFileSync(report, "utf8")).toBe("before\n");
    expect(readFileSync(trace, "utf8")).toBe("old trace\n");
    expect(existsSync(made)).toBe(false);
  });
});

describe("a write that fails after the program ran is one warning; the exit status stays the program's", () => {
  // /dev/full opens for writing and refuses every byte (ENOSPC).
  test("--report", async () => {
    const ran = await runPager("apager", canaryProgram(), { flags: ["-q", "--report", "/dev/full"] });
    expect({ exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({
      exitCode: 3,
      stderr: "apager: warning: --report /dev/full: cannot write: no space left on the device (ENOSPC); the run itself is unaffected\n",
    });
    expect(existsSync(canary)).toBe(true);
    rmSync(canary);
  });

  for (const paging of ["userfaultfd", "signal"]) {
    test(`--trace, written while the program runs (dpager by ${paging})`, async () => {
      const ran = await runPager("dpager", canaryProgram(), { flags: ["-q", "--paging", paging, "--trace", "/dev/full"] });
      expect({ exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({
        exitCode: 3,
        stderr: "dpager: warning: --trace /dev/full: cannot write: no space left on the device (ENOSPC), so the trace lacks the events from then on; the run itself is unaffected\n",
      });
      rmSync(canary);
    });
  }

  test("a report another process removed the directory of meanwhile is still written: its file was opened before", async () => {
    const sub = join(dir, "going");
    mkdirSync(sub);
    const report = join(sub, "r.json");
    const ran = await runPager("apager", ["/bin/sh", "-c", `rm -rf '${sub}'; exit 4`], { flags: ["-q", "--report", report] });
    expect({ exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({ exitCode: 4, stderr: "" });
  });
});
