/**
 * Learned working sets: the pages a run touched, in the order it first
 * touched them (--record), and the pages a later run maps before it needs
 * them (--prefetch). Pure: a run's regions and first touches in, a profile
 * out; a profile and a plan's regions in, the runs of pages to map out.
 *
 * A page is named so that the name outlives address-space randomisation
 * and other arguments: by the image it belongs to (the program, or its
 * interpreter), its address in that image as linked (the run's address less
 * the image's load bias) and, for pages that come from the file, its offset
 * in the file. The profile names the files it describes (device, inode,
 * size, modification time and a SHA-256 of the bytes), so a profile made
 * for another build of a file is refused rather than misapplied.
 */
import { PAGE_SIZE } from "../loader/elf.ts";
import { hex } from "../loader/errors.ts";
import type { FileRole, ImageBase } from "../loader/plan.ts";

/** What a profile file says it is, and the version of its layout. */
const PROFILE_FORMAT = "faultline-working-set";
const PROFILE_VERSION = 1;

/** A file a profile describes, as the kernel and its bytes identify it. */
export interface ProfileImage {
  role: FileRole;
  path: string;
  /** st_dev, st_ino and st_mtim in nanoseconds, as decimal strings (they
   * can exceed a double's exact range). */
  device: string;
  inode: string;
  size: number;
  mtimeNs: string;
  /** SHA-256 of the file's bytes, in hexadecimal. */
  sha256: string;
}

/** A region of an image the profile has pages of. */
interface ProfileRegion {
  /** Index into the profile's images. */
  image: number;
  /** What it holds, as the report names regions ("python3.11 text"). */
  name: string;
  /** Its first page's address in the image as linked (no load bias). */
  address: number;
  /** Its first page's offset in the file; null for the bss. */
  offset: number | null;
  /** Its length in pages. */
  pages: number;
}

/** One page first touched: its region (an index), its page within the
 * region, and when (ms since the plan was sent to the loader). */
interface ProfilePage {
  region: number;
  page: number;
  tMs: number;
}

/** How the profile was made: for people reading it; nothing checks it. */
interface ProfileOrigin {
  pager: string;
  paging: string | null;
  argv: string[];
  date: string;
  /** Runs it has been refined over (1: recorded afresh). */
  runs: number;
}

export interface WorkingSetProfile {
  origin: ProfileOrigin;
  images: ProfileImage[];
  regions: ProfileRegion[];
  /** Every page first touched, in first-touch order. */
  pages: ProfilePage[];
}

/** A region of a run, where it was and what it was in its image. */
export interface PlacedRegion {
  role: FileRole;
  name: string;
  /** Where it was in this run. */
  address: number;
  /** Its address in the image as linked: address less the image's bias. */
  linkAddress: number;
  length: number;
  /** File offset of its first page; null for anonymous memory (the bss). */
  offset: number | null;
  /** Paged on demand: only these regions' first touches are seen. */
  demand: boolean;
}

/** A page first touched in a run, at its address in that run. */
interface FirstTouch {
  page: number;
  tMs: number;
}

/** What a run's trace says about its first touches, as far as src/view
 * trace events go: the start (dpager's entry page) and each fault, the
 * faulting page first, then the pages predicted with it. */
interface TouchEvent {
  tMs: number;
  kind: "start" | "fault";
  mapped: number[];
}

/**
 * The pages a run touched first, in order, from its fault events: each
 * event's first page (the entry page at the start, the faulting page of a
 * fault) was touched then. Pages mapped with it by prediction were touched
 * later if at all; `predictedTouched` says whether to count each (by its
 * address), and those counted go right after the fault that mapped them.
 * A page is listed once, at its first touch.
 */
export function firstTouches(events: readonly TouchEvent[], predictedTouched: (page: number) => boolean = () => false): FirstTouch[] {
  const seen = new Set<number>();
  const touches: FirstTouch[] = [];
  const add = (page: number, tMs: number) => {
    if (seen.has(page)) return;
    seen.add(page);
    touches.push({ page, tMs });
  };
  for (const e of events) {
    if (e.mapped.length === 0) continue;
    add(e.mapped[0]!, e.tMs);
    if (e.kind === "fault") for (const page of e.mapped.slice(1)) if (predictedTouched(page)) add(page, e.tMs);
  }
  return touches;
}

