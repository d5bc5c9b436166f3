/**
 * A file truncated under a running program. Linux keeps a running
 * executable from being written (ETXTBSY), and so does a pager that makes
 * the file the process's executable (which needs CAP_SYS_RESOURCE). Where
 * the file can be cut (natively, a program ld.so mapped; under a pager, one
 * run by a user who cannot replace /proc/self/exe), touching pages past the
 * new end gives SIGBUS, and the pager neither hangs nor blames itself.
 * dpager's reserved pages are PROT_NONE file mappings: its handler enables
 * the page, the access is retried, and the kernel's SIGBUS (which the
 * handler does not take) ends the program with the default action.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseElf } from "../../src/loader/elf.ts";
import { pageDown } from "../../src/loader/plan.ts";
import { buildProgram } from "../support/programs.ts";
import { TIME_LIMIT_MS, canDropPrivilege, unprivileged } from "../support/run.ts";
import { pagerCommand } from "../support/verdict.ts";

setDefaultTimeout(60_000);

const PAGERS = ["apager", "dpager", "hpager"] as const;
const root = process.getuid?.() === 0;

let dir = "";
let built = "";
let loader = "";
beforeAll(async () => {
  built = await buildProgram("self_read.c", "pie");
  loader = parseElf(built, readFileSync(built)).interpreter!;
  dir = mkdtempSync(join(tmpdir(), "faultline-truncate-"));
  chmodSync(dir, 0o755);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function copyOfProgram(name: string): string {
  const copy = join(dir, name);
  copyFileSync(built, copy);
  chmodSync(copy, 0o755);
  return copy;
}

/** The file offset of the array, from its distance to the ELF header. */
function arrayOffset(path: string, fromHeader: number): number {
  const segments = parseElf(path, readFileSync(path)).segments;
  const vaddr = segments.find((s) => s.offset === 0)!.vaddr + fromHeader;
  const segment = segments.find((s) => s.vaddr <= vaddr && vaddr < s.vaddr + s.filesz)!;
  return segment.offset + (vaddr - segment.vaddr);
}

interface Outcome {
  truncated: string;
  stdout: string;
  stderr: string;
  signal: string | null;
  exitCode: number | null;
}

/** Run argv; once it says "ready", cut `copy` before its array (saying
 * whether that worked, or the error code), then let it go on. */
async function runTruncating(argv: string[], copy: string): Promise<Outcome> {
  const proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe", timeout: TIME_LIMIT_MS, killSignal: "SIGKILL" });
  const stderr = new Response(proc.stderr).text();
  const decoder = new TextDecoder();
  const reader = proc.stdout.getReader();
  let stdout = "";
  while (!stdout.includes("ready\n")) {
    const chunk = await reader.read();
    if (chunk.done) break;
    stdout += decoder.decode(chunk.value);
  }
  let truncated = "no ready line";
  const found = /blob=\+0x([0-9a-f]+)/.exec(stdout);
  if (found) {
    try {
      truncateSync(copy, pageDown(arrayOffset(copy, parseInt(found[1]!, 16))));
      truncated = "yes";
    } catch (error) {
      truncated = String((error as { code?: unknown }).code);
    }
  }
  try {
    proc.stdin.write("\n");
    await proc.stdin.end();
  } catch {
    // EPIPE: the program is gone already; its outcome below says how.
  }
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) stdout += decoder.decode(chunk.value);
  await proc.exited;
  return { truncated, stdout, stderr: await stderr, signal: proc.signalCode === null ? null : String(proc.signalCode), exitCode: proc.exitCode };
}

describe("a file truncated under the running program", () => {
  test("natively the kernel keeps a running executable from being cut (ETXTBSY)", async () => {
    const copy = copyOfProgram("native");
    const ran = await runTruncating([copy], copy);
    expect(ran).toMatchObject({ truncated: "ETXTBSY", exitCode: 0 });
    expect(ran.stdout).toEndWith("ready\nsum=1\n");
  });

  test("natively, a program whose file can be cut (ld.so mapped it) dies of SIGBUS on the pages past the end", async () => {
    const copy = copyOfProgram("via-ld.so");
    const ran = await runTruncating([loader, copy], copy);
    expect(ran).toMatchObject({ truncated: "yes", signal: "SIGBUS" });
    expect(ran.stdout).toEndWith("ready\n");
  });

  for (const pager of PAGERS) {
    test.skipIf(!root)(`${pager}, run by root: the file is the process's executable, and as protected as natively [root]`, async () => {
      const copy = copyOfProgram(`${pager}-root`);
      const ran = await runTruncating(pagerCommand(pager, [copy]), copy);
      expect(ran).toMatchObject({ truncated: "ETXTBSY", exitCode: 0, stderr: "" });
      expect(ran.stdout).toEndWith("ready\nsum=1\n");
    });

    test.skipIf(root && !canDropPrivilege())(`${pager}, run by a user: the file can be cut, and the program dies of SIGBUS, not a hang`, async () => {
      const copy = copyOfProgram(`${pager}-user`);
      const ran = await runTruncating(unprivileged(pagerCommand(pager, [copy])), copy);
      expect(ran).toMatchObject({ truncated: "yes", signal: "SIGBUS", stderr: "" });
      expect(ran.stdout).toEndWith("ready\n");
    });
  }
});
