/**
 * The folder READMEs' rules are kept: each folder of src/ says in its
 * README which other folders (or files of them) its files may import, in one
 * sentence, and every import in src/ keeps to it (static `import` and
 * `export ... from`, and `import()` or `require()` of a literal path).
 *
 * The sentence's form (src/README.md says it too): "May import:" then the
 * folders (`loader/`) and files (`cli/options.ts`) in backquotes, up to the
 * sentence's end; a parenthesis after one may name, in backquotes, the files
 * of this folder that alone may import it (`shim/` (in `launch.ts`)); other
 * words are for the reader. "May import: everything." and "May import:
 * nothing." say what they say. A folder imports its own files freely, and
 * anything outside src/ (packages, package.json) is not the READMEs' business.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { ROOT } from "../support/programs.ts";
import { importsOf, typescriptFiles } from "../support/source-scan.ts";

/** What one folder may import from the others. */
interface FolderRule {
  everything: boolean;
  /** Each target (`loader/`, `cli/options.ts`) and the files of this folder
   * that alone may import it (empty: any of them). */
  allowed: { target: string; importers: string[] }[];
}

/** The README's "May import" sentence, from the words after it to its end
 * (a full stop or a semicolon outside backquotes and parentheses). */
function mayImportSentence(readme: string): string | null {
  const start = readme.indexOf("May import");
  if (start < 0) return null;
  let quoted = false;
  let depth = 0;
  for (let i = start + "May import".length; i < readme.length; i++) {
    const c = readme[i]!;
    if (c === "`") quoted = !quoted;
    else if (quoted) continue;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (depth === 0 && (c === ";" || (c === "." && /\s/.test(readme[i + 1] ?? " ")))) return readme.slice(start + "May import".length, i);
  }
  return readme.slice(start + "May import".length);
}

