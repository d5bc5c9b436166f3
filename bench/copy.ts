/**
 * Lazy copy against eager copy, through the package's API, measured in one
 * run with mitata (the benchmarking library Bun itself uses):
 *
 *   bun run bench [--json] [--quick] [--rounds N] [--check] [--quiet]
 *
 * For chunk sizes from 4 KiB to 64 MiB: the copy itself, the first read of
 * the copy (every byte), later reads, and the first write to the copy
 * (where a lazy copy splits: the whole chunk, or one page). Then many small
 * copies: 2000 chunks of 64 KiB copied, then 100 random writes to the
 * copies (`handout` in the JSON). Each figure is mitata's median of many
 * runs, and for each size the median of three rounds that alternate eager and lazy; setup
 * (making the source writable and populated again, freeing copies) is
 * outside the timed part (mitata's manual timing).
 *
 * Targets, checked at the end: a 64 KiB lazy copy at least 5x faster than
 * an eager one, a 64 MiB one at least 500x, and a 64 MiB one of a
 * page-split chunk at least 200x (issue 13); reads of a lazy copy after its
 * first touch within 1.1x of an eager copy's; the first write to a lazy
 * copy at most an eager copy plus 20 us. Each is a ratio of figures
 * measured in the same run, printed, never asserted; a closing line says
 * which were missed, and --check makes that exit 1.
 */
import { measure } from "mitata";
import { allocChunk, copyEager, copyLazy, freeChunk, type Chunk, type SplitGranularity } from "../src/index.ts";
import { COMMON_OPTIONS, finish, JSON_OPTION, Progress, readBenchLine, readLoad, TARGET_OPTIONS, type Target } from "./cli.ts";
import { median as medianOf } from "./statistics.ts";

const COLUMNS = `Columns: every time is in microseconds (us), each a median. "copy" makes the copy; "first read" reads every byte of a fresh copy; "later read" reads it again; "first write" writes one byte to a fresh copy (a lazy copy splits there: the whole chunk, or one page). In the ratios, "copy, eager / lazy" is how many times faster a lazy copy is made; "later read, lazy / eager" is above 1 where reading a lazy copy is slower; "first write beyond eager copy" is the first write to a lazy (whole-chunk) copy minus the making of an eager copy, in us: negative means the write with its split costs less than an eager copy did.

"Many small copies" copies 2000 chunks of 64 KiB, then writes 100 random bytes of the copies, in ms.`;

const { values: options } = readBenchLine({
  command: "bun run bench",
  summary: "Lazy copy against eager copy through the package's API, 4 KiB to 64 MiB, with mitata: medians of its samples, in rounds alternating the methods, then the ratios and their targets. Takes about two minutes (--quick: about one).",
  options: {
    ...JSON_OPTION,
    quick: { kind: "flag", description: "fewer samples and one round: faster, noisier" },
    rounds: { kind: "count", value: "N", description: "rounds per size, each measuring every method once (default 3, 1 with --quick)" },
    ...TARGET_OPTIONS,
    ...COMMON_OPTIONS,
  },
  notes: COLUMNS,
});
const { json, quick } = options;
/** Rounds per size (--rounds N): each measures every method once. */
const ROUNDS = options.rounds ?? (quick ? 1 : 3);
const loadBefore = readLoad();
const progress = Progress.forTerminal("bench", options.quiet);

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

/** Many small copies: 2000 chunks copied, then 100 random writes. */
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

/** Nanoseconds as microseconds, for a column in us. */
function us(ns: number): string {
  return (ns / 1e3).toFixed(1);
}

/** Nanoseconds as milliseconds, for a column in ms. */
function ms(ns: number): string {
  return (ns / 1e6).toFixed(2);
}

function formatSize(bytes: number): string {
  return bytes >= KIB * KIB ? `${bytes / KIB / KIB} MiB` : `${bytes / KIB} KiB`;
}


