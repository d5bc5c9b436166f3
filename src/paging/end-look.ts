/**
 * The end look: the program's page tables read once it has ended, to tell
 * which prefetched pages it touched (src/paging/working-set.ts judges each entry).
 * Its memory is held past its exit (shim/paging/pin.c) and /proc/PID/pagemap is
 * opened while it waits to start, both by the waiter (shim/loader/launch.c,
 * take_end_look); the entries are read after the end, in one read per run
 * of neighbouring pages, and the memory let go.
 */
import { closeSync, readSync } from "node:fs";
import { PAGE_SIZE } from "../loader/elf.ts";
import { releaseMemory, type MemoryPin } from "../shim/shim.ts";
import { prefetchVerdict, type PrefetchSeen, type PrefetchVerdict } from "./working-set.ts";

const PAGEMAP_ENTRY_BYTES = 8;

export class EndLook {
  private released = false;

  private constructor(
    private readonly pagemap: number,
    private readonly pin: MemoryPin,
  ) {}

  /** The hold and the pagemap the waiter took itself (shim/loader/launch.c,
   * take_end_look), now this look's to use and let go. */
  static adopt(taken: { pin: MemoryPin; pagemapFd: number }): EndLook {
    return new EndLook(taken.pagemapFd, taken.pin);
  }

  /** Each page's verdict, in the order given (pages sorted by address read
   * fastest). */
  judge(pages: readonly number[], seen: PrefetchSeen): PrefetchVerdict[] {
    const verdicts: PrefetchVerdict[] = [];
    for (let i = 0; i < pages.length; ) {
      let run = 1;
      while (i + run < pages.length && pages[i + run] === pages[i]! + run * PAGE_SIZE) run++;
      const bytes = Buffer.alloc(run * PAGEMAP_ENTRY_BYTES);
      const n = readSync(this.pagemap, bytes, 0, bytes.length, (pages[i]! / PAGE_SIZE) * PAGEMAP_ENTRY_BYTES);
      for (let k = 0; k < run; k++) {
        // A short read leaves zeros: absent, as a page of no mapping is.
        const high = k * PAGEMAP_ENTRY_BYTES + PAGEMAP_ENTRY_BYTES <= n ? bytes.readUInt32LE(k * PAGEMAP_ENTRY_BYTES + 4) : 0;
        verdicts.push(prefetchVerdict(high, seen));
      }
      i += run;
    }
    return verdicts;
  }

  /** Let the program's memory go. */
  release(): void {
    if (this.released) return;
    this.released = true;
    closeSync(this.pagemap);
    releaseMemory(this.pin);
  }
}
