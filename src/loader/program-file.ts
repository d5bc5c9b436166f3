/**
 * Finding and opening the program (and its interpreter) the way execve and
 * the shells do: PATH search for a bare name, the same permission checks,
 * the same verdicts (127 not found, 126 found but not runnable).
 */
import { accessSync, closeSync, constants, fstatSync, openSync, readSync, statSync, type BigIntStats } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import { headBytesNeeded } from "./elf.ts";
import { LoadError } from "./errors.ts";

/** A file opened for loading: its descriptor stays open for the child to map
 * from, and its first bytes (headers, PT_INTERP) are what was validated. */
export interface OpenedFile {
  /** The path as it will be reported (AT_EXECFN for the program). */
  path: string;
  fd: number;
  head: Buffer;
  size: number;
  /** st_mode, st_uid and st_gid: the set-user-ID and set-group-ID bits and
   * whose IDs they would confer. */
  mode: number;
  uid: number;
  gid: number;
  /** Which file this is, as the kernel tells (device, inode, size, change
   * times): the same identity means the same bytes. */
  identity: string;
  /** Which file this is whatever its bytes: "st_dev:st_ino". */
  inode: string;
}

/** Linux's O_CLOEXEC (not in Node's typed constants): no child Bun spawns
 * meanwhile inherits the program's descriptor. */
const O_CLOEXEC = 0o2000000;

/** The first read: a page holds the headers of nearly every executable;
 * headBytesNeeded asks for more when it does not. */
const FIRST_READ_BYTES = 4096;

export function readAt(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.alloc(length);
  let filled = 0;
  while (filled < length) {
    const n = readSync(fd, buffer, filled, length - filled, position + filled);
    if (n === 0) break;
    filled += n;
  }
  return buffer.subarray(0, filled);
}

/** Where a path the program will use is found from this process: relative
 * ones from the program's working directory, when it is not this one's. */
function fromDirectory(path: string, cwd: string | null): string {
  return cwd === null || isAbsolute(path) ? path : join(cwd, path);
}

/** Resolve a command name as execvp does: a name with a slash is a path;
 * otherwise the first executable regular file of that name on PATH (an
 * entry that is relative, or empty, is looked up from `cwd`, the program's
 * working directory, null for this process's). */
export function resolveProgram(name: string, searchPath: string | undefined = process.env.PATH, cwd: string | null = null): string {
  if (name === "") throw new LoadError("''", "empty program name", "ENOENT");
  if (name.includes("/")) return name;
  for (const dir of (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(delimiter)) {
    const candidate = join(dir === "" ? "." : dir, name);
    try {
      const found = fromDirectory(candidate, cwd);
      if (statSync(found).isFile()) {
        accessSync(found, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here; keep looking
    }
  }
  throw new LoadError(name, "command not found", "ENOENT");
}

/** The path a shell would run PROGRAM by, from the caller's directory and
 * PATH; null when there is none (a launch then says why). */
export function programPathFor(name: string | undefined, searchPath: string | undefined, cwd: string): string | null {
  try {
    return name === undefined ? null : resolveProgram(name, searchPath, cwd);
  } catch {
    return null;
  }
}

/** The error's code ("ENOENT"...), or "" for an error without one. */
export function codeOf(error: unknown): string {
  return typeof error === "object" && error !== null && "code" in error ? String((error as { code: unknown }).code) : "";
}

/** The errno of a failed lookup, as execve's would be, in one line. */
function lookupError(path: string, role: "program" | "interpreter", error: unknown): LoadError {
  const code = codeOf(error);
  if (code === "ENOENT") return new LoadError(path, role === "program" ? "no such file" : "interpreter not found", "ENOENT");
  if (code === "EACCES") return new LoadError(path, "permission denied (a directory on the path is not searchable)", "EACCES");
  if (code === "ENOTDIR") return new LoadError(path, "a component of the path is not a directory", "ENOTDIR");
  if (code === "ELOOP") return new LoadError(path, "too many levels of symbolic links", "ELOOP");
  if (code === "ENAMETOOLONG") return new LoadError(path, "file name too long", "ENAMETOOLONG");
  return new LoadError(path, `cannot open: ${code || String(error)}`, "EACCES");
}

/** What says a file's bytes are unchanged: device, inode, size, and its
 * modification and change times. */
export function fileIdentity(stat: BigIntStats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeNs}:${stat.ctimeNs}`;
}

/**
 * Open and read a file to load, with the checks of execve's open_exec, which
 * the program and its interpreter both pass: it exists, is a regular file,
 * and may be executed (an execute bit, even for root, on a mount that allows
 * it). Then faultline must read it, which the kernel need not: a file that
 * is executable but not readable runs natively and is refused here.
 */
export function openForLoading(path: string, role: "program" | "interpreter", knownHead?: (identity: string) => Buffer | undefined, cwd: string | null = null): OpenedFile {
  // `path` is reported as the program will see it; `at` is where it is
  // from this process.
  const at = fromDirectory(path, cwd);
  let kind;
  try {
    kind = statSync(at);
  } catch (error) {
    throw lookupError(path, role, error);
  }
  if (kind.isDirectory()) throw new LoadError(path, "is a directory", "EACCES");
  if (!kind.isFile()) throw new LoadError(path, "not a regular file", "EACCES");
  try {
    accessSync(at, constants.X_OK);
  } catch {
    throw new LoadError(path, "permission denied (not executable)", "EACCES");
  }
  let fd: number;
  try {
    fd = openSync(at, constants.O_RDONLY | O_CLOEXEC);
  } catch (error) {
    if (codeOf(error) === "EACCES") throw new LoadError(path, "permission denied (not readable; the kernel needs only execute permission)", "EACCES", "runs");
    throw lookupError(path, role, error);
  }
  try {
    const stat = fstatSync(fd, { bigint: true });
    if (!stat.isFile()) throw new LoadError(path, "not a regular file", "EACCES");
    const identity = fileIdentity(stat);
    const mode = Number(stat.mode);
    const owner = { mode, uid: Number(stat.uid), gid: Number(stat.gid), identity, inode: `${stat.dev}:${stat.ino}` };
    const known = knownHead?.(identity);
    if (known) return { path, fd, head: known, size: Number(stat.size), ...owner };
    // A read that ends early means the file shrank under us: its end is
    // then where the read ended, and the verdict is about what is there.
    let size = Number(stat.size);
    let head = readAt(fd, Math.min(size, FIRST_READ_BYTES), 0);
    if (head.length < Math.min(size, FIRST_READ_BYTES)) size = head.length;
    for (let needed = headBytesNeeded(head, size); needed > head.length; needed = headBytesNeeded(head, size)) {
      const more = readAt(fd, needed - head.length, head.length);
      head = Buffer.concat([head, more]);
      if (head.length < needed) size = head.length;
    }
    return { path, fd, head, size, ...owner };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}
