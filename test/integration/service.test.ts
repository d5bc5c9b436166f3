/**
 * The installed command (bin/faultline PAGER ...) through the user's warm
 * service: its client is the process the caller started and becomes the
 * program. Each run is compared with the native run and with the pagers'
 * command through Bun; then the service's life: started on first use,
 * status and stop, a killed service, a stale socket, clients of another
 * build or user, a client killed on its way, many clients at once, idle
 * exit, and the plain path where the service cannot serve.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { userfaultfdAvailable } from "../../src/shim/shim.ts";
import { LOADER } from "../../src/shim/shim-build.ts";
import { parseServiceState } from "../../src/service/paths.ts";
import { buildAll, ROOT, type Variant } from "../support/programs.ts";
import { canDropPrivilege, runNative, runPager, runProcess, unprivileged, verdict, type Ran } from "../support/run.ts";
import { CHECKOUT_COMMAND, FAULTLINE_COMMAND, privateServiceDirectory, stopService } from "../support/service.ts";

setDefaultTimeout(120_000);

const removeServiceDirectory = privateServiceDirectory();
const runtime = process.env.XDG_RUNTIME_DIR!;
const serviceDir = join(runtime, "faultline");
afterAll(removeServiceDirectory);

let built = new Map<string, string>();
beforeAll(async () => {
  built = await buildAll(["args_env.c", "exit_code.c", "crash.c", "data_bss.c", "threads_bss.c", "touch_pages.c"], ["static", "static-pie", "pie"]);
}, 300_000);
const binary = (source: string, variant: Variant) => built.get(`${source}:${variant}`)!;

const PAGINGS = userfaultfdAvailable() ? (["userfaultfd", "signal"] as const) : (["signal"] as const);
/** Every pager, and each paging mechanism for the demand pagers. */
const PAGER_FLAGS: { pager: string; flags: string[] }[] = [
  { pager: "apager", flags: [] },
  ...["dpager", "hpager"].flatMap((pager) => PAGINGS.map((paging) => ({ pager, flags: ["--paging", paging] }))),
];
const labelOf = (p: { pager: string; flags: string[] }) => [p.pager, ...p.flags].join(" ");

function installed(pager: string, argv: string[], options: Parameters<typeof runProcess>[1] & { flags?: string[] } = {}): Promise<Ran> {
  return runProcess([FAULTLINE_COMMAND, pager, ...(options.flags ?? ["-q"]), ...argv], options);
}

function serviceState() {
  const path = join(serviceDir, "service.json");
  return existsSync(path) ? parseServiceState(readFileSync(path, "utf8")) : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await Bun.sleep(20);
  return condition();
}

