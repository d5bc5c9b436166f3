/**
 * Checks of the unit tier's pure code against what a compiler makes: the
 * shim as built reports the contract this side holds (src/loader/contract.ts),
 * and parseElf finds the dynamic section of a program linked with
 * -rpath '$ORIGIN/lib'. They build (the shim when stale, a C program), so
 * they live in the build tier and the unit tier stays free of compilers.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { contractDifferences } from "../../src/loader/contract.ts";
import { originSearchPaths, parseElf } from "../../src/loader/elf.ts";
import { contractLayout } from "../../src/shim/shim.ts";
import { tinyProgram } from "../support/craft.ts";

describe("the contract's layout", () => {
  test("the shim as built reports exactly this side's fields and stages", () => {
    const text = contractLayout();
    expect(contractDifferences(text)).toEqual([]);
    expect(text).toContain("fl_launch_spec status 544 152\n");
    expect(text).toContain("stage MAP_REGION 4\n");
  });
});

describe("originSearchPaths: the program's own search paths that name $ORIGIN", () => {
  test("a real program linked with -rpath '$ORIGIN/lib': parseElf finds its dynamic section", () => {
    const dir = mkdtempSync(join(tmpdir(), "faultline-origin-"));
    const source = join(dir, "main.c");
    writeFileSync(source, "int main(void) { return 0; }\n");
    const program = join(dir, "main");
    const built = Bun.spawnSync([process.env.CC?.trim() || "cc", "-o", program, source, "-Wl,-rpath,$ORIGIN/lib"]);
    expect(built.exitCode).toBe(0);
    const bytes = readFileSync(program);
    const image = parseElf(program, bytes);
    expect(image.dynamic).not.toBeNull();
    const section = bytes.subarray(image.dynamic!.offset, image.dynamic!.offset + image.dynamic!.size);
    expect(originSearchPaths(section, image.segments, (o, n) => bytes.subarray(o, o + n))).toEqual(["$ORIGIN/lib"]);
    // A static program has none.
    expect(parseElf("tiny", tinyProgram(0)).dynamic).toBeNull();
    rmSync(dir, { recursive: true, force: true });
  });
});
