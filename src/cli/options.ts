/**
 * The pagers' command line: options up to PROGRAM, every word after it the
 * program's. Pure, so the parsing is tested without running anything.
 */
import { UsageError } from "../loader/errors.ts";
import { PAGERS, PAGING_CHOICES, PREDICTORS, type PagerName, type PagingChoice } from "../loader/launch.ts";
import { MAX_PREDICT_PAGES } from "../loader/pagers.ts";
import type { PredictorName } from "../loader/spec.ts";

export interface CommandLine {
  pager: PagerName;
  quiet: boolean;
  report: string | null;
  trace: string | null;
  /** A page of the run to write (--html). */
  html: string | null;
  /** Where to write the run's working set (--record), and a working set to
   * map before the program needs it (--prefetch): dpager and hpager. */
  record: string | null;
  prefetch: string | null;
  predictor: PredictorName | null;
  pages: number | null;
  paging: PagingChoice | null;
  friendly: boolean;
  /** Run the program under gdb, attached before its first instruction. */
  gdb: boolean;
  help: boolean;
  version: boolean;
  /** PROGRAM and its arguments. */
  argv: string[];
}

const DESCRIPTIONS: Record<PagerName, string> = {
  apager: "apager maps and populates every page before the program starts.",
  dpager: "dpager maps only the entry point's page at start; every other page is\nmapped when the program first touches it (see --paging).",
  hpager: "hpager maps text and data at start and pages the bss in on demand;\neach fault also maps pages a predictor expects to be touched next.",
};

const PAGING_OPTION = `      --paging HOW   how faults reach the pager: userfaultfd (served by the
                     pager's process; needs CAP_SYS_PTRACE), signal (a SIGSEGV
                     handler in the program), or auto (default: userfaultfd
                     where the kernel allows it, else signal)
`;

const WORKING_SET_OPTIONS = `      --record FILE  write the run's working set to FILE: every page it first
                     touched, in order, named to outlast address randomisation
      --prefetch FILE
                     map the working set recorded in FILE before the program
                     needs it, the rest on demand; with --record FILE too, each
                     run refines it (a profile for other files is refused with
                     a warning, and the run goes on without it)
`;

const HPAGER_OPTIONS = `      --predict NAME next (default): the pages after the faulting one;
                     stride: repeat the distance between faults once seen twice;
                     readahead: a window that grows while faults are sequential
      --pages N      pages each fault maps, the faulting one included
                     (default 2, at most ${MAX_PREDICT_PAGES})
`;

/** The usage text; `command` is how the pager is typed (src/cli/commands.ts
 * commandName). */
export function usage(pager: PagerName, command = `bun run ${pager}`): string {
  return `Usage: ${command} [options] PROGRAM [ARGS...]

Load PROGRAM (an x86-64 ELF executable or a #! script) into a fresh address
space from Bun and run it with ARGS, the way the kernel's execve would.
${DESCRIPTIONS[pager]}
Each mapping is logged on stderr as one line starting with "${pager}:".

Options (they stop at PROGRAM; every word after it is the program's):
  -q, --quiet        do not log mappings
      --report FILE  write a JSON report (exit status, faults, pages mapped,
                     wall time, the program's peak RSS) to FILE
      --trace FILE   write every page fault as one JSON line to FILE
      --html FILE    write a page of the run to FILE: its address space, faults
                     over time, pages mapped, the predictor's record (one
                     self-contained HTML file; open it in a browser)
      --friendly     a crash in the program (segfault, bus error, division by
                     zero, failed assert, allocator abort, trap, breakpoint,
                     forbidden system call) ends with an encouraging message,
                     a diagnosis and where it happened (function, file:line,
                     the calls that led there); a segfault exits 139
                     (FAULTLINE_FRIENDLY_RERAISE=1 re-raises instead), the
                     others end with their own signal
      --gdb          run the program under gdb (from PATH), attached before its
                     first instruction with the program's symbols where they
                     are: set breakpoints, then continue

${pager === "apager" ? "" : PAGING_OPTION + WORKING_SET_OPTIONS}${pager === "hpager" ? HPAGER_OPTIONS : ""}  -h, --help         show this help
      --version      show faultline's version
      --             end of options (for a PROGRAM starting with '-')

Exit status: the program's own, or the same signal it died of.
  127  PROGRAM was not found
  126  PROGRAM was found but cannot be loaded (the reason is printed)
    2  the command line itself is wrong`;
}

