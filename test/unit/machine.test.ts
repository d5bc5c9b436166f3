import { describe, expect, test } from "bun:test";
import { hasCapability, legacyReadImpliesExecOf, parseMeminfo, parseStackLimit } from "../../src/loader/machine.ts";

describe("machine facts", () => {
  test("/proc/meminfo figures in bytes", () => {
    const figures = parseMeminfo("MemTotal:       24684096 kB\nSwapTotal:             0 kB\nHugePages_Total:       0\n");
    expect(figures.get("MemTotal")).toBe(24684096 * 1024);
    expect(figures.get("SwapTotal")).toBe(0);
    expect(figures.get("HugePages_Total")).toBe(0);
  });

  test("an effective capability from /proc/PID/status", () => {
    expect(hasCapability("Name:\tbun\nCapEff:\t000001fffeffffff\n", 17)).toBe(true);
    expect(hasCapability("CapEff:\t0000000000000000\n", 17)).toBe(false);
    expect(hasCapability("CapEff:\t0000000000020000\n", 17)).toBe(true);
  });

  test("RLIMIT_STACK from /proc/PID/limits", () => {
    expect(parseStackLimit("Max stack size            8388608              unlimited            bytes\n")).toBe(8388608);
    expect(parseStackLimit("Max stack size            unlimited            unlimited            bytes\n")).toBeNull();
  });
});

describe("READ_IMPLIES_EXEC from PT_GNU_STACK", () => {
  test("set by kernels before 5.8 only", () => {
    expect(legacyReadImpliesExecOf("4.19.0-21-amd64")).toBe(true);
    expect(legacyReadImpliesExecOf("5.7.19")).toBe(true);
    expect(legacyReadImpliesExecOf("5.8.0")).toBe(false);
    expect(legacyReadImpliesExecOf("6.18.44-fc-v1300")).toBe(false);
  });
});
