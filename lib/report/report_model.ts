/**
 * What a report shows, assembled from one or more replays of a trace (revisions, what-ifs) or
 * of two captures: their summaries, the analysis tables, the charts. Both the HTML and the
 * Markdown report render this.
 *
 * @module
 */

import {
  anomaliesByCode,
  attachmentLifetimes,
  compareRuns,
  costBy,
  cumulativeCost,
  DIGEST_DISTINCT_MAX,
  DIGEST_DMABUF_MAX,
  DIGEST_SAMPLE_MAX,
  dmaBufOps,
  type OpsDigest,
  type ReplayTables,
  REPORT_ANOMALIES,
  revokeTimeline,
  rowsOf,
} from "../analysis/mod.ts";
import {
  type ChartSpec,
  comparisonSpec,
  costByPathSpec,
  cumulativeCostSpec,
  iovaTimelineSpec,
  observedVsModeledSpec,
  revokeTimelineSpec,
} from "../charts/mod.ts";
import { observedVsModeled } from "../analysis/mod.ts";
import type { ReplayAnomaly, ReplaySummary } from "../replay/mod.ts";

/** One replay in the report. */
export interface ReportRun {
  /** Its name (`v8-2025`, `lazy what-if`, `before.trace`). */
  readonly label: string;
  /** Its summary.json. */
  readonly summary: ReplaySummary;
  /** Its tables. */
  readonly tables: ReplayTables;
  /** Its anomalies, in trace order. */
  readonly anomalies: readonly ReplayAnomaly[];
  /**
   * Its ops digest: when given, the report reads the ops from it (the ops table may then be
   * empty: a replay that kept only the digest, for traces of any size).
   */
  readonly digest?: OpsDigest;
}

/** A table of the report: a caption, column names, rows of cells. */
export interface ReportTable {
  /** Caption. */
  readonly title: string;
  /** Column names. */
  readonly columns: readonly string[];
  /** Rows (cells as given: numbers are formatted by the renderer). */
  readonly rows: readonly (readonly (string | number | null)[])[];
  /** A note under the table (what is modeled, what is measured). */
  readonly note?: string;
}

/** A chart of the report. */
export interface ReportChart {
  /** Short name (the file name of its SVG/PNG). */
  readonly name: string;
  /** The vega-lite spec. */
  readonly spec: ChartSpec;
}

/** The report's content. */
export interface ReportModel {
  /** Title (the trace). */
  readonly title: string;
  /** Key figures: label, value. */
  readonly facts: readonly (readonly [string, string])[];
  /** Charts. */
  readonly charts: readonly ReportChart[];
  /** Tables. */
  readonly tables: readonly ReportTable[];
}

const pick = (rows: Record<string, unknown>[], cols: readonly string[]) =>
  rows.map((r) => cols.map((c) => (r[c] ?? null) as string | number | null));

const COST_COLS = [
  "direction",
  "ops",
  "modeled_p50_ns",
  "modeled_p90_ns",
  "modeled_p99_ns",
  "modeled_total_ns",
  "observed_ops",
  "observed_p50_ns",
  "pte_writes",
  "iotlb_invalidations",
] as const;
const COMPARE_COLS = [
  "op",
  "path",
  "ops_a",
  "ops_b",
  "modeled_ns_a",
  "modeled_ns_b",
  "modeled_ns_delta",
  "pte_writes_delta",
  "iotlb_invalidations_delta",
];
const MODELED_NOTE = "modeled_* columns come from the cost profile (modeled, not measured); " +
  "observed_* from function_graph and kretprobe durations in the trace";

/**
 * The report of one or more runs (the first is the main one; each further run is compared
 * with it).
 *
 * @param title The report's title (the trace).
 * @param runs The runs.
 * @returns What the renderers show.
 *
 * @example One run: its facts name the revision and the anomalies
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayTrace, type TableChunk } from "../replay/mod.ts";
 * import { tablesFromChunks } from "../analysis/mod.ts";
 * import { reportModel } from "./mod.ts";
 * const chunks: TableChunk[] = [];
 * const text = "  dd-1 [000] .....  1.000001: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=1000 attrs=\n";
 * const r = await replayTrace(new Blob([text]).stream(), { tables: (c) => chunks.push(c) });
 * const m = reportModel("t.trace", [{ label: "v8-2025", summary: r.summary, tables: tablesFromChunks(chunks), anomalies: r.anomalies }]);
 * assert.ok(m.facts.some(([k, v]) => k === "anomalies" && v.startsWith("1")));
 * ```
 */
