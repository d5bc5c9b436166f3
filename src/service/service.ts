/**
 * The user's faultline service: a Bun process that stays warm between
 * commands, so the installed command's client (shim/loader/client.c) gets
 * its plan without paying Bun's start, loading this code, or parsing and
 * copying a program it has seen before (the launch's caches live here).
 *
 * It listens in the user's private directory (paths.ts), serves many
 * clients at once, exits after an idle time with nothing to serve, and
 * gives way to a newer build: a client whose loader is not the one this
 * service plans for, or sources changed since it started, is told to retry,
 * and the socket goes to a new service. A service stopped (SIGTERM) stops
 * taking clients and exits once the programs it serves have ended.
 */
import { appendFileSync, closeSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import packageJson from "../../package.json" with { type: "json" };
import { LOADER, PROJECT_ROOT } from "../shim/shim-build.ts";
import { answerClient, serviceListen, serviceRequests, serviceShutdown, type ServiceRequest } from "../shim/shim.ts";
import { idleSeconds, SOCKET_PATH_MAX, serviceDirectory, servicePaths, type ServicePaths, type ServiceState } from "./paths.ts";
import { serveAgain } from "../loader/run-again.ts";
import { enableRunningPrograms } from "../loader/running-programs.ts";
import { serveClient } from "./serve-client.ts";

/** Owner-only: the directory is the user's alone. */
const PRIVATE_DIRECTORY_MODE = 0o700;
const GROUP_AND_OTHER_BITS = 0o077;
/** The service's log is cut back to nothing past this size. */
const LOG_LIMIT_BYTES = 1 << 20;
/** Sources are looked at for a change at most this often. */
const SOURCE_CHECK_MS = 1000;

/** A service cannot start; said in one line. */
class ServiceError extends Error {
  override name = "ServiceError";
}

/** Make (or check) the user's directory: a directory the user owns that
 * nobody else may enter, not a link. */
function privateDirectory(directory: string, uid: number): void {
  mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  const st = lstatSync(directory);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & GROUP_AND_OTHER_BITS) !== 0) {
    throw new ServiceError(`${directory} is not a directory of yours alone (owner ${st.uid}, mode ${(st.mode & 0o777).toString(8)}); the service will not use it`);
  }
}

/** The newest change to the code a service runs: src/ and package.json. */
function newestSourceTime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceTime(path));
    else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

declare global {
  /** The time of the code this process runs, where src/cli/command.ts
   * knows it: the build time of the bundle it loaded, newer than every
   * source it was built from. */
  var faultlineCodeTime: number | undefined;
}

function codeTime(): number {
  const sources = join(PROJECT_ROOT, "src");
  return Math.max(existsSync(sources) ? newestSourceTime(sources) : 0, statSync(join(PROJECT_ROOT, "package.json")).mtimeMs);
}

interface LoaderIdentity {
  device: bigint;
  inode: bigint;
  changeNs: bigint;
}

function loaderIdentity(): LoaderIdentity {
  const st = statSync(LOADER, { bigint: true });
  return { device: st.dev, inode: st.ino, changeNs: st.ctimeNs };
}

function sameLoader(a: LoaderIdentity, b: LoaderIdentity): boolean {
  return a.device === b.device && a.inode === b.inode && a.changeNs === b.changeNs;
}

