/**
 * `bun run friendly`'s command line, its usage text, and the environment a
 * program is run with. Pure, so they are tested without running anything.
 */
import { UsageError } from "../loader/errors.ts";

/** The dynamic linker's variable; a list of libraries to load first. */
const PRELOAD_VARIABLE = "LD_PRELOAD";
/** Makes the library's handler re-raise the signal instead of exiting 139
 * (shim/friendly/friendly.h, FRIENDLY_RERAISE_VARIABLE). */
const RERAISE_VARIABLE = "FAULTLINE_FRIENDLY_RERAISE";

interface FriendlyCommandLine {
  help: boolean;
  version: boolean;
  /** PROGRAM and its arguments. */
  argv: string[];
}

/** The usage text; `command` is how the command is typed ("bun run
 * friendly" in a checkout, "faultline friendly" installed). */
export function friendlyUsage(command = "bun run friendly"): string {
  return `Usage: ${command} [options] PROGRAM [ARGS...]

Run PROGRAM (a dynamically linked x86-64 executable, or a #! script whose
interpreter is one) with libetsbefriends.so preloaded: if it crashes it
prints an encouraging message, a short diagnosis and where it happened
(the function, its source line where the program was built with -g, and
the calls that led there).

  SIGSEGV, SIGBUS  the address, what the fault looks like, the mapping that
                   holds it; then exit status 139 (135 for SIGBUS), as a
                   shell reports the crash
  SIGFPE           division by zero, INT_MIN / -1, floating-point traps
  SIGABRT          a failed assert (which one), the allocator's aborts
                   (double free, bad pointer, overwritten bookkeeping),
                   the stack protector, abort()
  SIGILL           a compiler's trap (__builtin_trap, ud2) or a jump into data
  SIGTRAP          a breakpoint with no debugger
  SIGSYS           a system call a seccomp filter forbids
                   (these end with the signal itself, as without the library)

A program that does not crash, or handles the signal itself, runs exactly
as it would without it.

Set ${RERAISE_VARIABLE}=1 to have a segfault or bus error re-raised after
the message (the program then dies of the signal: core dump, debugger).

Options (they stop at PROGRAM; every word after it is the program's):
  -h, --help         show this help
      --version      show faultline's version
      --             end of options (for a PROGRAM starting with '-')

Exit status: the program's own, or the same signal it died of.
  127  PROGRAM was not found
  126  PROGRAM cannot be run with the library preloaded: not executable,
       not an x86-64 ELF program, or statically linked (the reason is printed)
    2  the command line itself is wrong`;
}

export function parseFriendlyCommandLine(args: readonly string[]): FriendlyCommandLine {
  const line: FriendlyCommandLine = { help: false, version: false, argv: [] };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    if (arg === "-h" || arg === "--help") line.help = true;
    else if (arg === "--version") line.version = true;
    else throw new UsageError(`unknown option '${arg}'`);
  }
  line.argv = args.slice(i);
  if (!line.help && !line.version && line.argv.length === 0) throw new UsageError("no PROGRAM given");
  return line;
}

/**
 * LD_PRELOAD with the library first. The dynamic linker runs preloaded
 * libraries' constructors last-listed first, so a library already listed
 * runs its constructor before ours: a SIGSEGV handler it installs is seen
 * and left in place. Separators are spaces or colons, so a path containing
 * either cannot be listed at all.
 */
export function preloadList(library: string, existing: string | undefined): string {
  if (/[\s:]/.test(library)) throw new Error(`cannot preload ${library}: ${PRELOAD_VARIABLE} cannot hold a path with a space or colon`);
  const others = (existing ?? "").split(/[\s:]+/).filter((entry) => entry !== "" && entry !== library);
  return [library, ...others].join(":");
}

/** env with the library preloaded, for running a program friendly. */
export function friendlyEnvironment(library: string, env: Record<string, string | undefined>): Record<string, string | undefined> {
  return { ...env, [PRELOAD_VARIABLE]: preloadList(library, env[PRELOAD_VARIABLE]) };
}

/**
 * The one line for a program LD_PRELOAD cannot reach: the dynamic linker
 * reads LD_PRELOAD, and a statically linked program has none. `interpreter`
 * is the static ELF file a #! script runs, when PROGRAM is a script.
 */
export function staticRefusal(program: string, interpreter: string | null): string {
  const what = interpreter === null ? `${program} is statically linked` : `${program} runs ${interpreter}, which is statically linked`;
  return `friendly: ${what}: LD_PRELOAD cannot reach it, so its crashes cannot be made friendly; run it without friendly`;
}
