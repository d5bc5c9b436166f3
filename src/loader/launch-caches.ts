/**
 * Everything a launch keeps for the next one, in one place, with one reset
 * (resetLaunchCaches). A process that launches many programs (the user's
 * service, a script of the library) pays for reading, parsing, copying and
 * setting up memory once per file, not once per launch. Each cache is keyed
 * by file identity (device, inode, size, modification and change times:
 * program-file.ts fileIdentity), so a file changed in place is read again,
 * never served from an old copy, and each is bounded:
 *
 *   parsed images     IMAGE_CACHE_SIZE files (and the image store on disk)
 *   plans             IMAGE_CACHE_SIZE; a plan taken again gets new random
 *                     draws (plan.ts planAgain)
 *   image copies      IMAGE_COPIES_KEPT_BYTES of sealed memfds (userfaultfd
 *                     paging maps a program's pages from them)
 *   plan memory       SPEC_POOL_SIZE memfds
 *   the loader's own memory and this process's machine facts, once
 */
import { closeSync, readFileSync, statSync } from "node:fs";
import { LOADER } from "../shim/shim-build.ts";
import { freeSpecMemory, makeImageCopy, makeSpecMemory, type SpecMemory } from "../shim/shim.ts";
import { parseElf, type ElfImage } from "./elf.ts";
import type { CopyPiece } from "./image-copy.ts";
import { imageStore } from "./image-store.ts";
import { readMachineFacts, type MachineFacts } from "./machine.ts";
import { imageExtent, pageUp, type AddressRange, type Plan } from "./plan.ts";
import { fileIdentity, type OpenedFile } from "./program-file.ts";
import { LOADER_STACK_BYTES } from "./spec.ts";

/** Files parsed (and plans made) kept at most. */
const IMAGE_CACHE_SIZE = 64;
/** Image copies kept, in bytes of the files' pages they hold. */
const IMAGE_COPIES_KEPT_BYTES = 256 * 1024 * 1024;
/** Plan memories kept for reuse. */
const SPEC_POOL_SIZE = 4;

/**
 * Files already read and parsed, by identity: launching the same unchanged
 * file again reads and parses nothing (the checks that depend on who runs
 * it, and the placement, are done anew). Refusals are not kept.
 */
const imageCache = new Map<string, { head: Buffer; images: Map<string, ElfImage> }>();
/** Plans by the files' identities and what else a plan depends on. */
const planCache = new Map<string, Plan>();
/** Image copies by file identity and what they hold (each a sealed memfd:
 * its pages count as shared memory while it is kept). */
const imageCopies = new Map<string, { fd: number; bytes: number }>();
/** The plan's memory of finished launches: a fresh memfd costs system
 * calls and a page fault per page on first write. Memory a program kept
 * mapped (SIGSEGV paging's ring) is never reused: a forked child of the
 * program may still write to it. */
const specPool: SpecMemory[] = [];
let loaderRanges: AddressRange[] | null = null;
let cachedFacts: MachineFacts | null = null;

/** Forget everything kept: the memfds are closed, the plan memories freed. */
export function resetLaunchCaches(): void {
  imageCache.clear();
  planCache.clear();
  for (const copy of imageCopies.values()) closeSync(copy.fd);
  imageCopies.clear();
  for (const memory of specPool.splice(0)) freeSpecMemory(memory);
  loaderRanges = null;
  cachedFacts = null;
}

/** The first bytes of a file read before, by its identity. */
export function knownHead(identity: string): Buffer | undefined {
  return imageCache.get(identity)?.head;
}

/** A file's parsed image: kept here, else in the image store, else parsed
 * (and kept in both). */
export function parsedImage(file: OpenedFile, role: "program" | "interpreter"): ElfImage {
  const key = `${role}\0${file.path}`;
  const entry = imageCache.get(file.identity);
  const known = entry?.images.get(key) ?? imageStore().stored(file.identity, role, file.path);
  if (known && entry) entry.images.set(key, known);
  else if (known) rememberImage(file, key, known);
  if (known) return known;
  const image = parseElf(file.path, file.head, file.size, role);
  imageStore().store(file.identity, role, file.path, image);
  if (entry) entry.images.set(key, image);
  else rememberImage(file, key, image);
  return image;
}

