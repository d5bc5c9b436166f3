/**
 * Subprocess fixture: another thread of this process forks again and again
 * (test/tools/fork_checker.c) while this one launches programs in a loop;
 * each forked child checks it has this process's memory (64 MiB of
 * JavaScript's, with a pattern). Prints one JSON line: launches, forks, and
 * the children that found memory missing.
 *
 *   bun fixture-fork.ts LIBRARY PROGRAM FORKS
 *
 * Launches go on (each pager in turn) until the other thread has forked
 * FORKS times.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { run } from "../../src/index.ts";

const [library, program, forks] = process.argv.slice(2) as [string, string, string];
const checker = dlopen(library, {
  fc_start: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  fc_stop: { args: [FFIType.ptr], returns: FFIType.i32 },
  fc_forks: { args: [], returns: FFIType.i32 },
});
const REGION_BYTES = 64 * 1024 * 1024;
const region = new Uint8Array(REGION_BYTES);
for (let i = 0; i < REGION_BYTES; i += 4096) region[i] = (i / 4096) % 251;
if (checker.symbols.fc_start(ptr(region), REGION_BYTES) !== 0) throw new Error("cannot start the forking thread");
let launches = 0;
while (checker.symbols.fc_forks() < Number(forks)) {
  for (const pager of ["apager", "dpager", "hpager"] as const) {
    const report = await run([program], { quiet: true, pager });
    if (report.exitCode !== 0) throw new Error(`${pager} ${program} exited ${report.exitCode}`);
    launches++;
  }
}
const out = new BigInt64Array(3);
checker.symbols.fc_stop(ptr(out));
// The region must outlive the forking (a collected one would read as
// changed): it is used once more here.
const pattern = region[4096 * 7];
console.log(JSON.stringify({ launches, forks: Number(out[0]), bad: Number(out[1]), firstBadStatus: Number(out[2]), pattern }));
