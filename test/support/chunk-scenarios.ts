/**
 * Lazy-copy scenarios, each run in a subprocess by
 * test/integration/lazy-copy.test.ts (a fault handler gone wrong must not
 * take the test runner with it):
 *
 *   bun test/support/chunk-scenarios.ts SCENARIO [SPLIT]
 *
 * Each prints one JSON line: what it checked (bytes compared with an eager
 * model, mismatches found, the handler's counters) for the test to assert
 * on. The model of every chunk is a plain Uint8Array receiving the same
 * writes, so a lazy copy must read exactly as an eager copy would.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { read, type Pointer } from "bun:ffi";
import {
  allocChunk,
  attachChunk,
  chunkHandle,
  chunkStats,
  copyEager,
  copyLazy,
  freeChunk,
  makeWritable,
  ChunkLimitError,
  type Chunk,
  type ChunkStats,
  type SplitGranularity,
} from "../../src/index.ts";

/** A small seeded generator (mulberry32), so a failure can be replayed. */
export function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A chunk and the bytes it must hold. */
interface Pair {
  chunk: Chunk;
  model: Uint8Array;
}

function fillRandom(bytes: Uint8Array): void {
  const step = 65536; // getRandomValues' limit per call
  for (let at = 0; at < bytes.length; at += step) crypto.getRandomValues(bytes.subarray(at, Math.min(at + step, bytes.length)));
}

function write(pair: Pair, offset: number, value: number): void {
  pair.chunk[offset] = value;
  pair.model[offset] = value;
}

/** Bytes compared, and how many pairs differ from their model. */
function compare(pairs: Pair[]): { comparedBytes: number; mismatches: number } {
  let comparedBytes = 0;
  let mismatches = 0;
  for (const { chunk, model } of pairs) {
    comparedBytes += chunk.length;
    if (!Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).equals(model)) mismatches++;
  }
  return { comparedBytes, mismatches };
}

function delta(after: ChunkStats, before: ChunkStats): ChunkStats {
  return {
    faults: after.faults - before.faults,
    splits: after.splits - before.splits,
    inPlace: after.inPlace - before.inPlace,
    bytesCopied: after.bytesCopied - before.bytesCopied,
    wholeFallbacks: after.wholeFallbacks - before.wholeFallbacks,
  };
}

function lazyPair(source: Pair): Pair {
  return { chunk: copyLazy(source.chunk), model: source.model.slice() };
}

/**
 * The handout's test, strict: 2000 chunks filled with random bytes, each
 * copied eagerly and lazily; random writes at any offset to any side; every
 * byte compared with the model; then half the chunks freed, more writes,
 * and every byte compared again.
 */
function handout(split: SplitGranularity) {
  const random = generator(2000);
  const count = 2000;
  const size = 65536;
  const pairs: Pair[] = [];
  for (let i = 0; i < count; i++) {
    const chunk = allocChunk(size, { split });
    fillRandom(chunk);
    const source = { chunk, model: chunk.slice() };
    pairs.push(source, { chunk: copyEager(chunk), model: chunk.slice() }, lazyPair(source));
  }
  const readBack = compare(pairs);
  const before = chunkStats();
  for (let i = 0; i < 100 * 60; i++) {
    const pair = pairs[Math.floor(random() * pairs.length)]!;
    write(pair, Math.floor(random() * size), Math.floor(random() * 256));
  }
  const afterWrites = compare(pairs);
  const survivors: Pair[] = [];
  pairs.forEach((pair, i) => (i % 2 === 0 ? freeChunk(pair.chunk) : survivors.push(pair)));
  for (let i = 0; i < 3000; i++) {
    const pair = survivors[Math.floor(random() * survivors.length)]!;
    write(pair, Math.floor(random() * size), Math.floor(random() * 256));
  }
  const afterFrees = compare(survivors);
  const stats = delta(chunkStats(), before);
  for (const pair of survivors) freeChunk(pair.chunk);
  return { readBack, afterWrites, afterFrees, stats };
}

/** One chunk, five lazy copies of it: every side written, the last sharer
 * in place. */
function severalCopies(split: SplitGranularity) {
  const size = 16 * 4096;
  const source = allocChunk(size, { split });
  fillRandom(source);
  const original: Pair = { chunk: source, model: source.slice() };
  const copies = Array.from({ length: 5 }, () => lazyPair(original));
  const before = chunkStats();
  copies.forEach((copy, i) => write(copy, 4096 * 3 + i, 0xa0 + i));
  write(original, 4096 * 3 + 7, 0xff);
  const stats = delta(chunkStats(), before);
  const result = { ...compare([original, ...copies]), stats };
  for (const pair of [original, ...copies]) freeChunk(pair.chunk);
  return result;
}

