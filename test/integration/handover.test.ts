/**
 * What execve hands a program, against native runs: a caller (a shell with
 * test/tools/handover.c) sets up descriptors, ignored and blocked and
 * an alarm, the open-files limit and the umask, then runs
 * the probe natively and under every pager and paging mechanism, started
 * directly and through `bun run`; the probe's view must be the same.
 * Then the behaviours users met: a handler on the alternate stack, signals
 * sent to the pager's pid, SIGPIPE ignored by the caller, a fork during
 * userfaultfd faults.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import { nativeTool } from "../support/build-tools.ts";
import { buildAll, ROOT, type Variant } from "../support/programs.ts";
import { mapAtMost, runNative, runProcess, type Ran } from "../support/run.ts";
import { FAULTLINE_COMMAND, privateServiceDirectory } from "../support/service.ts";

setDefaultTimeout(120_000);
const osSignals = osConstants.signals;

let built = new Map<string, string>();
let handover = "";
// The installed command's runs go through a service of this file's own.
const removeServiceDirectory = privateServiceDirectory();
afterAll(removeServiceDirectory);
beforeAll(async () => {
  built = await buildAll(["probe.c", "fork_faults.c", "signal_report.c"], ["static", "pie"]);
  handover = await nativeTool("handover");
}, 300_000);
const binary = (source: string, variant: Variant) => built.get(`${source}:${variant}`)!;

/** How a pager is run: its name and paging mechanism. */
interface Pager {
  name: "apager" | "dpager" | "hpager";
  paging: "userfaultfd" | "signal" | null;
}
const PAGER_RUNS: Pager[] = [
  { name: "apager", paging: null },
  ...(["dpager", "hpager"] as const).flatMap((name) =>
    (userfaultfdAvailable() ? (["userfaultfd", "signal"] as const) : (["signal"] as const)).map((paging) => ({ name, paging })),
  ),
];
const label = (p: Pager) => (p.paging ? `${p.name} --paging ${p.paging}` : p.name);
/** How the pager is started: its command line run by Bun, `bun run`, or
 * the installed command, whose client becomes the program itself. */
type Entry = "direct" | "bun run" | "installed";
const ENTRIES: readonly Entry[] = ["direct", "bun run", "installed"];
function pagerWords(p: Pager, entry: Entry): string[] {
  const flags = ["-q", ...(p.paging ? ["--paging", p.paging] : [])];
  if (entry === "installed") return [FAULTLINE_COMMAND, p.name, ...flags];
  return entry === "direct" ? [process.execPath, join(ROOT, "src", "cli", "cli.ts"), p.name, ...flags] : [process.execPath, "run", p.name, ...flags];
}

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

/** The caller: a shell that ignores SIGHUP and SIGPIPE and lowers its
 * open-files limit (which it hands to its children), then the handover
 * tool, which blocks SIGUSR1 and SIGUSR2, arms an
 * alarm, sets the umask and opens two descriptors, and execs the command. */
function callerScript(command: string[]): string[] {
  const tool = [handover, "--block", "10,12", "--alarm", "60", "--umask", "027", "--fd", "5=/etc/hostname", "--fd", "9=/etc/passwd", "--"];
  return ["/bin/sh", "-c", `ulimit -Sn 1000; trap '' HUP PIPE; ${[...tool, ...command].map(quote).join(" ")}; exit $?`];
}