function rememberImage(file: OpenedFile, key: string, image: ElfImage): void {
  if (imageCache.size >= IMAGE_CACHE_SIZE) imageCache.delete(imageCache.keys().next().value!);
  imageCache.set(file.identity, { head: file.head, images: new Map([[key, image]]) });
}

/** The plan for key: made by `make` from the one kept for the same key
 * (null: none), and kept if it is the first. */
export function plannedAgain(key: string, make: (previous: Plan | null) => Plan): Plan {
  const previous = planCache.get(key) ?? null;
  const plan = make(previous);
  if (!previous) {
    if (planCache.size >= IMAGE_CACHE_SIZE) planCache.delete(planCache.keys().next().value!);
    planCache.set(key, plan);
  }
  return plan;
}

/** The sealed copy of a file's pieces that userfaultfd paging maps from:
 * kept, or made (the least recently used ones go past the bound). */
export function imageCopyFor(file: OpenedFile, pieces: readonly CopyPiece[]): number {
  const key = `${file.identity} ${pieces.map((p) => `${p.offset}+${p.length}`).join(",")}`;
  const known = imageCopies.get(key);
  if (known) {
    imageCopies.delete(key);
    imageCopies.set(key, known);
    return known.fd;
  }
  const fd = makeImageCopy(file.fd, `faultline:${file.path}`, file.size, pieces);
  const bytes = pieces.reduce((n, p) => n + p.length, 0);
  imageCopies.set(key, { fd, bytes });
  let kept = [...imageCopies.values()].reduce((n, c) => n + c.bytes, 0);
  for (const [oldKey, copy] of imageCopies) {
    if (kept <= IMAGE_COPIES_KEPT_BYTES || oldKey === key) break;
    closeSync(copy.fd);
    imageCopies.delete(oldKey);
    kept -= copy.bytes;
  }
  return fd;
}

/** Plan memory of at least length bytes: a kept one, or a new one. */
export function acquireSpecMemory(length: number): SpecMemory {
  const index = specPool.findIndex((m) => m.length >= length);
  if (index >= 0) return specPool.splice(index, 1)[0]!;
  return makeSpecMemory(length);
}

/** A launch's plan memory back: kept when `reusable`, else freed. */
export function releaseSpecMemory(memory: SpecMemory, reusable: boolean): void {
  if (!reusable) return freeSpecMemory(memory);
  specPool.push(memory);
  if (specPool.length > SPEC_POOL_SIZE) freeSpecMemory(specPool.shift()!);
}

/** This process's machine facts (a client's are its own: machine.ts
 * machineFactsOf). */
export function machineFacts(): MachineFacts {
  cachedFacts ??= readMachineFacts();
  return cachedFacts;
}

/**
 * The loader's own memory, which the program must keep clear of: its stack
 * just below its image, its code and data from the file, and the
 * zero-filled memory after them (read from its file once; its image is in
 * the store like any program's, so a command need not load the ELF parser
 * to learn where the loader is).
 */
export function loaderMemory(): AddressRange[] {
  if (!loaderRanges) {
    const identity = fileIdentity(statSync(LOADER, { bigint: true }));
    let image = imageStore().stored(identity, "program", LOADER);
    if (!image) {
      const file = readFileSync(LOADER);
      image = parseElf(LOADER, file, file.length, "program");
      imageStore().store(identity, "program", LOADER, image);
    }
    const extent = imageExtent(image, 0);
    const fileEnd = Math.max(...image.segments.map((s) => pageUp(s.vaddr + s.filesz)));
    loaderRanges = [
      { start: extent.start - LOADER_STACK_BYTES, end: extent.start, name: "stack" },
      { start: extent.start, end: fileEnd, name: "code" },
      ...(extent.end > fileEnd ? [{ start: fileEnd, end: extent.end, name: "memory" }] : []),
    ];
  }
  return loaderRanges;
}