/** Copies of copies, as a chain and as a tree, written in every order;
 * then the bytes, and what the writes cost. */
function copiesOfCopies(split: SplitGranularity) {
  const size = 8 * 4096;
  const a = { chunk: allocChunk(size, { split }), model: new Uint8Array(size) };
  fillRandom(a.chunk);
  a.model.set(a.chunk);
  const b = lazyPair(a);
  const c = lazyPair(b);
  const d = lazyPair(c);
  const e = lazyPair(b);
  const before = chunkStats();
  write(c, 100, 1);
  const f = lazyPair(c); // a copy of a chunk that has split
  write(f, 5000, 2);
  write(a, 9000, 3);
  write(d, 100, 4);
  write(e, size - 1, 5);
  write(b, 0, 6);
  const all = [a, b, c, d, e, f];
  const stats = delta(chunkStats(), before);
  const result = { ...compare(all), stats };
  for (const pair of all) freeChunk(pair.chunk);
  return result;
}

/** Writes that find their partner already split copy nothing. */
function partnerSplit(split: SplitGranularity) {
  const size = 16 * 4096;
  const a = { chunk: allocChunk(size, { split }), model: new Uint8Array(size) };
  a.chunk.fill(9);
  a.model.fill(9);
  const b = lazyPair(a);
  const first = chunkStats();
  write(b, 4096 * 2 + 1, 1); // b splits: copies
  const second = chunkStats();
  write(a, 4096 * 2 + 2, 2); // a is the last sharer of that unit: copies nothing
  const third = chunkStats();
  write(a, 4096 * 9, 3); // page: a's unit 9 is still shared with b
  const fourth = chunkStats();
  const result = {
    ...compare([a, b]),
    splitterCopied: second.bytesCopied - first.bytesCopied,
    partnerCopied: third.bytesCopied - second.bytesCopied,
    partnerInPlace: third.inPlace - second.inPlace,
    otherUnitCopied: fourth.bytesCopied - third.bytesCopied,
  };
  freeChunk(a.chunk);
  freeChunk(b.chunk);
  return result;
}

/** This process's shared memory in KiB, each page counted once however
 * many of its mappings map it (proportional set size). An anonymous shmem
 * object lives only while something maps it, so this is all the memory
 * chunks hold, and other processes cannot move it. */
function shmemKiB(): number {
  const match = /^Pss_Shmem:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/smaps_rollup", "utf8"));
  return Number(match?.[1] ?? NaN);
}

/** Freeing chunks and copies returns their memory, split or not. */
function freesReturnMemory(split: SplitGranularity) {
  const size = 64 << 20;
  const baseline = shmemKiB();
  const a = allocChunk(size, { split });
  a.fill(1);
  const b = copyLazy(a);
  const c = copyLazy(b);
  for (let at = 0; at < size; at += 4096) b[at] = 2; // b splits every unit
  a[0] = 3;
  const peak = shmemKiB();
  freeChunk(a);
  freeChunk(c); // b alone maps its memory; the original backing is gone
  const afterTwo = shmemKiB();
  const bytesRight = b[4096] === 2 && b[1] === 1;
  freeChunk(b);
  return { baseline, peak, afterTwo, end: shmemKiB(), sizeKiB: size / 1024, bytesRight };
}

/** Sizes other than 64 KiB: one page, three, just over 1 MiB, 64 MiB. */
function sizes(split: SplitGranularity) {
  const results: Array<{ size: number; mismatches: number; comparedBytes: number }> = [];
  const random = generator(7);
  for (const size of [4096, 3 * 4096, (1 << 20) + 4096, 64 << 20]) {
    const a = { chunk: allocChunk(size, { split }), model: new Uint8Array(size) };
    for (let i = 0; i < 64; i++) write(a, Math.floor(random() * size), 1 + (i % 255));
    write(a, size - 1, 0x5a);
    const b = lazyPair(a);
    const c = lazyPair(b);
    for (let i = 0; i < 16; i++) write([a, b, c][i % 3]!, Math.floor(random() * size), 0x80 + i);
    write(c, 0, 0x11);
    const { comparedBytes, mismatches } = compare([a, b, c]);
    results.push({ size, comparedBytes, mismatches });
    for (const pair of [a, b, c]) freeChunk(pair.chunk);
  }
  return results;
}

