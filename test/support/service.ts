/**
 * The installed command (bin/faultline) in tests: its pagers run through a
 * faultline service of the test run's own, in a private runtime directory
 * (XDG_RUNTIME_DIR, which the commands and the native runs compared with
 * them both get), stopped when the file's tests are done.
 */
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOADER } from "../../src/shim/shim-build.ts";
import { ROOT } from "./programs.ts";

/** The checkout's command, a shell script that execs the loader. */
export const CHECKOUT_COMMAND = join(ROOT, "bin", "faultline");

/** The installed command as a package manager's link leads to it once the
 * shim is built (src/shim/installed-command.ts): the loader, by a link
 * named faultline, which the caller's shell starts directly. */
const commandDir = mkdtempSync(join(tmpdir(), "faultline-command-"));
// Reachable by an ordinary user's runs too; it holds only the link.
chmodSync(commandDir, 0o755);
export const FAULTLINE_COMMAND = join(commandDir, "faultline");
symlinkSync(LOADER, FAULTLINE_COMMAND);
// Every test file of the run may use it: gone when the run is.
process.on("exit", () => rmSync(commandDir, { recursive: true, force: true }));

/** A runtime directory for another user's service (uid), private to it;
 * returns it and a function that stops that service and removes it. */
export function serviceDirectoryOf(uid: number, run: (argv: string[]) => string[]): { runtime: string; remove: () => Promise<void> } {
  const runtime = mkdtempSync(join(tmpdir(), "faultline-runtime-user-"));
  chmodSync(runtime, 0o700);
  chownSync(runtime, uid, uid);
  return {
    runtime,
    remove: async () => {
      const proc = Bun.spawn(run([CHECKOUT_COMMAND, "service", "stop"]), { env: { ...process.env, XDG_RUNTIME_DIR: runtime }, stdout: "ignore", stderr: "ignore", timeout: 30_000, killSignal: "SIGKILL" });
      await proc.exited;
      rmSync(runtime, { recursive: true, force: true });
    },
  };
}

/** A private runtime directory for this process's services: set in
 * process.env, so every command this file runs (and its native twin) has
 * it. Returns a function that stops the service and removes it. */
export function privateServiceDirectory(): () => Promise<void> {
  const runtime = mkdtempSync(join(tmpdir(), "faultline-runtime-"));
  chmodSync(runtime, 0o700);
  const before = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = runtime;
  return async () => {
    await stopService({ ...process.env, XDG_RUNTIME_DIR: runtime });
    if (before === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = before;
    rmSync(runtime, { recursive: true, force: true });
  };
}

/** `faultline service stop` with env. */
export async function stopService(env: Record<string, string | undefined>): Promise<void> {
  const proc = Bun.spawn([FAULTLINE_COMMAND, "service", "stop"], { env, stdout: "ignore", stderr: "ignore", timeout: 30_000, killSignal: "SIGKILL" });
  await proc.exited;
}
