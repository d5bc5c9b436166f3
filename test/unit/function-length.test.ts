/**
 * No function in src/ is longer than a reader takes in at once: at most
 * MAX_BODY_LINES lines between its body's braces (a longer one is split into
 * named steps). Counted over function declarations and expressions,
 * methods, and arrow functions with a block body (test/support/source-scan.ts).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { ROOT } from "../support/programs.ts";
import { functionsOf, typescriptFiles } from "../support/source-scan.ts";

const MAX_BODY_LINES = 100;

test(`no function in src/ has a body over ${MAX_BODY_LINES} lines`, () => {
  const long: string[] = [];
  let counted = 0;
  for (const file of typescriptFiles(`${ROOT}/src`)) {
    for (const span of functionsOf(readFileSync(file, "utf8"))) {
      counted++;
      if (span.bodyLines > MAX_BODY_LINES) long.push(`${relative(ROOT, file)}:${span.line} ${span.name}: ${span.bodyLines} lines`);
    }
  }
  expect(long).toEqual([]);
  // The count sees the functions there are: src/ has hundreds.
  expect(counted).toBeGreaterThan(500);
});

test("a function's body is counted between its braces, whatever its form", () => {
  const body = (lines: number) => Array.from({ length: lines }, (_, i) => `  const step${i} = "{" + \`}\${i}\`; // }`).join("\n");
  const source = [
    `export async function declared(a: string): Promise<{ done: boolean }> {\n${body(101)}\n}`,
    `const arrow = async (a: number): Promise<void> => {\n${body(100)}\n};`,
    `class Owner {\n  private method<T>(value: T): T | null {\n${body(102)}\n  }\n  get accessor(): number {\n${body(3)}\n  }\n}`,
    `export function overload(a: string): string;\nexport function overload(a: unknown): unknown {\n  return /[}{]/.test(String(a)) ? a : null;\n}`,
  ].join("\n");
  const spans = functionsOf(source).map((span) => `${span.name} ${span.bodyLines}`);
  expect(spans).toEqual(["declared 101", "arrow 100", "method 102", "accessor 3", "overload 1"]);
});