/**
 * A 1 GiB chunk and a lazy copy, both written: in whole-chunk mode the first
 * write copies the whole gigabyte. Every byte written and 64 Ki random
 * offsets are checked: reading all of an untouched gigabyte would make the
 * kernel allocate it (shmem has no shared zero page).
 */
function gigabyte(split: SplitGranularity) {
  const size = 1 << 30;
  const random = generator(11);
  const written = new Map<number, number>();
  const a = allocChunk(size, { split });
  for (let i = 0; i < 64; i++) {
    const offset = Math.floor(random() * size);
    a[offset] = 1 + i;
    written.set(offset, 1 + i);
  }
  const before = chunkStats();
  const b = copyLazy(a);
  const writtenB = new Map(written);
  for (let i = 0; i < 16; i++) {
    const offset = Math.floor(random() * size);
    (i % 2 ? written : writtenB).set(offset, 0x80 + i);
    (i % 2 ? a : b)[offset] = 0x80 + i;
  }
  const bytesCopied = chunkStats().bytesCopied - before.bytesCopied;
  let checked = 0;
  let mismatches = 0;
  const check = (chunk: Chunk, model: Map<number, number>, offset: number) => {
    checked++;
    if (chunk[offset] !== (model.get(offset) ?? 0)) mismatches++;
  };
  for (const [chunk, model] of [[a, written], [b, writtenB]] as const) {
    for (const offset of new Set([...written.keys(), ...writtenB.keys()])) check(chunk, model, offset);
    for (let i = 0; i < 65536; i++) check(chunk, model, Math.floor(random() * size));
  }
  freeChunk(a);
  freeChunk(b);
  return { checked, mismatches, bytesCopied };
}

/** The kernel writing into a shared chunk gets EFAULT (no fault reaches
 * the handler); makeWritable first lets it write. */
function kernelWrites(split: SplitGranularity) {
  const size = 4 * 4096;
  const dir = mkdtempSync(join(tmpdir(), "faultline-chunk-"));
  const file = join(dir, "bytes");
  const expected = new Uint8Array(size);
  fillRandom(expected);
  writeFileSync(file, expected);
  const a = allocChunk(size, { split });
  a.fill(4);
  const b = copyLazy(a);
  const fd = openSync(file, "r");
  let before = "none";
  try {
    readSync(fd, b, 0, size, 0);
  } catch (error) {
    before = (error as NodeJS.ErrnoException).code ?? String(error);
  }
  makeWritable(b);
  const n = readSync(fd, b, 0, size, 0);
  closeSync(fd);
  const result = {
    before,
    read: n,
    copyMatchesFile: Buffer.from(b).equals(expected),
    sourceUntouched: a.every((v) => v === 4),
  };
  freeChunk(a);
  freeChunk(b);
  return result;
}

/** The kernel's mappings over a chunk's range (entries of
 * /proc/self/smaps) and the KiB of them with page-table entries. */
function mappingsOver(chunk: Chunk): { mappings: number; residentKiB: number } {
  const { address, size } = chunkHandle(chunk);
  let mappings = 0;
  let residentKiB = 0;
  let inside = false;
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      inside = parseInt(range[1]!, 16) < address + size && parseInt(range[2]!, 16) > address;
      if (inside) mappings++;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (inside && rss) residentKiB += Number(rss[1]);
  }
  return { mappings, residentKiB };
}

/**
 * A lazy copy of a large chunk moves the source's page tables aside
 * (parks them) instead of write-protecting every entry: the source stays
 * one mapping, with nothing resident until read again. Writes to either
 * side then split or go in place as usual. A chunk whose every sharer is
 * gone takes its page tables back on its first write: one fault makes all
 * of it writable, one mapping again, resident again.
 */
function parking(split: SplitGranularity) {
  const size = 8 << 20;
  const page = 4096;
  const a = { chunk: allocChunk(size, { split }), model: new Uint8Array(size) };
  fillRandom(a.chunk);
  a.model.set(a.chunk);
  const populated = mappingsOver(a.chunk);
  const b = lazyPair(a);
  const copied = mappingsOver(a.chunk);
  const readBack = compare([a, b]);
  const before = chunkStats();
  for (const at of [1, 100, 1000]) write(b, at * page + 7, 0x51);
  write(a, 100 * page + 9, 0x52); // page: b split page 100, so a writes it in place
  write(a, 5 * page, 0x53);
  const writes = { ...compare([a, b]), stats: delta(chunkStats(), before) };
  // A chunk whose lazy copy is freed: it alone maps its memory again.
  const c = { chunk: allocChunk(size, { split }), model: new Uint8Array(size) };
  fillRandom(c.chunk);
  c.model.set(c.chunk);
  freeChunk(copyLazy(c.chunk));
  const alone = chunkStats();
  for (let at = 0; at < size; at += page) write(c, at + 3, 0x54);
  const rewritten = { ...compare([c]), stats: delta(chunkStats(), alone), after: mappingsOver(c.chunk) };
  for (const pair of [a, b, c]) freeChunk(pair.chunk);
  return { sizeKiB: size / 1024, populated, copied, readBack, writes, rewritten };
}