/** The region of `regions` holding `address`, or null. */
function regionAt<T extends { address: number; length: number }>(regions: readonly T[], address: number): T | null {
  for (const r of regions) if (address >= r.address && address < r.address + r.length) return r;
  return null;
}

interface RecordInput {
  origin: ProfileOrigin;
  images: ProfileImage[];
  /** The run's regions; first touches outside its demand regions are not
   * the pager's to see and are dropped. */
  regions: readonly PlacedRegion[];
  touches: readonly FirstTouch[];
  /** Pages of an earlier profile this run mapped ahead (--prefetch): a
   * touch of them is never a fault, so what is known of them comes from
   * elsewhere. Those `kept` (touched, or not known to be unused) stay in
   * the profile at their earlier time; the others are dropped. */
  carried?: { profile: WorkingSetProfile; kept: (page: ProfilePageName) => boolean } | null;
}

/** A page by name: its image's role, its address as linked, and its file
 * offset (null for the bss). */
export interface ProfilePageName {
  role: FileRole;
  linkAddress: number;
  offset: number | null;
}

/** The name of a profile's page. */
function pageName(profile: WorkingSetProfile, page: ProfilePage): ProfilePageName {
  const region = profile.regions[page.region]!;
  const image = profile.images[region.image]!;
  return {
    role: image.role,
    linkAddress: region.address + page.page * PAGE_SIZE,
    offset: region.offset === null ? null : region.offset + page.page * PAGE_SIZE,
  };
}

function nameKey(name: ProfilePageName): string {
  return `${name.role} ${name.linkAddress} ${name.offset ?? "-"}`;
}

/**
 * A run's working set as a profile: each first touch in a demand region,
 * named by its image and region, in first-touch order; with pages carried
 * over from the profile the run prefetched, merged in by their time.
 * Regions are listed as the run had them, those with pages only.
 */
export function recordProfile(input: RecordInput): WorkingSetProfile {
  const regions: ProfileRegion[] = [];
  const regionIndex = new Map<string, number>();
  const imageIndex = (role: FileRole) => input.images.findIndex((image) => image.role === role);
  /** The profile region for a page of run region r, made on first use. */
  const profileRegion = (r: PlacedRegion): number => {
    const key = `${r.role} ${r.linkAddress}`;
    let index = regionIndex.get(key);
    if (index === undefined) {
      index = regions.length;
      regions.push({ image: imageIndex(r.role), name: r.name, address: r.linkAddress, offset: r.offset, pages: r.length / PAGE_SIZE });
      regionIndex.set(key, index);
    }
    return index;
  };
  const demand = input.regions.filter((r) => r.demand && imageIndex(r.role) >= 0);
  const pages: ProfilePage[] = [];
  const named = new Set<string>();
  for (const touch of input.touches) {
    const r = regionAt(demand, touch.page);
    if (!r) continue;
    const page = (touch.page - r.address) / PAGE_SIZE;
    const key = nameKey({ role: r.role, linkAddress: r.linkAddress + page * PAGE_SIZE, offset: r.offset === null ? null : r.offset + page * PAGE_SIZE });
    if (named.has(key)) continue;
    named.add(key);
    pages.push({ region: profileRegion(r), page, tMs: touch.tMs });
  }
  if (input.carried) {
    const { profile, kept } = input.carried;
    const carried: ProfilePage[] = [];
    for (const p of profile.pages) {
      const name = pageName(profile, p);
      const key = nameKey(name);
      if (named.has(key) || !kept(name)) continue;
      // The region as this run had it, so the profile's regions stay the
      // run's; a carried page outside them no longer exists.
      const r = demand.find((d) => d.role === name.role && name.linkAddress >= d.linkAddress && name.linkAddress < d.linkAddress + d.length);
      if (!r || (r.offset === null) !== (name.offset === null)) continue;
      const page = (name.linkAddress - r.linkAddress) / PAGE_SIZE;
      if (r.offset !== null && r.offset + page * PAGE_SIZE !== name.offset) continue;
      named.add(key);
      carried.push({ region: profileRegion(r), page, tMs: p.tMs });
    }
    pages.push(...carried);
    // A stable sort keeps each list's own order among equal times.
    pages.sort((a, b) => a.tMs - b.tMs);
  }
  // Regions in the order of their images and addresses, for the reader.
  const order = regions.map((_, i) => i).sort((a, b) => regions[a]!.image - regions[b]!.image || regions[a]!.address - regions[b]!.address);
  const renumbered = new Map(order.map((old, index) => [old, index]));
  return {
    origin: input.origin,
    images: input.images,
    regions: order.map((i) => regions[i]!),
    pages: pages.map((p) => ({ ...p, region: renumbered.get(p.region)! })),
  };
}

