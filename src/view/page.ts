/**
 * The page as one self-contained HTML file: the style, the runs' data and
 * the script (src/view/client, bundled) all inline, nothing to fetch, so it
 * opens from disk, offline, in any current browser. The data is JSON,
 * gzipped and in base64 (a run of 100 000 faults is a few megabytes of
 * JSON, a fifth of that gzipped); the page inflates it with the browser's
 * own DecompressionStream. Pure: the bundled script is handed in.
 */
import type { PageData } from "./model.ts";

export type { PageData } from "./model.ts";


const STYLE = `
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6272; --line: #d9dde6; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #fff; }
header h1 { font-size: 20px; margin: 0 0 2px; }
header p, .hint, .status { color: var(--muted); margin: 4px 0; }
#runs { display: grid; gap: 28px; }
.run { min-width: 0; }
.run h2 { font-size: 16px; margin: 14px 0 8px; font-family: ui-monospace, monospace; word-break: break-all; }
.run h3 { font-size: 14px; margin: 18px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 2px; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(130px, 1fr)); gap: 6px 14px; margin: 0; }
dl.summary .figure[data-field="program"] { grid-column: 1 / -1; }
dl.summary dt { font-size: 12px; color: var(--muted); }
dl.summary dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
dl.summary .figure[data-field="program"] dd { word-break: break-all; font-family: ui-monospace, monospace; font-weight: 500; }
table.regions { border-collapse: collapse; width: 100%; font-size: 12.5px; }
table.regions th, table.regions td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
table.regions td.address, table.regions td.prot { font-family: ui-monospace, monospace; white-space: nowrap; }
table.regions td.source { word-break: break-all; }
table.regions td.mapped { min-width: 150px; white-space: nowrap; }
.bar { height: 6px; background: #e6e9f0; border-radius: 3px; margin: 4px 0 2px; overflow: hidden; }
.bar > div { height: 100%; background: #1f77b4; }
.chart { position: relative; }
.chart canvas { display: block; touch-action: none; cursor: crosshair; }
.tooltip { position: absolute; z-index: 2; max-width: 320px; padding: 6px 8px; background: rgba(29,35,48,0.94); color: #fff; font: 12px/1.4 ui-monospace, monospace; border-radius: 4px; pointer-events: none; }
.tooltip[hidden] { display: none; }
.under-chart { display: flex; gap: 12px; align-items: flex-start; justify-content: space-between; }
.under-chart button { flex: none; margin-top: 4px; }
ul.legend, ul.outcomes { list-style: none; padding: 0; margin: 4px 0 6px; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; vertical-align: -1px; }
.stack { display: flex; height: 16px; border-radius: 3px; overflow: hidden; background: #e6e9f0; max-width: 640px; }
.notes li { color: var(--muted); }
.error { color: #b00020; font-weight: 600; }
`;

/** Text that may sit inside a <script> element without ending it. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The data a page holds, read back (for tests and tools). */
export function pageData(html: string): PageData {
  const packed = /<script id="faultline-data" type="application\/gzip;base64">([A-Za-z0-9+/=]*)<\/script>/.exec(html);
  if (!packed) throw new Error("not a faultline page: no data");
  return JSON.parse(new TextDecoder().decode(Bun.gunzipSync(Buffer.from(packed[1]!, "base64")))) as PageData;
}

/** The page for these runs, with the page's script (bundled) inline. */
export function pageHtml(data: PageData, script: string): string {
  const title = data.runs.map((r) => r.title).join("  |  ");
  const packed = Buffer.from(Bun.gzipSync(JSON.stringify(data))).toString("base64");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>faultline: ${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>faultline: what the pager mapped, and when</h1>
<p>Made by faultline ${escapeHtml(data.faultline)} on ${escapeHtml(data.made.slice(0, 19).replace("T", " "))} UTC. Everything this page needs is in this one file.</p>
</header>
<main id="runs"></main>
<script id="faultline-data" type="application/gzip;base64">${packed}</script>
<script>${scriptSafe(script)}</script>
</body>
</html>
`;
}
