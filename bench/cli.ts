/**
 * What every benchmark script's command line does alike: `--help` and a
 * refusal of unknown options (node:util parseArgs, strict), `--quiet`, a
 * progress line on a terminal while it measures, the machine's load beside
 * the figures with a note when it is too busy for them to mean much, and a
 * closing line on the targets (exit 1 under `--check` when one is missed).
 *
 * The parsing, the texts and the judgements are pure (exported for
 * test/unit/bench-cli.test.ts); `readBenchLine`, `Progress`, `readLoad` and
 * `finish` are the effects.
 */
import { availableParallelism, loadavg } from "node:os";
import { parseArgs } from "node:util";

/** Status for a wrong command line, as the commands use it. */
export const EXIT_USAGE = 2;
/** Status under --check when a target was missed. */
export const EXIT_TARGET_MISSED = 1;

/** One option: a switch, a positive whole number, or a word. */
export interface OptionSpec {
  kind: "flag" | "count" | "text";
  /** What the value is called in the usage (`N`, `FILE`); not for flags. */
  value?: string;
  description: string;
}

export interface BenchCommand {
  /** How a user runs it: `bun run bench`. */
  command: string;
  /** One paragraph: what it measures and prints. */
  summary: string;
  options: Record<string, OptionSpec>;
  /** Words after the options (`REPORT [TRACE]`), if it takes any. */
  positionals?: { usage: string; min: number; max: number };
  /** Paragraphs after the options (what the columns mean, the targets). */
  notes?: string;
}

/** Options every benchmark script has. */
export const COMMON_OPTIONS = {
  help: { kind: "flag", description: "print this help and exit" },
  quiet: { kind: "flag", description: "no progress line while measuring" },
} satisfies Record<string, OptionSpec>;

/** Options the scripts with targets have. */
export const TARGET_OPTIONS = {
  check: { kind: "flag", description: `exit ${EXIT_TARGET_MISSED} if a target is missed (the figures are printed either way)` },
} satisfies Record<string, OptionSpec>;

export const JSON_OPTION = {
  json: { kind: "flag", description: "print the figures as JSON on stdout instead of tables" },
} satisfies Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S["kind"] extends "flag" ? boolean : S["kind"] extends "count" ? number | undefined : string | undefined;
export type Values<O extends Record<string, OptionSpec>> = { [K in keyof O]: ValueOf<O[K]> };

export interface BenchLine<O extends Record<string, OptionSpec>> {
  values: Values<O>;
  positionals: string[];
}

/** A command line that is wrong: its message is the line to say. */
export class UsageProblem extends Error {
  override name = "UsageProblem";
}

/** Text in paragraphs (split at blank lines), each wrapped at `width`. */
export function wrap(text: string, width = 78): string {
  return text
    .split("\n\n")
    .map((paragraph) => {
      const lines: string[] = [];
      let line = "";
      for (const word of paragraph.split(/\s+/).filter(Boolean)) {
        if (line && line.length + 1 + word.length > width) {
          lines.push(line);
          line = word;
        } else line = line ? `${line} ${word}` : word;
      }
      if (line) lines.push(line);
      return lines.join("\n");
    })
    .join("\n\n");
}

/** The usage text `--help` prints. */
export function usageText(spec: BenchCommand): string {
  const options = Object.entries(spec.options).map(([name, option]) => [`--${name}${option.value ? ` ${option.value}` : ""}`, option.description] as const);
  const width = Math.max(...options.map(([left]) => left.length));
  const lines = [`Usage: ${spec.command} [options]${spec.positionals ? ` ${spec.positionals.usage}` : ""}`, "", wrap(spec.summary), "", "Options:"];
  for (const [left, description] of options) lines.push(`  ${left.padEnd(width)}  ${description}`);
  if (spec.notes) lines.push("", wrap(spec.notes));
  return lines.join("\n");
}

/** Parse `args` by `spec`: values by option name (counts as numbers), and
 * the positional words. Throws UsageProblem for anything wrong. */
export function parseBenchLine<O extends Record<string, OptionSpec>>(spec: BenchCommand & { options: O }, args: string[]): BenchLine<O> {
  const config = Object.fromEntries(Object.entries(spec.options).map(([name, option]) => [name, { type: option.kind === "flag" ? ("boolean" as const) : ("string" as const) }]));
  let parsed;
  try {
    parsed = parseArgs({ args, options: config, strict: true, allowPositionals: spec.positionals !== undefined });
  } catch (error) {
    throw new UsageProblem(parseArgsMessage(error));
  }
  const values: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(spec.options)) {
    const raw = parsed.values[name];
    if (option.kind === "flag") values[name] = raw === true;
    else if (option.kind === "count") values[name] = raw === undefined ? undefined : positiveCount(name, raw as string);
    else values[name] = raw;
  }
  const positionals = parsed.positionals;
  if (spec.positionals && !values.help) {
    const { min, max, usage } = spec.positionals;
    if (positionals.length < min) throw new UsageProblem(`missing ${usage.split(" ")[positionals.length] ?? "argument"}`);
    if (positionals.length > max) throw new UsageProblem(`unexpected argument '${positionals[max]}'`);
  }
  return { values: values as Values<O>, positionals };
}