function fields(stdout: string): Map<string, string> {
  return new Map(stdout.trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
}

describe("the probe started by a caller that hands over state sees what it sees natively", () => {
  for (const variant of ["static", "pie"] as const) {
    for (const pager of PAGER_RUNS) {
      for (const entry of ENTRIES) {
        test(`${label(pager)}, ${entry} (${variant})`, async () => {
          const probe = binary("probe.c", variant);
          const [native, loaded] = await Promise.all([runNative(callerScript([probe])), runProcess(callerScript([...pagerWords(pager, entry), probe]), { cwd: ROOT })]);
          expect(native.exitCode).toBe(0);
          expect(loaded.stderr).toBe("");
          const expected = fields(native.stdout);
          const actual = fields(loaded.stdout);
          // The caller's state really is there natively.
          expect(expected.get("fds")).toBe("0,1,2,5,9");
          expect(expected.get("sig_ignored")).toBe("1,13");
          expect(expected.get("sig_blocked")).toBe("10,12");
          expect(expected.get("itimer_real")).toMatch(/^(59|60)s interval=0s$/);
          expect(expected.get("rlimit_nofile")).toStartWith("1000/");
          expect(expected.get("umask")).toBe("027");
          expect(expected.get("altstack")).toBe("disabled");
          // Known differences, each in the README's table.
          for (const key of ["exe"]) {
            expected.delete(key);
            actual.delete(key);
          }
          if (pager.paging === "signal" && actual.get("sig_caught") === "11") {
            // The pager's own SIGSEGV handler, on its own stack (not there
            // when hpager has nothing to page: a bss within the data's
            // last page).
            expect(actual.get("altstack")).toBe("on");
            for (const key of ["sig_caught", "altstack"]) {
              expected.delete(key);
              actual.delete(key);
            }
          }
          if (pager.name === "dpager" && pager.paging === "userfaultfd") {
            // The interpreter's demand-paged segments are anonymous copies,
            // so /proc/self/maps names no ld-linux mapping at AT_BASE.
            expected.delete("base_ok");
            actual.delete("base_ok");
          }
          if (entry === "bun run") {
            // `bun run` holds the alarm, which no other process can take.
            expect(actual.get("itimer_real")).toBe("off");
            expected.delete("itimer_real");
            actual.delete("itimer_real");
          }
          if (expected.get("itimer_real") !== actual.get("itimer_real")) {
            // A second may pass between the two runs' reads.
            expect(actual.get("itimer_real")).toMatch(/^(58|59|60)s interval=0s$/);
            expected.delete("itimer_real");
            actual.delete("itimer_real");
          }
          expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
        });
      }
    }
  }
});

/** Send `signal` to `pid` once `proc` has printed "ready". */
async function signalWhenReady(proc: Bun.Subprocess<"ignore", "pipe", "pipe">, pid: number, signal: NodeJS.Signals): Promise<string> {
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  while (!seen.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value);
  }
  process.kill(pid, signal);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value);
  }
  return seen;
}

function spawnWithLimit(argv: string[]): Bun.Subprocess<"ignore", "pipe", "pipe"> {
  return Bun.spawn(argv, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000, killSignal: "SIGKILL" });
}

/** Signals tried at the same time, each on its own native and loaded pair. */
const SIGNALS_AT_ONCE = 4;

describe("a signal sent to the pager's pid reaches the program", () => {
  const signals = ["SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGHUP", "SIGWINCH"] as const;
  for (const pager of PAGER_RUNS) {
    for (const entry of ENTRIES) {
      // `bun run` keeps SIGWINCH to itself: it reaches neither the pager
      // nor a program `bun run` starts natively (a terminal's resize
      // reaches the whole process group directly).
      const sent = entry === "bun run" ? signals.filter((s) => s !== "SIGWINCH") : signals;
      test(`${label(pager)}, ${entry}: ${sent.join(" ")}, each once`, async () => {
        const program = binary("signal_report.c", "pie");
        // Each signal to a pair of processes of its own, a few pairs at once.
        const runs = await mapAtMost(sent, SIGNALS_AT_ONCE, async (signal) => {
          const number = osSignals[signal];
          const native = spawnWithLimit([program, "1", String(number)]);
          const loaded = spawnWithLimit([...pagerWords(pager, entry), program, "1", String(number)]);
          const [nativeOut, loadedOut] = await Promise.all([signalWhenReady(native, native.pid, signal), signalWhenReady(loaded, loaded.pid, signal)]);
          await Promise.all([native.exited, loaded.exited]);
          return { signal, number, loaded, nativeOut, loadedOut };
        });
        for (const { signal, number, loaded, nativeOut, loadedOut } of runs) {
          expect(nativeOut).toBe(`ready\ngot ${number}\ndone\n`);
          expect(`${signal}: ${loadedOut}`).toBe(`${signal}: ${nativeOut}`);
          // `bun run` dies itself of the signals it does not pass on
          // (SIGUSR1); the pager then relays what killed it.
          if (entry === "bun run" && loaded.signalCode === signal) continue;
          expect(loaded.exitCode).toBe(0);
        }
      });
    }
    test(`${label(pager)}: a program without a handler dies of the SIGTERM sent to the pager, and so does the pager`, async () => {
      const loaded = spawnWithLimit([...pagerWords(pager, "direct"), "/bin/sh", "-c", "echo ready; exec sleep 20"]);
      const out = await signalWhenReady(loaded, loaded.pid, "SIGTERM");
      await loaded.exited;
      expect(out).toBe("ready\n");
      expect(loaded.signalCode).toBe("SIGTERM");
    });
  }
});

