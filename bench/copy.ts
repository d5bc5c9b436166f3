/**
 * Lazy copy against eager copy, through the package's API, measured in one
 * run with mitata (the benchmarking library Bun itself uses):
 *
 *   bun run bench [--json] [--quick] [--rounds N]
 *
 * For chunk sizes from 4 KiB to 64 MiB: the copy itself, the first read of
 * the copy (every byte), later reads, and the first write to the copy
 * (where a lazy copy splits: the whole chunk, or one page). Then the
 * handout's scenario: 2000 chunks of 64 KiB copied, then 100 random writes
 * to the copies. Each figure is mitata's median of many runs, and for each
 * size the median of three rounds that alternate eager and lazy; setup
 * (making the source writable and populated again, freeing copies) is
 * outside the timed part (mitata's manual timing).
 *
 * Targets, checked at the end: a 64 KiB lazy copy at least 5x faster than
 * an eager one, a 64 MiB one at least 500x, and a 64 MiB one of a
 * page-split chunk at least 200x (issue 13); reads of a lazy copy after its
 * first touch within 1.1x of an eager copy's; the first write to a lazy
 * copy at most an eager copy plus 20 us. Each is a ratio of figures
 * measured in the same run, printed, never asserted.
 */
import { measure } from "mitata";
import { allocChunk, copyEager, copyLazy, freeChunk, type Chunk, type SplitGranularity } from "../src/index.ts";
import { median as medianOf } from "./statistics.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const roundsAt = args.indexOf("--rounds");
/** Rounds per size (--rounds N): each measures every method once. */
const ROUNDS = roundsAt >= 0 ? Math.max(1, Number(args[roundsAt + 1]) || 1) : quick ? 1 : 3;

const KIB = 1024;
const SIZES = [4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, KIB * KIB, 4 * KIB * KIB, 16 * KIB * KIB, 64 * KIB * KIB];
const PAGE = 4096;
/** A byte the sources never hold: indexOf(ABSENT) reads every byte. */
const ABSENT = 2;
const SOURCE_BYTE = 1;
const HANDOUT_CHUNKS = 2000;
/** Bytes read per timed run of "later reads". */
const LATER_READ_BYTES = 4 * KIB * KIB;
const HANDOUT_WRITES = 100;
const TARGETS = { copy64KiB: 5, copy64MiB: 500, copy64MiBPage: 200, laterReadRatio: 1.1, firstWriteSlackUs: 20 };

/** mitata's options: enough samples for a stable median, bounded time. */
const OPTIONS = { min_samples: quick ? 4 : 10, min_cpu_time: (quick ? 100 : 150) * 1e6, warmup_samples: 2 };

type Method = "eager" | "lazy-chunk" | "lazy-page";
const METHODS: Method[] = ["eager", "lazy-chunk", "lazy-page"];

function split(method: Method): SplitGranularity {
  return method === "lazy-page" ? "page" : "chunk";
}

function copyOf(method: Method, source: Chunk): Chunk {
  return method === "eager" ? copyEager(source) : copyLazy(source);
}

/** Make a source writable and populated again (a lazy copy left it
 * read-only, its pages possibly parked): one write per page. */
function rewrite(source: Chunk): void {
  for (let at = 0; at < source.length; at += PAGE) source[at] = SOURCE_BYTE;
}

/** Median nanoseconds of `op` over mitata's samples, with `setup` and
 * `teardown` (which gets what `op` returned) outside the timed part:
 * mitata's manual timing, where each run reports its own time. */
async function median<T, R>(setup: () => T, op: (input: T) => R, teardown: (input: T, result: R) => void): Promise<number> {
  const stats = await measure(
    function* () {
      yield {
        manual() {
          const input = setup();
          const started = Bun.nanoseconds();
          const result = op(input);
          const elapsed = Bun.nanoseconds() - started;
          teardown(input, result);
          return elapsed;
        },
      };
    } as unknown as () => Generator<() => unknown>,
    OPTIONS,
  );
  return stats.p50;
}

interface SizeResult {
  size: number;
  method: Method;
  copyNs: number;
  firstReadNs: number;
  laterReadNs: number;
  firstWriteNs: number;
}

