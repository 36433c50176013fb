/**
 * Two replays side by side (DESIGN.md "Compare patch revisions and what-ifs", and two
 * captures, before and after a kernel patch): the same operations under both, with counts,
 * modeled cost and IOMMU work per (op, path), and anomalies per code, each with its delta.
 *
 * @module
 */

import { type ColumnTable, op, table } from "arquero";
import { ANOMALY_CODES } from "../replay/mod.ts";
import type { ReplayTables } from "./replay_tables.ts";
import type { OpsDigest } from "./ops_digest.ts";

/** What {@linkcode compareRuns} returns. */
export interface RunComparison {
  /** Per (op, path): ops, modeled ns, PTE writes, IOTLB invalidations of a and b, b - a. */
  readonly ops: ColumnTable;
  /** Per anomaly code: count in a, in b, b - a, and what the code means. */
  readonly anomalies: ColumnTable;
}

function opsByKey(ops: ColumnTable): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  if (ops.numRows() === 0) return out;
  const g = ops.groupby("op", "path").rollup({
    ops: op.count(),
    "modeled_ns": op.sum("modeled_ns"),
    "pte_writes": op.sum("pte_writes"),
    "iotlb_invalidations": op.sum("iotlb_invalidations"),
  });
  for (const r of g.objects() as Record<string, unknown>[]) {
    out.set(`${r.op}\u0000${r.path}`, {
      ops: Number(r.ops),
      "modeled_ns": Number(r.modeled_ns ?? 0),
      "pte_writes": Number(r.pte_writes ?? 0),
      "iotlb_invalidations": Number(r.iotlb_invalidations ?? 0),
    });
  }
  return out;
}

/** The same sums from a digest (whose ops table was not kept). */
function opsOfDigest(d: OpsDigest): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const [k, v] of d.sumsByOpPath()) {
    out.set(k, {
      ops: v.ops,
      "modeled_ns": v.modeled,
      "pte_writes": v.pte,
      "iotlb_invalidations": v.iotlb,
    });
  }
  return out;
}

function anomalyCounts(anomalies: ColumnTable): Map<string, number> {
  const out = new Map<string, number>();
  if (anomalies.numRows() === 0) return out;
  const rows = anomalies.objects() as { code: string; severity?: string }[];
  for (const r of rows) {
    if (r.severity === "warning") continue;
    out.set(r.code, (out.get(r.code) ?? 0) + 1);
  }
  return out;
}

/**
 * Compare two replays of one trace (revisions, what-ifs) or of two captures.
 *
 * @param a The first run's tables.
 * @param b The second's.
 * @param digests The two runs' ops digests, when their ops tables were not kept (the sums come
 *   from them then).
 * @returns The op and anomaly tables, one row per key present in either run.
 *
 * @example v2-2022 maps where v8 did not, and raises P2P_WRONG_PATH
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { compareRuns, rowsOf } from "./mod.ts";
 * const run = (path: string, pte: number, codes: string[]) => ({
 *   ops: table({ op: ["dma_buf_map_attachment"], path: [path], modeled_ns: [1000 + pte * 60], pte_writes: [pte], iotlb_invalidations: [0] }),
 *   anomalies: table({ code: codes, severity: codes.map(() => "anomaly") }),
 *   timeline: table({}), attachments: table({}),
 * });
 * const c = compareRuns(run("BUS_ADDR", 0, []), run("THRU_HOST_BRIDGE", 16, ["P2P_WRONG_PATH"]));
 * assert.deepEqual(rowsOf(c.ops).map((r) => [r.path, r.ops_a, r.ops_b, r.pte_writes_delta]), [
 *   ["BUS_ADDR", 1, 0, 0],
 *   ["THRU_HOST_BRIDGE", 0, 1, 16],
 * ]);
 * assert.deepEqual(rowsOf(c.anomalies).map((r) => [r.code, r.a, r.b, r.delta]), [["P2P_WRONG_PATH", 0, 1, 1]]);
 * ```
 */
