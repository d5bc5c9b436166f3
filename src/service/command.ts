/**
 * `faultline service run|status|stop`: the user's service by hand. `run`
 * is how the client starts it (in a session of its own, with a pipe to say
 * it listens on); `status` says whether one runs and what it is; `stop`
 * asks it to stop and waits until it has (the programs it serves end
 * first).
 */
import { existsSync, readFileSync, writeSync } from "node:fs";
import { EXIT_USAGE } from "../loader/errors.ts";
import { parseServiceState, serviceDirectory, servicePaths, type ServiceState } from "./paths.ts";

/** How long `stop` waits for the service to exit. */
const STOP_WAIT_MS = 10_000;
const STOP_POLL_MS = 20;

function serviceUsage(): string {
  return `Usage: faultline service run|status|stop

The installed command runs programs through a per-user faultline service:
a Bun process that stays warm between commands, started by the first
command and gone after FAULTLINE_SERVICE_IDLE seconds (default 900) with
nothing to serve. Its socket is in $XDG_RUNTIME_DIR/faultline where that
directory is yours, else in /tmp/faultline-UID.

  run      run the service in the foreground (the command starts it itself)
  status   say whether a service runs, and which (exit 0; 3: none runs;
           4: a socket is there but the service left no state)
  stop     stop it (the programs it serves finish first); the next command
           starts a new one

'faultline --no-service PAGER ...' runs one command through Bun without it.`;
}

/**
 * `run`'s one option, --ready-fd N (or --ready-fd=N; the last given wins),
 * read by hand: node:util's parseArgs would load node:util, about 2 ms of
 * every first command's wait for its service. Throws with parseArgs' own
 * words for an unknown option, a missing value or a positional. Pure.
 */
export function readyFdOf(args: readonly string[]): number | null {
  let given: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      // What follows are positionals, which run takes none of.
      if (i + 1 < args.length) throw new Error(`Unexpected argument '${args[i + 1]}'. This command does not take positional arguments`);
      break;
    } else if (arg === "--ready-fd") {
      given = args[++i];
      if (given === undefined) throw new Error("Option '--ready-fd <value>' argument missing");
    } else if (arg.startsWith("--ready-fd=")) {
      given = arg.slice("--ready-fd=".length);
    } else if (arg.startsWith("-") && arg !== "-") {
      throw new Error(`Unknown option '${arg.split("=")[0]}'`);
    } else {
      throw new Error(`Unexpected argument '${arg}'. This command does not take positional arguments`);
    }
  }
  if (given === undefined) return null;
  if (!/^\d+$/.test(given)) throw new Error(`--ready-fd takes a descriptor number, not '${given}'`);
  return Number(given);
}

function say(fd: number, text: string): void {
  writeSync(fd, `${text}\n`);
}

/** The running service's state, or null when none runs. */
function runningService(): ServiceState | null {
  const paths = servicePaths(serviceDirectory(process.env, process.getuid?.() ?? 0));
  let state: ServiceState | null;
  try {
    state = parseServiceState(readFileSync(paths.state, "utf8"));
  } catch {
    return null;
  }
  if (!state || !alive(state.pid)) return null;
  return state;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

export async function runServiceCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === "-h" || verb === "--help" || verb === "help") {
    process.stdout.write(`${serviceUsage()}\n`);
    return 0;
  }
  if (verb === "run") {
    let readyFd: number | null;
    try {
      readyFd = readyFdOf(rest);
    } catch (error) {
      say(2, `faultline service: ${(error as Error).message}`);
      return EXIT_USAGE;
    }
    const { runService } = await import("./service.ts");
    return runService({ readyFd, env: process.env });
  }
  if (verb === "status" && rest.length === 0) {
    const state = runningService();
    if (!state) {
      const { socket } = servicePaths(serviceDirectory(process.env, process.getuid?.() ?? 0));
      if (existsSync(socket)) {
        say(1, `faultline service: its socket is there (${socket}) but no state it wrote: one that could not write it (a full disk?), or one killed; the next command finds out`);
        return 4;
      }
      say(1, "faultline service: not running");
      return 3;
    }
    const seconds = Math.round((Date.now() - state.startedAt) / 1000);
    say(1, `faultline service: running, pid ${state.pid}, version ${state.version}, for ${seconds} s, socket ${state.socket}, exits after ${state.idleSeconds} s idle`);
    return 0;
  }
  if (verb === "stop" && rest.length === 0) {
    const state = runningService();
    if (!state) {
      say(1, "faultline service: not running");
      return 0;
    }
    process.kill(state.pid, "SIGTERM");
    const deadline = Date.now() + STOP_WAIT_MS;
    while (alive(state.pid) && Date.now() < deadline) await Bun.sleep(STOP_POLL_MS);
    if (alive(state.pid)) {
      say(2, `faultline service: pid ${state.pid} still serves programs after ${STOP_WAIT_MS / 1000} s; it exits when they end`);
      return 1;
    }
    say(1, `faultline service: stopped (pid ${state.pid})`);
    return 0;
  }
  say(2, `faultline service: ${verb === undefined ? "no action given" : `unknown action '${[verb, ...rest].join(" ")}'`} (expected run, status or stop)`);
  say(2, "Try 'faultline service --help'.");
  return EXIT_USAGE;
}
