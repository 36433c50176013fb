/**
 * Lost events (kernel-spec §1.3): a `CPU:N [LOST M EVENTS]` marker, or an overwrite-mode
 * `##### CPU N buffer started ####`, means events are missing from that point. An anomaly that
 * depends on seeing every map and unmap of its object (a "not mapped" unmap, a leak, a fault
 * after unmap, the dma-buf lifecycle) is downgraded to a warning when a gap lies between the
 * first line of its object the trace shows and the anomaly: the missing events may explain it.
 * Anomalies of a single event (a P2P address, an sg segment) stand.
 *
 * @module
 */

import type { EventBatch } from "../ingest/mod.ts";

/** Codes that depend on the whole history of their object. */
export const PAIR_DEPENDENT_CODES: ReadonlySet<string> = new Set([
  "DMA_UNMAP_NOT_MAPPED",
  "DMA_UNMAP_SIZE_MISMATCH",
  "DMA_UNMAP_DIR_MISMATCH",
  "DMA_UNMAP_TYPE_MISMATCH",
  "DMA_UNMAP_SG_NENTS_MISMATCH",
  "DMA_FREE_CPU_ADDR_MISMATCH",
  "DMA_SYNC_NOT_MAPPED",
  "DMA_SYNC_OUT_OF_RANGE",
  "DMA_SYNC_DIR_MISMATCH",
  "DMA_LEAK_AT_END",
  "IOMMU_FAULT_AFTER_UNMAP",
  "IOMMU_IOVA_LEAK_AT_END",
  "IOMMU_IOVA_MISMATCH",
  "IOMMU_MAP_WITHOUT_DMA_OWNER",
  "DMABUF_UNMAP_NOT_MAPPED",
  "DMABUF_DOUBLE_UNMAP",
  "DMABUF_DETACH_WITH_MAPPINGS",
  "DMABUF_RELEASE_WITH_ATTACHMENTS",
  "DMABUF_MAPPING_OUTLIVES_REVOKE",
  "DMABUF_OP_AFTER_RELEASE",
]);

/** The gap markers of a trace. */
export class TraceGaps {
  /** Lines of the markers, in trace order. */
  readonly lines: number[] = [];
  /** Markers per CPU. */
  readonly byCpu: Record<number, number> = {};

  /**
   * Collect a batch's markers.
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    for (const g of b.gaps) {
      this.lines.push(g.lineNo1);
      this.byCpu[g.cpu] = (this.byCpu[g.cpu] ?? 0) + 1;
    }
  }

  /**
   * Whether an anomaly is to be downgraded: its code depends on its object's history and a
   * gap lies between the object's first line (the anomaly's earliest related line, else the
   * start of the trace) and the anomaly (the end of the trace for end-of-trace findings).
   *
   * @param a The anomaly.
   * @returns True when lost events may explain it.
   *
   * @example A double unmap with events lost between the two unmaps
   * ```ts
   * import assert from "node:assert/strict";
   * import { TraceGaps } from "./mod.ts";
   * const g = new TraceGaps();
   * g.lines.push(50);
   * assert.equal(g.explains({ code: "DMA_UNMAP_NOT_MAPPED", line: 80, related: [40] }), true);
   * assert.equal(g.explains({ code: "DMA_UNMAP_NOT_MAPPED", line: 80, related: [60] }), false);
   * assert.equal(g.explains({ code: "P2P_WRONG_PATH", line: 80, related: [] }), false);
   * ```
   */
  explains(a: { code: string; line: number; related: readonly number[] }): boolean {
    if (this.lines.length === 0 || !PAIR_DEPENDENT_CODES.has(a.code)) return false;
    const lo = a.related.length > 0 ? Math.min(...a.related.filter((l) => l > 0)) : 0;
    const hi = a.line === 0 ? Infinity : a.line;
    return this.lines.some((l) => l > lo && l <= hi);
  }
}
