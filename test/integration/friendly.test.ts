/**
 * Friendly segfaults (other crash kinds: friendly-crashes.test.ts):
 * libetsbefriends.so preloaded by `bun run friendly`
 * (src/cli/friendly.ts) or by LD_PRELOAD alone. A crash prints one message of
 * the set and a diagnosis, then exits 139; programs that do not crash, or
 * handle the crash themselves, behave as they do without it; a static
 * program is refused in one line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { staticRefusal } from "../../src/friendly/friendly-options.ts";
import { ensureFriendlyLibrary } from "../../src/shim/shim-build.ts";
import { ROOT, buildAll, buildProgram, buildSharedLibrary } from "../support/programs.ts";
import { MESSAGES, MESSAGES_FOR, MESSAGE_SETS, messagesIn } from "../support/friendly-messages.ts";
import { runFriendly, runNative, runProcess, verdict, type Ran } from "../support/run.ts";

const CRASH_STATUS = 139;

/** A path as a pattern that matches exactly it. */
function literally(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}


let library = "";
let dir = "";
let built = new Map<string, string>();
let staticProgram = "";
let earlyHandler = "";
beforeAll(async () => {
  library = ensureFriendlyLibrary();
  dir = mkdtempSync(join(tmpdir(), "faultline-friendly-"));
  built = await buildAll(["segv_0x55.c", "crash.c", "thread_crash.c", "own_handler.c", "exit_code.c", "sigbus_truncated.c"], ["pie", "no-pie"]);
  staticProgram = await buildProgram("segv_0x55.c", "static");
  earlyHandler = await buildSharedLibrary("early_handler.c");
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const program = (source: string, variant: "pie" | "no-pie" = "pie") => built.get(`${source}:${variant}`)!;

/** Run argv with LD_PRELOAD alone (no faultline process in between). In a
 * scratch directory: should the shell allow core dumps, none lands in the
 * repository. */
function runPreloaded(argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runProcess(argv, { env: { ...process.env, LD_PRELOAD: library, ...env }, cwd: dir });
}

function expectFriendlyCrash(ran: Ran): void {
  expect(messagesIn(ran.stderr)).toHaveLength(1);
  expect(messagesIn(ran.stderr, MESSAGES)).toHaveLength(1);
  expect(ran.stderr.split("\n")[0]).toBe(messagesIn(ran.stderr)[0]!);
  expect(ran.exitCode).toBe(CRASH_STATUS);
  expect(ran.signal).toBeNull();
}

test("the message set has at least eight messages, all different", () => {
  expect(MESSAGES.length).toBeGreaterThanOrEqual(8);
  expect(new Set(MESSAGES).size).toBe(MESSAGES.length);
});

test("every kind of crash has a set of its own, as large as the segfaults', no message shared", () => {
  expect(Object.keys(MESSAGES_FOR)).toEqual(["SIGSEGV", "SIGBUS", "SIGFPE", "SIGABRT", "SIGILL", "SIGTRAP", "SIGSYS"]);
  expect(MESSAGE_SETS.size).toBe(Object.keys(MESSAGES_FOR).length);
  for (const set of Object.values(MESSAGES_FOR)) expect(set).toHaveLength(MESSAGES.length);
  const every = [...MESSAGE_SETS.values()].flat();
  expect(new Set(every).size).toBe(every.length);
});

describe("a crash, made friendly", () => {
  test("the handout's program under `friendly`: its line, one message of the set, the diagnosis, status 139", async () => {
    const ran = await runFriendly([program("segv_0x55.c")], { cwd: dir });
    expectFriendlyCrash(ran);
    expect(ran.stdout).toBe("I'm going to segfault now.\n");
    expect(ran.stderr).toContain("signal:  SIGSEGV (SEGV_MAPERR), writing address 0x55, in the main thread\n");
    expect(ran.stderr).toContain("cause:   looks like a NULL-pointer dereference: the address is NULL + 0x55");
    expect(ran.stderr).toContain("mapping: none holds 0x55\n");
    expect(ran.stderr).toContain("FAULTLINE_FRIENDLY_RERAISE=1");
    expect(ran.stderr).not.toContain("Segmentation fault");
  });

  test("with LD_PRELOAD alone, a non-PIE build too", async () => {
    const ran = await runPreloaded([program("segv_0x55.c", "no-pie")]);
    expectFriendlyCrash(ran);
    expect(ran.stdout).toBe("I'm going to segfault now.\n");
    expect(ran.stderr).toContain("NULL + 0x55");
  });

  test("twenty runs show at least three different messages", async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, () => runPreloaded([program("segv_0x55.c")])));
    for (const ran of runs) expectFriendlyCrash(ran);
    expect(new Set(runs.map((ran) => messagesIn(ran.stderr)[0])).size).toBeGreaterThanOrEqual(3);
  });

  test("a stack overflow gets a message too: the handler runs on an alternate stack", async () => {
    const ran = await runPreloaded([program("crash.c"), "stack_overflow"]);
    expectFriendlyCrash(ran);
    expect(ran.stderr).toContain("in the main thread");
    expect(ran.stderr).toContain("cause:   looks like a stack overflow");
  });

  test("a crash on another thread gets a message", async () => {
    const ran = await runPreloaded([program("thread_crash.c"), "null"]);
    expectFriendlyCrash(ran);
    expect(ran.stdout).toBe("thread_crash: null\n");
    expect(ran.stderr).toMatch(/writing address 0x0, in thread \d+ \(not the main thread\)/);
    expect(ran.stderr).toContain("the address is NULL itself");
  });

  test("a stack overflow on another thread: the pthread_create wrapper gave it an alternate stack", async () => {
    const ran = await runPreloaded([program("thread_crash.c"), "overflow"]);
    expectFriendlyCrash(ran);
    expect(ran.stderr).toContain("(not the main thread)");
    expect(ran.stderr).toContain("cause:   looks like a stack overflow");
    // glibc's guard page below a thread's stack: PROT_NONE, anonymous.
    expect(ran.stderr).toMatch(/mapping: [0-9a-f]+-[0-9a-f]+ ---p /);
  });

  test("the diagnosis tells read-only memory, non-executable memory and unmapped memory apart", async () => {
    const crash = program("crash.c");
    const [rodata, execData, pastBss, sent] = await Promise.all(["write_rodata", "exec_data", "past_bss", "kill_segv"].map((mode) => runPreloaded([crash, mode])));
    for (const ran of [rodata!, execData!, pastBss!, sent!]) expectFriendlyCrash(ran);
    expect(rodata!.stderr).toContain("(SEGV_ACCERR), writing address");
    expect(rodata!.stderr).toContain("cause:   a write to read-only memory");
    expect(rodata!.stderr).toMatch(new RegExp(`mapping: [0-9a-f]+-[0-9a-f]+ r--p [0-9a-f]+ \\S+ \\d+ ${literally(crash)}\\n`));
    expect(execData!.stderr).toContain("executing address");
    expect(execData!.stderr).toContain("cause:   a jump into memory that is not executable");
    expect(pastBss!.stderr).toContain("(SEGV_MAPERR), reading address");
    expect(pastBss!.stderr).toContain("cause:   an access to unmapped memory");
    expect(pastBss!.stderr).toMatch(/mapping: none holds 0x[0-9a-f]+\n/);
    expect(sent!.stderr).toMatch(/\(SI_USER\), sent by process \d+/);
    expect(sent!.stderr).toContain("cause:   not a memory error");
    expect(sent!.stderr).not.toContain("mapping:");
  });

  test("SIGBUS too: a read past the end of a truncated mapped file, status 135", async () => {
    const file = join(dir, "truncated");
    const ran = await runPreloaded([program("sigbus_truncated.c"), file]);
    expect(messagesIn(ran.stderr)).toHaveLength(1);
    expect(messagesIn(ran.stderr, MESSAGES_FOR.SIGBUS)).toHaveLength(1);
    expect(ran).toMatchObject({ stdout: "sigbus_truncated: reading\n", exitCode: 135, signal: null });
    expect(ran.stderr).toContain("signal:  SIGBUS (BUS_ADRERR), reading address");
    expect(ran.stderr).toContain("cause:   an access to a mapped file beyond its end");
    expect(ran.stderr).toMatch(new RegExp(`mapping: [0-9a-f]+-[0-9a-f]+ r--s 00000000 \\S+ \\d+ ${literally(file)}\n`));
  });

  test("FAULTLINE_FRIENDLY_RERAISE=1: the message, then the program dies of the signal itself", async () => {
    const reraise = { FAULTLINE_FRIENDLY_RERAISE: "1" };
    const [fault, sent, viaFriendly] = await Promise.all([
      runPreloaded([program("segv_0x55.c")], reraise),
      runPreloaded([program("crash.c"), "kill_segv"], reraise),
      runFriendly([program("segv_0x55.c")], { env: { ...process.env, ...reraise }, cwd: dir }),
    ]);
    for (const ran of [fault!, sent!, viaFriendly!]) {
      expect(messagesIn(ran.stderr)).toHaveLength(1);
      expect(ran.stderr).toContain("(re-raising SIGSEGV as FAULTLINE_FRIENDLY_RERAISE asks)");
      expect(ran.exitCode).toBeNull();
      expect(ran.signal).toBe("SIGSEGV");
    }
  });
});

