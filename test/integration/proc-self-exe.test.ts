/**
 * What follows from /proc/self/exe, which names the program only where the
 * loader may set it (CAP_SYS_RESOURCE), and faultline's loader elsewhere
 * (README, differences). A program that finds its libraries through $ORIGIN
 * (RPATH or RUNPATH), which ld.so expands from that link: with the
 * capability the run is the native one; without it the pager says
 * beforehand why the libraries may not be found, and ld.so then fails as it
 * says. A program that runs itself again through the link: with the
 * capability the copy runs; without it the loader is run, and asks whoever
 * ran the program (the user's service, or the Bun pager) to run it again;
 * a loader nobody knows says why in one line and ends with 126.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readMachineFacts } from "../../src/loader/machine.ts";
import { ROOT, buildProgram } from "../support/programs.ts";
import { canDropPrivilege, runNative, runPager, runProcess, UNPRIVILEGED_ID, unprivileged, verdict } from "../support/run.ts";
import { serviceDirectoryOf } from "../support/service.ts";
import { LOADER } from "../../src/shim/shim-build.ts";

setDefaultTimeout(60_000);

let dir = "";
let program = "";
const CC = process.env.CC?.trim() || "cc";

function build(argv: string[]): void {
  const built = Bun.spawnSync(argv, { stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${built.stderr.toString()}`);
}

beforeAll(() => {
  // World-searchable, for the run as nobody.
  dir = mkdtempSync(join(tmpdir(), "faultline-origin-"));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "lib"), { mode: 0o755 });
  mkdirSync(join(dir, "bin"), { mode: 0o755 });
  writeFileSync(join(dir, "greet.c"), 'const char *greeting(void) { return "hello from a library beside the program"; }\n');
  writeFileSync(join(dir, "main.c"), '#include <stdio.h>\nconst char *greeting(void);\nint main(void) { puts(greeting()); return 0; }\n');
  build([CC, "-shared", "-fPIC", "-o", join(dir, "lib", "libgreet.so"), join(dir, "greet.c")]);
  program = join(dir, "bin", "greet");
  build([CC, "-o", program, join(dir, "main.c"), `-L${join(dir, "lib")}`, "-lgreet", "-Wl,-rpath,$ORIGIN/../lib"]);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether this process may name another file /proc/self/exe, as the
 * pager reads it. */
const mayReplaceExe = () => readMachineFacts().mayReplaceExe;

const NOTE = "finds libraries through $ORIGIN ($ORIGIN/../lib), which ld.so takes from /proc/self/exe";

describe("a program that finds its libraries through $ORIGIN", () => {
  test("runs as natively where the loader may name it /proc/self/exe; else the pager says why it may not", async () => {
    const native = await runNative([program]);
    expect(native.stdout).toBe("hello from a library beside the program\n");
    const loaded = await runPager("apager", [program], { flags: [] });
    if (mayReplaceExe()) {
      expect(verdict(loaded)).toEqual(verdict(native));
      expect(loaded.stderr).not.toContain(NOTE);
    } else {
      expect(loaded.stderr).toContain(NOTE);
      expect(loaded.exitCode).toBe(127);
    }
  });

  test("as an ordinary user: the note comes before ld.so's error, under every pager", async () => {
    const argv = (pager: string) => unprivileged([process.execPath, `${ROOT}/src/cli/cli.ts`, pager, program]);
    const asUser = canDropPrivilege() ? await runProcess(unprivileged([program])) : await runNative([program]);
    expect(asUser.stdout).toBe("hello from a library beside the program\n");
    for (const pager of ["apager", "dpager", "hpager"]) {
      const ran = await runProcess(argv(pager));
      const note = ran.stderr.indexOf(NOTE);
      const failure = ran.stderr.indexOf("error while loading shared libraries: libgreet.so");
      expect({ pager, note: note >= 0, failure: failure > note, exitCode: ran.exitCode }).toEqual({ pager, note: true, failure: true, exitCode: 127 });
    }
  });
});