/** A folder's rule, read from its README's text; null when it states none. */
function parseRule(readme: string): FolderRule | null {
  const sentence = mayImportSentence(readme);
  if (sentence === null) return null;
  const words = sentence.replace(/^:?\s*/, "");
  if (/^everything\b/.test(words)) return { everything: true, allowed: [] };
  const allowed: FolderRule["allowed"] = [];
  let depth = 0;
  for (const token of words.matchAll(/`([^`]*)`|\(|\)/g)) {
    if (token[0] === "(") depth++;
    else if (token[0] === ")") depth--;
    else if (depth === 0) allowed.push({ target: token[1]!, importers: [] });
    else if (allowed.length > 0 && !token[1]!.includes("/")) allowed[allowed.length - 1]!.importers.push(token[1]!);
  }
  if (allowed.length === 0 && !/^nothing\b/.test(words)) return null;
  return { everything: false, allowed };
}

/** An import that breaks its folder's rule, in words. */
interface Break {
  file: string;
  line: number;
  imports: string;
}

/** Whether `rule` lets file `importer` (its path inside its folder) import
 * `target` (its path inside src/). */
function allows(rule: FolderRule, importer: string, target: string): boolean {
  if (rule.everything) return true;
  return rule.allowed.some((a) => (a.target.endsWith("/") ? target.startsWith(a.target) : target === a.target) && (a.importers.length === 0 || a.importers.includes(importer)));
}

/** The folders of `src` that hold code (not type declarations alone). */
function codeFolders(src: string): string[] {
  return readdirSync(src, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && [...typescriptFiles(join(src, entry.name))].some((file) => !file.endsWith(".d.ts")))
    .map((entry) => entry.name)
    .sort();
}

/** Every import in `src` that breaks its folder's rule, and every folder
 * whose README states none. */
function folderRuleBreaks(src: string): { unstated: string[]; breaks: Break[] } {
  const unstated: string[] = [];
  const breaks: Break[] = [];
  for (const folder of codeFolders(src)) {
    const readme = join(src, folder, "README.md");
    const rule = existsSync(readme) ? parseRule(readFileSync(readme, "utf8")) : null;
    if (rule === null) {
      unstated.push(folder);
      continue;
    }
    for (const file of typescriptFiles(join(src, folder))) {
      const importer = relative(join(src, folder), file);
      for (const site of importsOf(readFileSync(file, "utf8"))) {
        if (!site.specifier.startsWith(".")) continue;
        const target = relative(src, resolve(dirname(file), site.specifier));
        // Outside src/, or a file at its top (index.ts): no folder's rule.
        if (target.startsWith("..") || !target.includes(sep)) continue;
        if (target.startsWith(`${folder}/`)) continue;
        if (!allows(rule, importer, target)) breaks.push({ file: relative(dirname(src), file), line: site.line, imports: target });
      }
    }
  }
  return { unstated, breaks };
}

test("every folder of src/ states in its README what it may import", () => {
  const { unstated } = folderRuleBreaks(join(ROOT, "src"));
  expect(unstated).toEqual([]);
  expect(codeFolders(join(ROOT, "src")).length).toBeGreaterThan(5);
});

test("no import in src/ breaks its folder's rule", () => {
  const { breaks } = folderRuleBreaks(join(ROOT, "src"));
  expect(breaks.map((b) => `${b.file}:${b.line} imports ${b.imports}`)).toEqual([]);
});

describe("the rule, as read from a README", () => {
  test("folders and files in backquotes, up to the sentence's end", () => {
    const rule = parseRule("# x/\n\nText. May import: `loader/` (the ELF check), `shim/` (in `a.ts`, `b.ts`) and\n`cli/options.ts` (its pages). Not `cli/`.\n");
    expect(rule).toEqual({
      everything: false,
      allowed: [
        { target: "loader/", importers: [] },
        { target: "shim/", importers: ["a.ts", "b.ts"] },
        { target: "cli/options.ts", importers: [] },
      ],
    });
    expect(allows(rule!, "c.ts", "loader/elf.ts")).toBe(true);
    expect(allows(rule!, "a.ts", "shim/shim.ts")).toBe(true);
    expect(allows(rule!, "c.ts", "shim/shim.ts")).toBe(false);
    expect(allows(rule!, "c.ts", "cli/options.ts")).toBe(true);
    expect(allows(rule!, "c.ts", "cli/cli.ts")).toBe(false);
  });

  test("everything, nothing, and a README that says neither", () => {
    expect(parseRule("May import: everything; nothing imports it.")).toEqual({ everything: true, allowed: [] });
    expect(parseRule("May import: nothing.")).toEqual({ everything: false, allowed: [] });
    expect(parseRule("Pure functions.")).toBeNull();
  });

  test("an import the rule does not allow is a break, named with its line", () => {
    const src = join(mkdtempSync(join(tmpdir(), "faultline-folder-rules-")), "src");
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(src, path)), { recursive: true });
      writeFileSync(join(src, path), text);
    };
    try {
      write("high/README.md", "May import: everything.\n");
      write("high/high.ts", 'import { low } from "../low/low.ts";\nexport const high = low;\n');
      write("low/README.md", "May import: `base/`.\n");
      write("low/base-user.ts", 'export { base } from "../base/base.ts";\n');
      write("low/low.ts", ['import type { high } from "../high/high.ts";', "// import { x } from \"../high/high.ts\";", 'export * from "../high/high.ts";', 'const later = () => import("../high/high.ts");', 'const pkg = import("../../package.json");', "export const low = 1;", ""].join("\n"));
      write("base/README.md", "May import: nothing.\n");
      write("base/base.ts", "export const base = 0;\n");
      write("bare/bare.ts", "export const bare = 0;\n");
      const { unstated, breaks } = folderRuleBreaks(src);
      expect(unstated).toEqual(["bare"]);
      expect(breaks.map((b) => `${b.file}:${b.line} imports ${b.imports}`)).toEqual(["src/low/low.ts:1 imports high/high.ts", "src/low/low.ts:3 imports high/high.ts", "src/low/low.ts:4 imports high/high.ts"]);
    } finally {
      rmSync(dirname(src), { recursive: true, force: true });
    }
  });
});
