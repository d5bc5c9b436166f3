/**
 * The auxiliary vector: the kernel's template for this machine, read from the
 * Bun process's own /proc/self/auxv, with the per-program entries (and the
 * vDSO's address, which is the loader's) replaced.
 * Parsing and rewriting are pure; reading the file is in src/loader/machine.ts.
 */
import {
  AT_BASE,
  AT_BASE_PLATFORM,
  AT_ENTRY,
  AT_EXECFD,
  AT_EXECFN,
  AT_FLAGS,
  AT_NULL,
  AT_PHDR,
  AT_PHENT,
  AT_PHNUM,
  AT_PLATFORM,
  AT_RANDOM,
  AT_SECURE,
  AT_SYSINFO_EHDR,
  type AuxvEntry,
} from "./stack.ts";

const PROGRAM_HEADER_SIZE = 56n;

/** Parse an auxiliary vector (pairs of 64-bit words) up to AT_NULL, which is
 * not included. */
export function parseAuxv(bytes: Uint8Array): AuxvEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: AuxvEntry[] = [];
  for (let at = 0; at + 16 <= bytes.byteLength; at += 16) {
    const type = Number(view.getBigUint64(at, true));
    if (type === AT_NULL) break;
    entries.push([type, view.getBigUint64(at + 8, true)]);
  }
  return entries;
}

interface ProgramFacts {
  /** AT_PHDR: the program headers' address in memory. */
  programHeaders: number;
  programHeaderCount: number;
  /** AT_BASE: the interpreter's load address, 0 without one. */
  interpreterBase: number;
  /** AT_ENTRY: the program's entry (not the interpreter's). */
  programEntry: number;
  /** AT_SYSINFO_EHDR: where the vDSO is in the program's address space (the
   * loader's, not Bun's); null keeps the template's. */
  vdso: number | null;
}

/**
 * This program's auxiliary vector, in the kernel's order for this machine:
 * every entry of the template keeps its place; the per-program ones get this
 * program's values (pointer entries are placeholders that the stack builder
 * fills in); AT_SECURE is 0 because faultline grants no privilege; entries
 * the kernel gives only for binfmt_misc or other platforms are dropped.
 * Entries the kernel always gives but the template lacks are added.
 */
export function programAuxv(template: readonly AuxvEntry[], facts: ProgramFacts): AuxvEntry[] {
  const values = new Map<number, bigint>([
    [AT_PHDR, BigInt(facts.programHeaders)],
    [AT_PHENT, PROGRAM_HEADER_SIZE],
    [AT_PHNUM, BigInt(facts.programHeaderCount)],
    [AT_BASE, BigInt(facts.interpreterBase)],
    [AT_FLAGS, 0n],
    [AT_ENTRY, BigInt(facts.programEntry)],
    [AT_SECURE, 0n],
    [AT_RANDOM, 0n],
    [AT_EXECFN, 0n],
    [AT_PLATFORM, 0n],
    ...(facts.vdso === null ? [] : ([[AT_SYSINFO_EHDR, BigInt(facts.vdso)]] as const)),
  ]);
  const dropped = new Set([AT_EXECFD, AT_BASE_PLATFORM, AT_NULL]);
  const result: AuxvEntry[] = [];
  const seen = new Set<number>();
  for (const [type, value] of template) {
    if (dropped.has(type) || seen.has(type)) continue;
    seen.add(type);
    result.push([type, values.get(type) ?? value]);
  }
  for (const [type, value] of values) if (!seen.has(type)) result.push([type, value]);
  return result;
}
