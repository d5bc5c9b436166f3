/**
 * Reading the README's shell examples (test/support/readme.ts): which
 * blocks are commands, the commands and shown output of a console block,
 * statuses shown by `echo $?`, and how shown output is compared with what
 * a command printed.
 */
import { describe, expect, test } from "bun:test";
import { alike, headingAnchors, masked, missingLines, relativeLinks, shellBlocks } from "../support/readme.ts";

const likeness = { interchangeable: ["Take a breath.", "You've got this."] };

describe("shellBlocks", () => {
  test("takes sh blocks whole and console blocks as commands with their output; other blocks are not commands", () => {
    const markdown = ["intro", "```sh", "a=1", "echo $a", "```", "```text", "npx bun run apager PROGRAM", "```", "```console", "$ echo hi", "hi", "$ true", "```", "```ts", "run()", "```"].join("\n");
    expect(shellBlocks(markdown)).toEqual([
      { kind: "sh", line: 2, script: "a=1\necho $a" },
      {
        kind: "console",
        line: 9,
        steps: [
          { command: "echo hi", line: 10, output: ["hi"], status: null },
          { command: "true", line: 12, output: [], status: null },
        ],
      },
    ]);
  });

  test("a status is shown by '$ echo $?' after a command, or by a trailing '; echo $?'", () => {
    const markdown = ["```console", "$ crash", "boom", "$ echo $?", "139", "$ sh -c 'exit 3'; echo $?", "a warning", "3", "```"].join("\n");
    const [block] = shellBlocks(markdown);
    expect(block).toEqual({
      kind: "console",
      line: 1,
      steps: [
        { command: "crash", line: 2, output: ["boom"], status: 139 },
        { command: "sh -c 'exit 3'", line: 6, output: ["a warning"], status: 3 },
      ],
    });
  });
});

describe("comparing shown output with printed output", () => {
  test("numbers may differ, words may not", () => {
    expect(masked("dpager: map addr=0x401000 size=0x1000 fault=0x402920")).toBe("dpager: map addr=0x# size=0x# fault=0x#");
    expect(alike("apager: map addr=0x55d0e3a4c000 size=0x2000", "apager: map addr=0x5612aa000000 size=0x3000", likeness)).toBe(true);
    expect(alike("0 862", "0 861", likeness)).toBe(true);
    expect(alike("dpager: map addr=0x1 prot=r-x", "hpager: map addr=0x1 prot=r-x", likeness)).toBe(false);
  });

  test("interchangeable lines stand for each other, and for nothing else", () => {
    expect(alike("Take a breath.", "You've got this.", likeness)).toBe(true);
    expect(alike("Take a breath.", "Something else.", likeness)).toBe(false);
  });

  test("a frame in a shared library stands for any frame in that library with the same label", () => {
    expect(alike("  at:      __memmove_avx512_unaligned_erms+0x375 in libc.so.6", "  at:      __memcpy_avx_unaligned_erms+0x30a in libc.so.6", likeness)).toBe(true);
    expect(alike("  at:      __memmove_avx512_unaligned_erms+0x375 in libc.so.6", "  at:      libc.so.6+0x16db75", likeness)).toBe(true);
    expect(alike("  at:      __memmove_avx512_unaligned_erms+0x375 in libc.so.6", "  from:    libc.so.6+0x16db75", likeness)).toBe(false);
    expect(alike("  at:      main+0x27 (nested.c:29)", "  at:      libc.so.6+0x16db75", likeness)).toBe(false);
  });

  test("shown lines must come in order; … stands for any lines; what is missing is returned", () => {
    const printed = ["note", "reserve 0x1", "map 0x2 start", "map 0x3 fault", "program output", "map 0x4 fault"];
    expect(missingLines(["…", "reserve 0x9", "…", "map 0x9 start", "map 0x9 fault"], printed, likeness)).toEqual([]);
    expect(missingLines(["map 0x9 start", "reserve 0x9"], printed, likeness)).toEqual(["reserve 0x9"]);
    expect(missingLines(["hpager: map 0x1 predicted=next"], printed, likeness)).toEqual(["hpager: map 0x1 predicted=next"]);
  });
});

describe("links between the pages", () => {
  test("relativeLinks: paths and anchors of links and images, not URLs, code spans or code blocks", () => {
    const markdown = ["See [the pagers](docs/pagers.md#the-report) and ![a run](docs/view.png).", "[Bun](https://bun.sh), [here](#quick-start), `[not](a-link.md)`", "```text", "[not](either.md)", "```"].join("\n");
    expect(relativeLinks(markdown)).toEqual([
      { line: 1, target: "docs/pagers.md#the-report", path: "docs/pagers.md", anchor: "the-report" },
      { line: 1, target: "docs/view.png", path: "docs/view.png", anchor: null },
      { line: 2, target: "#quick-start", path: "", anchor: "quick-start" },
    ]);
  });

  test("headingAnchors: as GitHub makes them, code and punctuation included, repeats numbered", () => {
    const markdown = ["# Running programs: `apager`, `dpager`, `hpager`", "## 7. The heap: `brk`", "## Limits", "```sh", "# a comment", "```", "### Limits"].join("\n");
    expect([...headingAnchors(markdown)]).toEqual(["running-programs-apager-dpager-hpager", "7-the-heap-brk", "limits", "limits-1"]);
  });
});
