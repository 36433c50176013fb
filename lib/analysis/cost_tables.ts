/**
 * What each mapping cost (DESIGN.md "Compare costs"): the modeled and observed ns of the ops,
 * by path, by device and by size class, as distributions (count, mean, percentiles, total).
 * Modeled numbers come from the cost profile and are labelled so (`modeled_*` columns).
 *
 * @module
 */

import { type ColumnTable, escape, op } from "arquero";

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

/** Whether an op maps (else unmaps, frees, syncs). */
function direction(opName: string): string {
  return /unmap|free|detach|release/.test(opName)
    ? "unmap"
    : /map|alloc|attach|export|get_pfn/.test(opName)
    ? "map"
    : "other";
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
