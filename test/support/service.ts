/**
 * The installed command (bin/faultline) in tests: its pagers run through a
 * faultline service of the test run's own, in a private runtime directory
 * (XDG_RUNTIME_DIR, which the commands and the native runs compared with
 * them both get), stopped when the file's tests are done.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./programs.ts";

export const FAULTLINE_COMMAND = join(ROOT, "bin", "faultline");

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
