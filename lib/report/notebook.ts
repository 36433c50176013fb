/**
 * What a Deno Jupyter notebook displays: tables as HTML and text, charts as vega-lite with an
 * SVG fallback, a replay's summary as a table. Each view is a MIME bundle behind
 * `Symbol.for("Jupyter.display")`, so `await Deno.jupyter.display(view)` (or a cell ending with
 * the view) shows it, and its `bundle` holds the same data for tests.
 *
 * @module
 */

import type { ColumnTable } from "arquero";
import { type ChartSpec, renderSvg } from "../charts/mod.ts";
import type { ReplaySummary } from "../replay/mod.ts";
import { escapeHtml } from "./render_report.ts";

/** A MIME bundle: MIME type to data. */
export type MimeBundle = Record<string, unknown>;

/** The symbol Deno's Jupyter kernel calls for an object's MIME bundle. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

/** Something a notebook displays. */
export interface NotebookView {
  /** What it displays, by MIME type. */
  readonly bundle: MimeBundle;
  /** Deno's Jupyter kernel calls this to display the view. */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/**
 * The MIME type JupyterLab and VS Code render vega-lite specs from: they pick the renderer by
 * the spec's major version, and vega-lite 6 has no MIME type yet, so the specs go out as v5
 * (the charts use nothing 6 added).
 */
export const VEGALITE_MIME = "application/vnd.vegalite.v5+json";

const VEGALITE_V5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json";

function view(bundle: MimeBundle): NotebookView {
  return { bundle, [JUPYTER_DISPLAY]: () => bundle };
}

/** Options of {@linkcode tableView}. */
export interface TableViewOptions {
  /** A caption above the table. @default {none} */
  title?: string;
  /** Rows shown (the rest are counted). @default {25} */
  limit?: number;
}

/**
 * A table for a notebook: HTML and aligned plain text, the first `limit` rows (a table without
 * rows shows "none").
 *
 * @param t An arquero table (any of the analysis tables), or rows as objects.
 * @param options Caption and row limit.
 * @returns The view.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { tableView } from "./mod.ts";
 * const v = tableView(table({ path: ["BUS_ADDR", "<b>"], ops: [3, 12] }), { title: "by path" });
 * assert.match(v.bundle["text/html"] as string, /&lt;b&gt;/);
 * assert.equal(v.bundle["text/plain"], "by path\npath     ops\nBUS_ADDR   3\n<b>       12");
 * assert.equal(tableView([{ run: "a", ops: 1 }, { run: "b", p2p: 2 }]).bundle["text/plain"], "run ops p2p\na     1\nb         2");
 * assert.equal(tableView([{ us: 17003.4 }, { us: 11.9401 }, { us: 0.012345 }]).bundle["text/plain"], "    us\n 17003\n 11.94\n0.0123");
 * assert.equal(tableView(table({}), { title: "anomalies" }).bundle["text/plain"], "anomalies: none");
 * ```
 */
export function tableView(
  t: ColumnTable | readonly Readonly<Record<string, unknown>>[],
  options: TableViewOptions = {},
): NotebookView {
  const limit = options.limit ?? 25;
  const columns = columnsOf(t);
  const names = [...columns.keys()];
  const n = Array.isArray(t) ? t.length : (t as ColumnTable).numRows();
  const shown = Math.min(n, limit);
  if (names.length === 0 || n === 0) {
    const empty = options.title ? `${options.title}: none` : "none";
    return view({ "text/html": `<p>${escapeHtml(empty)}</p>`, "text/plain": empty });
  }
  const cells = names.map((c) => {
    const col = columns.get(c)!;
    return Array.from({ length: shown }, (_, i) => cellText(col[i]));
  });
  const numeric = names.map((c) => {
    const col = columns.get(c)!;
    for (let i = 0; i < shown; ++i) {
      if (col[i] !== null && col[i] !== undefined) return typeof col[i] === "number";
    }
    return false;
  });
  const more = n > shown ? `${n - shown} more rows (${n} in all)` : "";
  const title = options.title ?? "";
  const html = [
    `<table class="dmareplay">`,
    title === "" ? "" : `<caption>${escapeHtml(title)}</caption>`,
    `<thead><tr>${names.map((c) => `<th>${escapeHtml(c)}</th>`).join("")}</tr></thead><tbody>`,
    ...Array.from(
      { length: shown },
      (_, i) =>
        `<tr>${
          names.map((_, j) =>
            `<td${numeric[j] ? ' style="text-align:right"' : ""}>${escapeHtml(cells[j]![i]!)}</td>`
          ).join("")
        }</tr>`,
    ),
    `</tbody></table>`,
    more === "" ? "" : `<p>${more}</p>`,
  ].join("");
  const widths = names.map((c, j) => Math.max(c.length, ...cells[j]!.map((s) => s.length)));
  const line = (vals: readonly string[]) =>
    vals.map((v, j) => numeric[j] ? v.padStart(widths[j]!) : v.padEnd(widths[j]!)).join(" ")
      .trimEnd();
  const text = [
    ...(title === "" ? [] : [title]),
    line(names),
    ...Array.from({ length: shown }, (_, i) => line(names.map((_, j) => cells[j]![i]!))),
    ...(more === "" ? [] : [more]),
  ].join("\n");
  return view({ "text/html": html, "text/plain": text });
}

/** A table's columns by name (rows: the union of their keys, in first-seen order). */
function columnsOf(
  t: ColumnTable | readonly Readonly<Record<string, unknown>>[],
): Map<string, ArrayLike<unknown>> {
  const out = new Map<string, ArrayLike<unknown>>();
  if (!Array.isArray(t)) {
    const ct = t as ColumnTable;
    for (const c of ct.columnNames()) out.set(c, ct.array(c) as ArrayLike<unknown>);
    return out;
  }
  const rows = t as readonly Readonly<Record<string, unknown>>[];
  for (const r of rows) for (const k of Object.keys(r)) if (!out.has(k)) out.set(k, []);
  for (const [k, col] of out) (col as unknown[]).push(...rows.map((r) => r[k]));
  return out;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1e4) return String(Math.round(v));
    return (a >= 1 ? v.toFixed(2) : v.toPrecision(3)).replace(/(\.\d*?)0+$/, "$1").replace(
      /\.$/,
      "",
    );
  }
  return String(v);
}

