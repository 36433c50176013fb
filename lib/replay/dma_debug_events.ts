/**
 * dma-debug's checks fed from a trace: each `dma:*` tracepoint (kernel/dma/mapping.c) becomes
 * the map, unmap or sync call {@linkcode DmaDebug} checks.
 *
 * @module
 */

import {
  DMA_DIRECTIONS,
  EVENT_KIND,
  type EventBatch,
  type U64,
  u64Exact,
  u64ExactAt,
  u64Sum,
} from "../ingest/mod.ts";
import type { DmaDebug, DmaDir } from "./dma_debug.ts";

const dirName = (v: number): DmaDir => DMA_DIRECTIONS[v] ?? "NONE";

type Cols = Readonly<Record<string, Int32Array | Float64Array | Uint32Array | undefined>>;

// The column readers of one row (module level: no closure per event). Addresses and sizes as
// U64: numbers below 2^53, no bigint per event.
const hexOf = (c: Cols, col: string, row: number) => u64ExactAt(c[col] as Uint32Array, row);
const sizeOf = (c: Cols, row: number) => u64Exact((c.size as Float64Array)[row]!);

/** Where an array field's entries are in the batch's pool, and how many. */
const startOf = (c: Cols, col: "dma_addrs" | "sizes", row: number) =>
  (c[col === "dma_addrs" ? "dma_addrs_start" : "sizes_start"] as Int32Array)[row]!;
const countOf = (c: Cols, col: "dma_addrs" | "sizes", row: number) =>
  Math.max((c[col === "dma_addrs" ? "dma_addrs_len" : "sizes_len"] as Int32Array)[row]!, 0);

/**
 * Apply a batch's dma:* events (the tracepoints of kernel/dma/mapping.c) to dma-debug's checks.
 *
 * @param d The checks.
 * @param b A parsed batch.
 */
export function feedDmaDebug(d: DmaDebug, b: EventBatch): void {
  let lastSkipped = -1;
  if (b.n > 0) d.seen(b.lineNo1[b.n - 1]!); // leaks are reported at the trace's end
  for (let r = 0; r < b.n; ++r) {
    if (b.kind[r] !== EVENT_KIND.TRACEPOINT) continue;
    const id = b.eventId[r]!;
    if (id === lastSkipped) continue; // runs of iommu:map between the dma:* events
    const name = b.eventNames.get(id);
    if (!name.startsWith("dma_")) {
      lastSkipped = id;
      continue;
    }
    const t = b.tables.get(name);
    if (t === undefined) continue;
    const row = b.tableRow[r]!;
    if (t.incomplete[row]) continue; // a truncated line: diagnosed, not guessed
    const c = t.cols as Cols;
    const line = b.lineNo1[r]!;
    const device = b.strings.get((c.device as Int32Array)[row]!);
    const dir = dirName((c.dir as Int32Array | undefined)?.[row] ?? -1);
    switch (name) {
      case "dma_map_page":
      case "dma_map_phys":
      case "dma_map_resource":
        d.map("single", device, hexOf(c, "dma_addr", row), sizeOf(c, row), dir, line);
        break;
      case "dma_unmap_page":
      case "dma_unmap_phys":
      case "dma_unmap_resource":
        d.unmap("single", device, hexOf(c, "dma_addr", row), sizeOf(c, row), dir, line);
        break;
      case "dma_alloc":
      case "dma_alloc_pages":
        d.map("coherent", device, hexOf(c, "dma_addr", row), sizeOf(c, row), dir, line, {
          cpuAddr: c.virt_addr ? hexOf(c, "virt_addr", row) : 0,
        });
        break;
      case "dma_free":
      case "dma_free_pages": {
        const cpu = c.virt_addr ? hexOf(c, "virt_addr", row) : 0;
        if (cpu === 0 && sizeOf(c, row) === 0) break; // dma_free_coherent(NULL): nothing to free
        d.unmap("coherent", device, hexOf(c, "dma_addr", row), sizeOf(c, row), dir, line, {
          cpuAddr: cpu,
        });
        break;
      }
      case "dma_map_sg": {
        if ((c.truncated as Int32Array)[row]! > 0) break; // arrays cut at 128: not checkable
        // dma-debug keeps the first CPU address, the count and the DMA segments: no array of
        // the (up to 128) CPU addresses.
        const nents = (c.phys_addrs_len as Int32Array)[row]!;
        if (nents <= 0) break;
        const phys0 = u64ExactAt(b.pool, (c.phys_addrs_start as Int32Array)[row]!);
        // The segments flat (address, length, ...): one array, no pair per segment.
        const n = countOf(c, "dma_addrs", row);
        const nLens = countOf(c, "sizes", row);
        const at = startOf(c, "dma_addrs", row);
        const lenAt = startOf(c, "sizes", row);
        const segs = new Array<U64>(2 * n);
        for (let k = 0; k < n; ++k) {
          segs[2 * k] = u64ExactAt(b.pool, at + k);
          segs[2 * k + 1] = k < nLens ? u64ExactAt(b.pool, lenAt + k) : 0;
        }
        let total: U64 = 0;
        for (let k = 0; k < nLens; ++k) total = u64Sum(total, u64ExactAt(b.pool, lenAt + k));
        d.map("sg", device, phys0, total, dir, line, { nents, segs });
        break;
      }
      case "dma_unmap_sg": {
        // Only the first address and the count: no array of the entries.
        const n = (c.phys_addrs_len as Int32Array)[row]!;
        if (n <= 0) break;
        const first = u64ExactAt(b.pool, (c.phys_addrs_start as Int32Array)[row]!);
        d.unmap("sg", device, first, 0, dir, line, { nents: n });
        break;
      }
      case "dma_sync_single_for_cpu":
      case "dma_sync_single_for_device":
        d.sync(device, hexOf(c, "dma_addr", row), sizeOf(c, row), dir, name.endsWith("cpu"), line);
        break;
      case "dma_sync_sg_for_cpu":
      case "dma_sync_sg_for_device": {
        const n = countOf(c, "dma_addrs", row);
        const nLens = countOf(c, "sizes", row);
        const at = startOf(c, "dma_addrs", row);
        const lenAt = startOf(c, "sizes", row);
        const toCpu = name.endsWith("cpu");
        for (let k = 0; k < n; ++k) {
          const len = k < nLens ? u64ExactAt(b.pool, lenAt + k) : 0;
          d.sync(device, u64ExactAt(b.pool, at + k), len, dir, toCpu, line);
        }
        break;
      }
    }
  }
}
