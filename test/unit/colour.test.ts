/**
 * When the commands colour their lines (src/cli/colour.ts): on a terminal
 * unless NO_COLOR, into anything with FORCE_COLOR; and what is coloured:
 * the `warning:` or `note:` label of a command's line, nothing else.
 */
import { describe, expect, test } from "bun:test";
import { colours, colourWanted, paintLine } from "../../src/cli/colour.ts";

const ESC = "\x1b[";

describe("colourWanted", () => {
  test("a terminal gets colour, a pipe or file does not", () => {
    expect(colourWanted(true, { TERM: "xterm-256color" })).toBe(true);
    expect(colourWanted(true, {})).toBe(true);
    expect(colourWanted(false, { TERM: "xterm-256color" })).toBe(false);
  });

  test("a dumb terminal does not", () => {
    expect(colourWanted(true, { TERM: "dumb" })).toBe(false);
  });

  test("NO_COLOR with a value turns it off, even with FORCE_COLOR; empty means unset", () => {
    expect(colourWanted(true, { NO_COLOR: "1" })).toBe(false);
    expect(colourWanted(true, { NO_COLOR: "1", FORCE_COLOR: "1" })).toBe(false);
    expect(colourWanted(true, { NO_COLOR: "" })).toBe(true);
  });

  test("FORCE_COLOR turns it on off a terminal, except 0 or false, which turn it off on one", () => {
    expect(colourWanted(false, { FORCE_COLOR: "1" })).toBe(true);
    expect(colourWanted(false, { FORCE_COLOR: "" })).toBe(true);
    expect(colourWanted(false, { FORCE_COLOR: "3" })).toBe(true);
    expect(colourWanted(true, { FORCE_COLOR: "0" })).toBe(false);
    expect(colourWanted(true, { FORCE_COLOR: "false" })).toBe(false);
  });
});

describe("paintLine", () => {
  const on = colours(true);
  const off = colours(false);

  test("colours a warning's and a note's label only, the rest of the line unchanged", () => {
    const warning = paintLine("dpager: warning: --prefetch p.json: no such file; running without it", on);
    expect(warning).toStartWith("dpager: ");
    expect(warning).toContain(`${ESC}33m`);
    expect(warning).toEndWith(`m --prefetch p.json: no such file; running without it`);
    expect(Bun.stripANSI(warning)).toBe("dpager: warning: --prefetch p.json: no such file; running without it");
    const note = paintLine("apager: note: set-user-ID gives no privilege here", on);
    expect(note).toContain(`${ESC}36mnote:`);
    expect(Bun.stripANSI(note)).toBe("apager: note: set-user-ID gives no privilege here");
  });

  test("leaves mapping lines, errors, and a word 'warning' elsewhere in a line alone", () => {
    for (const line of ["apager: map addr=0x400000 size=0x1000 off=0x0 prot=r-- file=./prog", "apager: ./prog: not found (ENOENT)", "apager: the program said warning: x", "warning: no command name"]) {
      expect(paintLine(line, on)).toBe(line);
    }
  });

  test("without colour, every line is as it was", () => {
    expect(paintLine("dpager: warning: x", off)).toBe("dpager: warning: x");
    expect(paintLine("dpager: note: x", off)).toBe("dpager: note: x");
  });
});
