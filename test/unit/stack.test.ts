import { describe, expect, test } from "bun:test";
import { LoadError } from "../../src/loader/errors.ts";
import {
  AT_ENTRY,
  AT_EXECFN,
  AT_NULL,
  AT_PAGESZ,
  AT_PLATFORM,
  AT_RANDOM,
  MAX_ARG_STRLEN,
  STACK_EXPAND,
  argumentSpace,
  buildStack,
  type StackRequest,
} from "../../src/loader/stack.ts";
import { readStackImage } from "../support/stack-image.ts";

const TOP = 0x7ffd00000000;
const random16 = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

function request(over: Partial<StackRequest> = {}): StackRequest {
  return {
    top: TOP,
    argv: ["./prog", "one", "two words"],
    envp: ["HOME=/root", "LANG=C.UTF-8"],
    execfn: "./prog",
    platform: "x86_64",
    random: random16,
    auxv: [
      [33, 0x7fff1234000n],
      [AT_PAGESZ, 4096n],
      [AT_ENTRY, 0x401000n],
      [AT_RANDOM, 0n],
      [AT_EXECFN, 0n],
      [AT_PLATFORM, 0n],
    ],
    alignGap: 0,
    stackLimit: 8 * 1024 * 1024,
    ...over,
  };
}

const cString = (image: { bytes: Uint8Array; low: number }, at: number | bigint) => {
  const start = Number(at) - image.low;
  return new TextDecoder().decode(image.bytes.subarray(start, image.bytes.indexOf(0, start)));
};

describe("buildStack", () => {
  test("reads back as the argv, envp and auxv it was given", () => {
    const image = buildStack(request());
    const parsed = readStackImage(image);
    expect(parsed.argv).toEqual(["./prog", "one", "two words"]);
    expect(parsed.envp).toEqual(["HOME=/root", "LANG=C.UTF-8"]);
    expect(parsed.auxv.map(([type]) => type)).toEqual([33, AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL]);
    expect(parsed.auxv[1]![1]).toBe(4096n);
    expect(parsed.auxv[2]![1]).toBe(0x401000n);
  });

  test("the stack pointer is 16-byte aligned and the image ends at the top", () => {
    for (const alignGap of [0, 8, 100, 8191]) {
      const image = buildStack(request({ alignGap }));
      expect(image.sp % 16).toBe(0);
      expect(image.low + image.bytes.length).toBe(TOP);
      expect(image.low % 4096).toBe(0);
    }
  });

  test("strings sit at the top in the kernel's order: argv, envp, execfn, then 8 zero bytes", () => {
    const image = buildStack(request());
    expect(image.argStart).toBe(TOP - 8 - "./prog\0".length - "HOME=/root\0LANG=C.UTF-8\0".length - "./prog\0one\0two words\0".length);
    expect(cString(image, image.argStart)).toBe("./prog");
    expect(image.argEnd).toBe(image.envStart);
    expect(cString(image, image.envStart)).toBe("HOME=/root");
    expect(cString(image, image.envEnd)).toBe("./prog");
    expect([...image.bytes.subarray(image.bytes.length - 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  test("AT_EXECFN, AT_PLATFORM and AT_RANDOM point at their bytes, below the strings by the alignment gap", () => {
    const image = buildStack(request({ alignGap: 4000 }));
    const aux = new Map(image.auxv);
    expect(cString(image, aux.get(AT_EXECFN)!)).toBe("./prog");
    expect(cString(image, aux.get(AT_PLATFORM)!)).toBe("x86_64");
    const randomAt = Number(aux.get(AT_RANDOM)!) - image.low;
    expect([...image.bytes.subarray(randomAt, randomAt + 16)]).toEqual([...random16]);
    expect(Number(aux.get(AT_PLATFORM)!)).toBeLessThanOrEqual(image.argStart - 4000 - 7);
    expect(Number(aux.get(AT_RANDOM)!)).toBe(Number(aux.get(AT_PLATFORM)!) - 16);
  });

  test("the initial mapping reaches 128 KiB below the strings' page", () => {
    const image = buildStack(request());
    expect(image.mappingStart).toBe(image.argStart - (image.argStart % 4096) - STACK_EXPAND);
  });

  test("argc is the first word and argv/envp are NULL-terminated pointer arrays", () => {
    const image = buildStack(request({ argv: [], envp: [] }));
    const view = new DataView(image.bytes.buffer);
    const at = image.sp - image.low;
    expect(view.getBigUint64(at, true)).toBe(0n);
    expect(view.getBigUint64(at + 8, true)).toBe(0n);
    expect(view.getBigUint64(at + 16, true)).toBe(0n);
    expect(readStackImage(image)).toMatchObject({ argv: [], envp: [] });
  });

  test("refuses strings the kernel would refuse (E2BIG)", () => {
    const long = "x".repeat(MAX_ARG_STRLEN);
    expect(() => buildStack(request({ argv: ["p", long] }))).toThrow(LoadError);
    const many = Array.from({ length: 3000 }, () => "y".repeat(1000));
    let error: unknown;
    try {
      buildStack(request({ argv: many, stackLimit: 8 * 1024 * 1024 }));
    } catch (e) {
      error = e;
    }
    expect((error as LoadError).errno).toBe("E2BIG");
    expect(buildStack(request({ argv: many, stackLimit: 64 * 1024 * 1024 })).sp).toBeGreaterThan(0);
  });

  test("the E2BIG limit is bprm_stack_limits': a quarter of RLIMIT_STACK, at least 128 KiB, at most 6 MiB (also when unlimited)", () => {
    expect(argumentSpace(1024 * 1024, 1, 0)).toBe(256 * 1024 - 8);
    expect(argumentSpace(64 * 1024, 1, 0)).toBe(128 * 1024 - 8);
    expect(argumentSpace(64 * 1024 * 1024, 2, 3)).toBe(6 * 1024 * 1024 - 40);
    expect(argumentSpace(Infinity, 1, 0)).toBe(6 * 1024 * 1024 - 8);
  });

  test("under a small RLIMIT_STACK the initial mapping reaches only as far as the limit", () => {
    const image = buildStack(request({ stackLimit: 64 * 1024 }));
    expect(image.mappingStart).toBe(TOP - 64 * 1024);
    expect(buildStack(request({ stackLimit: Infinity })).mappingStart).toBe(buildStack(request()).mappingStart);
  });

  test("UTF-8 arguments are encoded byte for byte", () => {
    const image = buildStack(request({ argv: ["prog", "größe ✓"] }));
    expect(readStackImage(image).argv[1]).toBe("größe ✓");
  });
});
