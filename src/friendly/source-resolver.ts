/**
 * The source-line resolver: while a program runs with friendly segfaults
 * (`bun run friendly`, the pagers' --friendly), this Bun process listens on
 * a Unix socket named in the program's environment. A crashing program's
 * handler captures its frames and names them from the symbol tables
 * itself; it asks here only for what a signal handler should not do:
 * reading DWARF line tables. The answers come from binutils' addr2line,
 * run once per module with every address of that module.
 *
 * Why addr2line: it is binutils', installed wherever the C compiler that
 * builds the shim is, kept up with every DWARF version GCC emits, follows
 * .gnu_debuglink and build-id links to separate debug files (libc6-dbg),
 * names inlined calls and demangles C++. Without it the resolver answers
 * nothing and the report keeps the handler's own names.
 *
 * The socket lives in a private directory (0700) of its own, so only this
 * user's processes can ask; it is removed when the resolver stops.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANSWER_END, RESOLVER_VARIABLE, addr2lineArguments, addressesByModule, formatAnswer, parseAddr2line, parseFrameRequest, requestTooLong, styledAnswer, type FrameQuery, type SourceEntry } from "./source-lines.ts";

/** sun_path's room, less its terminating NUL. */
const SOCKET_PATH_LIMIT = 107;
/** addr2line's time for one module: the handler waits 5 s in all. */
const ADDR2LINE_TIME_LIMIT_MS = 4_000;

/** A running resolver of source lines for friendly crash reports. */
export interface SourceResolver {
  /** The socket's path, or null when there is none (see environment). */
  readonly path: string | null;
  /** env with the resolver named in it (unchanged when there is none). */
  environment(env: Record<string, string | undefined>): Record<string, string | undefined>;
  /** Stop listening and remove the socket. */
  stop(): void;
}

/** addr2line's path, or null if this machine has none. */
function addr2linePath(): string | null {
  return Bun.which("addr2line");
}

async function runAddr2line(tool: string, module: string, addresses: readonly bigint[]): Promise<Map<bigint, SourceEntry[]>> {
  try {
    const proc = Bun.spawn([tool, ...addr2lineArguments(module, addresses)], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
      timeout: ADDR2LINE_TIME_LIMIT_MS,
      killSignal: "SIGKILL",
    });
    const [output] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return proc.exitCode === 0 ? parseAddr2line(output) : new Map();
  } catch {
    return new Map();
  }
}

/** Every frame's source entries, one addr2line per module, all at once. */
async function resolveFrames(queries: readonly FrameQuery[], cwd: string = process.cwd()): Promise<string> {
  const tool = addr2linePath();
  if (tool === null) return ANSWER_END;
  const byModule = addressesByModule(queries);
  const results = new Map<string, Map<bigint, SourceEntry[]>>();
  await Promise.all([...byModule].map(async ([module, addresses]) => results.set(module, await runAddr2line(tool, module, addresses))));
  return formatAnswer(queries, (query) => (query.module === null ? undefined : results.get(query.module)?.get(query.address)), cwd);
}

interface Exchange {
  request: Buffer;
  answering: boolean;
  pending: Buffer | null;
}

/** Write what is pending; end the connection once it is all out. */
function flush(socket: Bun.Socket<Exchange>): void {
  const pending = socket.data.pending;
  if (pending === null) return;
  const written = socket.write(pending);
  if (written >= pending.length) {
    socket.data.pending = null;
    socket.end();
  } else {
    socket.data.pending = pending.subarray(Math.max(written, 0));
  }
}

const NO_RESOLVER: SourceResolver = { path: null, environment: (env) => env, stop: () => {} };

/** Listen for crashing programs' requests until stop(). Never throws: a
 * resolver that cannot be started is one that names nothing, and the
 * handler's own names still stand. */
export function startSourceResolver(): SourceResolver {
  return startStyledSourceResolver({ colour: false });
}

/** startSourceResolver, for the commands: with `colour`, each answer asks
 * for the report in colour (they decide it for their stderr, which the
 * program they run shares). */
export function startStyledSourceResolver(style: { colour: boolean }): SourceResolver {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), "faultline-lines-"));
  } catch {
    return NO_RESOLVER;
  }
  const path = join(dir, "socket");
  const remove = () => rmSync(dir, { recursive: true, force: true });
  if (path.length > SOCKET_PATH_LIMIT) {
    remove();
    return NO_RESOLVER;
  }
  let server: Bun.TCPSocketListener<Exchange> | Bun.UnixSocketListener<Exchange>;
  try {
    server = Bun.listen<Exchange>({
      unix: path,
      socket: {
        open(socket) {
          socket.data = { request: Buffer.alloc(0), answering: false, pending: null };
        },
        data(socket, chunk) {
          const exchange = socket.data;
          if (exchange.answering) return;
          exchange.request = Buffer.concat([exchange.request, chunk]);
          // Decoded whole: a path's UTF-8 may straddle two chunks.
          const text = exchange.request.toString("utf8");
          const queries = parseFrameRequest(text);
          if (queries === null) {
            if (requestTooLong(text) || text.includes("\n\n")) socket.end();
            return;
          }
          exchange.answering = true;
          void resolveFrames(queries).then((answer) => {
            exchange.pending = Buffer.from(styledAnswer(answer, style.colour), "utf8");
            flush(socket);
          });
        },
        drain(socket) {
          flush(socket);
        },
        error() {},
      },
    });
  } catch {
    remove();
    return NO_RESOLVER;
  }
  process.on("exit", remove);
  return {
    path,
    environment: (env) => ({ ...env, [RESOLVER_VARIABLE]: path }),
    stop() {
      server.stop(true);
      process.off("exit", remove);
      remove();
    },
  };
}
