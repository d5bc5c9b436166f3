/** The friendly reporter's messages, read from the header that defines
 * them (one C string literal per line between the braces of each set:
 * SEGFAULT_MESSAGES, ARITHMETIC_MESSAGES, ...), and the lines of a run's
 * stderr that are among them. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./programs.ts";

/** Each kind of crash's set, by the name of its array in the header. */
export function messageSets(): Map<string, string[]> {
  const header = readFileSync(join(ROOT, "shim", "friendly", "friendly-messages.h"), "utf8");
  const sets = new Map<string, string[]>();
  for (const set of header.matchAll(/static const char \*const (\w+)\[[^\]]*\] = \{([^}]*)\}/g)) {
    sets.set(set[1]!, [...set[2]!.matchAll(/^\s*"((?:[^"\\]|\\.)*)",?\s*$/gm)].map((m) => JSON.parse(`"${m[1]}"`) as string));
  }
  return sets;
}

export const MESSAGE_SETS = messageSets();
/** The set for a signal, by its name. */
export const MESSAGES_FOR: Record<string, string[]> = {
  SIGSEGV: MESSAGE_SETS.get("SEGFAULT_MESSAGES") ?? [],
  SIGBUS: MESSAGE_SETS.get("BUS_ERROR_MESSAGES") ?? [],
  SIGFPE: MESSAGE_SETS.get("ARITHMETIC_MESSAGES") ?? [],
  SIGABRT: MESSAGE_SETS.get("ABORT_MESSAGES") ?? [],
  SIGILL: MESSAGE_SETS.get("ILLEGAL_INSTRUCTION_MESSAGES") ?? [],
  SIGTRAP: MESSAGE_SETS.get("BREAKPOINT_MESSAGES") ?? [],
  SIGSYS: MESSAGE_SETS.get("SYSTEM_CALL_MESSAGES") ?? [],
};
/** The segfaults' set. */
export const MESSAGES = MESSAGES_FOR.SIGSEGV!;
const EVERY_MESSAGE = [...MESSAGE_SETS.values()].flat();

/** The lines of stderr that are messages: of the given set, or of any. */
export function messagesIn(stderr: string, set: readonly string[] = EVERY_MESSAGE): string[] {
  return stderr.split("\n").filter((line) => set.includes(line));
}
