import { describe, expect, test } from "bun:test";
import { UsageError } from "../../src/loader/errors.ts";
import { parseCommandLine, usage } from "../../src/cli/options.ts";
import { parseShebang, scriptArgv } from "../../src/loader/script.ts";

describe("command line", () => {
  test("options stop at PROGRAM; everything after belongs to it", () => {
    const line = parseCommandLine("apager", ["-q", "--report", "r.json", "/bin/ls", "-q", "--report", "x"]);
    expect(line).toMatchObject({ pager: "apager", quiet: true, report: "r.json", argv: ["/bin/ls", "-q", "--report", "x"] });
  });
  test("--gdb is an option of every pager, off by default; after PROGRAM it is the program's", () => {
    for (const pager of ["apager", "dpager", "hpager"]) expect(parseCommandLine(pager, ["--gdb", "x"]).gdb).toBe(true);
    expect(parseCommandLine("apager", ["x", "--gdb"])).toMatchObject({ gdb: false, argv: ["x", "--gdb"] });
  });
  test("-- ends the options", () => {
    expect(parseCommandLine("dpager", ["--", "-weird"]).argv).toEqual(["-weird"]);
  });
  test("--report=FILE", () => {
    expect(parseCommandLine("apager", ["--report=out.json", "x"]).report).toBe("out.json");
  });
  test("errors are usage errors", () => {
    expect(() => parseCommandLine("apager", [])).toThrow(UsageError);
    expect(() => parseCommandLine("apager", ["--nope", "x"])).toThrow(/unknown option '--nope'/);
    expect(() => parseCommandLine("apager", ["--report"])).toThrow(/--report needs a value/);
    expect(() => parseCommandLine("zpager", ["x"])).toThrow(/unknown pager/);
  });
  test("hpager's predictor and pages; --trace for every pager", () => {
    expect(parseCommandLine("hpager", ["--predict", "stride", "--pages=3", "--trace", "t.jsonl", "prog"])).toMatchObject({
      predictor: "stride",
      pages: 3,
      trace: "t.jsonl",
      argv: ["prog"],
    });
    expect(parseCommandLine("dpager", ["--trace=t", "prog"]).trace).toBe("t");
    expect(() => parseCommandLine("hpager", ["--predict", "psychic", "prog"])).toThrow(/unknown predictor 'psychic' \(expected next, stride, readahead\)/);
    expect(() => parseCommandLine("hpager", ["--pages", "0", "prog"])).toThrow(/--pages takes a whole number from 1 to 16, not '0'/);
    expect(() => parseCommandLine("hpager", ["--pages", "2.5", "prog"])).toThrow(UsageError);
    expect(() => parseCommandLine("dpager", ["--predict", "next", "prog"])).toThrow(/apply to hpager, not dpager/);
  });
  test("--record and --prefetch: dpager and hpager, each taking a file", () => {
    expect(parseCommandLine("dpager", ["--record", "ws.json", "--prefetch=ws.json", "prog", "--record"])).toMatchObject({
      record: "ws.json",
      prefetch: "ws.json",
      argv: ["prog", "--record"],
    });
    expect(parseCommandLine("hpager", ["--prefetch", "p", "prog"]).prefetch).toBe("p");
    expect(() => parseCommandLine("apager", ["--record", "ws.json", "prog"])).toThrow(/--record and --prefetch apply to dpager and hpager, not apager/);
    expect(() => parseCommandLine("dpager", ["--prefetch"])).toThrow(/--prefetch needs a value/);
    expect(usage("dpager")).toMatch(/--record FILE/);
    expect(usage("apager")).not.toMatch(/--prefetch/);
  });
  test("--help needs no program, and the usage documents the exit codes", () => {
    expect(parseCommandLine("apager", ["--help"]).help).toBe(true);
    expect(usage("apager")).toMatch(/127\s+PROGRAM was not found/);
    expect(usage("apager")).toMatch(/126\s+PROGRAM was found but cannot be loaded/);
  });
  test("short options combine, as GNU tools take them; options still stop at PROGRAM", () => {
    expect(parseCommandLine("dpager", ["-qh"])).toMatchObject({ quiet: true, help: true, argv: [] });
    expect(parseCommandLine("apager", ["-hq", "prog", "-qh"])).toMatchObject({ quiet: true, help: true, argv: ["prog", "-qh"] });
    expect(parseCommandLine("apager", ["-qq", "prog"])).toMatchObject({ quiet: true, help: false, argv: ["prog"] });
    expect(() => parseCommandLine("apager", ["-qx", "prog"])).toThrow(new UsageError("unknown option '-x' (in '-qx')"));
    expect(() => parseCommandLine("apager", ["-x", "prog"])).toThrow(new UsageError("unknown option '-x'"));
  });
});

describe("#! scripts", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  test("interpreter only", () => {
    expect(parseShebang(enc("#!/bin/sh\necho hi\n"))).toEqual({ interpreter: "/bin/sh", argument: null });
  });
  test("one optional argument, spaces inside kept, trailing blanks trimmed", () => {
    expect(parseShebang(enc("#!  /usr/bin/env  python3 -u \t\nx"))).toEqual({ interpreter: "/usr/bin/env", argument: "python3 -u" });
  });
  test("not a script, or a malformed line", () => {
    expect(parseShebang(enc("\x7fELF"))).toBeNull();
    expect(parseShebang(enc("#!   \n"))).toBe("malformed");
    expect(parseShebang(enc(`#!/${"a".repeat(300)}`))).toBe("malformed");
  });
  test("a long line with a complete name is cut to 255 bytes, like the kernel", () => {
    // The kernel writes its NUL over the buffer's last byte.
    const parsed = parseShebang(enc(`#!/bin/sh ${"b".repeat(400)}`));
    expect(parsed).toMatchObject({ interpreter: "/bin/sh" });
    expect((parsed as { argument: string }).argument.length).toBe(255 - "#!/bin/sh ".length);
  });
  test("a short file without a newline ends at its end (the kernel's buffer is zero-padded)", () => {
    expect(parseShebang(enc("#!/bin/sh"))).toEqual({ interpreter: "/bin/sh", argument: null });
  });
  test("blanks then the end of a short file give an empty argument, as the kernel passes one", () => {
    expect(parseShebang(enc("#!/bin/sh   "))).toEqual({ interpreter: "/bin/sh", argument: "" });
  });
  test("a NUL ends the line before any later newline, and cuts the name or the argument", () => {
    expect(parseShebang(enc("#!/bin/sh\0 \nxx"))).toEqual({ interpreter: "/bin/sh", argument: null });
    expect(parseShebang(enc("#!/bin/sh -x\0yy\n"))).toEqual({ interpreter: "/bin/sh", argument: "-x" });
  });
  test("the interpreter's argv: name, argument, script path, the script's arguments", () => {
    expect(scriptArgv({ interpreter: "/bin/sh", argument: "-e" }, "./s.sh", ["s.sh", "a", "b"])).toEqual(["/bin/sh", "-e", "./s.sh", "a", "b"]);
  });
});