/** Misuse of freed chunks and bad arguments: exceptions, never memory. */
function freedChunks() {
  const outcomes: Record<string, string> = {};
  const attempt = (name: string, action: () => unknown) => {
    try {
      action();
      outcomes[name] = "no error";
    } catch (error) {
      outcomes[name] = `${(error as Error).name}: ${(error as Error).message}`;
    }
  };
  const a = allocChunk();
  a.fill(5);
  const b = copyLazy(a);
  const handle = chunkHandle(b);
  const twin = attachChunk(handle); // a second array in this thread
  freeChunk(b);
  attempt("freeTwice", () => freeChunk(b));
  attempt("copyLazyFreed", () => copyLazy(b));
  attempt("copyEagerFreed", () => copyEager(b));
  attempt("makeWritableFreed", () => makeWritable(b));
  attempt("freeAttachedTwin", () => freeChunk(twin));
  attempt("attachFreed", () => attachChunk(handle));
  attempt("notAChunk", () => copyLazy(new Uint8Array(16) as Chunk));
  attempt("notAnArray", () => copyLazy("chunk" as unknown as Chunk));
  attempt("badSize", () => allocChunk(1000));
  attempt("badSplit", () => allocChunk(4096, { split: "word" as SplitGranularity }));
  attempt("badRange", () => makeWritable(a, 10, 1 << 20));
  b[0] = 1; // a write to a detached array goes nowhere
  const stale = { length: b.length, twinLength: twin.length, first: String(b[0]), twinFirst: String(twin[0]) };
  const result = { outcomes, stale, sourceIntact: a.every((v) => v === 5) };
  freeChunk(a);
  return result;
}

/** Near vm.max_map_count: allocation is refused with a clear error, and
 * writes to chunks already shared still split (whole, when a page split
 * would need more mappings); after frees, allocation works again. */
function mapLimit() {
  const pairs: Pair[] = [];
  for (let i = 0; i < 200; i++) {
    const a = { chunk: allocChunk(16 * 4096, { split: "page" }), model: new Uint8Array(16 * 4096) };
    a.chunk.fill(i & 255);
    a.model.fill(i & 255);
    pairs.push(a, lazyPair(a));
  }
  const filler: Chunk[] = [];
  let refusal: { name: string; limit: string; message: string } | null = null;
  for (;;) {
    try {
      filler.push(allocChunk(4096));
    } catch (error) {
      const e = error as ChunkLimitError;
      refusal = { name: e.name, limit: e.limit, message: e.message };
      break;
    }
  }
  const before = chunkStats();
  pairs.forEach((pair, i) => {
    for (let unit = i % 2; unit < 16; unit += 2) write(pair, unit * 4096 + (i % 4096), 0xee);
  });
  const stats = delta(chunkStats(), before);
  const verdict = compare(pairs);
  for (const chunk of filler) freeChunk(chunk);
  let again = "ok";
  try {
    freeChunk(allocChunk(4096));
  } catch (error) {
    again = String(error);
  }
  for (const pair of pairs) freeChunk(pair.chunk);
  return { chunksBeforeRefusal: filler.length, refusal, stats, ...verdict, again };
}

/** Out of memory: address space limited (RLIMIT_AS) a little above what
 * the process uses, then a chunk larger than what is left. */
function outOfMemory() {
  const status = readFileSync("/proc/self/status", "utf8");
  const vmKiB = Number(/^VmSize:\s+(\d+) kB$/m.exec(status)?.[1]);
  const limit = (vmKiB + 256 * 1024) * 1024;
  const set = Bun.spawnSync(["prlimit", `--pid=${process.pid}`, `--as=${limit}`]);
  if (set.exitCode !== 0) throw new Error(`prlimit failed: ${set.stderr.toString()}`);
  let refusal: { name: string; limit: string; message: string } | null = null;
  try {
    allocChunk(1 << 30);
  } catch (error) {
    const e = error as ChunkLimitError;
    refusal = { name: e.name, limit: e.limit, message: e.message };
  }
  const small = allocChunk(4096);
  small[0] = 1;
  const copy = copyLazy(small);
  copy[1] = 2;
  return { refusal, smallStillWorks: small[0] === 1 && small[1] === 0 && copy[0] === 1 && copy[1] === 2 };
}

