/**
 * Subprocess fixture: craft programs aimed at the loader's own memory (the
 * shim, the vDSO) in this very process and try to run them. Prints one JSON
 * line per attempt.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, LoadError } from "../../src/index.ts";
import { parseMaps } from "../../src/machine.ts";
import { shimExtent } from "../../src/shim.ts";
import { tinyProgram } from "./craft.ts";

const dir = mkdtempSync(join(tmpdir(), "faultline-overlap-"));
const shim = shimExtent();
const vdso = parseMaps(readFileSync("/proc/self/maps", "utf8")).find((m) => m.path === "[vdso]")!;
const targets = { shim: shim.start - (shim.start % 4096), vdso: vdso.start };

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