async function measureSize(size: number, method: Method): Promise<SizeResult> {
  const source = allocChunk(size, { split: split(method) });
  source.fill(SOURCE_BYTE);
  let offset = 0;
  const nextOffset = () => (offset = (offset + 7919 * 13) % size);
  const read = (copy: Chunk) => copy.indexOf(ABSENT);
  const done = (copy: Chunk) => {
    freeChunk(copy);
    if (method !== "eager") rewrite(source);
  };
  const copyNs = await median(() => source, (s) => copyOf(method, s), (_, copy) => done(copy));
  const firstReadNs = await median(() => copyOf(method, source), read, (copy) => done(copy));
  // Later reads take well under a microsecond for small chunks: time
  // several in a row, so the clock's own cost does not weigh on them.
  const repeats = Math.max(1, Math.min(64, Math.floor(LATER_READ_BYTES / size)));
  const laterReadNs =
    (await median(
      () => {
        const copy = copyOf(method, source);
        read(copy);
        return copy;
      },
      (copy) => {
        for (let i = 0; i < repeats; i++) read(copy);
      },
      (copy) => done(copy),
    )) / repeats;
  const firstWriteNs = await median(
    () => copyOf(method, source),
    (copy) => {
      copy[nextOffset()] = 3;
    },
    (copy) => done(copy),
  );
  freeChunk(source);
  return { size, method, copyNs, firstReadNs, laterReadNs, firstWriteNs };
}

interface HandoutResult {
  method: Method;
  copyAllNs: number;
  writesNs: number;
}

/** The handout's scenario: 2000 chunks copied, then 100 random writes. */
async function measureHandout(method: Method): Promise<HandoutResult> {
  const sources = Array.from({ length: HANDOUT_CHUNKS }, () => {
    const chunk = allocChunk(64 * KIB, { split: split(method) });
    crypto.getRandomValues(chunk);
    return chunk;
  });
  let seed = 1;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const release = (copies: Chunk[]) => {
    for (const copy of copies) freeChunk(copy);
    if (method !== "eager") for (const source of sources) rewrite(source);
  };
  const copyAllNs = await median(
    () => sources,
    (all) => all.map((source) => copyOf(method, source)),
    (_, copies) => release(copies),
  );
  const writesNs = await median(
    () => sources.map((source) => copyOf(method, source)),
    (copies) => {
      for (let i = 0; i < HANDOUT_WRITES; i++) copies[Math.floor(random() * copies.length)]![Math.floor(random() * 64 * KIB)] = 9;
    },
    (copies) => release(copies),
  );
  for (const source of sources) freeChunk(source);
  return { method, copyAllNs, writesNs };
}

