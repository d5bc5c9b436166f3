/**
 * Errors a user can cause by what they hand a pager. Each carries the shells'
 * exit code (127: not found, 126: found but cannot be run) and the errno the
 * kernel's execve would have returned for the same file.
 */

export const EXIT_NOT_FOUND = 127;
export const EXIT_CANNOT_RUN = 126;
/** Usage errors of the command line itself (bad option, no program). */
export const EXIT_USAGE = 2;

export type Errno = "ENOENT" | "EACCES" | "ENOEXEC" | "EINVAL" | "ELIBBAD" | "E2BIG" | "ENOMEM" | "EPERM" | "EFAULT" | "EEXIST" | "EIO" | "ENOTDIR" | "ELOOP" | "ENAMETOOLONG";

export class LoadError extends Error {
  override name = "LoadError";
  constructor(
    /** The file the verdict is about. */
    readonly file: string,
    /** Why, in a few words, without the file name. */
    readonly reason: string,
    readonly errno: Errno,
    readonly exitCode: number = errno === "ENOENT" ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN,
  ) {
    super(`${file}: ${reason} (${errno})`);
  }
}

export class UsageError extends Error {
  override name = "UsageError";
}