/** A fault outside any chunk, after the handler is installed: Bun's own
 * crash handler reports it. */
function foreignFault() {
  const chunk = allocChunk();
  const copy = copyLazy(chunk);
  copy[0] = 1;
  read.u8(8 as Pointer);
  return { unreachable: true };
}

/** A Worker still holds an array over a chunk the main thread frees; its
 * next access ends the process with a message instead of reading memory
 * that could have been reused. */
async function staleWorkerView() {
  const chunk = allocChunk();
  chunk.fill(3);
  const worker = new Worker(new URL("./chunk-worker.ts", import.meta.url).href);
  const reply = (message: unknown) =>
    new Promise<any>((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.postMessage(message);
    });
  const seen = await reply({ kind: "hold", handle: chunkHandle(chunk) });
  freeChunk(chunk);
  process.stdout.write(`${JSON.stringify({ seenBeforeFree: seen })}\n`);
  await reply({ kind: "read-held" });
  return { unreachable: true };
}

/** Workers write to every chunk of `shared` (at disjoint offsets) and to
 * chunks of their own, all at once; then every byte is compared. */
async function writeFromWorkers(shared: Pair[], split: SplitGranularity) {
  const threads = 4;
  const handles = shared.map((pair) => chunkHandle(pair.chunk));
  const before = chunkStats();
  const results = await Promise.all(
    Array.from({ length: threads }, (_, w) => {
      const worker = new Worker(new URL("./chunk-worker.ts", import.meta.url).href);
      return new Promise<any>((resolve) => {
        worker.onmessage = (event) => {
          worker.terminate();
          resolve(event.data);
        };
        worker.postMessage({ kind: "write", handles, worker: w, threads, split });
      });
    }),
  );
  // What the workers wrote: every offset ≡ w (mod threads) of every shared
  // chunk, in pass order, so the last pass's value stays.
  for (let w = 0; w < threads; w++) {
    for (const [index, pair] of shared.entries()) {
      for (let offset = w; offset < pair.model.length; offset += threads * 61) pair.model[offset] = (index * 7 + w * 31 + 2) & 255;
    }
  }
  const stats = delta(chunkStats(), before);
  const verdict = compare(shared);
  for (const pair of shared) freeChunk(pair.chunk);
  return { ...verdict, stats, own: results };
}

function randomPair(size: number, split: SplitGranularity): Pair {
  const pair = { chunk: allocChunk(size, { split }), model: new Uint8Array(size) };
  fillRandom(pair.chunk);
  pair.model.set(pair.chunk);
  return pair;
}

/** Workers write to shared chunks (the same lazy copies, at disjoint
 * offsets) and to chunks of their own, all at once; nothing is lost. */
async function workers(split: SplitGranularity) {
  const shared: Pair[] = [];
  for (let i = 0; i < 48; i++) {
    const a = randomPair(16 * 4096, split);
    const b = lazyPair(a);
    shared.push(a, b, lazyPair(b));
  }
  return writeFromWorkers(shared, split);
}

/** The same with chunks large enough for their page tables to be parked:
 * sources of lazy copies, and chunks whose copy was freed, which every
 * worker's first write races to take the page tables back. */
async function workersParked(split: SplitGranularity) {
  const size = 1 << 20;
  const shared: Pair[] = [];
  for (let i = 0; i < 4; i++) {
    const a = randomPair(size, split);
    const b = lazyPair(a);
    const alone = randomPair(size, split);
    freeChunk(copyLazy(alone.chunk));
    shared.push(a, b, lazyPair(b), alone);
  }
  return writeFromWorkers(shared, split);
}

const scenarios: Record<string, (split: SplitGranularity) => unknown> = {
  handout,
  severalCopies,
  copiesOfCopies,
  partnerSplit,
  freesReturnMemory,
  sizes,
  gigabyte,
  kernelWrites,
  parking,
  freedChunks,
  mapLimit,
  outOfMemory,
  foreignFault,
  staleWorkerView,
  workers,
  workersParked,
};

if (import.meta.main) {
  const [name, split = "chunk"] = process.argv.slice(2);
  const scenario = scenarios[name ?? ""];
  if (!scenario) {
    console.error(`usage: bun chunk-scenarios.ts ${Object.keys(scenarios).join("|")} [chunk|page]`);
    process.exit(2);
  }
  const result = await scenario(split as SplitGranularity);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}
