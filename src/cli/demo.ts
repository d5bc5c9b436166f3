/**
 * `bun run demo`: build the bundled example (examples/hello.c) as a static
 * executable and run it under apager, mappings and all.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { run } from "../index.ts";
import { stderrColoured } from "./colour.ts";

const examples = resolve(import.meta.dir, "..", "..", "examples");
const source = join(examples, "hello.c");
const binary = join(examples, "build", "hello");

if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
  mkdirSync(join(examples, "build"), { recursive: true });
  const cc = process.env.CC?.trim() || "cc";
  const built = Bun.spawnSync([cc, "-static", "-O2", "-o", binary, source], { stderr: "inherit" });
  if (built.exitCode !== 0) {
    console.error(`demo: could not build ${source} with ${cc} (a C compiler and static libc are needed)`);
    process.exit(1);
  }
}

const pc = stderrColoured();
console.error(pc.bold(`$ bun run apager examples/build/hello demo`));
const report = await run([binary, "demo"], { log: true });
console.error(pc.dim(`exit ${report.exitCode}, ${report.pagesMapped} pages mapped, peak RSS ${report.maxRssKiB} KiB, ${report.wallMs.toFixed(1)} ms`));
process.exit(report.exitCode ?? 1);
