/** The friendly reporter's messages, read from the header that defines
 * them (one C string literal per line between the braces of
 * FRIENDLY_MESSAGES), and the lines of a run's stderr that are among them. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./programs.ts";

export function messageSet(): string[] {
  const header = readFileSync(join(ROOT, "shim", "friendly", "friendly-messages.h"), "utf8");
  const body = /FRIENDLY_MESSAGES\[\] = \{([^}]*)\}/.exec(header)?.[1] ?? "";
  return [...body.matchAll(/^\s*"((?:[^"\\]|\\.)*)",?\s*$/gm)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

export const MESSAGES = messageSet();

export function messagesIn(stderr: string): string[] {
  return stderr.split("\n").filter((line) => MESSAGES.includes(line));
}