const sizes: SizeResult[] = [];
for (const [index, size] of SIZES.entries()) {
  const rounds = new Map<Method, SizeResult[]>(METHODS.map((method) => [method, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const method of METHODS) {
      progress.say(`${formatSize(size)} (size ${index + 1} of ${SIZES.length}), round ${round + 1} of ${ROUNDS}, ${method}`);
      rounds.get(method)!.push(await measureSize(size, method));
    }
  }
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
for (const method of METHODS) {
  progress.say(`many small copies, ${method}`);
  handout.push(await measureHandout(method));
}
progress.done();

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
  copy64KiB: { meaning: `a 64 KiB lazy copy at least ${TARGETS.copy64KiB}x faster to make than an eager one`, target: `>= ${TARGETS.copy64KiB}x`, measured: row(64 * KIB).copySpeedup, met: row(64 * KIB).copySpeedup >= TARGETS.copy64KiB },
  copy64MiB: { meaning: `a 64 MiB lazy copy at least ${TARGETS.copy64MiB}x faster to make than an eager one`, target: `>= ${TARGETS.copy64MiB}x`, measured: row(64 * KIB * KIB).copySpeedup, met: row(64 * KIB * KIB).copySpeedup >= TARGETS.copy64MiB },
  copy64MiBPage: {
    meaning: `a 64 MiB lazy copy of a page-split chunk at least ${TARGETS.copy64MiBPage}x faster to make than an eager one`,
    target: `>= ${TARGETS.copy64MiBPage}x, split by page`,
    measured: row(64 * KIB * KIB).copySpeedupPage,
    met: row(64 * KIB * KIB).copySpeedupPage >= TARGETS.copy64MiBPage,
  },
  laterReads: {
    meaning: `reading a lazy copy, once touched, at most ${TARGETS.laterReadRatio}x as slow as reading an eager copy, at every size`,
    target: `<= ${TARGETS.laterReadRatio}x eager, every size`,
    measured: Math.max(...rows.map((r) => r.laterReadRatio)),
    met: rows.every((r) => r.laterReadRatio <= TARGETS.laterReadRatio),
  },
  firstWrite: {
    meaning: `the first write to a lazy copy at most ${TARGETS.firstWriteSlackUs} us beyond making an eager copy, at every size`,
    target: `<= eager copy + ${TARGETS.firstWriteSlackUs} us, every size`,
    measured: Math.max(...rows.map((r) => r.firstWriteOverEagerCopyUs)),
    met: rows.every((r) => r.firstWriteOverEagerCopyUs <= TARGETS.firstWriteSlackUs),
  },
};

const UNITS: Record<keyof typeof targets, (value: number) => string> = {
  copy64KiB: (v) => `${v.toFixed(1)}x`,
  copy64MiB: (v) => `${v.toFixed(0)}x`,
  copy64MiBPage: (v) => `${v.toFixed(0)}x`,
  laterReads: (v) => `${v.toFixed(2)}x at worst`,
  firstWrite: (v) => `${v.toFixed(1)} us at worst`,
};
const judged: Target[] = Object.entries(targets).map(([name, t]) => ({ meaning: t.meaning, measured: UNITS[name as keyof typeof targets](t.measured), met: t.met }));

/** The load average when the run ended: figures move with it on a shared
 * machine (the JSON keeps it; the tables end with it, see bench/cli.ts). */
const load = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
if (json) {
  // Where and when, so a report built from this JSON can say so.
  const machine = { cpus: navigator.hardwareConcurrency, kernel: (await Bun.$`uname -r`.text()).trim(), date: new Date().toISOString(), load };
  console.log(JSON.stringify({ benchmark: "copy", statistic: "median ns (mitata p50; median of rounds)", rounds: ROUNDS, machine, sizes, ratios: rows, handout, targets }, null, 2));
} else {
  console.log(`lazy copy against eager copy, through the API; medians of mitata samples, ${ROUNDS} alternating round(s), one run; times in us\n`);
  console.log("size      method      copy us     first read us  later read us  first write us");
  for (const r of sizes) {
    console.log(`${formatSize(r.size).padEnd(9)} ${r.method.padEnd(11)} ${us(r.copyNs).padStart(10)}  ${us(r.firstReadNs).padStart(13)}  ${us(r.laterReadNs).padStart(13)}  ${us(r.firstWriteNs).padStart(14)}`);
  }
  console.log("\nsize      copy, eager / lazy: chunk  page    later read, lazy / eager  first write beyond eager copy, us");
  for (const r of rows) {
    console.log(`${formatSize(r.size).padEnd(9)} ${`${r.copySpeedup.toFixed(1)}x`.padStart(25)} ${`${r.copySpeedupPage.toFixed(1)}x`.padStart(7)}    ${`${r.laterReadRatio.toFixed(2)}x`.padStart(24)}  ${r.firstWriteOverEagerCopyUs.toFixed(1).padStart(33)}`);
  }
  console.log("(first write beyond eager copy: the first write to a lazy whole-chunk copy, split included, minus making an eager copy; negative: it cost less)");
  console.log(`\nmany small copies: ${HANDOUT_CHUNKS} chunks of 64 KiB copied, then ${HANDOUT_WRITES} random writes to the copies; times in ms`);
  console.log("  method      copy all ms  writes ms  total ms");
  for (const h of handout) console.log(`  ${h.method.padEnd(11)} ${ms(h.copyAllNs).padStart(11)}  ${ms(h.writesNs).padStart(9)}  ${ms(h.copyAllNs + h.writesNs).padStart(8)}`);
  console.log("\ntargets");
  for (const t of judged) console.log(`  ${t.met ? "met   " : "MISSED"}  ${t.meaning}: ${t.measured}`);
}
process.exit(finish({ json, check: options.check }, loadBefore, judged));
