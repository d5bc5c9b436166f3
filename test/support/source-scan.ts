/**
 * A small reader of our own TypeScript, for the tests that hold src/ to its
 * rules (test/unit/folder-rules.test.ts, test/unit/function-length.test.ts):
 * the code with its comments, strings, templates and regular expressions
 * blanked out (so a brace or a word in them counts for nothing), the
 * modules each file imports, and where each function's body starts and
 * ends. Not a parser: enough of the language's lexical rules to match
 * braces and find import specifiers in code written as ours is.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";

/** A file's code as the scanners read it. */
export interface ScannedSource {
  /** The text, of the same length and with the same line breaks, with
   * every comment and the contents of every string, template and regular
   * expression literal replaced by spaces (their delimiters kept). */
  code: string;
  /** Each string literal (and template without substitutions) by the
   * offset of its opening quote: its text as written. */
  strings: Map<number, string>;
}

/** Words after which a `/` starts a regular expression, not a division. */
const BEFORE_REGEX_WORDS = new Set(["return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await", "instanceof"]);
/** Punctuation after which a `/` starts a regular expression. */
const BEFORE_REGEX_MARKS = "(,=:[!&|?{};+-*%<>~^";

/** What code a `/` at `at` follows: a regular expression or a division. */
function startsRegex(text: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && /\s/.test(text[i]!)) i--;
  if (i < 0) return true;
  if (BEFORE_REGEX_MARKS.includes(text[i]!)) return true;
  const word = /[\w$]+$/.exec(text.slice(Math.max(0, i - 20), i + 1));
  return word !== null && BEFORE_REGEX_WORDS.has(word[0]);
}

/** Blank `text` from `from` to `to` (exclusive) in `out`, keeping line breaks. */
function blank(out: string[], text: string, from: number, to: number): void {
  for (let i = from; i < to; i++) out[i] = text[i] === "\n" ? "\n" : " ";
}

/** Read `text` as TypeScript: its code with the rest blanked, and its strings. */
export function scanSource(text: string): ScannedSource {
  const out = text.split("");
  const strings = new Map<number, string>();
  /** For each template whose `${` we are inside: the braces open in it. */
  const templates: number[] = [];
  // A #! line is the system's, not the language's.
  let i = text.startsWith("#!") ? text.indexOf("\n") : 0;
  if (i < 0) i = text.length;
  blank(out, text, 0, i);
  /** From a template's text at `i` (after its backtick or a `}`): to its end
   * or its next substitution. Returns whether it ended. */
  const templateText = (): boolean => {
    let j = i;
    while (j < text.length) {
      const c = text[j]!;
      if (c === "\\") j += 2;
      else if (c === "`") {
        blank(out, text, i, j);
        i = j + 1;
        return true;
      } else if (c === "$" && text[j + 1] === "{") {
        blank(out, text, i, j);
        i = j + 2;
        templates.push(0);
        return false;
      } else j++;
    }
    blank(out, text, i, text.length);
    i = text.length;
    return true;
  };
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      const end = text.indexOf("\n", i);
      const stop = end < 0 ? text.length : end;
      blank(out, text, i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(out, text, i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
      strings.set(i, text.slice(i + 1, j));
      blank(out, text, i + 1, j);
      i = j + 1;
    } else if (c === "`") {
      const open = i;
      i++;
      const ended = templateText();
      if (ended) strings.set(open, text.slice(open + 1, i - 1));
    } else if (c === "/" && startsRegex(text, i)) {
      let j = i + 1;
      let inClass = false;
      while (j < text.length && text[j] !== "\n") {
        const r = text[j]!;
        if (r === "\\") j++;
        else if (r === "[") inClass = true;
        else if (r === "]") inClass = false;
        else if (r === "/" && !inClass) break;
        j++;
      }
      blank(out, text, i + 1, j);
      i = j + 1;
    } else if (c === "{" && templates.length > 0) {
      templates[templates.length - 1]!++;
      i++;
    } else if (c === "}" && templates.length > 0) {
      if (templates[templates.length - 1] === 0) {
        templates.pop();
        i++;
        templateText();
      } else {
        templates[templates.length - 1]!--;
        i++;
      }
    } else i++;
  }
  return { code: out.join(""), strings };
}

/** Every TypeScript file below `dir`, as paths joined to it. */
export function* typescriptFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* typescriptFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** One module a file imports. */
export interface ImportSite {
  specifier: string;
  /** The line it is on, from 1. */
  line: number;
}

/** Where `offset` is in `code`, as a line number from 1. */
function lineAt(code: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (code[i] === "\n") line++;
  return line;
}

/** The modules `text` imports: `import ... from "x"`, `import "x"`,
 * `export ... from "x"`, `import("x")` and `require("x")` with a literal. */
