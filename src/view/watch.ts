/**
 * Looks at hpager's predicted pages while the program runs, to tell which
 * ones it touched afterwards (src/view/predictions.ts judges them).
 *
 * A touch of a page the pager has already mapped raises no fault, so the
 * trace cannot say. The kernel can: /proc/PID/pagemap gives, per page of
 * the program, whether it is present (bit 63), swapped (bit 62) and mapped
 * by this process alone (bit 56). What that reveals depends on how the page
 * was mapped:
 * - SIGSEGV paging enables a predicted page with mprotect, which maps no
 *   memory: the page becomes present only when the program touches it.
 *   Present or swapped means touched (read or written).
 * - userfaultfd paging fills the page at once (for the bss, with the
 *   kernel's shared zero page), so it is present from the start; a write
 *   gives the program a page of its own, which shows as present and
 *   exclusive. Only writes can be seen; a read leaves no trace.
 *
 * The watcher follows the trace file as the shim writes it, keeps the
 * predicted pages not yet seen touched, and reads their pagemap entries from
 * time to time, in as few reads as neighbouring pages allow. A look costs
 * about 8 bytes of pagemap per page (3 ms for 64 Ki pages here, more under
 * SIGSEGV paging, whose mprotect calls leave many small mappings to walk);
 * the next one waits LOOK_SPACING times as long as its pagemap reads took,
 * so they take at most about 1/LOOK_SPACING of a core, and following the
 * trace about 2 us a fault on top (bun run bench:view). The address space
 * is gone once the
 * program has exited, so pages touched after the last look cannot be known:
 * the last look's time is kept, and pages mapped after it stay unknown.
 *
 * Known gaps (docs/view.md): a page the program touched and then discarded
 * (madvise MADV_DONTNEED, munmap) before a look counts as untouched; pages a
 * forked child maps and touches are looked for in the parent; with
 * transparent huge pages for the bss (THP "always", or madvise), khugepaged
 * can make untouched pages present.
 */
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import type { PredictionOutcome } from "../run/report.ts";
import { judgePredictions, type PredictedPage } from "./predictions.ts";
import type { Seen, TraceLook } from "./trace.ts";

const PAGE_SIZE = 4096;
const PAGEMAP_ENTRY_BYTES = 8;
/** Bits of a pagemap entry's upper 32-bit half (Documentation/admin-guide/mm/pagemap.rst). */
const PRESENT = 1 << 31; // bit 63
const SWAPPED = 1 << 30; // bit 62
const EXCLUSIVE = 1 << 24; // bit 56
/** Pages between two pending ones that are read rather than skipped with a
 * second read: 64 entries are 512 bytes, less than a system call costs. */
const READ_THROUGH_GAP = 64;
/** The shortest wait between looks, and how many times a look's own
 * duration the next one waits. */
const MIN_SPACING_MS = 2;
const LOOK_SPACING = 10;

export interface WatchResult {
  /** Complete looks, and a last partial one's sightings (complete false). */
  looks: TraceLook[];
  summary: PredictionOutcome;
  /** Time spent following the trace and reading pagemap entries, in ms
   * (for the benchmark: what watching costs the pager's process). */
  traceMs: number;
  pagemapMs: number;
}

/** Follows a trace file and looks at the predicted pages it names in the
 * process `pid`. `stop()` ends it and judges the pages. */
export class PredictionWatch {
  private readonly t0 = performance.now();
  private traceFd: number;
  private traceOffset = 0;
  private partialLine = "";
  private eventsRead = 0;
  private readonly predicted: PredictedPage[] = [];
  /** Predicted pages not seen touched yet, and the event that mapped each. */
  private readonly pending = new Map<number, number>();
  private readonly looks: TraceLook[] = [];
  private pagemapFd = -1;
  private ended = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private traceMs = 0;
  private pagemapMs = 0;
  private bytes = new Uint8Array(8192);
  private words = new Uint32Array(this.bytes.buffer);

  constructor(
    tracePath: string,
    private readonly pid: number,
    private readonly seen: Seen,
  ) {
    this.traceFd = openSync(tracePath, "r");
    this.schedule(MIN_SPACING_MS);
  }

  private schedule(ms: number): void {
    if (!this.ended) this.timer = setTimeout(() => this.look(), ms);
  }

  /** Take in the trace lines written since the last call. */
  private readTrace(): void {
    const started = performance.now();
    this.takeTrace();
    this.traceMs += performance.now() - started;
  }