/** rustc, on PATH or where rustup puts it. */
function rustCompiler(): string {
  const found = Bun.which("rustc") ?? join(process.env.HOME ?? "/root", ".cargo", "bin", "rustc");
  return found;
}

let rustOverflow = "";
async function buildRustOverflow(): Promise<string> {
  if (rustOverflow) return rustOverflow;
  const dir = mkdtempSync(join(tmpdir(), "faultline-rust-"));
  const output = join(dir, "stack_overflow");
  const compiled = await runProcess([rustCompiler(), "-O", "-o", output, join(ROOT, "test", "programs", "stack_overflow.rs")], { timeout: 120_000 });
  if (compiled.exitCode !== 0) throw new Error(`rustc failed: ${compiled.stderr}`);
  return (rustOverflow = output);
}

describe("the alternate signal stack is the program's own", () => {
  const python = ["/usr/bin/python3", "-c", "import os,signal; signal.signal(signal.SIGUSR1, lambda *a: print('got')); os.kill(os.getpid(), signal.SIGUSR1); print('after')"];
  for (const pager of PAGER_RUNS) {
    test(`${label(pager)}: CPython's handler (SA_ONSTACK) runs`, async () => {
      const [native, loaded] = await Promise.all([runNative(python), runProcess([...pagerWords(pager, "direct"), ...python])]);
      expect(native.stdout).toBe("got\nafter\n");
      expect(loaded.stdout).toBe(native.stdout);
      expect(loaded.exitCode).toBe(0);
    });
    test(`${label(pager)}: a Rust program that overflows its main thread's stack says so and aborts`, async () => {
      const program = await buildRustOverflow();
      const [native, loaded] = await Promise.all([runNative([program]), runProcess([...pagerWords(pager, "direct"), program])]);
      expect(native.signal).toBe("SIGABRT");
      expect(native.stderr).toContain("has overflowed its stack");
      if (pager.paging === "signal" && pager.name === "dpager") {
        // Rust installs its handler only where SIGSEGV is at its default;
        // the pager's own is there (README: limits of the SIGSEGV
        // mechanism). hpager installs none for this program: its bss fits
        // in its data's last page, so nothing is paged on demand.
        expect(loaded.signal).toBe("SIGSEGV");
        return;
      }
      expect(loaded.signal).toBe("SIGABRT");
      expect(loaded.stderr).toContain("has overflowed its stack");
    });
  }
});

describe("signal dispositions and timers the caller set", () => {
  for (const pager of PAGER_RUNS) {
    test(`${label(pager)}: \`yes | head\` with SIGPIPE ignored by the shell, and without`, async () => {
      const script = (command: string, ignore: boolean) => ["/bin/bash", "-c", `${ignore ? "trap '' PIPE; " : ""}${command} /usr/bin/yes 2>/dev/null | head -1 >/dev/null; echo \${PIPESTATUS[0]}`];
      const pagerCommand = pagerWords(pager, "direct").map(quote).join(" ");
      for (const ignore of [true, false]) {
        const [native, loaded] = await Promise.all([runNative(script("", ignore)), runProcess(script(pagerCommand, ignore))]);
        expect(native.stdout).toBe(ignore ? "1\n" : "141\n");
        expect(loaded.stdout).toBe(native.stdout);
      }
    });
    test(`${label(pager)}: an alarm the caller set before exec ends the program as natively`, async () => {
      const argv = (command: string[]) => [handover, "--alarm", "1", "--", ...command, "/bin/sleep", "5"];
      const started = performance.now();
      const [native, loaded] = await Promise.all([runNative(argv([])), runProcess(argv(pagerWords(pager, "direct")))]);
      expect(native.signal).toBe("SIGALRM");
      expect(loaded.signal).toBe("SIGALRM");
      expect(performance.now() - started).toBeLessThan(4_500);
    });
  }
});