describe("programs that do not crash, or handle crashes themselves", () => {
  test("/bin/ls: the same output and exit status with and without the library", async () => {
    for (const argv of [["/bin/ls", "-la", "/usr"], ["/bin/ls", "/faultline-no-such-dir"]]) {
      const [native, preloaded, friendly] = await Promise.all([runNative(argv), runPreloaded(argv), runFriendly(argv)]);
      expect(verdict(preloaded)).toEqual(verdict(native));
      expect(verdict(friendly)).toEqual(verdict(native));
      expect(preloaded.stderr).toBe(native.stderr);
      expect(friendly.stderr).toBe(native.stderr);
    }
  });

  test("a program's own SIGSEGV handler, installed in main, is the one that runs", async () => {
    const [native, friendly] = await Promise.all([runNative([program("own_handler.c")]), runFriendly([program("own_handler.c")])]);
    expect(native).toMatchObject({ stdout: "own_handler: caught SIGSEGV at 0x55\n", stderr: "", exitCode: 42 });
    expect(friendly).toEqual(native);
  });

  test("a handler installed before the library's constructor (an earlier LD_PRELOAD) stays in charge", async () => {
    const env = { ...process.env, LD_PRELOAD: earlyHandler };
    // friendly lists its library first; the dynamic linker runs the last
    // listed constructor first, so early_handler's handler is installed
    // when the friendly constructor looks.
    const ran = await runFriendly([program("segv_0x55.c")], { env });
    expect(ran).toMatchObject({ stdout: "I'm going to segfault now.\nearly_handler: caught SIGSEGV\n", stderr: "", exitCode: 43 });
  });

  test("exit statuses and signals pass through `friendly`; argv[0] is the name as typed", async () => {
    const [code, aborted, argv0] = await Promise.all([
      runFriendly([program("exit_code.c"), "7"]),
      runFriendly([program("crash.c"), "abort"], { cwd: dir }),
      runFriendly(["sh", "-c", 'echo "$0"']),
    ]);
    expect(verdict(code!)).toEqual({ stdout: "", exitCode: 7, signal: null });
    // An abort is reported, and still ends the program with SIGABRT.
    expect(aborted!).toMatchObject({ stdout: "crash: abort\n", exitCode: null, signal: "SIGABRT" });
    expect(messagesIn(aborted!.stderr, MESSAGES_FOR.SIGABRT)).toHaveLength(1);
    expect(argv0!.stdout).toBe("sh\n");
  });

  test("SIGTERM sent to `friendly` alone reaches the program", async () => {
    const proc = Bun.spawn([process.execPath, `${ROOT}/src/cli/friendly.ts`, "sh", "-c", "echo $$; exec sleep 30"], { stdout: "pipe", stderr: "pipe", timeout: 20_000, killSignal: "SIGKILL" });
    const reader = proc.stdout.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const programPid = Number(first.trim());
    expect(programPid).toBeGreaterThan(0);
    proc.kill("SIGTERM");
    await proc.exited;
    expect(proc.signalCode).toBe("SIGTERM");
    // The program was ended too, not left behind sleeping.
    const alive = () => {
      try {
        process.kill(programPid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await Bun.sleep(20);
    expect(alive()).toBe(false);
  });
});

describe("programs `friendly` cannot help", () => {
  test("a statically linked program: one clear line, status 126, and it does not run", async () => {
    const ran = await runFriendly([staticProgram]);
    expect(ran).toMatchObject({ stdout: "", exitCode: 126 });
    expect(ran.stderr).toBe(`${staticRefusal(staticProgram, null)}\n`);
    expect(ran.stderr).toContain("is statically linked");
  });

  test("a #! script whose interpreter is static is refused the same way; one run by /bin/sh is not", async () => {
    const staticScript = join(dir, "static-script");
    writeFileSync(staticScript, `#!${staticProgram}\n`);
    chmodSync(staticScript, 0o755);
    const shellScript = join(dir, "shell-script");
    writeFileSync(shellScript, `#!/bin/sh\necho "from the script: $1"\n`);
    chmodSync(shellScript, 0o755);
    const [refused, ran] = await Promise.all([runFriendly([staticScript]), runFriendly([shellScript, "hi"])]);
    expect(refused).toMatchObject({ stdout: "", exitCode: 126 });
    expect(refused.stderr).toBe(`${staticRefusal(staticScript, staticProgram)}\n`);
    expect(ran).toMatchObject({ stdout: "from the script: hi\n", stderr: "", exitCode: 0 });
  });

  test("a #! script whose interpreter is missing: the interpreter named, status 127, as the pagers say it", async () => {
    const script = join(dir, "lost-interpreter");
    writeFileSync(script, "#!/faultline-no-such-dir/interpreter\n");
    chmodSync(script, 0o755);
    const ran = await runFriendly([script]);
    expect(ran).toMatchObject({ stdout: "", exitCode: 127, stderr: "friendly: /faultline-no-such-dir/interpreter: no such file (ENOENT)\n" });
  });

  test("the command line: --help, no program, unknown option, a missing program", async () => {
    const [help, none, unknown, missing] = await Promise.all([
      runFriendly([], { flags: ["--help"] }),
      runFriendly([]),
      runFriendly(["/bin/true"], { flags: ["--frobnicate"] }),
      runFriendly(["faultline-no-such-command"]),
    ]);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toStartWith("Usage: bun run friendly [options] PROGRAM [ARGS...]");
    expect(none).toMatchObject({ exitCode: 2, stderr: "friendly: no PROGRAM given\nTry 'bun run friendly --help'.\n" });
    expect(unknown).toMatchObject({ exitCode: 2, stderr: "friendly: unknown option '--frobnicate'\nTry 'bun run friendly --help'.\n" });
    expect(missing).toMatchObject({ exitCode: 127, stderr: "friendly: faultline-no-such-command: command not found (ENOENT)\n" });
  });
});