function formatNs(ns: number): string {
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} us`;
  return `${ns.toFixed(0)} ns`;
}

function formatSize(bytes: number): string {
  return bytes >= KIB * KIB ? `${bytes / KIB / KIB} MiB` : `${bytes / KIB} KiB`;
}


const sizes: SizeResult[] = [];
for (const size of SIZES) {
  const rounds = new Map<Method, SizeResult[]>(METHODS.map((method) => [method, []]));
  for (let round = 0; round < ROUNDS; round++) for (const method of METHODS) rounds.get(method)!.push(await measureSize(size, method));
  for (const method of METHODS) {
    const results = rounds.get(method)!;
    sizes.push({
      size,
      method,
      copyNs: medianOf(results.map((r) => r.copyNs)),
      firstReadNs: medianOf(results.map((r) => r.firstReadNs)),
      laterReadNs: medianOf(results.map((r) => r.laterReadNs)),
      firstWriteNs: medianOf(results.map((r) => r.firstWriteNs)),
    });
  }
}
const handout: HandoutResult[] = [];
for (const method of METHODS) handout.push(await measureHandout(method));

const find = (size: number, method: Method) => sizes.find((r) => r.size === size && r.method === method)!;
const rows = SIZES.map((size) => {
  const eager = find(size, "eager");
  const lazy = find(size, "lazy-chunk");
  const page = find(size, "lazy-page");
  return {
    size,
    copySpeedup: eager.copyNs / lazy.copyNs,
    copySpeedupPage: eager.copyNs / page.copyNs,
    laterReadRatio: lazy.laterReadNs / eager.laterReadNs,
    firstWriteOverEagerCopyUs: (lazy.firstWriteNs - eager.copyNs) / 1e3,
  };
});
const row = (size: number) => rows.find((r) => r.size === size)!;
const targets = {
  copy64KiB: { target: `>= ${TARGETS.copy64KiB}x`, measured: row(64 * KIB).copySpeedup, met: row(64 * KIB).copySpeedup >= TARGETS.copy64KiB },
  copy64MiB: { target: `>= ${TARGETS.copy64MiB}x`, measured: row(64 * KIB * KIB).copySpeedup, met: row(64 * KIB * KIB).copySpeedup >= TARGETS.copy64MiB },
  copy64MiBPage: {
    target: `>= ${TARGETS.copy64MiBPage}x, split by page`,
    measured: row(64 * KIB * KIB).copySpeedupPage,
    met: row(64 * KIB * KIB).copySpeedupPage >= TARGETS.copy64MiBPage,
  },
  laterReads: {
    target: `<= ${TARGETS.laterReadRatio}x eager, every size`,
    measured: Math.max(...rows.map((r) => r.laterReadRatio)),
    met: rows.every((r) => r.laterReadRatio <= TARGETS.laterReadRatio),
  },
  firstWrite: {
    target: `<= eager copy + ${TARGETS.firstWriteSlackUs} us, every size`,
    measured: Math.max(...rows.map((r) => r.firstWriteOverEagerCopyUs)),
    met: rows.every((r) => r.firstWriteOverEagerCopyUs <= TARGETS.firstWriteSlackUs),
  },
};

/** The load average when the run ended: figures move with it on a shared
 * machine. */
const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
if (json) {
  // Where and when, so a report built from this JSON can say so.
  const machine = { cpus: navigator.hardwareConcurrency, kernel: (await Bun.$`uname -r`.text()).trim(), date: new Date().toISOString(), load };
  console.log(JSON.stringify({ benchmark: "copy", statistic: "median ns (mitata p50; median of rounds)", rounds: ROUNDS, machine, sizes, ratios: rows, handout, targets }, null, 2));
} else {
  console.log(`lazy copy against eager copy, through the API; medians of mitata samples, ${ROUNDS} alternating round(s), one run\n`);
  console.log("size      method      copy        first read  later read  first write");
  for (const r of sizes) {
    console.log(`${formatSize(r.size).padEnd(9)} ${r.method.padEnd(11)} ${formatNs(r.copyNs).padEnd(11)} ${formatNs(r.firstReadNs).padEnd(11)} ${formatNs(r.laterReadNs).padEnd(11)} ${formatNs(r.firstWriteNs)}`);
  }
  console.log("\nsize      copy eager/lazy (chunk, page)  later read lazy/eager  first write - eager copy");
  for (const r of rows) {
    console.log(`${formatSize(r.size).padEnd(9)} ${`${r.copySpeedup.toFixed(1)}x, ${r.copySpeedupPage.toFixed(1)}x`.padEnd(30)} ${r.laterReadRatio.toFixed(2).padEnd(22)} ${r.firstWriteOverEagerCopyUs.toFixed(1)} us`);
  }
  console.log(`\nhandout: ${HANDOUT_CHUNKS} chunks of 64 KiB copied, then ${HANDOUT_WRITES} random writes to the copies`);
  for (const h of handout) console.log(`  ${h.method.padEnd(11)} copy all ${formatNs(h.copyAllNs).padEnd(10)} writes ${formatNs(h.writesNs).padEnd(10)} total ${formatNs(h.copyAllNs + h.writesNs)}`);
  console.log("\ntargets");
  for (const [name, t] of Object.entries(targets)) console.log(`  ${name.padEnd(13)} ${t.target.padEnd(36)} measured ${t.measured.toFixed(2)}  ${t.met ? "met" : "MISSED"}`);
  console.log(`\nload average at the end: ${load}`);
}
