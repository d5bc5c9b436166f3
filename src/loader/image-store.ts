/**
 * Parsed ELF images kept on disk between commands, so that running the same
 * unchanged programs again (a build, a script's loop) neither loads the ELF
 * parser nor parses: `bun run apager` starts a new process each time, whose
 * in-memory cache (src/loader/launch.ts) starts empty.
 *
 * An entry is found by the file's identity (device, inode, size,
 * modification and change times: src/loader/program-file.ts), the role it was read
 * in and the path it was named by, and holds exactly what parseElf returned
 * for it. The store lives in the user's cache directory
 * ($XDG_CACHE_HOME/faultline, else ~/.cache/faultline), is used only when
 * that directory belongs to the user and nobody else may write it, and
 * keeps at most MAX_ENTRIES entries (the oldest half goes when full). Any
 * failure to read or write it is the same as not having it.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ElfImage } from "./elf.ts";
import { LoadError } from "./errors.ts";

/** Bumped whenever ElfImage or parseElf's verdicts change. */
const FORMAT = "faultline-image-3";
const MAX_ENTRIES = 512;
/** Group- and other-writable permission bits. */
const WRITABLE_BY_OTHERS = 0o022;

type Role = "program" | "interpreter";

interface Entry {
  key: string;
  image: Omit<ElfImage, "afterExec"> & { afterExec: { reason: string; errno: string; kernel: string } | null };
}

/** The store's directory under a cache directory, made if missing; null
 * when there is none fit to use. */
export function storeDirectory(cacheHome: string): string | null {
  try {
    const dir = join(cacheHome, "faultline", "images");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    if (stat.isDirectory() && stat.uid === process.geteuid?.() && (stat.mode & WRITABLE_BY_OTHERS) === 0) return dir;
  } catch {
    // no such directory can be made: no store
  }
  return null;
}

function keyOf(identity: string, role: Role, path: string): string {
  return `${FORMAT}\0${identity}\0${role}\0${path}`;
}

function entryPath(dir: string, key: string): string {
  return join(dir, `${Bun.hash(key).toString(16)}.json`);
}

export class ImageStore {
  /** dir: from storeDirectory; null stores nothing. */
  constructor(private readonly dir: string | null) {}

  /** The image stored for this file, read this way, if any. */
  stored(identity: string, role: Role, path: string): ElfImage | undefined {
    if (this.dir === null) return undefined;
    const key = keyOf(identity, role, path);
    try {
      const entry = JSON.parse(readFileSync(entryPath(this.dir, key), "utf8")) as Entry;
      if (entry.key !== key) return undefined;
      const after = entry.image.afterExec;
      return {
        ...entry.image,
        afterExec: after ? new LoadError(entry.image.file, after.reason, after.errno as LoadError["errno"], after.kernel as LoadError["kernel"]) : null,
      };
    } catch {
      return undefined;
    }
  }

  /** Keep an image for the next command that reads the same file. */
  store(identity: string, role: Role, path: string, image: ElfImage): void {
    if (this.dir === null) return;
    const key = keyOf(identity, role, path);
    const after = image.afterExec;
    const entry: Entry = { key, image: { ...image, afterExec: after ? { reason: after.reason, errno: after.errno, kernel: after.kernel } : null } };
    const target = entryPath(this.dir, key);
    const temporary = `${target}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, JSON.stringify(entry), { mode: 0o600 });
      renameSync(temporary, target);
      prune(this.dir);
    } catch {
      rmSync(temporary, { force: true });
    }
  }
}

let userStore: ImageStore | null = null;

/** The user's store: $XDG_CACHE_HOME/faultline/images, else under
 * ~/.cache. */
export function imageStore(): ImageStore {
  userStore ??= new ImageStore(storeDirectory(process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), ".cache")));
  return userStore;
}

/** Over MAX_ENTRIES: remove the older half. */
function prune(dir: string): void {
  const names = readdirSync(dir).filter((name) => name.endsWith(".json"));
  if (names.length <= MAX_ENTRIES) return;
  const aged = names.map((name) => ({ name, mtime: statSync(join(dir, name)).mtimeMs })).sort((a, b) => a.mtime - b.mtime);
  for (const { name } of aged.slice(0, aged.length - MAX_ENTRIES / 2)) rmSync(join(dir, name), { force: true });
}
