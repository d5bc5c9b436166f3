/**
 * The fuzzer's generator: seeded, pure mutations of real executables. A case
 * is a seed program with one to three mutations: an ELF header field, a
 * program header field (bit flips, arithmetic, values at the edges, random
 * values), program headers duplicated or swapped, the file truncated, or
 * random bytes. The same seed and case number always give the same bytes.
 *
 * Random bytes land only in the file's first page: headers, PT_INTERP and
 * the data the dynamic loader reads, not code. Mutated code would run
 * arbitrary system calls, which proves nothing about a loader.
 */

/** Marsaglia's xorshift generator: 32-bit state, full period, seeded. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  /** An integer in [0, n), n at most 2^32. */
  below(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }

  chance(p: number): boolean {
    return this.next() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  /** A uniformly random value of `bytes` bytes. */
  value(bytes: number): bigint {
    let v = 0n;
    for (let i = 0; i < bytes; i += 4) v = (v << 32n) | BigInt(this.next());
    return v & mask(bytes);
  }
}

/** The generator for case `index` of a run seeded with `seed`: each case
 * is reproducible on its own. */
export function caseRng(seed: number, index: number): Rng {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return new Rng((h ^ (h >>> 16)) >>> 0);
}

function mask(bytes: number): bigint {
  return (1n << BigInt(bytes * 8)) - 1n;
}

interface Field {
  name: string;
  offset: number;
  bytes: 1 | 2 | 4 | 8;
}

const HEADER_FIELDS: Field[] = [
  { name: "EI_CLASS", offset: 4, bytes: 1 },
  { name: "EI_DATA", offset: 5, bytes: 1 },
  { name: "EI_VERSION", offset: 6, bytes: 1 },
  { name: "EI_OSABI", offset: 7, bytes: 1 },
  { name: "e_type", offset: 16, bytes: 2 },
  { name: "e_machine", offset: 18, bytes: 2 },
  { name: "e_version", offset: 20, bytes: 4 },
  { name: "e_entry", offset: 24, bytes: 8 },
  { name: "e_phoff", offset: 32, bytes: 8 },
  { name: "e_shoff", offset: 40, bytes: 8 },
  { name: "e_flags", offset: 48, bytes: 4 },
  { name: "e_ehsize", offset: 52, bytes: 2 },
  { name: "e_phentsize", offset: 54, bytes: 2 },
  { name: "e_phnum", offset: 56, bytes: 2 },
  { name: "e_shnum", offset: 60, bytes: 2 },
];

const PROGRAM_HEADER_FIELDS: Field[] = [
  { name: "p_type", offset: 0, bytes: 4 },
  { name: "p_flags", offset: 4, bytes: 4 },
  { name: "p_offset", offset: 8, bytes: 8 },
  { name: "p_vaddr", offset: 16, bytes: 8 },
  { name: "p_paddr", offset: 24, bytes: 8 },
  { name: "p_filesz", offset: 32, bytes: 8 },
  { name: "p_memsz", offset: 40, bytes: 8 },
  { name: "p_align", offset: 48, bytes: 8 },
];

const PROGRAM_HEADER_SIZE = 56;
const PAGE = 0x1000n;
/** Program header types a mutation may set: the ones the loader reads, and none. */
const PROGRAM_HEADER_TYPES = [0n, 1n, 3n, 6n, 0x6474e551n];

/** Values at the edges, for a field of `bytes` bytes. */
function edgeValues(bytes: number): bigint[] {
  const top = mask(bytes);
  const values = [0n, 1n, top, top >> 1n, (top >> 1n) + 1n, 0xffn & top, 0x100n & top];
  if (bytes === 8) values.push(PAGE - 1n, PAGE, PAGE + 1n, 1n << 47n, (1n << 47n) - PAGE, 1n << 53n, 1n << 63n, 0x400000n, 0x7ffffffff000n, 0xfffffffffffff000n, 1n << 40n);
  return values;
}

function read(file: Buffer, at: number, bytes: number): bigint {
  if (bytes === 1) return BigInt(file[at]!);
  if (bytes === 2) return BigInt(file.readUInt16LE(at));
  if (bytes === 4) return BigInt(file.readUInt32LE(at));
  return file.readBigUInt64LE(at);
}

function write(file: Buffer, at: number, bytes: number, value: bigint): void {
  const v = value & mask(bytes);
  if (bytes === 1) file[at] = Number(v);
  else if (bytes === 2) file.writeUInt16LE(Number(v), at);
  else if (bytes === 4) file.writeUInt32LE(Number(v), at);
  else file.writeBigUInt64LE(v, at);
}

/** A new value for a field: a bit flipped, a small or page-sized step, an
 * edge value, or a random one. */
function mutatedValue(old: bigint, bytes: number, rng: Rng): { value: bigint; how: string } {
  const kind = rng.below(10);
  if (kind < 3) {
    const bit = rng.below(bytes * 8);
    return { value: old ^ (1n << BigInt(bit)), how: `bit ${bit} flipped` };
  }
  if (kind < 5) {
    const step = rng.chance(0.5) ? BigInt(1 + rng.below(16)) : BigInt(1 + rng.below(16)) * PAGE;
    const down = rng.chance(0.5);
    return { value: (down ? old - step : old + step) & mask(bytes), how: `${down ? "-" : "+"}0x${step.toString(16)}` };
  }
  if (kind < 8) {
    const value = rng.pick(edgeValues(bytes));
    return { value, how: `= 0x${value.toString(16)}` };
  }
  const value = rng.value(bytes);
  return { value, how: `= 0x${value.toString(16)} (random)` };
}

