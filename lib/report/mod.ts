/**
 * The report (issue [6/8]): what one or more replays show, assembled once
 * ({@linkcode reportModel}) and rendered as a self-contained HTML file and as Markdown.
 *
 * @example A report of one replay, as HTML
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayTrace, type TableChunk } from "../replay/mod.ts";
 * import { tablesFromChunks } from "../analysis/mod.ts";
 * import { renderHtmlReport, reportModel } from "./mod.ts";
 * const chunks: TableChunk[] = [];
 * const text = "  dd-1 [000] .....  1.000001: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=1000 attrs=\n";
 * const r = await replayTrace(new Blob([text]).stream(), { tables: (c) => chunks.push(c) });
 * const m = reportModel("t.trace", [{ label: "v8-2025", summary: r.summary, tables: tablesFromChunks(chunks), anomalies: r.anomalies }]);
 * assert.match(renderHtmlReport(m, new Map()), /DMA_LEAK_AT_END/);
 * ```
 *
 * @module
 */

export {
  type ReportChart,
  type ReportModel,
  reportModel,
  type ReportRun,
  type ReportTable,
} from "./report_model.ts";
export { escapeHtml, renderHtmlReport, renderMarkdownReport } from "./render_report.ts";
export {
  chartView,
  JUPYTER_DISPLAY,
  type MimeBundle,
  type NotebookView,
  summaryView,
  tableView,
  type TableViewOptions,
  VEGALITE_MIME,
} from "./notebook.ts";
