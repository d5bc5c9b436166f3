import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { VDSO_PARTS } from "../../src/loader/contract.ts";
import { join } from "node:path";
import { PAGER_ADDRESS_SPACE_KIB, addressLimitProblem, parseVdsoBlock, hasCapability, legacyReadImpliesExecOf, parseAddressSpaceLimit, parseMeminfo, parseStackLimit } from "../../src/loader/machine.ts";

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

describe("the vDSO block", () => {
  const maps = (lines: string[]) => `${lines.join("\n")}\n`;
  test("the vDSO and the data mappings beside it, from the block's start", () => {
    const block = parseVdsoBlock(maps([
      "7f0000000000-7f0000001000 r--p 00000000 fe:00 1    /usr/lib/libc.so.6",
      "7ffff7fc2000-7ffff7fc6000 r--p 00000000 00:00 0    [vvar]",
      "7ffff7fc6000-7ffff7fc8000 r--p 00000000 00:00 0    [vvar_vclock]",
      "7ffff7fc8000-7ffff7fca000 r-xp 00000000 00:00 0    [vdso]",
      "7ffff7fca000-7ffff7fcb000 r--p 00000000 fe:00 2    /usr/lib/ld-linux-x86-64.so.2",
    ]));
    expect(block).toEqual({ parts: [{ offset: 0, length: 0x4000 }, { offset: 0x4000, length: 0x2000 }, { offset: 0x6000, length: 0x2000 }], vdsoOffset: 0x6000 });
  });
  test("an older kernel's [vvar] alone; a data mapping not beside it is not part of it", () => {
    expect(parseVdsoBlock(maps(["7ffd00000000-7ffd00004000 r--p 00000000 00:00 0 [vvar]", "7ffd00004000-7ffd00006000 r-xp 00000000 00:00 0 [vdso]"]))).toEqual({
      parts: [{ offset: 0, length: 0x4000 }, { offset: 0x4000, length: 0x2000 }],
      vdsoOffset: 0x4000,
    });
    expect(parseVdsoBlock(maps(["7ffd00000000-7ffd00003000 r--p 00000000 00:00 0 [vvar]", "7ffd00004000-7ffd00006000 r-xp 00000000 00:00 0 [vdso]"]))).toEqual({ parts: [{ offset: 0, length: 0x2000 }], vdsoOffset: 0 });
  });
  test("none without a vDSO, nor for more mappings than the loader moves", () => {
    expect(parseVdsoBlock(maps(["00400000-00401000 r-xp 00000000 fe:00 1 /bin/x"]))).toBeNull();
    const many = Array.from({ length: VDSO_PARTS }, (_, i) => `7ffd0000${i}000-7ffd0000${i + 1}000 r--p 00000000 00:00 0 [vvar]`);
    expect(parseVdsoBlock(maps([...many, `7ffd0000${VDSO_PARTS}000-7ffd0000${VDSO_PARTS + 1}000 r-xp 00000000 00:00 0 [vdso]`]))).toBeNull();
  });
});
