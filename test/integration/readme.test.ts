/**
 * Every shell example of README.md and docs/*.md runs as written: each `sh`
 * block as one script, each `$ ` command of each `console` block on its
 * own, in the checkout, README.md first (its quick start installs and
 * builds what later examples use), each in a subprocess with a time limit.
 * A console command must print what the page shows (numbers may differ,
 * `…` stands for any lines; test/support/readme.ts) and end with the status
 * shown, or 0 where it shows neither output nor status. The examples are
 * read from the pages themselves, so a change there is tested as it stands.
 *
 * Also: README.md stays a page read in one sitting, its quick start is
 * what .ci/run runs, every link between the pages leads somewhere, and the
 * benchmark scripts are all named in docs/benchmarks.md.
 *
 * Each runs as the user running the tests: the examples need no root.
 */
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { EVERY_MESSAGE } from "../support/friendly-messages.ts";
import { ROOT } from "../support/programs.ts";
import { headingAnchors, missingLines, relativeLinks, shellBlocks } from "../support/readme.ts";
import { runProcess } from "../support/run.ts";

/** The quick start installs (npm pack, npm install: Bun itself is about
 * 100 MB) and builds; every other example is a run of a few seconds. */
const SCRIPT_LIMIT_MS = 300_000;
const COMMAND_LIMIT_MS = 120_000;
setDefaultTimeout(SCRIPT_LIMIT_MS + 10_000);

/** A newcomer reads the README in one sitting; the rest is in docs/. */
const README_MAX_LINES = 300;
/** docs/testing.md's commands run the test suite itself: not from here. */
const NOT_RUN_HERE = new Set(["docs/testing.md"]);

const read = (page: string) => readFileSync(join(ROOT, page), "utf8");
/** README.md, then every page in docs/, by name. */
const PAGES = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`),
];
const readme = read("README.md");
const blocks = shellBlocks(readme);
/** Scratch space for what the examples make with mktemp (the packed
 * project), removed afterwards. */
const scratch = mkdtempSync(join(tmpdir(), "faultline-readme-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Run shell text in the checkout, stdout and stderr as one stream. */
function shell(text: string, options: { exitOnError: boolean; timeout: number }) {
  const env = { ...process.env, TMPDIR: scratch };
  return runProcess(["bash", ...(options.exitOnError ? ["-e"] : []), "-c", `exec 2>&1\n${text}`], { cwd: ROOT, env, timeout: options.timeout });
}

/** A script's commands: its lines, split at `&&`, without comments. */
function commandsOf(script: string): string[] {
  return script
    .split("\n")
    .flatMap((line) => line.replace(/\s#.*$/, "").split("&&"))
    .map((command) => command.trim())
    .filter((command) => command !== "" && !command.startsWith("#"));
}

test("README.md has shell examples: the quick start's, and at least one of each kind", () => {
  expect(blocks[0]?.kind).toBe("sh");
  expect(blocks.filter((b) => b.kind === "console").length).toBeGreaterThanOrEqual(3);
});

test(`README.md is at most ${README_MAX_LINES} lines`, () => {
  expect(readme.trimEnd().split("\n").length).toBeLessThanOrEqual(README_MAX_LINES);
});

test("the quick start is what .ci/run does: install, the demo, then the tests", () => {
  const quickStart = blocks[0]!;
  if (quickStart.kind !== "sh") throw new Error("the README's first example is not the quick start's script");
  const steps = commandsOf(quickStart.script);
  expect(steps).toEqual(["npm install", "npx bun run demo"]);
  expect(readme).toContain("```text\nnpx bun test\n```");
  const ci = commandsOf(read(".ci/run"));
  for (const step of [...steps, "npx bun test"]) expect({ step, inCi: ci.some((command) => command === step || command.startsWith(`${step} `)) }).toEqual({ step, inCi: true });
});

test("every relative link of README.md and docs/*.md leads to a file that exists, and to a heading its page has", () => {
  const broken: string[] = [];
  for (const page of PAGES) {
    for (const link of relativeLinks(read(page))) {
      const target = link.path === "" ? page : normalize(join(dirname(page), link.path));
      const where = `${page}:${link.line} (${link.target})`;
      if (!existsSync(join(ROOT, target))) broken.push(`${where}: no ${target}`);
      else if (link.anchor !== null && target.endsWith(".md") && !headingAnchors(read(target)).has(link.anchor)) broken.push(`${where}: no heading #${link.anchor} in ${target}`);
    }
  }
  expect(broken).toEqual([]);
});

test("docs/benchmarks.md names every benchmark script", () => {
  const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
  const benchmarks = Object.entries(scripts)
    .filter(([, command]) => /^bun bench\/[\w-]+\.ts$/.test(command))
    .map(([name]) => name);
  const page = read("docs/benchmarks.md").replace(/\s+/g, " ");
  expect(benchmarks.length).toBeGreaterThan(5);
  expect(benchmarks.filter((name) => !page.includes(`bun run ${name}\``) && !page.includes(`bun run ${name} `))).toEqual([]);
});

for (const page of PAGES.filter((p) => !NOT_RUN_HERE.has(p))) {
  describe(page, () => {
    for (const block of page === "README.md" ? blocks : shellBlocks(read(page))) {
      if (block.kind === "sh") {
        const first = block.script.split("\n")[0]!;
        test(`line ${block.line}: the script starting '${first}' runs and succeeds${/\b(npm install|bun add)\b/.test(block.script) ? " [registry]" : ""}`, async () => {
          const ran = await shell(block.script, { exitOnError: true, timeout: SCRIPT_LIMIT_MS });
          expect({ status: ran.exitCode, output: ran.stdout.slice(-4000) }).toMatchObject({ status: 0 });
        });
        continue;
      }
      for (const step of block.steps) {
        test(`line ${step.line}: $ ${step.command}`, async () => {
          const ran = await shell(step.command, { exitOnError: false, timeout: COMMAND_LIMIT_MS });
          const printed = ran.stdout.split("\n");
          expect(ran.signal).toBeNull();
          if (step.status !== null) expect(ran.exitCode).toBe(step.status);
          else if (step.output.length === 0) expect({ status: ran.exitCode, output: ran.stdout }).toEqual({ status: 0, output: ran.stdout });
          expect({ missing: missingLines(step.output, printed, { interchangeable: EVERY_MESSAGE }), printed: ran.stdout.slice(-4000) }).toMatchObject({ missing: [] });
        });
      }
    }
  });
}
