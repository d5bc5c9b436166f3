/**
 * A demand-paged program never runs on pages its pager did not give it,
 * whatever happens to the pager: the Bun process is killed (SIGKILL) at a
 * random moment while the program waits, or while it reads pages it never
 * touched before (test/programs/checksum_wait.c sums its data, its own code
 * and its bss), under dpager and hpager, both paging mechanisms, static,
 * PIE and dynamic. The program must go on to print the same sums as its
 * native run, and end: no orphan is left running.
 */
import { beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import { buildAll, type Variant } from "../support/programs.ts";
import { PAGER_ENTRY, TIME_LIMIT_MS } from "../support/run.ts";

setDefaultTimeout(300_000);

const VARIANTS: Variant[] = ["static", "pie", "no-pie"];
const MECHANISMS = userfaultfdAvailable() ? ["userfaultfd", "signal"] : ["signal"];
/** Kills per pager, mechanism and variant: 9 x 2 x 2 x 3 = 108 with both mechanisms. */
const KILLS = 9;

let built = new Map<string, string>();
beforeAll(async () => {
  built = await buildAll(["checksum_wait.c"], VARIANTS);
}, 300_000);

/** A reproducible sequence of numbers in [0, 1). */
function sequence(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

interface Killed {
  output: string;
  /** The Bun process was killed before the program was told to go. */
  before: boolean;
}

/** Read a stream until it ends or the time limit passes. */
async function readAll(stream: ReadableStream<Uint8Array>, limitMs: number): Promise<{ text: string; ended: boolean }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + limitMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return { text, ended: false };
    const chunk = await Promise.race([reader.read(), Bun.sleep(left).then(() => null)]);
    if (chunk === null) return { text, ended: false };
    if (chunk.done) return { text, ended: true };
    text += decoder.decode(chunk.value);
  }
}

/** Run the program under a pager, kill the Bun process at a moment drawn
 * from `random`, let the program go on, and collect what it prints. */
async function runAndKill(pager: string, mechanism: string, program: string, random: () => number, quiet: boolean): Promise<Killed> {
  // The program goes on once this file exists.
  const go = join(mkdtempSync(join(tmpdir(), "faultline-kill-")), "go");
  const proc = Bun.spawn([...PAGER_ENTRY, pager, "--paging", mechanism, ...(quiet ? ["-q"] : []), program, go], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "ignore",
    timeout: TIME_LIMIT_MS,
    killSignal: "SIGKILL",
  });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  while (!seen.includes("ready\n")) {
    const chunk = await reader.read();
    if (chunk.done) break;
    seen += decoder.decode(chunk.value);
  }
  reader.releaseLock();
  const before = random() < 0.3;
  if (before) {
    await Bun.sleep(random() * 3);
    proc.kill("SIGKILL");
    await proc.exited;
    writeFileSync(go, "");
  } else {
    writeFileSync(go, "");
    // The sums take a few milliseconds of faults: kill somewhere in them.
    await Bun.sleep(random() * 4);
    proc.kill("SIGKILL");
    await proc.exited;
  }
  const rest = await readAll(proc.stdout, TIME_LIMIT_MS);
  // The program holds the pipe until it ends: an end of the stream is the
  // program's end (it was not left running).
  expect(rest.ended).toBe(true);
  return { output: seen + rest.text, before };
}

describe("killing the pager never leaves the program on pages nobody gave it", () => {
  for (const pager of ["dpager", "hpager"]) {
    for (const mechanism of MECHANISMS) {
      test(`${pager} --paging ${mechanism}: ${KILLS} kills for each of ${VARIANTS.join(", ")}`, async () => {
        const random = sequence(pager.length * 7919 + mechanism.length * 104729);
        let wrong = 0;
        const outputs: string[] = [];
        for (const variant of VARIANTS) {
          const program = built.get(`checksum_wait.c:${variant}`)!;
          const native = Bun.spawnSync([program], { stdin: new TextEncoder().encode("go\n") }).stdout.toString();
          expect(native).toMatch(/^ready\ndata=\d+ text=\d+ bss=0\n$/);
          for (let i = 0; i < KILLS; i++) {
            // Every third run logs its faults: a pager that dies must not
            // leave the program waiting to publish them.
            const killed = await runAndKill(pager, mechanism, program, random, i % 3 !== 0);
            if (killed.output !== native) {
              wrong++;
              outputs.push(`${variant} (${killed.before ? "before" : "during"}): ${JSON.stringify(killed.output)} vs ${JSON.stringify(native)}`);
            }
          }
        }
        expect(outputs).toEqual([]);
        expect(wrong).toBe(0);
      });
    }
  }
});