  private takeTrace(): void {
    const chunk = Buffer.alloc(1 << 16);
    let text = this.partialLine;
    for (;;) {
      const n = readSync(this.traceFd, chunk, 0, chunk.length, this.traceOffset);
      if (n <= 0) break;
      this.traceOffset += n;
      text += chunk.toString("latin1", 0, n);
    }
    const lines = text.split("\n");
    this.partialLine = lines.pop() ?? "";
    // The shim's own lines, read without a JSON parser (a few times faster,
    // which counts at 100 000 faults): {"t_ms":…,"kind":"fault",…,"mapped":["0x…",…],…}
    for (const line of lines) {
      const kind = line.indexOf('"kind":"');
      if (kind < 0) continue;
      const isFault = line.startsWith("fault", kind + 8);
      if (!isFault && !line.startsWith("start", kind + 8)) continue;
      const event = this.eventsRead++;
      if (!isFault) continue;
      const list = line.indexOf('"mapped":[');
      if (list < 0) continue;
      const pages = line.slice(list + 10, line.indexOf("]", list)).split(",");
      for (let i = 1; i < pages.length; i++) {
        const page = Number(pages[i]!.slice(1, -1));
        this.predicted.push({ event, page });
        this.pending.set(page, event);
      }
    }
  }

  /** The program's pagemap, opened once it has run far enough to have
   * faulted (so it is the program's own address space), and only while it
   * is still this process's child: an exited one's pid may be reused. */
  private openPagemap(): boolean {
    if (this.pagemapFd >= 0) return true;
    try {
      const fd = openSync(`/proc/${this.pid}/pagemap`, "r");
      const stat = readFileSync(`/proc/${this.pid}/stat`, "latin1");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent !== process.pid) {
        closeSync(fd);
        return false;
      }
      this.pagemapFd = fd;
      return true;
    } catch {
      return false;
    }
  }

  private touched(high: number): boolean {
    if (high & SWAPPED) return true;
    return this.seen === "touched" ? (high & PRESENT) !== 0 : (high & PRESENT) !== 0 && (high & EXCLUSIVE) !== 0;
  }

  private look(): void {
    this.timer = null;
    const started = performance.now();
    this.readTrace();
    if (this.pending.size === 0 || this.eventsRead === 0) return this.schedule(MIN_SPACING_MS);
    if (!this.openPagemap()) {
      this.ended = true;
      return;
    }
    const events = this.eventsRead;
    const looking = performance.now();
    const pages = Float64Array.from(this.pending.keys()).sort();
    const touched: number[] = [];
    let complete = true;
    for (let first = 0; first < pages.length && complete; ) {
      let last = first;
      while (last + 1 < pages.length && pages[last + 1]! - pages[last]! <= READ_THROUGH_GAP * PAGE_SIZE) last++;
      const base = pages[first]! / PAGE_SIZE;
      const count = (pages[last]! - pages[first]!) / PAGE_SIZE + 1;
      const bytes = count * PAGEMAP_ENTRY_BYTES;
      if (this.bytes.length < bytes) {
        this.bytes = new Uint8Array(bytes);
        this.words = new Uint32Array(this.bytes.buffer);
      }
      let n = 0;
      try {
        n = readSync(this.pagemapFd, this.bytes, 0, bytes, base * PAGEMAP_ENTRY_BYTES);
      } catch {
        n = 0;
      }
      if (n < bytes) {
        // The address space is gone: the program has exited.
        complete = false;
        this.ended = true;
        break;
      }
      for (let i = first; i <= last; i++) {
        const page = pages[i]!;
        const high = this.words[(page / PAGE_SIZE - base) * 2 + 1]!;
        if (this.touched(high)) {
          touched.push(page);
          this.pending.delete(page);
        }
      }
      first = last + 1;
    }
    if (complete || touched.length > 0) this.looks.push({ tMs: started - this.t0, events, seen: this.seen, touched, complete });
    // Reading the trace costs the same whenever it is done; the pagemap
    // reads are what looking adds, so they set the pace.
    const spent = performance.now() - looking;
    this.pagemapMs += spent;
    this.schedule(Math.max(MIN_SPACING_MS, LOOK_SPACING * spent));
  }

  /** Stop looking (the program has ended), take in the rest of the trace
   * and judge every predicted page. */
  stop(): WatchResult {
    if (this.timer) clearTimeout(this.timer);
    this.ended = true;
    this.readTrace();
    closeSync(this.traceFd);
    if (this.pagemapFd >= 0) closeSync(this.pagemapFd);
    return { looks: this.looks, summary: judgePredictions(this.predicted, this.looks, this.seen).summary, traceMs: this.traceMs, pagemapMs: this.pagemapMs };
  }
}