/** Why a profile does not fit the files being loaded, in words; null when
 * it fits. `sha256Of` hashes a current file, asked only when its identity
 * differs from the profile's (a copy, a reinstall of the same bytes). */
export function profileMismatch(
  profile: WorkingSetProfile,
  current: readonly Omit<ProfileImage, "sha256">[],
  sha256Of: (role: FileRole) => string,
): string | null {
  for (const role of ["program", "interpreter"] as const) {
    const recorded = profile.images.find((i) => i.role === role);
    const now = current.find((i) => i.role === role);
    if (!recorded && !now) continue;
    if (!recorded) return `it was recorded for a program without an interpreter, and ${now!.path} needs ${role === "interpreter" ? "one" : "a program"}`;
    if (!now) return `it was recorded for ${recorded.path} as the ${role}, which this run does not load`;
    if (recorded.size !== now.size) return `${now.path} is ${now.size} bytes, the ${role} it was recorded for (${recorded.path}) ${recorded.size}`;
    const sameFile = recorded.device === now.device && recorded.inode === now.inode && recorded.mtimeNs === now.mtimeNs;
    if (!sameFile && sha256Of(role) !== recorded.sha256) return `${now.path} holds other bytes than the ${role} it was recorded for (${recorded.path})`;
  }
  return null;
}

/** A region as the loader maps it, with what the profile needs to find its
 * pages: its address as linked. */
export interface TargetRegion {
  /** In the plan's coordinates: final for a fixed base, relative to the
   * image's bias for one the kernel places. */
  start: number;
  base: ImageBase;
  length: number;
  file: FileRole;
  offset: number | null;
  demand: boolean;
  linkStart: number;
}

/** Pages to map before the program needs them: contiguous, in one region,
 * at the plan's coordinates (start relative to `base`). */
interface PrefetchRun {
  start: number;
  base: ImageBase;
  pages: number;
  /** The region it lies in (an index into the regions given). */
  region: number;
}

export interface PrefetchPlan {
  runs: PrefetchRun[];
  /** Pages the runs map. */
  pages: number;
  /** The profile's pages this run pages on demand no more (another pager,
   * an ordinary user's scope) or has nowhere (another layout): left out. */
  skipped: number;
}

/**
 * The runs of pages to map for a profile, in as few runs as its pages
 * allow: every page of the profile in a demand region of this plan, the
 * pages sorted by address and neighbours in one region joined. A page is
 * found by its image, its address as linked and (from the file) its file
 * offset, so a profile fits any placement of the same files.
 */