describe("programs through the installed command match their native runs", () => {
  test("the first command starts the service, says nothing about it, and runs the program", async () => {
    await stopService(process.env);
    expect(serviceState()).toBeNull();
    const argv = [binary("args_env.c", "static"), "one", "two words"];
    const env = { ...process.env, FAULTLINE_TEST_A: "1", FAULTLINE_TEST_EXIT: "3" };
    const [native, loaded] = await Promise.all([runNative(argv, { env }), installed("apager", argv, { env })]);
    expect(verdict(loaded)).toEqual(verdict(native));
    expect(native.exitCode).toBe(3);
    expect(loaded.stderr).toBe("");
    const state = serviceState();
    expect(state).not.toBeNull();
    expect(alive(state!.pid)).toBe(true);
    expect(statSync(serviceDir).mode & 0o777).toBe(0o700);
  });

  for (const p of PAGER_FLAGS) {
    for (const variant of ["static", "static-pie", "pie"] as const) {
      test(`${labelOf(p)} (${variant}): arguments, environment, exit status, memory`, async () => {
        const env = { ...process.env, FAULTLINE_TEST_B: "two", FAULTLINE_TEST_EXIT: "5" };
        const runs: [string[], Record<string, string | undefined>][] = [
          [[binary("args_env.c", variant), "x", "", "y z"], env],
          [[binary("data_bss.c", variant)], process.env],
          // A static program's threads start on demand-paged pages with
          // SIGSEGV blocked: signal paging cannot run it (README, limits).
          ...(p.flags.includes("signal") && variant !== "pie" ? [] : [[[binary("threads_bss.c", variant)], process.env] satisfies [string[], Record<string, string | undefined>]]),
          [[binary("touch_pages.c", variant), "64"], process.env],
        ];
        for (const [argv, runEnv] of runs) {
          const [native, loaded] = await Promise.all([runNative(argv, { env: runEnv }), installed(p.pager, argv, { env: runEnv, flags: ["-q", ...p.flags] })]);
          expect({ argv: argv[0], ...verdict(loaded) }).toEqual({ argv: argv[0], ...verdict(native) });
          expect(loaded.stderr).toBe(native.stderr);
        }
      });
    }
    test(`${labelOf(p)}: a genuine crash ends the program by the same signal`, async () => {
      for (const mode of ["null_write", "abort", "div_zero"]) {
        const argv = [binary("crash.c", "pie"), mode];
        const [native, loaded] = await Promise.all([runNative(argv), installed(p.pager, argv, { flags: ["-q", ...p.flags] })]);
        expect({ mode, ...verdict(loaded) }).toEqual({ mode, ...verdict(native) });
      }
    });
  }

  test("system programs, a pipe and a shell script", async () => {
    const cases = [["/bin/ls", "-la", "/usr"], ["/usr/bin/python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", "a", "b"], ["/bin/sh", "-c", "printf 'b\\na\\n' | sort | tr a-z A-Z; exit 4"], ["/usr/bin/env"]];
    for (const argv of cases) {
      for (const pager of ["apager", "dpager", "hpager"]) {
        const [native, loaded] = await Promise.all([runNative(argv), installed(pager, argv)]);
        expect({ argv, pager, ...verdict(loaded) }).toEqual({ argv, pager, ...verdict(native) });
      }
    }
  });

  test("the working directory and a relative PROGRAM are the caller's", async () => {
    const dir = join(ROOT, "test", "programs");
    const [native, loaded] = await Promise.all([runNative(["/bin/sh", "-c", "pwd; ls ../../README.md"], { cwd: dir }), installed("apager", ["/bin/sh", "-c", "pwd; ls ../../README.md"], { cwd: dir })]);
    expect(verdict(loaded)).toEqual(verdict(native));
    const relative = await installed("apager", ["../build/" + binary("exit_code.c", "static").split("/test/build/")[1], "9"], { cwd: dir });
    expect(relative.exitCode).toBe(9);
  });

  test.each([["installed", FAULTLINE_COMMAND], ["checkout's bin/faultline", CHECKOUT_COMMAND]])("%s: the program is the very process the caller started: its pid, and its exit status reaped by the caller", async (_, command) => {
    const script = `${command} apager -q /bin/sh -c 'echo $$; exit 6' & echo $!; wait $!; echo status=$?`;
    const ran = await runProcess(["/bin/sh", "-c", script]);
    const [first, second, status] = ran.stdout.trim().split("\n");
    expect(first).toMatch(/^\d+$/);
    expect(first).toBe(second);
    expect(status).toBe("status=6");
  });

  test("the mapping log is the pagers' command's, line for line but for the addresses", async () => {
    const shape = (stderr: string) =>
      stderr
        .trim()
        .split("\n")
        .map((line) => line.replace(/addr=0x[0-9a-f]+/, "addr=A").replace(/fault=0x[0-9a-f]+/, "fault=F"))
        .filter((line) => !line.includes("fault=F"))
        .sort();
    for (const variant of ["static", "pie"] as const) {
      const argv = [binary("exit_code.c", variant), "0"];
      for (const pager of ["apager", "dpager", "hpager"]) {
        const [bun, command] = await Promise.all([runPager(pager, argv, { flags: [] }), installed(pager, argv, { flags: [] })]);
        expect(command.exitCode).toBe(0);
        expect(shape(command.stderr)).toEqual(shape(bun.stderr));
        expect(command.stderr).toContain(`${pager}: map addr=`);
      }
    }
  });

  test("a program that cannot be run gets the pagers' own line and status", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-service-bad-"));
    const text = join(dir, "text");
    await Bun.write(text, "not a program\n");
    chmodSync(text, 0o755);
    try {
      for (const argv of [[join(dir, "missing")], ["/etc/hostname"], [text], ["no-such-command-anywhere"]]) {
        const [bun, command] = await Promise.all([runPager("apager", argv), installed("apager", argv)]);
        expect({ argv, exitCode: command.exitCode, stderr: command.stderr }).toEqual({ argv, exitCode: bun.exitCode, stderr: bun.stderr });
        expect([126, 127]).toContain(command.exitCode!);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a command that writes a report takes the plain path, and the report is complete when it returns", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-service-report-"));
    try {
      const report = join(dir, "run.json");
      const ran = await installed("dpager", [binary("exit_code.c", "static"), "4"], { flags: ["-q", "--report", report] });
      expect(ran.exitCode).toBe(4);
      const parsed = JSON.parse(readFileSync(report, "utf8"));
      expect(parsed.exitCode).toBe(4);
      expect(parsed.pager).toBe("dpager");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("usage errors and --help are the pagers' command's", async () => {
    const [bun, command] = await Promise.all([runPager("hpager", [], { flags: ["--pages", "99", "/bin/true"] }), installed("hpager", [], { flags: ["--pages", "99", "/bin/true"] })]);
    expect(command.exitCode).toBe(2);
    expect(command.stderr.split("\n")[0]).toBe(bun.stderr.split("\n")[0]);
    const help = await installed("dpager", [], { flags: ["--help"] });
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain("Usage: faultline dpager");
  });
});

describe("the service's life", () => {
  test("status and stop say what runs; the next command starts a new service", async () => {
    await installed("apager", ["/bin/true"]);
    const status = await runProcess([FAULTLINE_COMMAND, "service", "status"]);
    expect(status.exitCode).toBe(0);
    const pid = serviceState()!.pid;
    expect(status.stdout).toContain(`pid ${pid}`);
    const stop = await runProcess([FAULTLINE_COMMAND, "service", "stop"]);
    expect(stop.stdout).toContain(`stopped (pid ${pid})`);
    expect(alive(pid)).toBe(false);
    const after = await runProcess([FAULTLINE_COMMAND, "service", "status"]);
    expect(after.exitCode).toBe(3);
    expect(after.stdout).toContain("not running");
    expect(existsSync(join(serviceDir, "service.sock"))).toBe(false);
    expect((await installed("apager", [binary("exit_code.c", "static"), "2"])).exitCode).toBe(2);
    expect(serviceState()!.pid).not.toBe(pid);
  });

  test("a service started from a project's directory runs in /: it holds no directory of the caller's, and runs no bunfig.toml preload of the project's", async () => {
    await stopService(process.env);
    const project = mkdtempSync(join(tmpdir(), "faultline-project-"));
    try {
      const marker = join(project, "preloaded");
      writeFileSync(join(project, "bunfig.toml"), 'preload = ["./preload.js"]\n');
      writeFileSync(join(project, "preload.js"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "");\n`);
      const ran = await installed("apager", ["/bin/true"], { cwd: project });
      expect({ exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({ exitCode: 0, stderr: "" });
      const pid = serviceState()!.pid;
      expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/");
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });

  test("a killed service leaves a stale socket, which the next command replaces; a program it served goes on", async () => {
    // A program demand-paged by the service, which dies while it runs:
    // the kernel serves the same bytes from then on.
    const program = Bun.spawn([FAULTLINE_COMMAND, "dpager", "-q", "/usr/bin/python3", "-c", "import time; time.sleep(0.4); import json, decimal; print(sum(range(100000)))"], { stdout: "pipe", stderr: "pipe", timeout: 30_000, killSignal: "SIGKILL" });
    expect(await until(() => serviceState() !== null && alive(serviceState()!.pid))).toBe(true);
    await Bun.sleep(150);
    const pid = serviceState()!.pid;
    process.kill(pid, "SIGKILL");
    const out = await new Response(program.stdout).text();
    await program.exited;
    expect(out).toBe("4999950000\n");
    expect(program.exitCode).toBe(0);
    expect(existsSync(join(serviceDir, "service.sock"))).toBe(true);
    const next = await installed("apager", [binary("exit_code.c", "static"), "8"]);
    expect(next.exitCode).toBe(8);
    expect(next.stderr).toBe("");
    expect(serviceState()!.pid).not.toBe(pid);
  });

  test("a program changed in place is never run from the service's old copy of it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-service-changed-"));
    try {
      const source = join(dir, "version.c");
      writeFileSync(source, '#include <stdio.h>\nint main(void) { puts("version A"); return 0; }\n');
      const program = join(dir, "version");
      expect(Bun.spawnSync(["cc", "-O1", "-o", program, source]).exitCode).toBe(0);
      for (const paging of PAGINGS) expect((await installed("dpager", [program], { flags: ["-q", "--paging", paging] })).stdout).toBe("version A\n");
      // The same file (inode, size), its bytes changed where they are.
      const bytes = readFileSync(program);
      const at = bytes.indexOf("version A");
      const file = openSync(program, "r+");
      writeSync(file, "B", at + "version ".length);
      closeSync(file);
      for (const paging of PAGINGS) {
        for (const pager of ["apager", "dpager", "hpager"]) {
          const ran = await installed(pager, [program], { flags: ["-q", ...(pager === "apager" ? [] : ["--paging", paging])] });
          expect({ pager, paging, stdout: ran.stdout }).toEqual({ pager, paging, stdout: "version B\n" });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("many commands at once are served at once", async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => installed(i % 3 === 0 ? "apager" : i % 3 === 1 ? "dpager" : "hpager", [binary("exit_code.c", "pie"), String(i)])));
    expect(runs.map((r) => r.exitCode)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  test("a client killed on its way leaves the service serving", async () => {
    const pid = (await installed("apager", ["/bin/true"]), serviceState()!.pid);
    for (let i = 0; i < 5; i++) {
      const proc = Bun.spawn([FAULTLINE_COMMAND, "dpager", "-q", "/usr/bin/python3", "-c", "pass"], { stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(i * 3);
      proc.kill("SIGKILL");
      await proc.exited;
    }
    const ran = await installed("dpager", [binary("exit_code.c", "static"), "1"]);
    expect(ran.exitCode).toBe(1);
    expect(serviceState()!.pid).toBe(pid);
  });

  /** A hand-made client (python3's socket module) that says hello as the
   * loader would, with the loader identity given, and reports the answer. */
  const fakeClient = (loader: { dev: bigint; ino: bigint; ctimeNs: bigint }) => `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.settimeout(10)
try:
    # magic, the loader's identity, no stderr, personality 0, not again,
    # no stack limit, no capabilities, an empty auxiliary vector (AT_NULL)
    # and the rest of its room (struct fl_client_hello, shim/launch.h).
    s.send(struct.pack("<10Q", 0x746e65696c636c66, ${loader.dev}, ${loader.ino}, ${loader.ctimeNs}, 0, 0, 0, 2**64 - 1, 0, 2) + bytes(8 * 128))
    data = s.recv(64)
except (BrokenPipeError, ConnectionResetError):
    data = b""
print(len(data), struct.unpack("<3Q", data)[1] if len(data) == 24 else "-")
`;

  test("a client of another build is told to retry, and the socket goes to a new service", async () => {
    await installed("apager", ["/bin/true"]);
    const old = serviceState()!.pid;
    const ran = await runProcess(["/usr/bin/python3", "-c", fakeClient({ dev: 1n, ino: 2n, ctimeNs: 3n }), join(serviceDir, "service.sock")]);
    // FL_ANSWER_RETRY is 2.
    expect(ran.stdout.trim()).toBe("24 2");
    expect(await until(() => !alive(old))).toBe(true);
    const next = await installed("apager", [binary("exit_code.c", "static"), "3"]);
    expect(next.exitCode).toBe(3);
    expect(serviceState()!.pid).not.toBe(old);
  });

  test("a client of this build is answered by the service it asked", async () => {
    await installed("apager", ["/bin/true"]);
    const st = statSync(LOADER, { bigint: true });
    // Its command line is python3's own: not a pager's, so the plain path
    // (FL_ANSWER_PLAIN, 1).
    const ran = await runProcess(["/usr/bin/python3", "-c", fakeClient({ dev: st.dev, ino: st.ino, ctimeNs: st.ctimeNs }), join(serviceDir, "service.sock")]);
    expect(ran.stdout.trim()).toBe("24 1");
  });

  test.if(canDropPrivilege())("another user's client is refused, and that user gets a service of its own [root]", async () => {
    const theirs = mkdtempSync(join(tmpdir(), "faultline-runtime-other-"));
    chmodSync(theirs, 0o700);
    Bun.spawnSync(["chown", "65534:65534", theirs]);
    const env = { ...process.env, XDG_RUNTIME_DIR: theirs, HOME: theirs };
    try {
      // The loader itself, which the installed command's link names (a
      // link of root's may be out of the other user's reach).
      const ran = await runProcess(unprivileged([LOADER, "dpager", "-q", binary("exit_code.c", "pie"), "7"]), { env });
      expect(ran.exitCode).toBe(7);
      expect(ran.stderr).toBe("");
      const socket = join(theirs, "faultline", "service.sock");
      expect(statSync(socket).uid).toBe(65534);
      // root may reach the socket, but is not its user: the service hangs up.
      const st = statSync(LOADER, { bigint: true });
      const refused = await runProcess(["/usr/bin/python3", "-c", fakeClient({ dev: st.dev, ino: st.ino, ctimeNs: st.ctimeNs }), socket]);
      expect(refused.stdout.trim()).toBe("0 -");
    } finally {
      await runProcess(unprivileged([CHECKOUT_COMMAND, "service", "stop"]), { env });
      rmSync(theirs, { recursive: true, force: true });
    }
  });

  test("an idle service exits after FAULTLINE_SERVICE_IDLE seconds", async () => {
    await stopService(process.env);
    const env = { ...process.env, FAULTLINE_SERVICE_IDLE: "1" };
    expect((await installed("apager", ["/bin/true"], { env })).exitCode).toBe(0);
    const pid = serviceState()!.pid;
    expect(alive(pid)).toBe(true);
    expect(await until(() => !alive(pid), 8000)).toBe(true);
    expect(existsSync(join(serviceDir, "service.sock"))).toBe(false);
  });

  test("a service directory others may enter is not used: the command runs through Bun, with a note", async () => {
    await stopService(process.env);
    chmodSync(serviceDir, 0o755);
    try {
      const ran = await installed("apager", [binary("exit_code.c", "static"), "5"]);
      expect(ran.exitCode).toBe(5);
      expect(ran.stderr).toBe("faultline: note: the faultline service could not be reached; running through Bun\n");
    } finally {
      chmodSync(serviceDir, 0o700);
    }
  });

  test.if(process.getuid?.() === 0)("on a full disk the service serves all the same, with no state for status [root]", async () => {
    const full = mkdtempSync(join(tmpdir(), "faultline-full-"));
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k,mode=700", "tmpfs", full]).exitCode).toBe(0);
    try {
      // Every block taken: files can be made, not written.
      Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(full, "fill")}`, "bs=4k", "count=100"]);
      const env = { ...process.env, XDG_RUNTIME_DIR: full, FAULTLINE_SERVICE_IDLE: "2" };
      for (const status of [3, 4]) {
        const ran = await installed("apager", [binary("exit_code.c", "static"), String(status)], { env });
        expect({ exitCode: ran.exitCode, stderr: ran.stderr }).toEqual({ exitCode: status, stderr: "" });
      }
      const said = await runProcess([FAULTLINE_COMMAND, "service", "status"], { env });
      expect(said.exitCode).toBe(4);
      expect(said.stdout).toContain("no state it wrote");
      // Idle, it goes (its socket with it).
      expect(await until(() => !existsSync(join(full, "faultline", "service.sock")), 10_000)).toBe(true);
    } finally {
      Bun.spawnSync(["umount", "-l", full]);
      rmSync(full, { recursive: true, force: true });
    }
  });

  test("--no-service runs the command through Bun", async () => {
    await stopService(process.env);
    const ran = await runProcess([CHECKOUT_COMMAND, "--no-service", "apager", "-q", binary("exit_code.c", "static"), "6"]);
    expect(ran.exitCode).toBe(6);
    expect(serviceState()).toBeNull();
  });
});
