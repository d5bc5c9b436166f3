/**
 * The commands' warnings and notes, and the friendly crash report, in
 * colour on a terminal and only there: run on a pseudo-terminal
 * (util-linux `script`) and into a pipe, with NO_COLOR and FORCE_COLOR,
 * each in a subprocess with a time limit. The words are the same every
 * way; only the escapes differ.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { buildProgram, ROOT } from "../support/programs.ts";
import { runProcess, TIME_LIMIT_MS } from "../support/run.ts";

const ESC = "\x1b[";
/** A run that says one warning (even under -q) and runs /bin/true. */
const WARNING_RUN = [process.execPath, `${ROOT}/src/cli/cli.ts`, "dpager", "-q", "--prefetch", "/nonexistent/profile.json", "/bin/true"];
const WARNING_TEXT = "dpager: warning: --prefetch /nonexistent/profile.json:";

/** This process's environment without the colour switches, plus `extra`. */
function envWith(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, TERM: "xterm-256color", ...extra };
  for (const name of ["NO_COLOR", "FORCE_COLOR"]) if (!(name in extra)) delete env[name];
  return env;
}

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

/** Run argv with a pseudo-terminal as its stdin, stdout and stderr; what
 * the terminal showed (stdout and stderr together, lines ending \r\n). */
function onTerminal(argv: string[], env: Record<string, string | undefined>) {
  return runProcess(["script", "--quiet", "--return", "--command", argv.map(quote).join(" "), "/dev/null"], { env, timeout: TIME_LIMIT_MS });
}

describe("a pager's warning line", () => {
  test("is coloured on a terminal, its words unchanged", async () => {
    const ran = await onTerminal(WARNING_RUN, envWith({}));
    expect(ran.exitCode).toBe(0);
    expect(ran.stdout).toContain(`${ESC}33mwarning:`);
    expect(Bun.stripANSI(ran.stdout)).toContain(WARNING_TEXT);
  });

  test("is plain on a terminal with NO_COLOR", async () => {
    const ran = await onTerminal(WARNING_RUN, envWith({ NO_COLOR: "1" }));
    expect(ran.exitCode).toBe(0);
    expect(ran.stdout).toContain(WARNING_TEXT);
    expect(ran.stdout).not.toContain(ESC);
  });

  test("is plain into a pipe", async () => {
    const ran = await runProcess(WARNING_RUN, { env: envWith({}) });
    expect(ran.exitCode).toBe(0);
    expect(ran.stderr).toStartWith(WARNING_TEXT);
    expect(ran.stderr).not.toContain(ESC);
  });

  test("is coloured into a pipe with FORCE_COLOR, and plain with FORCE_COLOR=0 on a terminal", async () => {
    const forced = await runProcess(WARNING_RUN, { env: envWith({ FORCE_COLOR: "1" }) });
    expect(forced.stderr).toContain(`${ESC}33mwarning:`);
    expect(Bun.stripANSI(forced.stderr)).toStartWith(WARNING_TEXT);
    const refused = await onTerminal(WARNING_RUN, envWith({ FORCE_COLOR: "0" }));
    expect(refused.stdout).toContain(WARNING_TEXT);
    expect(refused.stdout).not.toContain(ESC);
  });
});

describe("the friendly crash report", () => {
  let nested = "";
  beforeAll(async () => {
    nested = await buildProgram("nested.c", "pie");
  });
  const friendly = () => [process.execPath, `${ROOT}/src/cli/friendly.ts`, nested];
  const apagerFriendly = () => [process.execPath, `${ROOT}/src/cli/cli.ts`, "apager", "-q", "--friendly", nested];

  test("has its message in bold and its labels in colour on a terminal, under friendly and a pager's --friendly", async () => {
    for (const argv of [friendly(), apagerFriendly()]) {
      const ran = await onTerminal(argv, envWith({}));
      expect(ran.exitCode).toBe(139);
      for (const label of ["signal:", "cause:", "mapping:", "at:", "from:", "hint:"]) expect(ran.stdout).toContain(`${ESC}36m${label}${ESC}39m`);
      expect(ran.stdout).toMatch(/\x1b\[1m[^\x1b\r\n]+\x1b\[22m\r\n/);
      expect(Bun.stripANSI(ran.stdout)).toContain("  at:      deep_write+0x");
    }
  });

  test("is plain on a terminal with NO_COLOR, and into a pipe", async () => {
    const refused = await onTerminal(friendly(), envWith({ NO_COLOR: "1" }));
    expect(refused.exitCode).toBe(139);
    expect(refused.stdout).toContain("  at:      deep_write+0x");
    expect(refused.stdout).not.toContain(ESC);
    const piped = await runProcess(friendly(), { env: envWith({}) });
    expect(piped.exitCode).toBe(139);
    expect(piped.stderr).toContain("  signal:  SIGSEGV");
    expect(piped.stderr).not.toContain(ESC);
  });
});
