import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PAGER_ADDRESS_SPACE_KIB, addressLimitProblem, hasCapability, legacyReadImpliesExecOf, parseAddressSpaceLimit, parseMeminfo, parseStackLimit } from "../../src/loader/machine.ts";

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

describe("the address-space limit", () => {
  const limits = (soft: string, hard: string) => `Limit                     Soft Limit           Hard Limit           Units     \nMax stack size            8388608              unlimited            bytes     \nMax address space         ${soft}           ${hard}           bytes     \n`;
  test("read from /proc/PID/limits: the soft limit, null when unlimited", () => {
    expect(parseAddressSpaceLimit(limits("104857600", "unlimited"))).toBe(104857600);
    expect(parseAddressSpaceLimit(limits("unlimited", "unlimited"))).toBeNull();
  });
  test("a problem only below the figure, said with the limit and the figure in KiB", () => {
    expect(addressLimitProblem(null)).toBeNull();
    expect(addressLimitProblem(PAGER_ADDRESS_SPACE_KIB * 1024)).toBeNull();
    const line = addressLimitProblem(102400 * 1024)!;
    expect(line).toContain("(ulimit -v) is 102400 KiB");
    expect(line).toContain(`needs ${PAGER_ADDRESS_SPACE_KIB} KiB`);
    expect(line).toContain("the program would get your limit");
  });
  test("bin/faultline checks the same figure before Bun starts", () => {
    const script = readFileSync(join(import.meta.dir, "..", "..", "bin", "faultline"), "utf8");
    expect(/^pager_address_space_kib=(\d+)$/m.exec(script)?.[1]).toBe(String(PAGER_ADDRESS_SPACE_KIB));
  });
});
