/**
 * Subprocess fixture: run a program under a pager through the library, with
 * arguments made here (so that argument lists near the kernel's E2BIG limit
 * do not pass through this process's own execve), and end the way the
 * command line does: one line and 126 or 127 for a refusal, else the
 * program's exit status or signal.
 *
 *   bun fixture-run.ts PAGER [--pad COUNT LENGTH]... PROGRAM [ARGS...]
 *
 * Each --pad appends COUNT arguments of LENGTH bytes ('x'), as
 * test/tools/execve_verdict does.
 */
import { constants as osConstants } from "node:os";
import { LoadError, run, type PagerName } from "../../src/index.ts";
import { endWithSignal } from "../../src/shim/shim.ts";

const [pager, ...rest] = process.argv.slice(2);
const pads: string[] = [];
while (rest[0] === "--pad") {
  const count = Number(rest[1]);
  const length = Number(rest[2]);
  pads.push(...Array.from({ length: count }, () => "x".repeat(length)));
  rest.splice(0, 3);
}

try {
  const report = await run([...rest, ...pads], { pager: pager as PagerName, quiet: true });
  if (report.signal !== null) {
    const signal = osConstants.signals[report.signal as keyof typeof osConstants.signals];
    endWithSignal(signal);
    process.exit(128 + signal);
  }
  process.exit(report.exitCode ?? 126);
} catch (error) {
  if (!(error instanceof LoadError)) throw error;
  process.stderr.write(`${pager}: ${error.message}\n`);
  process.exit(error.exitCode);
}
