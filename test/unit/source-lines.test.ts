import { describe, expect, test } from "bun:test";
import {
  ANSWER_END,
  ANSWER_LIMIT_BYTES,
  COLOUR_LINE,
  FIELD_LIMIT,
  INLINED_LIMIT,
  addr2lineArguments,
  addressesByModule,
  displayPath,
  formatAnswer,
  parseAddr2line,
  parseFrameRequest,
  requestTooLong,
  styledAnswer,
  type FrameQuery,
  type SourceEntry,
} from "../../src/friendly/source-lines.ts";

const PROGRAM = "/work/nested";
const LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6";

describe("the handler's request", () => {
  test("one frame a line, in order: link address and module, '-' for none", () => {
    const text = `faultline-frames 1\n1186 ${PROGRAM}\n11a4 ${PROGRAM}\n0 -\n9f3e5 ${LIBC}\n\n`;
    expect(parseFrameRequest(text)).toEqual([
      { frame: 0, address: 0x1186n, module: PROGRAM },
      { frame: 1, address: 0x11a4n, module: PROGRAM },
      { frame: 2, address: 0n, module: null },
      { frame: 3, address: 0x9f3e5n, module: LIBC },
    ]);
  });

  test("a path with spaces is the rest of the line", () => {
    expect(parseFrameRequest("faultline-frames 1\n10 /tmp/my programs/a.out\n\n")).toEqual([{ frame: 0, address: 0x10n, module: "/tmp/my programs/a.out" }]);
  });

  test("incomplete, another version, or malformed: not a request", () => {
    expect(parseFrameRequest(`faultline-frames 1\n1186 ${PROGRAM}\n`)).toBeNull();
    expect(parseFrameRequest(`faultline-frames 2\n1186 ${PROGRAM}\n\n`)).toBeNull();
    expect(parseFrameRequest("faultline-frames 1\nxyz /bin/true\n\n")).toBeNull();
    expect(parseFrameRequest("GET / HTTP/1.1\r\n\r\n")).toBeNull();
  });

  test("an empty request asks about nothing", () => {
    expect(parseFrameRequest("faultline-frames 1\n\n")).toEqual([]);
  });

  test("a request that never ends is cut off", () => {
    expect(requestTooLong("x".repeat(100))).toBe(false);
    expect(requestTooLong("x".repeat(65 * 1024))).toBe(true);
  });
});

describe("addr2line", () => {
  test("each module once, with its addresses once each", () => {
    const queries: FrameQuery[] = [
      { frame: 0, address: 0x10n, module: LIBC },
      { frame: 1, address: 0x20n, module: PROGRAM },
      { frame: 2, address: 0x20n, module: PROGRAM },
      { frame: 3, address: 0x30n, module: null },
      { frame: 4, address: 0x40n, module: PROGRAM },
    ];
    expect([...addressesByModule(queries)]).toEqual([
      [LIBC, [0x10n]],
      [PROGRAM, [0x20n, 0x40n]],
    ]);
    expect(addr2lineArguments(PROGRAM, [0x20n, 0x40n])).toEqual(["-a", "-f", "-i", "-C", "-e", PROGRAM, "0x20", "0x40"]);
  });

  test("its output: per address, the inlined calls first, unknowns as null, discriminators dropped", () => {
    const output = [
      "0x0000000000001048",
      "inner",
      "/src/inl.c:1",
      "outer",
      "/src/inl.c:2",
      "main",
      "/src/inl.c:3 (discriminator 2)",
      "0x0000000009999999",
      "??",
      "??:0",
      "0x0000000000001140",
      "recurse",
      "crash.c:?",
      "0x000000000003c050",
      "__GI___sigaction",
      ":?",
      "",
    ].join("\n");
    const parsed = parseAddr2line(output);
    expect(parsed.get(0x1048n)).toEqual([
      { function: "inner", file: "/src/inl.c", line: 1 },
      { function: "outer", file: "/src/inl.c", line: 2 },
      { function: "main", file: "/src/inl.c", line: 3 },
    ]);
    expect(parsed.get(0x9999999n)).toEqual([{ function: null, file: null, line: null }]);
    expect(parsed.get(0x1140n)).toEqual([{ function: "recurse", file: "crash.c", line: null }]);
    expect(parsed.get(0x3c050n)).toEqual([{ function: "__GI___sigaction", file: null, line: null }]);
  });

  test("demangled C++ names keep their colons, parentheses and spaces", () => {
    const parsed = parseAddr2line("0x0000000000002000\nns::Widget::poke(int*) const\n/src/w.cpp:12\n");
    expect(parsed.get(0x2000n)).toEqual([{ function: "ns::Widget::poke(int*) const", file: "/src/w.cpp", line: 12 }]);
  });
});