function positiveCount(name: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageProblem(`--${name}: expected a whole number of at least 1, not '${text}'`);
  return value;
}

/** parseArgs' errors, said the way the commands say theirs. */
function parseArgsMessage(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const quoted = /'([^' ,]*)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown option '${quoted}'`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument '${quoted}'`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return /does not take an argument/.test(message) ? `${quoted} takes no value` : `${quoted} needs a value`;
  return message.split("\n")[0]!;
}

/** Read this process's command line by `spec`: --help prints the usage and
 * exits 0; a wrong line is one line on stderr and exit 2. */
export function readBenchLine<O extends Record<string, OptionSpec>>(spec: BenchCommand & { options: O }, args = process.argv.slice(2)): BenchLine<O> {
  let line: BenchLine<O>;
  try {
    line = parseBenchLine(spec, args);
  } catch (error) {
    if (!(error instanceof UsageProblem)) throw error;
    process.stderr.write(`${spec.command}: ${error.message}\nTry '${spec.command} --help'.\n`);
    process.exit(EXIT_USAGE);
  }
  if ((line.values as Record<string, unknown>).help) {
    process.stdout.write(`${usageText(spec)}\n`);
    process.exit(0);
  }
  return line;
}

/**
 * A progress line on stderr, rewritten in place, where stderr is a terminal
 * and --quiet was not given; nothing at all otherwise. `done()` clears it,
 * so the results print as if it had never been there.
 */
export class Progress {
  private shown = false;
  constructor(
    private readonly name: string,
    private readonly enabled: boolean,
  ) {}

  static forTerminal(name: string, quiet: boolean): Progress {
    return new Progress(name, !quiet && process.stderr.isTTY === true);
  }

  say(text: string): void {
    if (!this.enabled) return;
    const columns = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[2K${`${this.name}: ${text}`.slice(0, columns - 1)}`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write("\r\x1b[2K");
    this.shown = false;
  }
}

/** The 1-minute load average and the CPUs this process may use. */
export interface MachineLoad {
  load: number;
  cpus: number;
}

export function readLoad(): MachineLoad {
  return { load: loadavg()[0]!, cpus: availableParallelism() };
}

/**
 * Whether the machine was too busy for the figures to mean much: before the
 * run, other work already kept every CPU busy (a load average of at least
 * the CPUs); at its end, with the benchmark's own one CPU counted, more
 * than that. The timed code then shares a CPU, and its figures vary with
 * whatever else ran.
 */
export function tooBusy(before: MachineLoad, after: MachineLoad): boolean {
  return before.load >= before.cpus || after.load >= after.cpus + 1;
}

/** The line giving the load, and the note when tooBusy. */
export function loadLines(before: MachineLoad, after: MachineLoad): string[] {
  const lines = [`machine load (1-minute average): ${before.load.toFixed(2)} at the start, ${after.load.toFixed(2)} at the end, on ${after.cpus} CPU${after.cpus === 1 ? "" : "s"}`];
  if (tooBusy(before, after)) lines.push("note: the machine was busy with other work, so the figures vary more than usual; compare them with runs made when it is quiet");
  return lines;
}

/** A target: what it means, what was measured, whether it was met. */
export interface Target {
  /** What it asks, in words: "a 64 MiB lazy copy at least 500x faster than an eager one". */
  meaning: string;
  /** The figure measured, with its unit: "1742x". */
  measured: string;
  met: boolean;
}

/** The closing line on the targets. */
export function targetsLine(targets: readonly Target[]): string {
  const missed = targets.filter((t) => !t.met);
  if (missed.length === 0) return `all ${targets.length} target${targets.length === 1 ? "" : "s"} met`;
  return `${missed.length} of ${targets.length} target${targets.length === 1 ? "" : "s"} missed: ${missed.map((t) => `${t.meaning} (measured ${t.measured})`).join("; ")}`;
}

/** The status a script ends with: 1 under --check when a target was
 * missed, else 0. */
export function exitStatus(check: boolean, targets: readonly Target[]): number {
  return check && targets.some((t) => !t.met) ? EXIT_TARGET_MISSED : 0;
}

/**
 * Say the load (and the note) and the targets' closing line, on stdout
 * with the tables, or on stderr under --json (stdout is then the JSON
 * alone); the status to exit with: 1 under --check when a target was
 * missed, else 0.
 */
export function finish(options: { json: boolean; check: boolean }, before: MachineLoad, targets: readonly Target[] = []): number {
  const after = readLoad();
  const lines = [...loadLines(before, after), ...(targets.length > 0 ? [targetsLine(targets)] : [])];
  (options.json ? process.stderr : process.stdout).write(`${options.json ? "" : "\n"}${lines.join("\n")}\n`);
  return exitStatus(options.check, targets);
}
