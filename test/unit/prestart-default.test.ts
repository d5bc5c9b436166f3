import { describe, expect, test } from "bun:test";
import { prestartByDefault } from "../../src/loader/launch.ts";

describe("loaders started ahead by default", () => {
  test("only where a CPU is free for the spawn: three or more", () => {
    expect([1, 2, 3, 4, 64].map((cpus) => prestartByDefault(undefined, cpus))).toEqual([false, false, true, true, true]);
  });
  test("FAULTLINE_PRESTART=1 or 0 decides whatever the CPUs", () => {
    expect([prestartByDefault("1", 1), prestartByDefault("1", 8)]).toEqual([true, true]);
    expect([prestartByDefault("0", 1), prestartByDefault("0", 8)]).toEqual([false, false]);
  });
  test("another value is no decision: the CPUs decide", () => {
    expect([prestartByDefault("yes", 2), prestartByDefault("", 4)]).toEqual([false, true]);
  });
});