describe("a program that runs itself again through /proc/self/exe", () => {
  const LOADER_SAYS = "faultline-loader: not started by a faultline pager; a program run by one re-executed itself through /proc/self/exe";
  test("the copy runs: where the loader may name the program, the kernel runs it; elsewhere the pager that ran it does", async () => {
    const reexec = await buildProgram("reexec.c", "pie");
    const native = await runNative([reexec]);
    expect(native.stdout).toBe("again: hello\nthe copy exited 0\n");
    const runs = [await runPager("apager", [reexec])];
    if (canDropPrivilege()) runs.push(await runProcess(unprivileged([process.execPath, `${ROOT}/src/cli/cli.ts`, "apager", "-q", reexec])));
    for (const ran of runs) expect(verdict(ran)).toEqual(verdict(native));
  });

  test.if(canDropPrivilege())("as an ordinary user, whoever ran the program runs it again: the installed command's service (a re-exec, node's child_process.fork), and a Bun pager [root]", async () => {
    const reexec = await buildProgram("reexec.c", "pie");
    const script = join(dir, "fork.js");
    writeFileSync(script, 'const { fork } = require("child_process");\nif (process.argv[2] === "child") { process.send("hi from the child"); process.exit(3); }\nconst child = fork(__filename, ["child"]);\nchild.on("message", (m) => console.log("parent got:", m));\nchild.on("exit", (code) => console.log("child exit", code));\n');
    chmodSync(script, 0o644);
    const node = Bun.which("node");
    const { runtime, remove } = serviceDirectoryOf(UNPRIVILEGED_ID, unprivileged);
    const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
    try {
      const cases = [[reexec], ...(node ? [[node, script]] : [])];
      for (const argv of cases) {
        const native = await runProcess(unprivileged(argv), { env });
        expect(native.exitCode).toBe(0);
        for (const pager of ["apager", "dpager", "hpager"]) {
          // The loader itself, which the installed command's link names.
          const ran = await runProcess(unprivileged([LOADER, pager, "-q", ...argv]), { env });
          expect({ argv, pager, ...verdict(ran), stderr: ran.stderr }).toEqual({ argv, pager, ...verdict(native), stderr: native.stderr });
        }
      }
      // Through Bun, the pager runs it again itself: the pagers' command
      // (its program re-executes itself) and a script of the library (a
      // fork of its program does), which still exits when its work is done.
      const reexecNative = await runProcess(unprivileged([reexec]), { env });
      for (const pager of ["apager", "dpager"]) {
        const throughBun = await runProcess(unprivileged([process.execPath, `${ROOT}/src/cli/cli.ts`, pager, "-q", reexec]), { env });
        expect({ pager, ...verdict(throughBun), stderr: throughBun.stderr }).toEqual({ pager, ...verdict(reexecNative), stderr: "" });
      }
      // The paths the other user reaches (a copy, where the checkout is
      // out of its reach).
      const [library, program] = unprivileged([`${ROOT}/src/index.ts`, reexec]).slice(-2);
      const libraryScript = `const { run } = await import(${JSON.stringify(library)}); const r = await run([${JSON.stringify(program)}], { pager: "hpager" }); console.log("exit", r.exitCode);`;
      const scripted = await runProcess(unprivileged([process.execPath, "-e", libraryScript]), { env, timeout: 30_000 });
      expect({ stdout: scripted.stdout, exitCode: scripted.exitCode }).toEqual({ stdout: `${reexecNative.stdout}exit 0\n`, exitCode: 0 });
    } finally {
      await remove();
    }
  });

  test("the loader run by hand, or with arguments Bun never gives it, says so and ends with 126", async () => {

    for (const argv of [[LOADER], [LOADER, "node", "fork.js"], [LOADER, "0", "0", "0"], [LOADER, "3", "0", "0", "extra"]]) {
      const ran = await runNative(argv);
      expect({ argv: argv.slice(1), exitCode: ran.exitCode, says: ran.stderr.trim().split("\n") }).toEqual({ argv: argv.slice(1), exitCode: 126, says: [expect.stringContaining(LOADER_SAYS)] });
    }
  });
});