describe("descriptors the caller passes reach the program, through `bun run` too", () => {
  for (const pager of PAGER_RUNS) {
    // diff, under dpager's SIGSEGV mechanism, meets that mechanism's limit
    // (it installs a SIGSEGV handler of its own): comm stands in for it.
    const compare = pager.name === "dpager" && pager.paging === "signal" ? "/usr/bin/comm" : "/usr/bin/diff";
    test(`${label(pager)}: cat <(echo hi), ${compare.split("/").pop()} <(...) <(...), and a descriptor a shell opened`, async () => {
      const command = pagerWords(pager, "bun run").map(quote).join(" ");
      const script = `${command} /bin/cat <(echo hi); ${command} ${compare} <(printf 'a\\nb\\n') <(printf 'a\\nc\\n'); echo "compared $?"; exec 4</etc/hostname; ${command} /bin/sh -c 'cat <&4'`;
      const nativeScript = script.replaceAll(command, "");
      const [native, loaded] = await Promise.all([runNative(["/bin/bash", "-c", nativeScript]), runProcess(["/bin/bash", "-c", script], { cwd: ROOT })]);
      expect(native.stdout).toStartWith(compare.endsWith("diff") ? "hi\n2c2\n< b\n---\n> c\ncompared 1\n" : "hi\n\t\ta\nb\n\tc\ncompared 0\n");
      expect(loaded.stdout).toBe(native.stdout);
      expect(loaded.stderr).toBe("");
    });
  }
});

describe("a fork while other threads take userfaultfd faults", () => {
  const runs = 25;
  for (const pager of PAGER_RUNS.filter((p) => p.paging === "userfaultfd")) {
    for (const variant of ["static", "pie"] as const) {
      test(`${label(pager)} (${variant}): ${runs} runs, no hang, the native output`, async () => {
        const argv = [binary("fork_faults.c", variant), "8"];
        const native = await runNative(argv);
        expect(native.stdout).toEndWith("ok\n");
        let next = 0;
        const outcomes: Ran[] = [];
        const worker = async () => {
          while (next < runs) {
            next++;
            outcomes.push(await runProcess([...pagerWords(pager, "direct"), ...argv], { timeout: 20_000 }));
          }
        };
        await Promise.all([worker(), worker()]);
        for (const loaded of outcomes) expect({ stdout: loaded.stdout, exitCode: loaded.exitCode }).toEqual({ stdout: native.stdout, exitCode: 0 });
      });
    }
  }
});

describe("what is not handed over, as the README's table of differences says", () => {
  test("a signal pending when the pager starts does not reach the program; the caller's parent-death signal stays with the pager", async () => {
    const probe = binary("probe.c", "static");
    // SIGWINCH: its default is to be ignored, so Bun drops it rather than
    // dying of it.
    const argv = (command: string[]) => [handover, "--pend", "28", "--pdeathsig", "10", "--", ...command, probe];
    const [native, loaded] = await Promise.all([runNative(argv([])), runProcess(argv(pagerWords({ name: "apager", paging: null }, "direct")))]);
    expect(fields(native.stdout).get("sig_pending")).toBe("28");
    expect(fields(loaded.stdout).get("sig_pending")).toBe("");
    expect(fields(native.stdout).get("pdeathsig")).toBe("10");
    expect(fields(loaded.stdout).get("pdeathsig")).toBe("0");
  });
});

describe("through `bun run`, the program starts where the caller was, with the caller's environment", () => {
  // `bun run` runs its script in the package's directory, with npm_*
  // variables and node_modules/.bin on PATH; a shell in a subdirectory
  // runs a program there, with its own environment (and `_` the path it ran
  // it by). The same shell line, natively and through `bun run apager`.
  for (const pager of ["apager", "dpager"]) {
    test(`${pager}: from test/programs, pwd, a relative path, and the whole environment in order`, async () => {
      const where = join(ROOT, "test", "programs");
      const line = (prefix: string) => `cd ${quote(where)} && ${prefix}/bin/pwd && ${prefix}/bin/ls ../../package.json && ${prefix}env`;
      const native = await runNative(["/bin/bash", "-c", line("")]);
      const loaded = await runProcess(["/bin/bash", "-c", line(`${quote(process.execPath)} run --silent ${pager} -q `)]);
      expect(native.stdout).toStartWith(`${where}\n../../package.json\n`);
      expect(native.stdout).toContain("\n_=/usr/bin/env\n");
      expect(loaded.stdout).toBe(native.stdout);
    });
  }
});
