/**
 * The installed `faultline` command made the loader itself. npm and Bun
 * link node_modules/.bin/faultline to the package's bin/faultline, a shell
 * script: it costs a shell's start (1.7 ms on a small VM) in front of every
 * command, and the shell hands the program its environment in an order of
 * its own. Once the loader is built, the link is pointed at it instead:
 * the caller's shell then starts the loader directly, which asks the
 * user's service for the plan (shim/loader/client.c) and sends any other
 * command (friendly, service, --help) down bin/faultline's plain path.
 * Reinstalling the package puts npm's link back, and the next command
 * through Bun points it again.
 */
import { lstatSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";

/** Where a package manager links the command for a package installed at
 * root: node_modules/.bin/faultline beside it (a scoped package sits one
 * folder deeper); null for a checkout, which nothing links. Pure. */
export function installedCommandLink(root: string): string | null {
  const parent = dirname(root);
  if (basename(parent) === "node_modules") return join(parent, ".bin", "faultline");
  if (basename(parent).startsWith("@") && basename(dirname(parent)) === "node_modules") return join(dirname(parent), ".bin", "faultline");
  return null;
}

/**
 * Point the package manager's link for the command at `loader`, when the
 * link is there and leads to this package's bin/faultline (a link of
 * another package, or one the user made, is left alone). Quietly does
 * nothing where it cannot (a read-only install): the script still works.
 * Returns whether the link now leads to the loader.
 */
export function linkInstalledCommand(root: string, loader: string): boolean {
  const link = installedCommandLink(root);
  if (link === null) return false;
  try {
    if (!lstatSync(link).isSymbolicLink()) return false;
    const target = realpathSync(link);
    if (target === realpathSync(loader)) return true;
    if (target !== realpathSync(join(root, "bin", "faultline"))) return false;
    const temporary = `${link}.${process.pid}`;
    rmSync(temporary, { force: true });
    symlinkSync(relative(dirname(link), resolve(loader)), temporary);
    renameSync(temporary, link);
    return readlinkSync(link) !== "";
  } catch {
    return false;
  }
}
