/**
 * The pagers' command as `bun run apager|dpager|hpager` starts it: src/cli/cli.ts,
 * run from one bytecode-compiled file (shim/build/command/cli.js, with its
 * .jsc) that Bun loads in a fraction of the time it takes to transpile and
 * link the sources one by one. A shell script or a build that runs many
 * short programs under a pager pays the command's start-up every time.
 * `command.ts service ...` runs the user's service the same way
 * (src/service/service-main.ts, shim/build/command/service-main.js): the
 * first command after an idle time waits for it.
 *
 * The file is built from src/ with Bun.build when it is missing, older than
 * any source, package.json or bun.lock, or made by another Bun version; when
 * it cannot be built (a read-only checkout, say), src/cli/cli.ts runs as it is.
 * FAULTLINE_COMMAND=source always runs the sources.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

// Nothing else of faultline's is imported here: each import would be
// transpiled on every start, which is what this file saves.
const PROJECT_ROOT = resolve(import.meta.dir, "..", "..");
const SOURCES = join(PROJECT_ROOT, "src");
const BUILD_DIR = join(PROJECT_ROOT, "shim", "build");
const COMMAND_DIR = join(BUILD_DIR, "command");
/** The bundles, one per entry point, built together. */
const ENTRIES = { cli: join(SOURCES, "cli", "cli.ts"), "service-main": join(SOURCES, "service", "service-main.ts") };
const ENTRY: keyof typeof ENTRIES = process.argv[2] === "service" ? "service-main" : "cli";
const BUNDLE = join(COMMAND_DIR, `${ENTRY}.js`);
/** Which Bun made the bundle: bytecode is Bun's own. */
const STAMP = join(COMMAND_DIR, "bun-version");

function newestSourceTime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceTime(path));
    else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh(): boolean {
  try {
    if (readFileSync(STAMP, "utf8") !== Bun.version) return false;
    const made = statSync(BUNDLE).mtimeMs;
    const inputs = [newestSourceTime(SOURCES), ...["package.json", "bun.lock"].map((name) => (existsSync(join(PROJECT_ROOT, name)) ? statSync(join(PROJECT_ROOT, name)).mtimeMs : 0))];
    return inputs.every((time) => time <= made);
  } catch {
    return false;
  }
}

/** Build the bundle beside its place and move it in, so a command running
 * meanwhile never loads half of one. False when it cannot be built. */
async function buildBundle(): Promise<boolean> {
  const temporary = `${COMMAND_DIR}.${process.pid}.tmp`;
  try {
    rmSync(temporary, { recursive: true, force: true });
    const built = await Bun.build({ entrypoints: Object.values(ENTRIES), target: "bun", format: "cjs", bytecode: true, outdir: temporary, naming: "[name].[ext]" });
    if (!built.success) return false;
    writeFileSync(join(temporary, "bun-version"), Bun.version);
    mkdirSync(BUILD_DIR, { recursive: true });
    rmSync(COMMAND_DIR, { recursive: true, force: true });
    renameSync(temporary, COMMAND_DIR);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
}

if (process.env.FAULTLINE_COMMAND !== "source" && (bundleIsFresh() || (await buildBundle()))) {
  require(BUNDLE);
} else if (ENTRY === "cli") {
  await import("./cli.ts");
} else {
  await import("../service/service-main.ts");
}
