/**
 * What each mapping cost (DESIGN.md "Compare costs"): the modeled and observed ns of the ops,
 * by path, by device and by size class, as distributions (count, mean, percentiles, total).
 * Modeled numbers come from the cost profile and are labelled so (`modeled_*` columns).
 *
 * @module
 */

import { type ColumnTable, escape, op, table } from "arquero";

/** The size classes of `bytes` (a mapping's size). */
export const SIZE_CLASSES = ["<=4K", "<=64K", "<=2M", "<=1G", ">1G"] as const;

/** The size class of a byte count. */
export function sizeClass(bytes: number | null): string {
  if (bytes === null || !Number.isFinite(bytes)) return "unknown";
  return bytes <= 4096
    ? "<=4K"
    : bytes <= 65536
    ? "<=64K"
    : bytes <= 2 ** 21
    ? "<=2M"
    : bytes <= 2 ** 30
    ? "<=1G"
    : ">1G";
}

const DIRECTIONS = new Map<string, string>();

/**
 * Whether an op maps, unmaps (frees, detaches, releases) or neither (syncs): `map`, `unmap`,
 * `other`; worked out once per op name.
 *
 * @param opName The op.
 * @returns Its direction.
 */
export function direction(opName: string): string {
  let d = DIRECTIONS.get(opName);
  if (d === undefined) {
    d = /unmap|free|detach|release/.test(opName)
      ? "unmap"
      : /map|alloc|attach|export|get_pfn/.test(opName)
      ? "map"
      : "other";
    DIRECTIONS.set(opName, d);
  }
  return d;
}

/** The distribution columns of a group of ops. */
const ROLLUP = {
  ops: op.count(),
  "modeled_mean_ns": op.mean("modeled_ns"),
  "modeled_p50_ns": op.median("modeled_ns"),
  "modeled_p90_ns": op.quantile("modeled_ns", 0.9),
  "modeled_p99_ns": op.quantile("modeled_ns", 0.99),
  "modeled_total_ns": op.sum("modeled_ns"),
  "observed_ops": op.valid("observed_ns"),
  "observed_p50_ns": op.median("observed_ns"),
  "observed_p90_ns": op.quantile("observed_ns", 0.9),
  "pte_writes": op.sum("pte_writes"),
  "iotlb_invalidations": op.sum("iotlb_invalidations"),
};

/**
 * Ops cost grouped by a key: `path`, `device`, `size_class` or `task`, each split into maps and
 * unmaps; rows without the key count as `(none)`, so the groups add up to every op.
 *
 * @param ops The ops table.
 * @param by The grouping.
 * @returns One row per (key, direction): count, modeled mean/p50/p90/p99/total, observed
 *   count/p50/p90, PTE writes, IOTLB invalidations.
 *
 * @example Two host-bridge maps and one bus-address map
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { costBy, rowsOf } from "./mod.ts";
 * const ops = table({
 *   op: ["dma_map_page", "dma_map_page", "dma_map_resource"],
 *   path: ["THRU_HOST_BRIDGE", "THRU_HOST_BRIDGE", "BUS_ADDR"],
 *   device: ["nic", "nic", "nic"], bytes: [4096, 8192, 65536],
 *   modeled_ns: [300, 500, 150], observed_ns: [null, null, null],
 *   pte_writes: [1, 2, 0], iotlb_invalidations: [0, 0, 0],
 * });
 * const r = rowsOf(costBy(ops, "path"));
 * assert.deepEqual(r.map((x) => [x.path, x.direction, x.ops, x.modeled_p50_ns, x.pte_writes]), [
 *   ["BUS_ADDR", "map", 1, 150, 0],
 *   ["THRU_HOST_BRIDGE", "map", 2, 400, 3],
 * ]);
 * ```
 */
export function costBy(
  ops: ColumnTable,
  by: "path" | "device" | "size_class" | "task",
): ColumnTable {
  if (ops.numRows() === 0) return ops;
  const t = ops.derive({
    direction: escape((d: { op: string }) => direction(d.op)),
    "size_class": escape((d: { bytes: number | null }) => sizeClass(d.bytes)),
  }).derive({
    // Rows without the key (IOMMU work no DMA-API op owns has no device) stay, as "(none)".
    [by]: escape((
      d: Record<string, unknown>,
    ) => (d[by] === "" || d[by] === null ? "(none)" : d[by])),
  });
  return t.groupby(by, "direction")
    .rollup(ROLLUP)
    .orderby(by, "direction");
}

