/**
 * The replay's tables as arquero tables: the chunks a replay hands out (`replayTrace`'s
 * `tables` sink) concatenated column by column, nulls where the replay wrote NaN.
 *
 * @module
 */

import { type ColumnTable, table } from "arquero";
import type { TableChunk } from "../replay/mod.ts";

/** The tables of one replay. */
export interface ReplayTables {
  /** One row per modeled operation (OPS_SCHEMA). */
  readonly ops: ColumnTable;
  /** The live state on the time grid. */
  readonly timeline: ColumnTable;
  /** One row per dma-buf attachment. */
  readonly attachments: ColumnTable;
  /** One row per anomaly (and warning). */
  readonly anomalies: ColumnTable;
}

const NAMES = ["ops", "timeline", "attachments", "anomalies"] as const;

/**
 * Concatenate a replay's chunks into its tables (a table with no chunk is empty, with no
 * columns).
 *
 * @param chunks The chunks, as `replayTrace` handed them out.
 * @returns The four tables.
 *
 * @example Two ops chunks become one table
 * ```ts
 * import assert from "node:assert/strict";
 * import { tablesFromChunks } from "./mod.ts";
 * const schema = { name: "ops", columns: [{ name: "modeled_ns", kind: "f64" as const, doc: "" }] };
 * const t = tablesFromChunks([
 *   { schema, n: 1, data: [new Float64Array([5])] },
 *   { schema, n: 2, data: [new Float64Array([7, NaN])] },
 * ]);
 * assert.deepEqual(t.ops.array("modeled_ns"), [5, 7, null]);
 * assert.equal(t.timeline.numRows(), 0);
 * ```
 */
export function tablesFromChunks(chunks: readonly TableChunk[]): ReplayTables {
  const out: Record<string, ColumnTable> = {};
  for (const name of NAMES) {
    const mine = chunks.filter((c) => c.schema.name === name);
    const cols: Record<string, (number | string | null)[]> = {};
    const schema = mine[0]?.schema;
    for (const [i, col] of (schema?.columns ?? []).entries()) {
      const values: (number | string | null)[] = [];
      for (const c of mine) {
        const d = c.data[i]!;
        for (let r = 0; r < c.n; ++r) {
          const v = d[r]!;
          values.push(typeof v === "number" && Number.isNaN(v) ? null : v);
        }
      }
      cols[col.name] = values;
    }
    out[name] = table(cols);
  }
  return out as unknown as ReplayTables;
}

/**
 * A table's rows as plain objects (for reports and tests).
 *
 * @param t The table.
 * @returns One object per row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { rowsOf } from "./mod.ts";
 * assert.deepEqual(rowsOf(table({ a: [1, 2] })), [{ a: 1 }, { a: 2 }]);
 * ```
 */
export function rowsOf(t: ColumnTable): Record<string, unknown>[] {
  return t.objects() as Record<string, unknown>[];
}
