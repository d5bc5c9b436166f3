/**
 * Subprocess fixture: craft programs aimed at the loader's own memory (its
 * code, and the zero-filled memory after it, where the loader always sits)
 * and try to run them. Prints one JSON line per attempt.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, LoadError } from "../../src/index.ts";
import { parseElf } from "../../src/loader/elf.ts";
import { LOADER, LOADER_ADDRESS, ensureShim } from "../../src/shim/shim-build.ts";
import { tinyProgram } from "./craft.ts";

ensureShim();
const dir = mkdtempSync(join(tmpdir(), "faultline-overlap-"));
const loader = readFileSync(LOADER);
const segments = parseElf(LOADER, loader, loader.length, "program").segments;
const last = segments[segments.length - 1]!;
// The zero-filled memory past the loader's last file page.
const memory = Math.floor((last.vaddr + last.filesz) / 4096) * 4096 + 4096 * 2;
const targets = { code: LOADER_ADDRESS + 4096, memory };

for (const [name, base] of Object.entries(targets)) {
  const file = join(dir, `aimed-at-${name}`);
  writeFileSync(file, tinyProgram(0, base));
  chmodSync(file, 0o755);
  try {
    const report = await run([file], { quiet: true });
    console.log(JSON.stringify({ name, base, ran: true, exitCode: report.exitCode }));
  } catch (error) {
    if (!(error instanceof LoadError)) throw error;
    console.log(JSON.stringify({ name, base, ran: false, exitCode: error.exitCode, message: error.message }));
  }
}