export function parseCommandLine(pager: string, args: readonly string[]): CommandLine {
  if (!(PAGERS as readonly string[]).includes(pager)) throw new UsageError(`unknown pager '${pager}' (expected ${PAGERS.join(", ")})`);
  const line: CommandLine = {
    pager: pager as PagerName,
    quiet: false,
    report: null,
    trace: null,
    html: null,
    record: null,
    prefetch: null,
    predictor: null,
    pages: null,
    paging: null,
    friendly: false,
    gdb: false,
    help: false,
    version: false,
    argv: [],
  };
  const valueOf = (name: string, arg: string): string => {
    const value = arg === name ? args[++i] : arg.slice(name.length + 1);
    if (value === undefined || value === "") throw new UsageError(`${name} needs a value`);
    return value;
  };
  const is = (name: string, arg: string) => arg === name || arg.startsWith(`${name}=`);
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    // Short options combine, as GNU tools take them: -qh is -q -h.
    if (/^-[^-]{2,}$/.test(arg)) {
      for (const letter of arg.slice(1)) {
        if (letter === "q") line.quiet = true;
        else if (letter === "h") line.help = true;
        else throw new UsageError(`unknown option '-${letter}' (in '${arg}')`);
      }
      continue;
    }
    if (arg === "-q" || arg === "--quiet") line.quiet = true;
    else if (arg === "--friendly") line.friendly = true;
    else if (arg === "--gdb") line.gdb = true;
    else if (arg === "-h" || arg === "--help") line.help = true;
    else if (arg === "--version") line.version = true;
    else if (is("--report", arg)) line.report = valueOf("--report", arg);
    else if (is("--trace", arg)) line.trace = valueOf("--trace", arg);
    else if (is("--html", arg)) line.html = valueOf("--html", arg);
    else if (is("--record", arg)) line.record = valueOf("--record", arg);
    else if (is("--prefetch", arg)) line.prefetch = valueOf("--prefetch", arg);
    else if (is("--predict", arg)) {
      const name = valueOf("--predict", arg);
      if (!(PREDICTORS as readonly string[]).includes(name)) throw new UsageError(`unknown predictor '${name}' (expected ${PREDICTORS.join(", ")})`);
      line.predictor = name as PredictorName;
    } else if (is("--paging", arg)) {
      const value = valueOf("--paging", arg);
      if (!(PAGING_CHOICES as readonly string[]).includes(value)) throw new UsageError(`unknown paging '${value}' (expected ${PAGING_CHOICES.join(", ")})`);
      line.paging = value as PagingChoice;
    } else if (is("--pages", arg)) {
      const value = valueOf("--pages", arg);
      // Digits only: Number() would take "0x10", "1e1" and " 2 " too.
      const pages = /^[0-9]+$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(pages) || pages < 1 || pages > MAX_PREDICT_PAGES) throw new UsageError(`--pages takes a whole number from 1 to ${MAX_PREDICT_PAGES}, not '${value}'`);
      line.pages = pages;
    } else throw new UsageError(`unknown option '${arg}'`);
  }
  line.argv = args.slice(i);
  if (line.pager !== "hpager" && (line.predictor !== null || line.pages !== null)) {
    throw new UsageError(`--predict and --pages apply to hpager, not ${line.pager}`);
  }
  if (line.pager === "apager" && line.paging !== null) throw new UsageError("--paging applies to dpager and hpager, not apager");
  if (line.pager === "apager" && (line.record !== null || line.prefetch !== null)) throw new UsageError("--record and --prefetch apply to dpager and hpager, not apager (it maps every page at start)");
  if (!line.help && !line.version && line.argv.length === 0) throw new UsageError("no PROGRAM given");
  return line;
}
