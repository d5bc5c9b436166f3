/**
 * The pagers' command line: options up to PROGRAM, every word after it the
 * program's. Pure, so the parsing is tested without running anything.
 */
import { UsageError } from "./errors.ts";
import { PAGERS, type PagerName } from "./launch.ts";

export interface CommandLine {
  pager: PagerName;
  quiet: boolean;
  report: string | null;
  help: boolean;
  version: boolean;
  /** PROGRAM and its arguments. */
  argv: string[];
}

export function usage(pager: PagerName): string {
  return `Usage: bun run ${pager} [options] PROGRAM [ARGS...]

Load PROGRAM (an x86-64 ELF executable or a #! script) into a fresh address
space from Bun and run it with ARGS, the way the kernel's execve would.
${pager === "apager" ? "apager maps and populates every page before the program starts." : ""}
Each mapping is logged on stderr as one line starting with "${pager}:".

Options (they stop at PROGRAM; every word after it is the program's):
  -q, --quiet        do not log mappings
      --report FILE  write a JSON report (exit status, faults, pages mapped,
                     wall time, the program's peak RSS) to FILE
  -h, --help         show this help
      --version      show faultline's version
      --             end of options (for a PROGRAM starting with '-')

Exit status: the program's own, or the same signal it died of.
  127  PROGRAM was not found
  126  PROGRAM was found but cannot be loaded (the reason is printed)
    2  the command line itself is wrong`;
}

export function parseCommandLine(pager: string, args: readonly string[]): CommandLine {
  if (!(PAGERS as readonly string[]).includes(pager)) throw new UsageError(`unknown pager '${pager}' (expected ${PAGERS.join(", ")})`);
  const line: CommandLine = { pager: pager as PagerName, quiet: false, report: null, help: false, version: false, argv: [] };
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    if (arg === "-q" || arg === "--quiet") line.quiet = true;
    else if (arg === "-h" || arg === "--help") line.help = true;
    else if (arg === "--version") line.version = true;
    else if (arg === "--report" || arg.startsWith("--report=")) {
      const value = arg === "--report" ? args[++i] : arg.slice("--report=".length);
      if (value === undefined || value === "") throw new UsageError("--report needs a file name");
      line.report = value;
    } else throw new UsageError(`unknown option '${arg}'`);
  }
  line.argv = args.slice(i);
  if (!line.help && !line.version && line.argv.length === 0) throw new UsageError("no PROGRAM given");
  return line;
}
