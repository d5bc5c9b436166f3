/**
 * Where the user's faultline service lives and how long it stays: pure but
 * for the owner of a runtime directory (given, in tests), so the rule is
 * tested without a service, and the same rule as the client's
 * (shim/loader/client.c service_paths).
 */
import { statSync } from "node:fs";
import { join } from "node:path";

/** The user's service directory: $XDG_RUNTIME_DIR/faultline where the
 * session has a runtime directory (absolute) of the user's own (`ownerOf`
 * gives a directory's owner, null for no directory: one handed down from
 * another user, by su, is not used), else /tmp/faultline-UID. The client
 * (shim/loader/client.c service_paths) has the same rule. */
export function serviceDirectory(env: Readonly<Record<string, string | undefined>>, uid: number, ownerOf: (path: string) => number | null = directoryOwner): string {
  const runtime = env.XDG_RUNTIME_DIR;
  return runtime !== undefined && runtime.startsWith("/") && ownerOf(runtime) === uid ? join(runtime, "faultline") : `/tmp/faultline-${uid}`;
}

function directoryOwner(path: string): number | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? st.uid : null;
  } catch {
    return null;
  }
}

export interface ServicePaths {
  directory: string;
  /** The socket clients connect to. */
  socket: string;
  /** What `faultline service status` reads: the running service's facts. */
  state: string;
  /** The service's own messages (it has no terminal). */
  log: string;
}

export function servicePaths(directory: string): ServicePaths {
  return { directory, socket: join(directory, "service.sock"), state: join(directory, "service.json"), log: join(directory, "service.log") };
}

/** The longest socket path the kernel takes (sun_path less its NUL). */
export const SOCKET_PATH_MAX = 107;

/** How long a service with no program to serve waits for the next command
 * before it exits, by default: long enough for a build or a shell session
 * of short commands, short enough that an idle Bun does not linger. */
export const DEFAULT_IDLE_SECONDS = 900;

/** FAULTLINE_SERVICE_IDLE (seconds, in the environment of the command that
 * starts the service): the idle time; the default when unset or not a
 * positive number. */
export function idleSeconds(setting: string | undefined): number {
  if (setting === undefined || !/^\d+(\.\d+)?$/.test(setting.trim())) return DEFAULT_IDLE_SECONDS;
  const seconds = Number(setting);
  return seconds > 0 ? seconds : DEFAULT_IDLE_SECONDS;
}

/** What the running service writes for `faultline service status`. */
export interface ServiceState {
  pid: number;
  version: string;
  /** When it started (ms since the epoch). */
  startedAt: number;
  idleSeconds: number;
  socket: string;
}

/** A state file's contents, or null when they are not one. */
export function parseServiceState(text: string): ServiceState | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (!Number.isInteger(v.pid) || typeof v.version !== "string" || typeof v.startedAt !== "number" || typeof v.idleSeconds !== "number" || typeof v.socket !== "string") return null;
  return { pid: v.pid as number, version: v.version, startedAt: v.startedAt, idleSeconds: v.idleSeconds, socket: v.socket };
}
