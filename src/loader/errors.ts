/**
 * Errors a user can cause by what they hand a pager. Each carries the shells'
 * exit code (127: not found, 126: found but cannot be run) and the errno the
 * kernel's execve would have returned for the same file.
 *
 * Some files execve accepts and only then fails to load: it has already
 * passed its point of no return (the old program is gone), so it cannot
 * return the errno and ends the new process with SIGSEGV instead. faultline
 * refuses those before it forks, with the errno that names the kernel's
 * reason, and says what the kernel would have done. A few refusals are
 * faultline's own limits, where the kernel would run the file; they say so.
 */

/** The shells' status for a program that was not found (ENOENT). */
export const EXIT_NOT_FOUND = 127;
/** The shells' status for a program that was found but cannot be run. */
export const EXIT_CANNOT_RUN = 126;
/** Usage errors of the command line itself (bad option, no program). */
export const EXIT_USAGE = 2;

/** The errno execve would return for the same file (its name). */
export type Errno =
  | "ENOENT"
  | "EACCES"
  | "ENOEXEC"
  | "EINVAL"
  | "ELIBBAD"
  | "E2BIG"
  | "ENOMEM"
  | "EPERM"
  | "EFAULT"
  | "EEXIST"
  | "EIO"
  | "EOVERFLOW"
  | "ENOTDIR"
  | "ELOOP"
  | "ENAMETOOLONG";

/** What the kernel does with the same file: execve returns this errno
 * ("execve"); execve fails past its point of no return and the process dies
 * of SIGSEGV ("after-exec"); or the kernel would run it, and the refusal is
 * a limit of faultline's ("runs"). */
export type KernelVerdict = "execve" | "after-exec" | "runs";

const KERNEL_NOTE: Record<KernelVerdict, string> = {
  execve: "",
  "after-exec": "; the kernel would start it and kill it with SIGSEGV",
  runs: "; a limit of faultline's: the kernel would run it",
};

/**
 * Text as it can be shown in one line on a terminal: control characters
 * (C0, DEL and C1) are written as escapes. A file name can hold any byte
 * but the NUL and the slash, and a crafted PT_INTERP names whatever its
 * author likes: a newline would break the one-line verdict, an escape
 * sequence would talk to the terminal.
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/** A number as the messages, the mapping log and the files write an
 * address or a size: "0x" and lowercase hexadecimal. */
export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}

/** A program that cannot be run, in one line: the file, why, and the
 * errno the kernel's execve would give (`errno`, also as `code`), with the
 * shells' exit status for it (`exitCode`: 127 not found, 126 otherwise). */
export class LoadError extends Error {
  override name = "LoadError";
  /** The shells' exit status: 127 for ENOENT, else 126. */
  readonly exitCode: number;
  constructor(
    /** The file the verdict is about. */
    readonly file: string,
    /** Why, in a few words, without the file name. */
    readonly reason: string,
    /** The errno execve would give. */
    readonly errno: Errno,
    /** What the kernel does with the same file. */
    readonly kernel: KernelVerdict = "execve",
  ) {
    super(`${printable(file)}: ${printable(reason)} (${errno}${KERNEL_NOTE[kernel]})`);
    this.exitCode = errno === "ENOENT" ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN;
  }

  /** The errno, by the name Node's and Bun.spawn's errors carry it under. */
  get code(): Errno {
    return this.errno;
  }
}

/** A command line that is wrong (exit status 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Names of the errno values the shim and the loader report. */
const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 9: "EBADF", 10: "ECHILD",
  11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY", 17: "EEXIST", 19: "ENODEV", 20: "ENOTDIR",
  21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 27: "EFBIG", 28: "ENOSPC", 32: "EPIPE", 38: "ENOSYS",
  122: "EDQUOT",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}
