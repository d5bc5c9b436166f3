/**
 * One run on the page: its summary, the address-space map (the plan's
 * regions, each with a box to show or hide it), the fault map, pages mapped
 * over time, the predictor's record, and notes.
 */
import type { RunView } from "../model.ts";
import { hex } from "../../loader/errors.ts";
import { formatBytes, groupDigits } from "../plot.ts";
import { CATEGORY_COUNT, COLORS, categoryLabels, markCategories } from "./categories.ts";
import { el } from "./dom.ts";
import { FaultMap, type TimeRange } from "./fault-map.ts";
import { PagesChart } from "./pages-chart.ts";

/** A figure of the summary: its name, the value (for scripts and tests, in
 * data-value) and how it reads. */
function figure(field: string, name: string, value: string | number, text: string): HTMLElement {
  return el("div", { className: "figure", "data-field": field, "data-value": String(value) }, el("dt", {}, name), el("dd", {}, text));
}

/** Where a region's bytes come from, and the file's full path (for the
 * cell's title) when it is a file's. */
function sourceText(source: string, offset: number | null): { text: string; path: string | null } {
  if (source === "anon=stack") return { text: "anonymous: the stack image at its top", path: null };
  if (source.startsWith("anon=bss(")) return { text: "anonymous: zeros", path: null };
  const path = source.replace(/^file=/, "");
  return { text: `${path.slice(path.lastIndexOf("/") + 1)} at offset ${hex(offset ?? 0)}`, path };
}

export class RunPanel {
  readonly element: HTMLElement;
  readonly map: FaultMap;
  readonly pages: PagesChart;
  private readonly shown: Set<number>;

  constructor(
    readonly run: RunView,
    readonly index: number,
    private readonly onTime: (panel: RunPanel, range: TimeRange) => void,
  ) {
    const categories = markCategories(run);
    const labels = categoryLabels(run);
    this.shown = new Set(run.regions.map((_, i) => i));
    this.map = new FaultMap(run, categories, labels, (range) => this.timeChanged(range));
    this.pages = new PagesChart(run, this.map.wholeRun(), (range) => this.timeChanged(range), () => this.map.reset());
    const counts = new Array<number>(CATEGORY_COUNT).fill(0);
    for (const c of categories) counts[c]!++;
    this.element = el(
      "section",
      { className: "run", "data-run": index },
      el("h2", {}, run.title),
      this.summary(),
      el("h3", {}, "Address space"),
      el("p", { className: "hint" }, "The regions the loader planned, lowest address first. Untick a region to leave it out of the charts below."),
      this.regionTable(),
      el("h3", {}, "Faults over time"),
      el(
        "ul",
        { className: "legend" },
        ...labels.map((label, k) =>
          counts[k]! > 0 || k === 1 ? el("li", { "data-category": k, "data-count": counts[k]! }, el("span", { className: "swatch", style: `background:${COLORS[k]}` }), `${label}: ${groupDigits(counts[k]!)}`) : null,
        ),
      ),
      this.map.element,
      el("div", { className: "under-chart" }, this.map.statusLine(), el("button", { type: "button", className: "reset", onclick: () => this.map.reset() }, "Whole run")),
      el("h3", {}, "Pages mapped over time"),
      this.pages.element,
      el("h3", {}, "Predictions"),
      this.predictions(),
      run.notes.length > 0 ? el("h3", {}, "Notes") : null,
      run.notes.length > 0 ? el("ul", { className: "notes" }, ...run.notes.map((n) => el("li", {}, n))) : null,
    );
  }

  setTime(range: TimeRange): void {
    this.map.setTime(range);
    this.pages.setTime(range);
  }

  resize(width: number): void {
    this.map.resize(width);
    this.pages.resize(width);
  }

  private timeChanged(range: TimeRange): void {
    this.map.setTime(range);
    this.pages.setTime(range);
    this.onTime(this, range);
  }

  private summary(): HTMLElement {
    const s = this.run.summary;
    return el(
      "dl",
      { className: "summary" },
      figure("program", "program", s.program, [s.program, ...s.argv.slice(1)].join(" ")),
      figure("pager", "pager", s.pager, s.pager),
      figure("mechanism", "paging", s.mechanism, s.mechanism === "none" ? "none (all at start)" : s.mechanism),
      figure("predictor", "predictor", s.predictor, s.predictor === "none" ? "none" : `${s.predictor.split(" ")[0]}, ${s.predictor.split(" ")[1]} pages a fault`),
      figure("exit", "exit", s.exit, s.exit),
      figure("faults", "faults", s.faults, groupDigits(s.faults)),
      figure("pagesMapped", "pages mapped", s.pagesMapped, groupDigits(s.pagesMapped)),
      figure("wallMs", "wall time", s.wallMs, `${s.wallMs.toFixed(1)} ms`),
      figure("maxRssKiB", "peak RSS", s.maxRssKiB, `${groupDigits(s.maxRssKiB)} KiB`),
    );
  }