export function importsOf(text: string): ImportSite[] {
  const { code, strings } = scanSource(text);
  const found: ImportSite[] = [];
  const patterns = [/\bimport\s+(?:type\s+)?[\w$*{},\s]*?\bfrom\s*(?=["'])/g, /\bimport\s*(?=["'])/g, /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\})\s*from\s*(?=["'])/g, /(?<![\w$.])(?:import|require)\s*\(\s*(?=["'`])/g];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) {
      const quote = match.index + match[0].length;
      const specifier = strings.get(quote);
      // A template with substitutions names no one module: not counted.
      if (specifier !== undefined) found.push({ specifier, line: lineAt(code, quote) });
    }
  }
  return found.sort((a, b) => a.line - b.line);
}

/** A function in a file, and how long its body is. */
export interface FunctionSpan {
  name: string;
  /** The line its head starts on, from 1. */
  line: number;
  /** Lines between its body's braces, the braces' own lines not counted. */
  bodyLines: number;
}

/** Words that look like a method's name before a `(` but are statements. */
const NOT_METHODS = new Set(["if", "for", "while", "switch", "catch", "return", "function", "else", "do", "with", "typeof", "await", "new", "throw", "yield", "super", "import", "export", "void", "delete", "in", "of", "case"]);

/** The offset of the bracket that closes the one at `open` in `code`. */
function closing(code: string, open: number): number {
  const pairs: Record<string, string> = { "(": ")", "[": "]", "{": "}" };
  const stack: string[] = [];
  for (let i = open; i < code.length; i++) {
    const c = code[i]!;
    if (c in pairs) stack.push(pairs[c]!);
    else if (c === ")" || c === "]" || c === "}") {
      stack.pop();
      if (stack.length === 0) return i;
    }
  }
  return -1;
}

/** In a return type, what a `{` that opens an object type comes after. */
const TYPE_BRACE_AFTER = new Set([":", "|", "&", "<", ",", "(", "[", "=>"]);

/** After a parameter list's `)` at `close`: the offset of the function's
 * body `{`, past a return type if there is one; -1 when what follows is no
 * body (a call, an overload's signature). */
function bodyAfter(code: string, close: number): number {
  let i = close + 1;
  while (/\s/.test(code[i] ?? "")) i++;
  if (code[i] === "{") return i;
  if (code[i] !== ":") return -1;
  // A return type: a `{` right after one of these marks is an object type.
  let previous = ":";
  i++;
  let depth = 0;
  for (; i < code.length; i++) {
    const c = code[i]!;
    if (/\s/.test(c)) continue;
    if (c === "=" && code[i + 1] === ">") {
      previous = "=>";
      i++;
      continue;
    }
    if (c === "{") {
      if (depth === 0 && !TYPE_BRACE_AFTER.has(previous)) return i;
      i = closing(code, i);
      if (i < 0) return -1;
      previous = "}";
      continue;
    }
    if (c === "(" || c === "[" || c === "<") depth++;
    else if (c === ")" || c === "]" || c === ">") depth--;
    else if (depth === 0 && (c === ";" || c === "=" || c === ",")) return -1;
    if (depth < 0) return -1;
    previous = c;
  }
  return -1;
}

/** Every function in `text` with a body: declarations and expressions
 * (`function`), methods (of classes and object literals, accessors and
 * constructors included) and arrow functions with a block body (named by
 * the const they are assigned to, where they are). */
export function functionsOf(text: string): FunctionSpan[] {
  const { code } = scanSource(text);
  const lineStarts = [0];
  for (let i = 0; i < code.length; i++) if (code[i] === "\n") lineStarts.push(i + 1);
  const lineOf = (offset: number) => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (lineStarts[middle]! <= offset) low = middle;
      else high = middle - 1;
    }
    return low + 1;
  };
  const bodies = new Map<number, FunctionSpan>();
  const add = (name: string, head: number, open: number) => {
    if (open < 0 || bodies.has(open)) return;
    const close = closing(code, open);
    if (close < 0) return;
    bodies.set(open, { name, line: lineOf(head), bodyLines: lineOf(close) - lineOf(open) - 1 });
  };
  for (const match of code.matchAll(/\bfunction\b\s*\*?\s*([\w$]*)\s*(?:<[^>(]*>)?\s*\(/g)) {
    const open = match.index + match[0].length - 1;
    add(match[1] || "function", match.index, bodyAfter(code, closing(code, open)));
  }
  // Within one line ([ \t], not \s): a blanked comment is a long run of spaces.
  const method = /^[ \t]*(?:(?:public|private|protected|static|async|override|readonly|get|set|abstract)[ \t]+)*\*?[ \t]*(#?[\w$]+|\[[^\]\n]*\])[ \t]*(?:<[^>\n]*>)?[ \t]*\(/gm;
  for (const match of code.matchAll(method)) {
    if (NOT_METHODS.has(match[1]!)) continue;
    const open = match.index + match[0].length - 1;
    add(match[1]!, match.index + match[0].search(/\S/), bodyAfter(code, closing(code, open)));
  }
  for (const match of code.matchAll(/=>\s*\{/g)) {
    const lineStart = lineStarts[lineOf(match.index) - 1]!;
    const assigned = /\b(?:const|let|var)\s+([\w$]+)\s*(?::[^=]*)?=[^=>]/.exec(code.slice(lineStart, match.index));
    add(assigned ? assigned[1]! : `arrow function`, match.index, match.index + match[0].length - 1);
  }
  return [...bodies.values()].sort((a, b) => a.line - b.line);
}