export function prefetchPlan(profile: WorkingSetProfile, regions: readonly TargetRegion[]): PrefetchPlan {
  const found: Array<{ region: number; start: number }> = [];
  let skipped = 0;
  const seen = new Set<string>();
  for (const p of profile.pages) {
    const name = pageName(profile, p);
    const index = regions.findIndex(
      (r) =>
        r.demand &&
        r.file === name.role &&
        name.linkAddress >= r.linkStart &&
        name.linkAddress < r.linkStart + r.length &&
        (r.offset === null) === (name.offset === null) &&
        (r.offset === null || r.offset + (name.linkAddress - r.linkStart) === name.offset),
    );
    if (index < 0) {
      skipped++;
      continue;
    }
    const r = regions[index]!;
    const start = r.start + (name.linkAddress - r.linkStart);
    const key = `${index} ${start}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ region: index, start });
  }
  found.sort((a, b) => a.region - b.region || a.start - b.start);
  const runs: PrefetchRun[] = [];
  for (const f of found) {
    const last = runs[runs.length - 1];
    if (last && last.region === f.region && last.start + last.pages * PAGE_SIZE === f.start) last.pages++;
    else runs.push({ start: f.start, base: regions[f.region]!.base, pages: 1, region: f.region });
  }
  return { runs, pages: found.length, skipped };
}

/** A profile that is not one, with the reason in words. */
export class ProfileError extends Error {
  override name = "ProfileError";
}

/** The profile as its file holds it: JSON, addresses in hexadecimal, each
 * page a [region, page, ms] triple. */
export function profileText(profile: WorkingSetProfile): string {
  const lines = [
    "{",
    `  "format": ${JSON.stringify(PROFILE_FORMAT)},`,
    `  "version": ${PROFILE_VERSION},`,
    `  "origin": ${JSON.stringify(profile.origin)},`,
    `  "images": [${profile.images.map((i) => `\n    ${JSON.stringify(i)}`).join(",")}\n  ],`,
    `  "regions": [${profile.regions
      .map((r) => `\n    ${JSON.stringify({ image: r.image, name: r.name, address: hex(r.address), offset: r.offset === null ? null : hex(r.offset), pages: r.pages })}`)
      .join(",")}\n  ],`,
    // One page a line would be 65 536 lines for a 256 MiB scan; sixteen to
    // a line keeps the file short and still readable.
    `  "pages": [${chunks(profile.pages, 16)
      .map((chunk) => `\n    ${chunk.map((p) => `[${p.region},${p.page},${Math.round(p.tMs * 1000) / 1000}]`).join(",")}`)
      .join(",")}\n  ]`,
    "}",
  ];
  return `${lines.join("\n")}\n`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function count(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) throw new ProfileError(`${what} is not a count`);
  return value;
}

function hexNumber(value: unknown, what: string): number {
  if (typeof value !== "string" || !/^0x[0-9a-f]{1,13}$/i.test(value)) throw new ProfileError(`${what} is not a hexadecimal address`);
  const n = Number(value);
  if (n % PAGE_SIZE !== 0) throw new ProfileError(`${what} ${value} is not page-aligned`);
  return n;
}

function decimal(value: unknown, what: string): string {
  if (typeof value !== "string" || !/^\d{1,20}$/.test(value)) throw new ProfileError(`${what} is not a decimal number`);
  return value;
}

/**
 * Read a profile file's text, checking everything a run relies on: the
 * format and version, each image (role, identity, SHA-256), each region
 * (its image, page-aligned address and offset, length) and each page (a
 * region it is inside, a time). Throws ProfileError with the first problem.
 */
export function parseProfile(text: string): WorkingSetProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProfileError("not JSON");
  }
  if (!isObject(json) || json.format !== PROFILE_FORMAT) throw new ProfileError(`not a working-set profile (no "format": "${PROFILE_FORMAT}")`);
  if (json.version !== PROFILE_VERSION) throw new ProfileError(`version ${String(json.version)}, where this faultline reads version ${PROFILE_VERSION}`);
  const origin = isObject(json.origin) ? json.origin : {};
  if (!Array.isArray(json.images) || !Array.isArray(json.regions) || !Array.isArray(json.pages)) throw new ProfileError("images, regions or pages missing");
  const images: ProfileImage[] = json.images.map((raw, i) => {
    const what = `image ${i}`;
    if (!isObject(raw)) throw new ProfileError(`${what} is not an object`);
    if (raw.role !== "program" && raw.role !== "interpreter") throw new ProfileError(`${what}: role is neither program nor interpreter`);
    if (typeof raw.path !== "string") throw new ProfileError(`${what}: no path`);
    if (typeof raw.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(raw.sha256)) throw new ProfileError(`${what}: sha256 is not a SHA-256 in hexadecimal`);
    return {
      role: raw.role,
      path: raw.path,
      device: decimal(raw.device, `${what}: device`),
      inode: decimal(raw.inode, `${what}: inode`),
      size: count(raw.size, `${what}: size`),
      mtimeNs: decimal(raw.mtimeNs, `${what}: mtimeNs`),
      sha256: raw.sha256,
    };
  });
  if (new Set(images.map((i) => i.role)).size !== images.length) throw new ProfileError("two images with one role");
  const regions: ProfileRegion[] = json.regions.map((raw, i) => {
    const what = `region ${i}`;
    if (!isObject(raw)) throw new ProfileError(`${what} is not an object`);
    const image = count(raw.image, `${what}: image`);
    if (image >= images.length) throw new ProfileError(`${what}: no image ${image}`);
    return {
      image,
      name: typeof raw.name === "string" ? raw.name : "",
      address: hexNumber(raw.address, `${what}: address`),
      offset: raw.offset === null ? null : hexNumber(raw.offset, `${what}: offset`),
      pages: count(raw.pages, `${what}: pages`),
    };
  });
  const pages: ProfilePage[] = json.pages.map((raw, i) => {
    if (!Array.isArray(raw) || raw.length !== 3) throw new ProfileError(`page ${i} is not [region, page, ms]`);
    const region = count(raw[0], `page ${i}: region`);
    const page = count(raw[1], `page ${i}: page`);
    if (region >= regions.length || page >= regions[region]!.pages) throw new ProfileError(`page ${i} lies outside its region`);
    const tMs = raw[2];
    if (typeof tMs !== "number" || !Number.isFinite(tMs) || tMs < 0) throw new ProfileError(`page ${i}: time is not a time`);
    return { region, page, tMs };
  });
  return {
    origin: {
      pager: typeof origin.pager === "string" ? origin.pager : "",
      paging: typeof origin.paging === "string" ? origin.paging : null,
      argv: Array.isArray(origin.argv) ? origin.argv.filter((a): a is string => typeof a === "string") : [],
      date: typeof origin.date === "string" ? origin.date : "",
      runs: typeof origin.runs === "number" && Number.isSafeInteger(origin.runs) && origin.runs > 0 ? origin.runs : 1,
    },
    images,
    regions,
    pages,
  };
}

/** An image's identity fields from OpenedFile.identity
 * ("dev:ino:size:mtimeNs:ctimeNs", src/loader/program-file.ts). */
export function identityFields(identity: string): { device: string; inode: string; size: number; mtimeNs: string } {
  const [device = "0", inode = "0", size = "0", mtimeNs = "0"] = identity.split(":");
  return { device, inode, size: Number(size), mtimeNs };
}

/**
 * What a look at the program's page tables, once it has ended, can tell of
 * a prefetched page:
 * - under SIGSEGV paging a prefetched page is made accessible and left
 *   unmapped, so the kernel maps it at its first touch: present (or swapped
 *   out) means touched, absent means untouched;
 * - under userfaultfd it is mapped at start (the image copy's page, or the
 *   zero page), so a read leaves no trace; a write gives the program a page
 *   of its own (present, mapped by it alone, not a file's): written means
 *   touched, anything else unknown.
 */
export type PrefetchSeen = "touched" | "written";
export type PrefetchVerdict = "touched" | "untouched" | "unknown";

/** What became of a --prefetch profile in a run, as planned: used or
 * refused, and how much of it this run mapped ahead. The launch's outcome
 * (loader/outcome.ts PrefetchOutcome) and the report (run/report.ts
 * PrefetchReport) each add what was seen of the pages. */
export interface PrefetchUse {
  /** The profile's file. */
  profile: string;
  /** Why it was not used (made for another build of a file), or null. */
  refused: string | null;
  /** Pages the profile lists; those this run mapped ahead; those it left to
   * nobody (not paged on demand by this pager or scope, or not in this
   * layout of the files). */
  profilePages: number;
  planned: number;
  skipped: number;
  /** Contiguous runs the planned pages made: the loader's operations. */
  runs: number;
  /** The errno that stopped the loader before it mapped them all, or null. */
  error: string | null;
}

/** Bits of a /proc/PID/pagemap entry's upper 32-bit half
 * (Documentation/admin-guide/mm/pagemap.rst). */
const PAGEMAP_PRESENT = 2 ** 31; // bit 63
const PAGEMAP_SWAPPED = 2 ** 30; // bit 62
const PAGEMAP_FILE_OR_SHARED = 2 ** 29; // bit 61
const PAGEMAP_EXCLUSIVE = 2 ** 24; // bit 56

/** A prefetched page's verdict from the upper half of its pagemap entry. */
export function prefetchVerdict(high: number, seen: PrefetchSeen): PrefetchVerdict {
  const present = (high & PAGEMAP_PRESENT) !== 0;
  if (seen === "touched") return present || (high & PAGEMAP_SWAPPED) !== 0 ? "touched" : "untouched";
  const own = present && (high & PAGEMAP_EXCLUSIVE) !== 0 && (high & PAGEMAP_FILE_OR_SHARED) === 0;
  return own ? "touched" : "unknown";
}

/** What a paging mechanism lets the end look see (null: apager). */
export function prefetchSeenUnder(paging: "signal" | "userfaultfd" | null): PrefetchSeen | null {
  return paging === "signal" ? "touched" : paging === "userfaultfd" ? "written" : null;
}
