/**
 * The pagers' command as `bun run apager|dpager|hpager` starts it: src/cli/cli.ts,
 * run from one bytecode-compiled file (build/command/cli.js, with its .jsc)
 * that Bun loads in a fraction of the time it takes to transpile and link the
 * sources one by one. A shell script or a build that runs many short programs
 * under a pager pays the command's start-up every time. `command.ts service
 * ...` runs the user's service the same way (src/service/service-main.ts,
 * build/command/service-main.js): the first command after an idle time waits
 * for it.
 *
 * The bundles are built from src/ with Bun.build when missing, older than any
 * source, package.json or bun.lock, or made by another Bun version: into the
 * package's build/command/ when this process may write there or what is there
 * is current; else (a read-only install, another user's checkout) into this
 * copy's folder in the user's cache directory. Where neither can be written,
 * src/cli/cli.ts runs as it is. FAULTLINE_COMMAND=source always runs the
 * sources.
 */
import { accessSync, constants as fsConstants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

// Nothing else of faultline's is imported here: each import would be
// transpiled on every start, which is what this file saves.
const PROJECT_ROOT = resolve(import.meta.dir, "..", "..");
const SOURCES = join(PROJECT_ROOT, "src");
/** Where the package keeps its bundles, when it may write there. */
const PACKAGE_COMMAND_DIR = join(PROJECT_ROOT, "build", "command");
/** The bundles, one per entry point, built together. */
const ENTRIES = { cli: join(SOURCES, "cli", "cli.ts"), "service-main": join(SOURCES, "service", "service-main.ts") };
const ENTRY: keyof typeof ENTRIES = process.argv[2] === "service" ? "service-main" : "cli";
/** Which Bun made the bundle: bytecode is Bun's own. */
const STAMP_NAME = "bun-version";

/** This copy's folder for its bundles in the user's cache directory (as
 * src/shim/shim-build.ts's userCacheDir, which keeps the shim's builds
 * beside it): named from where the package is, so two installs keep theirs
 * apart. */
function userCommandDir(): string {
  const cache = join(process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), ".cache"), "faultline");
  return join(cache, `command-${Bun.hash(PROJECT_ROOT).toString(16).padStart(16, "0").slice(0, 12)}`);
}

function newestSourceTime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceTime(path));
    else if (/\.(ts|json)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh(dir: string): boolean {
  try {
    if (readFileSync(join(dir, STAMP_NAME), "utf8") !== Bun.version) return false;
    const made = statSync(join(dir, `${ENTRY}.js`)).mtimeMs;
    const inputs = [newestSourceTime(SOURCES), ...["package.json", "bun.lock"].map((name) => (existsSync(join(PROJECT_ROOT, name)) ? statSync(join(PROJECT_ROOT, name)).mtimeMs : 0))];
    return inputs.every((time) => time <= made);
  } catch {
    return false;
  }
}

/** Whether this process may create or replace dir (its parent made first
 * where it is missing). */
function mayWrite(dir: string): boolean {
  try {
    accessSync(existsSync(dir) ? dir : dirname(dir), fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Build the bundles beside dir and move them in, so a command running
 * meanwhile never loads half of one. False when they cannot be built. */
async function buildBundle(dir: string): Promise<boolean> {
  const temporary = `${dir}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(dir), { recursive: true, mode: dir === PACKAGE_COMMAND_DIR ? 0o755 : 0o700 });
    rmSync(temporary, { recursive: true, force: true });
    const built = await Bun.build({ entrypoints: Object.values(ENTRIES), target: "bun", format: "cjs", bytecode: true, outdir: temporary, naming: "[name].[ext]" });
    if (!built.success) return false;
    writeFileSync(join(temporary, STAMP_NAME), Bun.version);
    rmSync(dir, { recursive: true, force: true });
    renameSync(temporary, dir);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
}

/** The folder with a current bundle of ENTRY: the package's, else the
 * user's cache's; built first where it is not current. Null when none can
 * be had. */
async function bundleDir(): Promise<string | null> {
  if (bundleIsFresh(PACKAGE_COMMAND_DIR)) return PACKAGE_COMMAND_DIR;
  if (mayWrite(dirname(PACKAGE_COMMAND_DIR))) return (await buildBundle(PACKAGE_COMMAND_DIR)) ? PACKAGE_COMMAND_DIR : null;
  const cached = userCommandDir();
  return bundleIsFresh(cached) || (await buildBundle(cached)) ? cached : null;
}

const bundles = process.env.FAULTLINE_COMMAND === "source" ? null : await bundleDir();
if (bundles !== null) {
  const bundle = join(bundles, `${ENTRY}.js`);
  // Current: no source is newer than it, which the service need not walk
  // src/ again to know.
  globalThis.faultlineCodeTime = statSync(bundle).mtimeMs;
  require(bundle);
} else if (ENTRY === "cli") {
  await import("./cli.ts");
} else {
  await import("../service/service-main.ts");
}