export interface ServiceOptions {
  /** A descriptor to write one byte to once listening, then close (the
   * client that started the service waits for it). */
  readyFd: number | null;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * Listen at the socket's path under a name of its own, then move it into
 * place: a client finds either the old service's socket or this one's,
 * never none, and a stale socket left by a killed service is simply
 * replaced. The listener, and the inode that tells the socket is still
 * this service's.
 */
function listenInPlace(paths: ServicePaths): { listener: number; ownSocket: number } {
  const temporary = `${paths.socket}.${process.pid}`;
  const listener = serviceListen(temporary);
  renameSync(temporary, paths.socket);
  return { listener, ownSocket: statSync(paths.socket).ino };
}

/** Whether a client is one this service plans for: of its build, while
 * the loader and the sources on disk are still those it started with
 * (sources looked at, at most every SOURCE_CHECK_MS). */
function buildCheck(): (request: ServiceRequest) => boolean {
  const loader = loaderIdentity();
  const startedCode = globalThis.faultlineCodeTime ?? codeTime();
  let lastCodeCheck = Date.now();
  return (request) => {
    if (!sameLoader(request.loader, loader)) return false;
    try {
      if (!sameLoader(loaderIdentity(), loader)) return false;
      if (Date.now() - lastCodeCheck >= SOURCE_CHECK_MS) {
        lastCodeCheck = Date.now();
        if (codeTime() > startedCode) return false;
      }
    } catch {
      return false;
    }
    return true;
  };
}

/** Run the service until it is idle for its idle time, stopped, or given
 * way. Returns the exit status. */
export async function runService(options: ServiceOptions): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const paths = servicePaths(serviceDirectory(options.env, uid));
  if (paths.socket.length > SOCKET_PATH_MAX) throw new ServiceError(`${paths.socket} is too long for a socket's address`);
  privateDirectory(paths.directory, uid);
  const log = (text: string) => appendLog(paths, text);
  const current = buildCheck();
  const idle = idleSeconds(options.env.FAULTLINE_SERVICE_IDLE);
  const { listener, ownSocket } = listenInPlace(paths);
  writeState(paths, { pid: process.pid, version: packageJson.version, startedAt: Date.now(), idleSeconds: idle, socket: paths.socket }, log);
  if (options.readyFd !== null) {
    writeSync(options.readyFd, "r");
    closeSync(options.readyFd);
  }
  // The programs it runs, should they run themselves again.
  enableRunningPrograms();

  let stopping = false;
  let idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Take no more clients: the socket's name goes (if it is still this
   * service's) and the acceptor stops. */
  const stop = () => {
    if (stopping) return;
    stopping = true;
    try {
      if (statSync(paths.socket).ino === ownSocket) {
        rmSync(paths.socket, { force: true });
        rmSync(paths.state, { force: true });
      }
    } catch {
      // Gone already: another service took the name.
    }
    serviceShutdown(listener);
  };
  const armIdle = () => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(stop, idle * 1000);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("SIGHUP", stop);
  armIdle();

  /** The clients being served: the service ends once the last has been. */
  const serving = new Set<Promise<void>>();
  for await (const request of serviceRequests(listener)) {
    if (stopping || !current(request)) {
      // Another build's client, or code changed: a new service serves it,
      // once this one's socket is gone.
      stop();
      answerClient(request.control, "retry");
      closeSync(request.control);
      if (request.stderr >= 0) closeSync(request.stderr);
      continue;
    }
    if (idleTimer) clearTimeout(idleTimer);
    const served: Promise<void> = (request.again ? serveAgain(request) : serveClient(request, log)).finally(() => {
      serving.delete(served);
      if (serving.size === 0 && !stopping) armIdle();
    });
    serving.add(served);
  }
  stop();
  await Promise.all(serving);
  closeSync(listener);
  return 0;
}

/** What `faultline service status` reads. A service that cannot write it
 * (a full disk) serves all the same; status then says less. */
function writeState(paths: ServicePaths, state: ServiceState, log: (text: string) => void): void {
  const temporary = `${paths.state}.${process.pid}`;
  try {
    writeFileSync(temporary, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    renameSync(temporary, paths.state);
  } catch (error) {
    rmSync(temporary, { force: true });
    log(`no state file for status: ${(error as Error).message}`);
  }
}

function appendLog(paths: ServicePaths, text: string): void {
  try {
    if (existsSync(paths.log) && statSync(paths.log).size > LOG_LIMIT_BYTES) writeFileSync(paths.log, "");
    appendFileSync(paths.log, `${new Date().toISOString()} ${text}\n`, { mode: 0o600 });
  } catch {
    // Nowhere to keep it.
  }
}
