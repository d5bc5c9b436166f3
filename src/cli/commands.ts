/**
 * The `faultline` command's own words: the commands it runs, its usage,
 * its version line, and how a command is named in messages. Pure, and
 * importing nothing but package.json, so the command (src/cli/faultline.ts)
 * starts without loading the rest.
 */
import packageJson from "../../package.json" with { type: "json" };

/** The commands `faultline` runs: the pagers, and friendly. */
export const COMMANDS = ["apager", "dpager", "hpager", "friendly"] as const;

/** How a command is typed, for its usage and errors: `faultline apager`
 * under the installed command (whose script is src/cli/faultline.ts), `bun run
 * apager` in a checkout. */
export function commandName(command: string, script: string | undefined): string {
  return script !== undefined && /(^|\/)faultline(\.ts)?$/.test(script) ? `faultline ${command}` : `bun run ${command}`;
}

/** The pagers' options whose value is the next word (--report FILE). */
const VALUE_OPTIONS: readonly string[] = ["--report", "--trace", "--html", "--predict", "--pages", "--paging", "--record", "--prefetch"];

/** Whether a pager's words ask for quiet (-q, --quiet, -q among combined
 * short options), read before the command parses them: the shim's first
 * build, which may come first, then shows no progress line. Pure. */
export function quietAsked(words: readonly string[]): boolean {
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === "--" || word === "-" || !word.startsWith("-")) return false;
    if (word === "--quiet" || /^-[^-]*q/.test(word)) return true;
    if (VALUE_OPTIONS.includes(word)) i++;
  }
  return false;
}

/** What every command's --version says. */
export function versionLine(): string {
  return `faultline ${packageJson.version}`;
}

/** `faultline --help`. */
export function faultlineUsage(): string {
  return `Usage: faultline COMMAND [options] PROGRAM [ARGS...]

Run PROGRAM (an x86-64 ELF executable or a #! script) under one of
faultline's pagers, which load it from Bun the way the kernel's execve
would and log every mapping, or with friendly crash reports.

Commands:
  apager     map and populate every page before the program starts
  dpager     map each page when the program first touches it
  hpager     map text and data at start and the bss on demand, with the
             pages a predictor expects next
  friendly   a crash (segfault, division by zero, failed assert, double
             free, ...) ends in an encouraging message, a diagnosis and
             where it happened, instead of a bare "Segmentation fault"

  service    the per-user service the pagers' commands run through:
             faultline service run|status|stop

  faultline COMMAND --help   the command's options (or: faultline help COMMAND)
  faultline --version        faultline's version
  faultline --no-service PAGER ...
                             run one pager's command through Bun, without
                             the service

Exit status: the program's own, or the same signal it died of.
  127  PROGRAM was not found
  126  PROGRAM was found but cannot be run (the reason is printed)
    2  the command line itself is wrong`;
}

