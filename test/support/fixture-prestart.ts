/**
 * Subprocess fixture: a loader started ahead of the next launch must be
 * the one that launch would have spawned. Runs the probe under apager, then
 * changes one thing about this process a spawned program inherits, then
 * runs the probe again; prints a line "=== second" between the two probe
 * outputs, then one JSON line: whether the second launch took the loader
 * started ahead (its pid was the waiting loader's), and which loader
 * processes are children of this one after it.
 *
 *   bun fixture-prestart.ts CHANGE PROBE [FILE]
 *
 * CHANGE: none | cwd | umask | nice | stdout | mask | idle | off. `stdout`
 * points descriptor 1 at FILE; `idle` waits past the idle time instead of
 * running a second probe; `off` calls prestartLoaders(false) first.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { setPriority } from "node:os";
import { tmpdir } from "node:os";
import { prestartLoaders, run } from "../../src/index.ts";

const [change, probe, file] = process.argv.slice(2) as [string, string, string | undefined];
const libc = dlopen("libc.so.6", {
  dup2: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  pthread_sigmask: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
});

/** This process's children that are faultline loaders (named so until
 * they become the program), from every thread's list. */
function waitingLoaders(): number[] {
  const pids: number[] = [];
  for (const task of readdirSync("/proc/self/task")) {
    for (const pid of readFileSync(`/proc/self/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
      try {
        // Not the loader as spawned, which exits once it has cloned the
        // process that waits (a zombie until a launch reaps it).
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
        if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "faultline-loade" && state !== "Z") pids.push(Number(pid));
      } catch {
        // gone meanwhile
      }
    }
  }
  return pids;
}

/** The waiting loaders once one has started (it is spawned on a shim
 * thread while the program runs) and the list holds still: the loader as
 * spawned lives on for a moment beside the clone it made. None after a
 * while. */
async function settledLoaders(): Promise<number[]> {
  let last = "";
  let steady = 0;
  for (let tries = 0; tries < 100; tries++) {
    const pids = waitingLoaders();
    const seen = pids.join(",");
    steady = seen === last ? steady + 1 : 0;
    last = seen;
    if (pids.length > 0 && steady >= 2) return pids;
    await Bun.sleep(10);
  }
  return [];
}

// On by default only with three CPUs or more: this fixture needs it on.
prestartLoaders(change !== "off");
await run([probe, "first"], { quiet: true });
const waiting = await settledLoaders();
let secondPid = 0;
if (change === "idle") {
  await Bun.sleep(1500);
} else {
  if (change === "cwd") process.chdir(tmpdir());
  if (change === "umask") process.umask(0o077);
  if (change === "nice") setPriority(0, 7);
  if (change === "stdout") {
    const fd = openSync(file!, "w");
    libc.symbols.dup2(fd, 1);
    closeSync(fd);
  }
  if (change === "mask") {
    const set = new BigUint64Array([1n << 9n]); // SIGUSR1
    libc.symbols.pthread_sigmask(0 /* SIG_BLOCK */, ptr(set), null);
  }
  writeSync(1, "=== second\n");
  await run([probe, "second"], { quiet: true, onStart: (pid) => (secondPid = pid) });
}
// Descriptor 1 may be the file now: the verdict goes to standard error.
// The next one is started on a shim thread too: settled, unless none is
// to come (turned off, retired).
const after = change === "idle" || change === "off" ? waitingLoaders() : await settledLoaders();
process.stderr.write(`${JSON.stringify({ waiting, secondPid, reused: waiting.includes(secondPid), after })}\n`);
