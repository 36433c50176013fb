/**
 * One replay straight to its tables: what a notebook, `dmareplay report` and `compare` do for
 * each run (a revision, a what-if, a capture).
 *
 * @module
 */

import { type ColumnTable, table } from "arquero";
import type { TraceParse } from "../ingest/mod.ts";
import {
  type ReplayAnomaly,
  type ReplayOptions,
  replayParse,
  type ReplaySummary,
  replayTrace,
  type TableChunk,
} from "../replay/mod.ts";
import { type ReplayTables, tablesFromChunks } from "./replay_tables.ts";
import { OpsDigest, TimelineSample } from "./ops_digest.ts";

/** A replay with its tables. */
export interface ReplayRun {
  /** Its name (`v8-2025`, `lazy`, `before.trace`). */
  readonly label: string;
  /** Its summary.json. */
  readonly summary: ReplaySummary;
  /** Its tables, as arquero tables. */
  readonly tables: ReplayTables;
  /** Its anomalies, in trace order. */
  readonly anomalies: readonly ReplayAnomaly[];
  /** The chunks the tables were made of (for writing them as CSV, Arrow or Parquet). */
  readonly chunks: readonly TableChunk[];
  /** The ops folded as they came (what a report reads of them, in bounded memory). */
  readonly digest: OpsDigest;
}

/**
 * How many anomalies a report lists one by one (its table of codes counts every one): a run
 * for a report need keep no more (`ReplayOptions.keepAnomalies`).
 */
export const REPORT_ANOMALIES = 200;

/** How {@linkcode replayRun} keeps the tables. */
export interface ReplayRunOptions extends Omit<ReplayOptions, "tables"> {
  /**
   * Keep the ops table's rows (default true). False keeps only its digest and a sample of the
   * timeline (at most 4000 rows evenly over the trace): `tables.ops` is then empty and memory
   * does not grow with the trace (the attachment and anomaly tables are kept).
   */
  keepOps?: boolean;
  /**
   * Every chunk as it comes, after the digest read it (e.g. to write the tables while
   * replaying). A chunk that is kept (not an ops chunk with `keepOps` false) must be left
   * intact: copy it before transferring its arrays or giving them back to the table's builder
   * (`recycleChunkArrays`).
   */
  onChunk?: (chunk: TableChunk) => void;
}

/**
 * Replay a trace and keep its tables.
 *
 * @param label The run's name.
 * @param source The trace bytes (gzip or text), or a parse of them made with the options'
 *   `probeMap` (`parseTraceOnWorker`, to parse on another thread: then `onProgress` and
 *   `parseOnWorker` are the parse's business, not read here).
 * @param options The replay's options (topology, revision, what-if, cost, probes).
 * @returns The run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayRun } from "./mod.ts";
 * const text = "  dd-1 [000] .....  1.000002: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=2d15000 size=4096 phys_addr=2d15000 attrs=\n";
 * const run = await replayRun("one map", new Blob([text]).stream());
 * assert.equal(run.tables.ops.numRows(), 1);
 * assert.deepEqual(run.anomalies.map((a) => a.code), ["DMA_LEAK_AT_END"]);
 * ```
 */
export async function replayRun(
  label: string,
  source: ReadableStream<Uint8Array> | TraceParse,
  options: ReplayRunOptions = {},
): Promise<ReplayRun> {
  const { keepOps = true, onChunk, ...replayOptions } = options;
  const chunks: TableChunk[] = [];
  const digest = new OpsDigest();
  const timeline = keepOps ? null : new TimelineSample();
  const withTables: ReplayOptions = {
    ...replayOptions,
    tables: (c) => {
      digest.add(c);
      timeline?.add(c);
      const name = c.schema.name;
      if (keepOps || (name !== "ops" && name !== "timeline")) chunks.push(c);
      onChunk?.(c);
    },
  };
  const r =
    await (source instanceof ReadableStream
      ? replayTrace(source, withTables)
      : replayParse(source, withTables));
  const tables = tablesFromChunks(chunks);
  return {
    label,
    summary: r.summary,
    tables: timeline === null ? tables : { ...tables, timeline: timeline.table() },
    anomalies: r.anomalies,
    chunks,
    digest,
  };
}

/**
 * Several runs of one workload side by side (a what-if sweep, the revisions): per run and path,
 * the ops, their modeled cost and IOMMU work, and the run's anomaly count.
 *
 * @param runs The runs (label and tables).
 * @returns run, path, ops, modeled_ns, pte_writes, iotlb_invalidations, anomalies (the run's,
 *   on each of its rows), in the runs' order then by path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { rowsOf, sweepTable } from "./mod.ts";
 * const run = (label: string, path: string, ns: number) => ({
 *   label,
 *   tables: {
 *     ops: table({ path: [path, path], modeled_ns: [ns, ns], pte_writes: [1, 1], iotlb_invalidations: [0, 1] }),
 *     anomalies: table({ code: ["X"], severity: ["anomaly"] }),
 *     timeline: table({}), attachments: table({}),
 *   },
 * });
 * const t = rowsOf(sweepTable([run("acs off", "BUS_ADDR", 100), run("acs on", "THRU_HOST_BRIDGE", 900)]));
 * assert.deepEqual(t.map((r) => [r.run, r.path, r.ops, r.modeled_ns, r.iotlb_invalidations, r.anomalies]), [
 *   ["acs off", "BUS_ADDR", 2, 200, 1, 1],
 *   ["acs on", "THRU_HOST_BRIDGE", 2, 1800, 1, 1],
 * ]);
 * ```
 */
export function sweepTable(
  runs: readonly { readonly label: string; readonly tables: ReplayTables }[],
): ColumnTable {
  const cols: Record<string, (string | number)[]> = {
    run: [],
    path: [],
    ops: [],
    "modeled_ns": [],
    "pte_writes": [],
    "iotlb_invalidations": [],
    anomalies: [],
  };
  for (const { label, tables } of runs) {
    const a = tables.anomalies;
    const anomalies = a.numRows() === 0
      ? 0
      : (a.array("severity") as string[]).filter((s) => s === "anomaly").length;
    const ops = tables.ops;
    const by = new Map<string, { n: number; ns: number; pte: number; inv: number }>();
    if (ops.numRows() > 0) {
      const path = ops.array("path") as (string | null)[];
      const ns = ops.array("modeled_ns") as (number | null)[];
      const pte = ops.array("pte_writes") as (number | null)[];
      const inv = ops.array("iotlb_invalidations") as (number | null)[];
      for (let i = 0; i < path.length; ++i) {
        const k = path[i] || "(none)";
        const s = by.get(k) ?? { n: 0, ns: 0, pte: 0, inv: 0 };
        ++s.n;
        s.ns += ns[i] ?? 0;
        s.pte += pte[i] ?? 0;
        s.inv += inv[i] ?? 0;
        by.set(k, s);
      }
    }
    for (const [k, s] of [...by].sort(([x], [y]) => x < y ? -1 : x > y ? 1 : 0)) {
      cols.run!.push(label);
      cols.path!.push(k);
      cols.ops!.push(s.n);
      cols.modeled_ns!.push(s.ns);
      cols.pte_writes!.push(s.pte);
      cols.iotlb_invalidations!.push(s.inv);
      cols.anomalies!.push(anomalies);
    }
  }
  return table(cols);
}
