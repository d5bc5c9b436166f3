/**
 * Set-user-ID and set-group-ID programs: natively they run with the file
 * owner's IDs; from a nosuid mount, and under every pager, with the caller's
 * own. The pagers say so in one note line. Needs root (to give a file to
 * another owner and to mount a nosuid file system); skipped otherwise.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, buildProgram } from "../support/programs.ts";
import { UNPRIVILEGED_ID, canDropPrivilege, runPager, runProcess, unprivileged } from "../support/run.ts";
import { runKernel } from "../support/verdict.ts";

setDefaultTimeout(60_000);

const root = process.getuid?.() === 0;
const PAGERS = ["apager", "dpager", "hpager"] as const;

let dir = "";
let setuidProgram = "";
let setuidRootProgram = "";
let nosuidProgram: string | null = null;
let nosuidRootProgram: string | null = null;
let nosuidMount = "";

/** A copy of `program` at `path`, owned by `owner` (nobody by default),
 * set-user-ID and set-group-ID. */
function privilegedCopy(program: string, path: string, owner = UNPRIVILEGED_ID): string {
  copyFileSync(program, path);
  chownSync(path, owner, owner);
  chmodSync(path, 0o6755);
  return path;
}

beforeAll(async () => {
  if (!root) return;
  const ids = await buildProgram("ids.c", "static");
  dir = mkdtempSync(join(tmpdir(), "faultline-setuid-"));
  chmodSync(dir, 0o755);
  setuidProgram = privilegedCopy(ids, join(dir, "ids-setuid"));
  setuidRootProgram = privilegedCopy(ids, join(dir, "ids-setuid-root"), 0);
  nosuidMount = join(dir, "nosuid");
  mkdirSync(nosuidMount);
  chmodSync(nosuidMount, 0o755);
  const mounted = await runProcess(["mount", "-t", "tmpfs", "-o", "nosuid,size=4m,mode=755", "tmpfs", nosuidMount]);
  if (mounted.exitCode === 0) {
    nosuidProgram = privilegedCopy(ids, join(nosuidMount, "ids-setuid"));
    nosuidRootProgram = privilegedCopy(ids, join(nosuidMount, "ids-setuid-root"), 0);
  }
}, 120_000);

afterAll(async () => {
  if (!root) return;
  if (nosuidProgram) await runProcess(["umount", nosuidMount]);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!root)("set-user-ID and set-group-ID programs [root]", () => {
  const own = `uid=0 euid=0 gid=0 egid=0 secure=0\n`;

  test("natively the kernel gives the owner's IDs (and AT_SECURE)", async () => {
    const native = await runKernel([setuidProgram]);
    expect(native.verdict).toEqual({ exit: 0 });
    expect(native.ran.stdout).toBe(`uid=0 euid=${UNPRIVILEGED_ID} gid=0 egid=${UNPRIVILEGED_ID} secure=1\n`);
  });

  test("from a nosuid mount the kernel gives none", async () => {
    if (nosuidProgram === null) {
      console.warn("mount -t tmpfs -o nosuid failed here; the nosuid comparison is skipped");
      return;
    }
    const native = await runKernel([nosuidProgram]);
    expect(native.ran.stdout).toBe(own);
  });

  for (const pager of PAGERS) {
    test(`${pager} runs it with the caller's IDs, as from a nosuid mount, and says so in one note`, async () => {
      const loaded = await runPager(pager, [setuidProgram], { flags: [] });
      expect(loaded.exitCode).toBe(0);
      expect(loaded.stdout).toBe(own);
      const notes = loaded.stderr.split("\n").filter((l) => l.startsWith(`${pager}: note: `));
      expect(notes).toEqual([
        `${pager}: note: ${setuidProgram} is set-user-ID (uid ${UNPRIVILEGED_ID}) and set-group-ID (gid ${UNPRIVILEGED_ID}); it runs with your own user and group IDs, as from a nosuid mount: a pager gains no privilege`,
      ]);
      // The note comes before the program starts: before any mapping made on demand.
      const lines = loaded.stderr.split("\n");
      const firstDemandMapping = lines.findIndex((l) => / (start|fault=0x[0-9a-f]+)$/.test(l));
      if (firstDemandMapping >= 0) expect(lines.indexOf(notes[0]!)).toBeLessThan(firstDemandMapping);
    });
  }

  describe.skipIf(!canDropPrivilege())("set-user-ID root, run by a user (nobody)", () => {
    const user = `uid=${UNPRIVILEGED_ID} euid=${UNPRIVILEGED_ID} gid=${UNPRIVILEGED_ID} egid=${UNPRIVILEGED_ID} secure=0\n`;

    test("natively it runs as root; from a nosuid mount, as the user", async () => {
      const native = await runKernel([setuidRootProgram], { wrap: unprivileged });
      expect(native.ran.stdout).toBe(`uid=${UNPRIVILEGED_ID} euid=0 gid=${UNPRIVILEGED_ID} egid=0 secure=1\n`);
      if (nosuidRootProgram !== null) expect((await runKernel([nosuidRootProgram], { wrap: unprivileged })).ran.stdout).toBe(user);
    });

    for (const pager of PAGERS) {
      test(`${pager}: geteuid() is getuid(): no root for the program, and the note says so even under -q`, async () => {
        const loaded = await runProcess(unprivileged([process.execPath, join(ROOT, "src/cli/cli.ts"), pager, "-q", setuidRootProgram]));
        expect({ exitCode: loaded.exitCode, stdout: loaded.stdout }).toEqual({ exitCode: 0, stdout: user });
        // Natively the program would have printed euid=0: the one line says why it did not.
        expect(loaded.stderr.split("\n").filter((l) => l !== "")).toEqual([
          `${pager}: note: ${setuidRootProgram} is set-user-ID (uid 0) and set-group-ID (gid 0); it runs with your own user and group IDs, as from a nosuid mount: a pager gains no privilege`,
        ]);
      });
    }
  });

  test("--quiet keeps the note, said once; the report keeps it too", async () => {
    const reportPath = join(dir, "report.json");
    const loaded = await runPager("apager", [setuidProgram], { flags: ["-q", "--report", reportPath] });
    expect(loaded.stderr).toBe(
      `apager: note: ${setuidProgram} is set-user-ID (uid ${UNPRIVILEGED_ID}) and set-group-ID (gid ${UNPRIVILEGED_ID}); it runs with your own user and group IDs, as from a nosuid mount: a pager gains no privilege\n`,
    );
    expect(JSON.parse(readFileSync(reportPath, "utf8")).differences).toContainEqual(expect.stringContaining("a pager gains no privilege"));
  });

  test("a set-group-ID bit without group execute permission is not one (mandatory locking): no note", async () => {
    const path = join(dir, "ids-lock");
    copyFileSync(setuidProgram, path);
    chownSync(path, 0, UNPRIVILEGED_ID);
    chmodSync(path, 0o2705);
    const loaded = await runPager("apager", [path], { flags: [] });
    expect(loaded.stderr).not.toContain("note:");
    const native = await runKernel([path]);
    expect(native.ran.stdout).toBe(own);
  });
});