/**
 * The ops with a measured duration, beside their modeled cost.
 *
 * @param ops The ops table.
 * @returns op, path, line, modeled_ns, observed_ns and their ratio (observed / modeled).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { observedVsModeled, rowsOf } from "./mod.ts";
 * const ops = table({ op: ["dma_map_sg", "dma_map_sg"], path: ["DIRECT", "DIRECT"], line: [1, 2],
 *   modeled_ns: [2000, 2000], observed_ns: [4000, null] });
 * assert.deepEqual(rowsOf(observedVsModeled(ops)).map((r) => r.ratio), [2]);
 * ```
 */
export function observedVsModeled(ops: ColumnTable): ColumnTable {
  if (ops.numRows() === 0) return ops;
  return ops.filter((d: { observed_ns: number | null }) => d.observed_ns !== null)
    .derive({
      ratio: (d: { observed_ns: number; modeled_ns: number }) => d.observed_ns / d.modeled_ns,
    })
    .select("op", "path", "line", "modeled_ns", "observed_ns", "ratio");
}

/**
 * The modeled cost over trace time, per path, in at most `maxPerPath` steps: consecutive ops of
 * a path summed into one row at the last one's time, so the running sum of the rows is the exact
 * cumulative cost at each (what `cumulativeCostSpec` draws) and the table stays small however
 * long the trace.
 *
 * @param ops The ops table (`ts_s`, `path`, `modeled_ns`), in trace order.
 * @param maxPerPath Rows per path at most.
 * @returns ts_s, path, modeled_ns (the step's sum), in trace order within each path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { cumulativeCost, rowsOf } from "./mod.ts";
 * const ops = table({ ts_s: [1, 2, 3, 4, 5], path: ["DIRECT", "DIRECT", "BUS_ADDR", "DIRECT", "DIRECT"], modeled_ns: [10, 20, 5, 30, 40] });
 * assert.deepEqual(rowsOf(cumulativeCost(ops, 2)).map((r) => [r.path, r.ts_s, r.modeled_ns]), [
 *   ["DIRECT", 2, 30], ["DIRECT", 5, 70], ["BUS_ADDR", 3, 5],
 * ]);
 * ```
 */
export function cumulativeCost(ops: ColumnTable, maxPerPath = 2000): ColumnTable {
  const out: { ts_s: number[]; path: string[]; modeled_ns: number[] } = {
    "ts_s": [],
    path: [],
    "modeled_ns": [],
  };
  if (ops.numRows() === 0) return table(out);
  const ts = ops.array("ts_s") as ArrayLike<number | null>;
  const paths = ops.array("path") as ArrayLike<string | null>;
  const ns = ops.array("modeled_ns") as ArrayLike<number | null>;
  const ok = (i: number) => {
    const t = ts[i];
    const n = ns[i];
    return t !== null && n !== null && Number.isFinite(t) && Number.isFinite(n);
  };
  const count = new Map<string, number>();
  for (let i = 0; i < ts.length; ++i) {
    if (!ok(i)) continue;
    const p = paths[i] || "(none)";
    count.set(p, (count.get(p) ?? 0) + 1);
  }
  const steps = new Map<
    string,
    { per: number; n: number; sum: number; rows: [number, number][] }
  >();
  for (const [p, c] of count) {
    steps.set(p, { per: Math.ceil(c / maxPerPath), n: 0, sum: 0, rows: [] });
  }
  for (let i = 0; i < ts.length; ++i) {
    if (!ok(i)) continue;
    const s = steps.get(paths[i] || "(none)")!;
    s.sum += ns[i]!;
    if (++s.n === s.per) {
      s.rows.push([ts[i]!, s.sum]);
      s.n = 0;
      s.sum = 0;
    }
  }
  for (const [p, s] of steps) {
    if (s.n > 0) {
      // The last ops of the path, at the last one's time.
      let last = ts.length - 1;
      while (last >= 0 && !(ok(last) && (paths[last] || "(none)") === p)) --last;
      s.rows.push([ts[last]!, s.sum]);
    }
    for (const [t, sum] of s.rows) {
      out.ts_s.push(t);
      out.path.push(p);
      out.modeled_ns.push(sum);
    }
  }
  return table(out);
}
