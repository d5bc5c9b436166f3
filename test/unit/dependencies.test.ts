/**
 * What the package ships imports only what it installs: every package a
 * shipped TypeScript file imports (package.json "files": src/) is one of
 * "dependencies", so a user's install never lacks one, and benchmark-only
 * packages (mitata) stay development dependencies.
 */
import { expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "../support/programs.ts";

const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; files: string[] };

/** The package a bare import specifier names ("@scope/name/sub" -> "@scope/name"). */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || specifier.startsWith("bun:") || specifier === "bun";
}

function* typescriptFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* typescriptFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

test("every package shipped code imports is a runtime dependency", () => {
  expect(manifest.files).toContain("src");
  const transpiler = new Bun.Transpiler({ loader: "ts" });
  const imported = new Map<string, string>();
  for (const file of typescriptFiles(join(ROOT, "src"))) {
    for (const { path } of transpiler.scanImports(readFileSync(file, "utf8").replace(/^#!.*/, ""))) {
      if (path.startsWith(".") || path.startsWith("/") || isBuiltin(path)) continue;
      imported.set(packageOf(path), relative(ROOT, file));
    }
  }
  const missing = [...imported].filter(([name]) => !(name in manifest.dependencies)).map(([name, file]) => `${name} (imported by ${file})`);
  expect(missing).toEqual([]);
  // The scan sees real imports: the package's own parser is one.
  expect(imported.get("elfy")).toBeDefined();
});

test("mitata, used by the benchmarks only, is a development dependency", () => {
  expect(manifest.devDependencies).toHaveProperty("mitata");
  expect(manifest.dependencies).not.toHaveProperty("mitata");
});