/** Where the program header table is, as far as the file allows. */
function programHeaders(file: Buffer): { at: number; count: number } {
  if (file.length < 64) return { at: 0, count: 0 };
  const phoff = file.readBigUInt64LE(32);
  const phnum = file.readUInt16LE(56);
  if (phoff >= BigInt(file.length)) return { at: 0, count: 0 };
  const at = Number(phoff);
  return { at, count: Math.min(phnum, Math.floor((file.length - at) / PROGRAM_HEADER_SIZE)) };
}

type Mutation = (file: Buffer, rng: Rng) => { file: Buffer; what: string } | null;

const mutateHeaderField: Mutation = (file, rng) => {
  const field = rng.pick(HEADER_FIELDS);
  if (file.length < field.offset + field.bytes) return null;
  const { value, how } = mutatedValue(read(file, field.offset, field.bytes), field.bytes, rng);
  write(file, field.offset, field.bytes, value);
  return { file, what: `${field.name} ${how}` };
};

const mutateProgramHeaderField: Mutation = (file, rng) => {
  const table = programHeaders(file);
  if (table.count === 0) return null;
  const index = rng.below(table.count);
  const field = rng.pick(PROGRAM_HEADER_FIELDS);
  const at = table.at + index * PROGRAM_HEADER_SIZE + field.offset;
  if (field.name === "p_type" && rng.chance(0.5)) {
    const type = rng.pick(PROGRAM_HEADER_TYPES);
    write(file, at, 4, type);
    return { file, what: `phdr ${index} p_type = 0x${type.toString(16)}` };
  }
  const { value, how } = mutatedValue(read(file, at, field.bytes), field.bytes, rng);
  write(file, at, field.bytes, value);
  return { file, what: `phdr ${index} ${field.name} ${how}` };
};

const copyProgramHeader: Mutation = (file, rng) => {
  const table = programHeaders(file);
  if (table.count < 2) return null;
  const from = rng.below(table.count);
  const to = rng.below(table.count);
  const swap = rng.chance(0.5);
  const a = Buffer.from(file.subarray(table.at + from * PROGRAM_HEADER_SIZE, table.at + (from + 1) * PROGRAM_HEADER_SIZE));
  const b = Buffer.from(file.subarray(table.at + to * PROGRAM_HEADER_SIZE, table.at + (to + 1) * PROGRAM_HEADER_SIZE));
  a.copy(file, table.at + to * PROGRAM_HEADER_SIZE);
  if (swap) b.copy(file, table.at + from * PROGRAM_HEADER_SIZE);
  return { file, what: swap ? `phdrs ${from} and ${to} swapped` : `phdr ${from} copied over ${to}` };
};

const truncate: Mutation = (file, rng) => {
  const near = rng.chance(0.6);
  const length = rng.below(near ? Math.min(file.length, 0x1000) : file.length);
  return { file: file.subarray(0, length), what: `truncated to ${length} bytes` };
};

const randomBytes: Mutation = (file, rng) => {
  const count = 1 + rng.below(8);
  const span = Math.min(file.length, 0x1000);
  if (span === 0) return null;
  const places: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = rng.below(span);
    file[at] = rng.below(256);
    places.push(at);
  }
  return { file, what: `random bytes at ${places.map((p) => `0x${p.toString(16)}`).join(",")}` };
};

/** Each kind of mutation, with how often it is chosen. */
const MUTATIONS: Array<[Mutation, number]> = [
  [mutateHeaderField, 3],
  [mutateProgramHeaderField, 6],
  [copyProgramHeader, 1],
  [truncate, 1],
  [randomBytes, 2],
];

function chooseMutation(rng: Rng): Mutation {
  const total = MUTATIONS.reduce((n, [, weight]) => n + weight, 0);
  let pick = rng.below(total);
  for (const [mutation, weight] of MUTATIONS) {
    if (pick < weight) return mutation;
    pick -= weight;
  }
  return MUTATIONS[0]![0];
}

export interface SeedProgram {
  name: string;
  bytes: Buffer;
}

export interface FuzzCase {
  index: number;
  seed: string;
  /** The mutations applied, in order. */
  mutations: string[];
  bytes: Buffer;
}

/** Case `index` of a run seeded with `seed`: a seed program and one to
 * three mutations of it. */
export function fuzzCase(seeds: readonly SeedProgram[], seed: number, index: number): FuzzCase {
  const rng = caseRng(seed, index);
  const base = seeds[rng.below(seeds.length)]!;
  let file: Buffer = Buffer.from(base.bytes);
  const mutations: string[] = [];
  const rounds = rng.chance(0.6) ? 1 : 2 + rng.below(2);
  for (let tries = 0; mutations.length < rounds && tries < 20; tries++) {
    const done = chooseMutation(rng)(file, rng);
    if (!done) continue;
    file = done.file;
    mutations.push(done.what);
  }
  return { index, seed: base.name, mutations, bytes: file };
}
