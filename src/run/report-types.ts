/**
 * The report's own kinds of field, as plain types with no dependencies, so
 * that the page's script (src/view/client) can name them too.
 */

/** One region of the plan as the report lists it: what the loader mapped
 * (or reserved, for demand paging) before the program started. */
export interface ReportRegion {
  /** The image it belongs to and what it holds: "prog text", "prog bss",
   * "ld-linux-x86-64.so.2 data", "stack"; a name two regions would share
   * gets " (2)", " (3)" in plan order. */
  name: string;
  /** First address, in hexadecimal as in the trace. */
  start: string;
  /** Bytes, a whole number of pages. */
  size: number;
  /** The region's protection, "r-x" and the like (what its pages get once
   * mapped, for a reserved region). */
  prot: string;
  /** Where its bytes come from, as in the mapping log: "file=PATH",
   * "anon=bss(IMAGE)" or "anon=stack". */
  source: string;
  /** Offset in the file of its first byte; null for anonymous memory. */
  offset: number | null;
  /** Reserved at start, its pages mapped when touched (dpager; hpager's bss). */
  demand: boolean;
}

/** What was seen of hpager's predicted pages: did the program touch them
 * after they were mapped? Looks at the program's page tables
 * (/proc/PID/pagemap) while it runs decide it, and what a look can see
 * depends on the paging mechanism (docs/view.md):
 * - "touched" (SIGSEGV paging): a predicted page is mapped without being
 *   populated, so a page present in a look has been touched, read or
 *   written, and one absent had not been, as of that look.
 * - "written" (userfaultfd): a predicted page is populated when mapped (the
 *   shared zero page for the bss), so only a write shows (the page becomes
 *   the program's own); a page not written may have been read or not. */
export interface PredictionOutcome {
  seen: "touched" | "written";
  /** Pages mapped by prediction, as the trace lists them. */
  predicted: number;
  /** Seen touched (or written) in some look. */
  touched: number;
  /** In at least one look and never seen touched: not touched as of the
   * last look (SIGSEGV paging only; always 0 under userfaultfd). */
  untouched: number;
  /** Neither: mapped after the last look, or (userfaultfd) not written. */
  unknown: number;
  /** Looks taken while the program ran, and when the last one was, in ms
   * from the start (null when none could be taken). */
  looks: number;
  lastLookMs: number | null;
}
