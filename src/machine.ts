/**
 * Facts about this machine and the Bun process a launch starts from: what
 * the kernel gave Bun (auxiliary vector, stack, vDSO), the limits in force,
 * and whether addresses are randomized. Reading these is the only effect
 * here; parsing is pure and exported for tests.
 */
import { readFileSync } from "node:fs";
import { parseAuxv } from "./auxv.ts";
import type { AddressRange } from "./plan.ts";
import type { AuxvEntry } from "./stack.ts";

/** One line of /proc/PID/maps. */
export interface MapsEntry {
  start: number;
  end: number;
  perms: string;
  offset: number;
  path: string;
}

export function parseMaps(text: string): MapsEntry[] {
  const entries: MapsEntry[] = [];
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (!match) continue;
    entries.push({
      start: parseInt(match[1]!, 16),
      end: parseInt(match[2]!, 16),
      perms: match[3]!,
      offset: parseInt(match[4]!, 16),
      path: match[5]!.trim(),
    });
  }
  return entries;
}

/** "Max stack size" from /proc/PID/limits, in bytes; null when unlimited. */
export function parseStackLimit(limits: string): number | null {
  const match = /^Max stack size\s+(\S+)/m.exec(limits);
  if (!match || match[1] === "unlimited") return null;
  return Number(match[1]);
}

/** personality(2) flag that turns address randomization off (setarch -R). */
const ADDR_NO_RANDOMIZE = 0x0040000;

export interface MachineFacts {
  auxvTemplate: AuxvEntry[];
  /** The kernel's special mappings every process keeps: [vvar], [vdso]. */
  specialMappings: AddressRange[];
  /** The end of Bun's main stack mapping: the program's stack goes there. */
  stackTop: number;
  /** RLIMIT_STACK, null when unlimited. */
  stackLimit: number | null;
  mmapMinAddress: number;
  randomize: boolean;
}

const SPECIAL_MAPPINGS = new Set(["[vvar]", "[vvar_vclock]", "[vdso]"]);

/** The kernel's default RLIMIT_STACK (_STK_LIM), used where the limit is
 * unlimited but a number is needed. */
export const DEFAULT_STACK_LIMIT = 8 * 1024 * 1024;

export function readMachineFacts(): MachineFacts {
  const maps = parseMaps(readFileSync("/proc/self/maps", "utf8"));
  const stack = maps.find((m) => m.path === "[stack]");
  if (!stack) throw new Error("faultline: /proc/self/maps shows no [stack] for this process");
  const personality = parseInt(readFileSync("/proc/self/personality", "utf8").trim(), 16);
  const randomizeSetting = Number(readFileSync("/proc/sys/kernel/randomize_va_space", "utf8").trim());
  return {
    auxvTemplate: parseAuxv(readFileSync("/proc/self/auxv")),
    specialMappings: maps.filter((m) => SPECIAL_MAPPINGS.has(m.path)).map((m) => ({ start: m.start, end: m.end, name: m.path })),
    stackTop: stack.end,
    stackLimit: parseStackLimit(readFileSync("/proc/self/limits", "utf8")),
    mmapMinAddress: Number(readFileSync("/proc/sys/vm/mmap_min_addr", "utf8").trim()),
    randomize: randomizeSetting > 0 && (personality & ADDR_NO_RANDOMIZE) === 0,
  };
}