  private regionTable(): HTMLElement {
    const rows = this.run.regions
      .map((r, i) => ({ r, i }))
      .sort((a, b) => a.r.base - b.r.base)
      .map(({ r, i }) => {
        const box = el("input", { type: "checkbox", checked: true, "aria-label": `show ${r.name}` });
        box.addEventListener("change", () => {
          if (box.checked) this.shown.add(i);
          else this.shown.delete(i);
          this.map.setShownRegions(this.shown);
          this.pages.setShownRegions(this.shown);
        });
        const source = sourceText(r.source, r.offset);
        const share = r.pages > 0 ? r.mappedPages / r.pages : 0;
        const mappedText = r.atStart ? `all ${groupDigits(r.pages)} at start` : `${groupDigits(r.mappedPages)} of ${groupDigits(r.pages)} on demand`;
        return el(
          "tr",
          { "data-region": i, "data-mapped": r.mappedPages, "data-pages": r.pages },
          el("td", {}, box),
          el("td", { className: "name" }, r.name),
          el("td", { className: "address" }, `${hex(r.base)}–${hex(r.base + r.size)}`),
          el("td", { className: "prot" }, r.prot),
          el("td", { className: "size" }, formatBytes(r.size)),
          el("td", { className: "source", title: source.path ?? source.text }, source.text),
          el("td", { className: "mapped" }, el("div", { className: "bar" }, el("div", { style: `width:${(share * 100).toFixed(2)}%` })), mappedText),
        );
      });
    return el(
      "table",
      { className: "regions" },
      el("thead", {}, el("tr", {}, el("th", {}, "show"), el("th", {}, "region"), el("th", {}, "addresses"), el("th", {}, "prot"), el("th", {}, "size"), el("th", {}, "bytes from"), el("th", {}, "mapped, pages"))),
      el("tbody", {}, ...rows),
    );
  }

  private predictions(): HTMLElement {
    const run = this.run;
    const p = run.predictions;
    const s = run.summary;
    if (p === null) {
      const predicted = run.marks.cause.filter((c) => c === 2).length;
      const text =
        s.pager === "apager"
          ? "No predictor: apager maps every page before the program starts."
          : s.pager === "dpager"
            ? "No predictor: dpager maps only the page that faulted."
            : predicted === 0
              ? "The predictor mapped no pages."
              : `The predictor mapped ${groupDigits(predicted)} pages; whether the program touched them afterwards was not observed (the trace holds no looks at its pages).`;
      return el("div", { className: "predictions", "data-observed": "false" }, el("p", {}, text));
    }
    // Under userfaultfd no look can see that a page was not touched.
    const parts = [
      { key: "touched", label: p.seen === "written" ? "written later" : "touched later", n: p.touched, color: COLORS[2]! },
      ...(p.seen === "touched" ? [{ key: "untouched", label: "not touched by the last look", n: p.untouched, color: COLORS[3]! }] : []),
      { key: "unknown", label: p.seen === "written" ? "not written: read or untouched, unknown" : "unknown: mapped after the last look", n: p.unknown, color: COLORS[4]! },
    ];
    const total = Math.max(1, p.predicted);
    const end = s.wallMs;
    const explanation =
      p.seen === "touched"
        ? `Under SIGSEGV paging a predicted page is enabled without being filled, so the program's page tables (/proc/PID/pagemap) show it present only once the program has touched it, by reading or writing. ${groupDigits(p.looks)} looks were taken while the program ran, the last at ${p.lastLookMs ?? "–"} ms, ${p.lastLookMs === null ? "–" : (end - p.lastLookMs).toFixed(1)} ms before the run ended: "not touched" means not touched by then, and pages mapped after it are unknown.`
        : `Under userfaultfd a predicted page is filled as it is mapped (a bss page with the kernel's shared zero page), so the page tables show only writes: a written page has become the program's own. A page read but never written cannot be told from one never touched: those are unknown, not counted as misses. ${groupDigits(p.looks)} looks were taken, the last at ${p.lastLookMs ?? "–"} ms.`;
    return el(
      "div",
      { className: "predictions", "data-observed": "true", "data-seen": p.seen },
      el("p", { className: "predicted", "data-field": "predicted", "data-value": p.predicted }, `${groupDigits(p.predicted)} pages mapped by prediction:`),
      el("div", { className: "stack" }, ...parts.map((part) => (part.n > 0 ? el("div", { style: `width:${((part.n / total) * 100).toFixed(3)}%;background:${part.color}`, title: `${part.n} ${part.label}` }) : null))),
      el(
        "ul",
        { className: "outcomes" },
        ...parts.map((part) =>
          el(
            "li",
            { "data-field": part.key, "data-value": part.n },
            el("span", { className: "swatch", style: `background:${part.color}` }),
            `${groupDigits(part.n)} ${part.label} (${((part.n / total) * 100).toFixed(1)}%)`,
          ),
        ),
      ),
      el("p", { className: "hint" }, explanation),
    );
  }
}