describe("the answer", () => {
  const queries: FrameQuery[] = [
    { frame: 0, address: 0x1048n, module: PROGRAM },
    { frame: 1, address: 0x9f3e5n, module: LIBC },
    { frame: 2, address: 0x0n, module: null },
    { frame: 3, address: 0x1087n, module: PROGRAM },
  ];
  const known = new Map<bigint, SourceEntry[]>([
    [
      0x1048n,
      [
        { function: "inner", file: "/work/src/inl.c", line: 1 },
        { function: "main", file: "/work/src/inl.c", line: 3 },
      ],
    ],
    [0x9f3e5n, [{ function: null, file: null, line: null }]],
    [0x1087n, [{ function: "main", file: "/elsewhere/nested.c", line: 22 }]],
  ]);
  const lookup = (query: FrameQuery) => known.get(query.address);

  test("one line per function, inlined first, paths relative to the working directory; frames nothing is known about are left out", () => {
    expect(formatAnswer(queries, lookup, "/work")).toBe("0\tinner\tsrc/inl.c:1\n0\tmain\tsrc/inl.c:3\n3\tmain\t/elsewhere/nested.c:22\n.\n");
  });

  test("nothing known: just the end", () => {
    expect(formatAnswer(queries, () => undefined, "/work")).toBe(ANSWER_END);
  });

  test("fields stay on one line, without control characters, and within bounds", () => {
    const long = "x".repeat(FIELD_LIMIT * 2);
    const answer = formatAnswer([queries[0]!], () => [{ function: `a\tb\nc\x1b[2Jd${long}`, file: "/f.c", line: 1 }], "/");
    const [line] = answer.split("\n");
    const [, fn] = line!.split("\t");
    expect(fn!.length).toBe(FIELD_LIMIT);
    expect(fn).toStartWith("a b c [2Jd");
    expect(answer.endsWith(ANSWER_END)).toBe(true);
  });

  test("at most INLINED_LIMIT inlined calls, the innermost (where the line is), then the frame's own function", () => {
    const chain: SourceEntry[] = Array.from({ length: INLINED_LIMIT + 3 }, (_, i) => ({ function: `f${i}`, file: "/a.c", line: i + 1 }));
    const lines = formatAnswer([queries[0]!], () => chain, "/").trim().split("\n").slice(0, -1);
    expect(lines).toHaveLength(INLINED_LIMIT + 1);
    expect(lines[0]).toBe("0\tf0\ta.c:1");
    expect(lines[lines.length - 1]).toBe(`0\tf${INLINED_LIMIT + 2}\ta.c:${INLINED_LIMIT + 3}`);
  });

  test("never more than the handler keeps: later frames are dropped whole", () => {
    const many: FrameQuery[] = Array.from({ length: 33 }, (_, frame) => ({ frame, address: BigInt(frame), module: PROGRAM }));
    const entry = { function: "f".repeat(FIELD_LIMIT), file: `/${"d".repeat(FIELD_LIMIT)}`, line: 1 };
    const answer = formatAnswer(many, () => [entry, entry, entry, entry], "/");
    expect(Buffer.byteLength(answer)).toBeLessThanOrEqual(ANSWER_LIMIT_BYTES);
    expect(answer.endsWith(`\n${ANSWER_END}`)).toBe(true);
    const frames = new Set(answer.split("\n").filter((l) => l.includes("\t")).map((l) => l.split("\t")[0]));
    expect(frames.has("0")).toBe(true);
    expect(frames.has("32")).toBe(false);
  });

  test("displayPath: only paths inside the working directory are shortened", () => {
    expect(displayPath("/work/src/a.c", "/work")).toBe("src/a.c");
    expect(displayPath("/work/src/a.c", "/work/")).toBe("src/a.c");
    expect(displayPath("/workshop/a.c", "/work")).toBe("/workshop/a.c");
    expect(displayPath("./nptl/pthread_create.c", "/work")).toBe("./nptl/pthread_create.c");
  });
});

describe("colour", () => {
  test("an answer asks for colour in a first line of its own, only when the report is to have it", () => {
    const answer = `0\tdeep_write\tnested.c:15\n${ANSWER_END}`;
    expect(styledAnswer(answer, false)).toBe(answer);
    expect(styledAnswer(answer, true)).toBe(`colour\n${answer}`);
    expect(COLOUR_LINE).toBe("colour\n");
    expect(styledAnswer(ANSWER_END, true)).toBe(`colour\n${ANSWER_END}`);
  });
});