export function compareRuns(
  a: ReplayTables,
  b: ReplayTables,
  digests?: readonly [OpsDigest, OpsDigest],
): RunComparison {
  const oa = digests ? opsOfDigest(digests[0]) : opsByKey(a.ops);
  const ob = digests ? opsOfDigest(digests[1]) : opsByKey(b.ops);
  const keys = [...new Set([...oa.keys(), ...ob.keys()])].sort();
  const zero = { ops: 0, "modeled_ns": 0, "pte_writes": 0, "iotlb_invalidations": 0 };
  const cols: Record<string, (string | number)[]> = { op: [], path: [] };
  for (const m of ["ops", "modeled_ns", "pte_writes", "iotlb_invalidations"]) {
    cols[`${m}_a`] = [];
    cols[`${m}_b`] = [];
    cols[`${m}_delta`] = [];
  }
  for (const k of keys) {
    const [opName, path] = k.split("\u0000") as [string, string];
    cols.op!.push(opName);
    cols.path!.push(path);
    const x = oa.get(k) ?? zero;
    const y = ob.get(k) ?? zero;
    for (const m of ["ops", "modeled_ns", "pte_writes", "iotlb_invalidations"] as const) {
      cols[`${m}_a`]!.push(x[m]!);
      cols[`${m}_b`]!.push(y[m]!);
      cols[`${m}_delta`]!.push(y[m]! - x[m]!);
    }
  }
  const ca = anomalyCounts(a.anomalies);
  const cb = anomalyCounts(b.anomalies);
  const codes = [...new Set([...ca.keys(), ...cb.keys()])].sort();
  return {
    ops: table(cols),
    anomalies: table({
      code: codes,
      a: codes.map((c) => ca.get(c) ?? 0),
      b: codes.map((c) => cb.get(c) ?? 0),
      delta: codes.map((c) => (cb.get(c) ?? 0) - (ca.get(c) ?? 0)),
      meaning: codes.map((c) => ANOMALY_CODES[c] ?? ""),
    }),
  };
}

/**
 * Anomalies by code, with what each means and the first line that shows it.
 *
 * @param anomalies The anomalies table.
 * @returns code, count, warnings (downgraded after lost events), first line, meaning.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { anomaliesByCode, rowsOf } from "./mod.ts";
 * const t = table({ line: [9, 4, 12], code: ["DMA_LEAK_AT_END", "DMA_LEAK_AT_END", "P2P_WRONG_PATH"], severity: ["anomaly", "anomaly", "warning"] });
 * assert.deepEqual(rowsOf(anomaliesByCode(t)).map((r) => [r.code, r.count, r.warnings, r.first_line]), [
 *   ["DMA_LEAK_AT_END", 2, 0, 4],
 *   ["P2P_WRONG_PATH", 0, 1, 12],
 * ]);
 * ```
 */
export function anomaliesByCode(anomalies: ColumnTable): ColumnTable {
  const by = new Map<string, { count: number; warnings: number; first: number }>();
  if (anomalies.numRows() > 0) {
    for (const r of anomalies.objects() as { line: number; code: string; severity?: string }[]) {
      const e = by.get(r.code) ?? { count: 0, warnings: 0, first: Infinity };
      if (r.severity === "warning") ++e.warnings;
      else ++e.count;
      if (r.line > 0 && r.line < e.first) e.first = r.line;
      by.set(r.code, e);
    }
  }
  const codes = [...by.keys()].sort();
  return table({
    code: codes,
    count: codes.map((c) => by.get(c)!.count),
    warnings: codes.map((c) => by.get(c)!.warnings),
    first_line: codes.map((c) => (Number.isFinite(by.get(c)!.first) ? by.get(c)!.first : 0)),
    meaning: codes.map((c) => ANOMALY_CODES[c] ?? ""),
  });
}