export function reportModel(title: string, runs: readonly ReportRun[]): ReportModel {
  const main = runs[0]!;
  const s = main.summary;
  const facts: [string, string][] = [
    [
      "input",
      `${s.input.lines} lines, ${s.events.total} events, ${s.diagnostics.total} diagnostics`,
    ],
    ["revision", s.revision],
    [
      "topology",
      s.topology.given
        ? "given"
        : `none (inferred: ${s.topology.inferred?.notes.join("; ") ?? ""})`,
    ],
    [
      "operations",
      `${s.ops.total} (${Object.entries(s.ops.byPath).map(([p, n]) => `${p} ${n}`).join(", ")})`,
    ],
    [
      "modeled CPU cost",
      `${(s.ops.modeledNs / 1e6).toFixed(3)} ms (cost profile ${s.ops.costProfile}; modeled)`,
    ],
    [
      "measured",
      s.ops.observed > 0
        ? `${s.ops.observed} ops, ${(s.ops.observedNs / 1e6).toFixed(3)} ms observed vs ${
          (s.ops.modeledNsOfObserved / 1e6).toFixed(3)
        } ms modeled`
        : "no durations in the trace",
    ],
    [
      "anomalies",
      `${s.anomalies.total}` +
      (s.anomalies.downgraded.total > 0
        ? ` (+${s.anomalies.downgraded.total} downgraded after lost events)`
        : ""),
    ],
    [
      "IOVA prediction",
      `${s.iova.prediction.matched} of ${s.iova.prediction.checked} kernel IOVAs predicted; peak ${s.iova.peakPages} pages, ${s.iova.leakedPages} still mapped at the end`,
    ],
  ];
  if (s.whatIf !== null) {
    facts.push(["what-if", `${s.whatIf.name}: ${s.whatIf.applied.join("; ")}`]);
  }
  const ops = main.tables.ops;
  const d = main.digest;
  const charts: ReportChart[] = [];
  const tables: ReportTable[] = [];
  if (d !== undefined ? d.total > 0 : ops.numRows() > 0) {
    const cost = (by: "path" | "device" | "size_class" | "task") =>
      d !== undefined ? d.costBy(by) : costBy(ops, by);
    const byPath = rowsOf(cost("path"));
    charts.push({ name: "cost-by-path", spec: costByPathSpec(byPath) });
    charts.push({
      name: "cumulative-cost",
      spec: cumulativeCostSpec(rowsOf(d !== undefined ? d.cumulativeCost() : cumulativeCost(ops))),
    });
    tables.push({
      title: "Cost by path",
      columns: ["path", ...COST_COLS],
      rows: pick(byPath, ["path", ...COST_COLS]),
      note: MODELED_NOTE,
    });
    for (
      const [by, caption] of [
        ["device", "Cost by device"],
        ["size_class", "Cost by size class"],
        ["task", "Cost by task"],
      ] as const
    ) {
      const rows = rowsOf(cost(by));
      tables.push({
        title: caption,
        columns: [by, ...COST_COLS],
        rows: pick(rows, [by, ...COST_COLS]),
        note: MODELED_NOTE,
      });
    }
    const ovm = rowsOf(d !== undefined ? d.observedVsModeled() : observedVsModeled(ops));
    if (d !== undefined && d.measured > DIGEST_SAMPLE_MAX) {
      facts.push([
        "measured ops charted",
        `${DIGEST_SAMPLE_MAX} of ${d.measured} (a uniform sample; the sums are of all)`,
      ]);
    }
    const approx = byPath.filter((r) => r.approximate === true).length;
    if (approx > 0) {
      facts.push([
        "percentiles",
        `from a uniform sample of ${DIGEST_DISTINCT_MAX} values in ${approx} path group(s) with more distinct costs; counts, means and totals exact`,
      ]);
    }
    if (d?.dmaBufTruncated) {
      facts.push(["dma-buf ops", `the first ${DIGEST_DMABUF_MAX} kept for the revoke tables`]);
    }
    if (ovm.length > 0) {
      charts.push({ name: "observed-vs-modeled", spec: observedVsModeledSpec(ovm) });
    }
    // The dma-buf work only: the revoke and attachment tables never read every DMA-API op.
    const dmabufOps = d !== undefined ? d.dmaBufOps() : dmaBufOps(ops);
    const dmabuf = rowsOf(dmabufOps);
    if (dmabuf.length > 0) {
      charts.push({ name: "revoke-timeline", spec: revokeTimelineSpec(dmabuf) });
      const revokes = rowsOf(revokeTimeline(dmabufOps));
      const rc = ["dmabuf", "line", "ts_s", "unmaps", "last_unmap_ms"];
      if (revokes.length > 0) {
        tables.push({
          title: "Revokes (move_notify) and the mappings they tore down",
          columns: rc,
          rows: pick(revokes, rc),
        });
      }
      const lifetimes = attachmentLifetimes(main.tables.attachments, dmabufOps);
      const lc = lifetimes.columnNames().filter((c) => !c.endsWith("_ts_s"));
      const lives = rowsOf(lifetimes);
      tables.push({ title: "dma-buf attachments", columns: lc, rows: pick(lives, lc) });
    }
  }
  if (main.tables.timeline.numRows() > 0) {
    charts.push({ name: "iova-timeline", spec: iovaTimelineSpec(rowsOf(main.tables.timeline)) });
  }
  tables.push({
    title: "Anomalies by code",
    columns: ["code", "count", "warnings", "first_line", "meaning"],
    rows: pick(rowsOf(anomaliesByCode(main.tables.anomalies)), [
      "code",
      "count",
      "warnings",
      "first_line",
      "meaning",
    ]),
  });
  tables.push({
    title: `Anomalies (first ${REPORT_ANOMALIES})`,
    columns: ["line", "code", "device", "related lines", "message"],
    rows: main.anomalies.slice(0, REPORT_ANOMALIES).map((a) => [
      a.line === 0 ? "end" : a.line,
      a.code,
      a.device,
      a.related.join(" "),
      a.message,
    ]),
  });
  for (const other of runs.slice(1)) {
    const c = compareRuns(
      main.tables,
      other.tables,
      d !== undefined && other.digest !== undefined ? [d, other.digest] : undefined,
    );
    const labels = [main.label, other.label] as const;
    charts.push({ name: `compare-${other.label}`, spec: comparisonSpec(rowsOf(c.ops), labels) });
    tables.push({
      title: `${main.label} vs ${other.label}: operations`,
      columns: COMPARE_COLS,
      rows: pick(rowsOf(c.ops), COMPARE_COLS),
      note: `a = ${main.label}, b = ${other.label}; ${MODELED_NOTE}`,
    });
    tables.push({
      title: `${main.label} vs ${other.label}: anomalies`,
      columns: ["code", "a", "b", "delta", "meaning"],
      rows: pick(rowsOf(c.anomalies), ["code", "a", "b", "delta", "meaning"]),
    });
  }
  return { title, facts, charts, tables };
}