/**
 * A chart for a notebook: the vega-lite spec (as v5, {@linkcode VEGALITE_MIME}) with its SVG
 * as the fallback for front ends without vega-lite, and its title as text.
 *
 * @param spec A chart spec (`costByPathSpec`, `iovaTimelineSpec`, ...).
 * @returns The view.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { costByPathSpec } from "../charts/mod.ts";
 * import { chartView, VEGALITE_MIME } from "./mod.ts";
 * const v = await chartView(costByPathSpec([{ path: "BUS_ADDR", direction: "map", modeled_total_ns: 900 }]));
 * assert.match((v.bundle[VEGALITE_MIME] as { $schema: string }).$schema, /v5\.json$/);
 * assert.match(v.bundle["image/svg+xml"] as string, /^<svg/);
 * ```
 */
export async function chartView(spec: ChartSpec): Promise<NotebookView> {
  const svg = await renderSvg(spec);
  const t = spec.title as string | { text?: unknown } | undefined;
  const title = typeof t === "string" ? t : typeof t?.text === "string" ? t.text : "chart";
  return view({
    [VEGALITE_MIME]: { ...spec, $schema: VEGALITE_V5_SCHEMA },
    "image/svg+xml": svg,
    "text/plain": `[chart] ${title}`,
  });
}

/**
 * A replay's summary for a notebook: the figures a kernel engineer looks at first.
 *
 * @param s The summary (`replayTrace(...).summary`, `replayRun(...).summary`).
 * @returns The view (a two-column table: what, value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayRun } from "../analysis/mod.ts";
 * import { summaryView } from "./mod.ts";
 * const run = await replayRun("t", new Blob([""]).stream());
 * assert.match(summaryView(run.summary).bundle["text/plain"] as string, /events +0/);
 * ```
 */
export function summaryView(s: ReplaySummary): NotebookView {
  const rows: [string, string][] = [
    ["lines", String(s.input.lines)],
    ["events", String(s.events.total)],
    ["diagnostics", String(s.diagnostics.total)],
    ["lost events", String(s.lost.events)],
    ["revision", s.revision],
    ["topology", s.topology.given ? "given" : "inferred from the trace"],
    ["ops", String(s.ops.total)],
    ...Object.entries(s.ops.byPath).map(([p, n]) => [`  ${p}`, String(n)] as [string, string]),
    ["modeled CPU cost (µs)", (s.ops.modeledNs / 1000).toFixed(1)],
    ["IOVA peak (pages)", String(s.iova.peakPages)],
    ["IOVA leaked at end (pages)", String(s.iova.leakedPages)],
    ["anomalies", String(s.anomalies.total)],
    ...Object.entries(s.anomalies.byCode).map(([c, n]) =>
      [`  ${c}`, String(n)] as [string, string]
    ),
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const text = rows.map(([k, v]) => `${k.padEnd(w)} ${v}`).join("\n");
  const html = `<table class="dmareplay"><caption>summary</caption><tbody>${
    rows.map(([k, v]) =>
      `<tr><th style="text-align:left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`
    )
      .join("")
  }</tbody></table>`;
  return view({ "text/html": html, "text/plain": text });
}
