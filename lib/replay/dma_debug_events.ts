/**
 * dma-debug's checks fed from a trace: each `dma:*` tracepoint (kernel/dma/mapping.c) becomes
 * the map, unmap or sync call {@linkcode DmaDebug} checks.
 *
 * @module
 */

import { DMA_DIRECTIONS, EVENT_KIND, type EventBatch, u64At } from "../ingest/mod.ts";
import type { DmaDebug, DmaDir } from "./dma_debug.ts";

const dirName = (v: number): DmaDir => DMA_DIRECTIONS[v] ?? "NONE";

type Cols = Readonly<Record<string, Int32Array | Float64Array | Uint32Array | undefined>>;

// The column readers of one row (module level: no closure per event).
const hexOf = (c: Cols, col: string, row: number) => u64At(c[col] as Uint32Array, row);
const sizeOf = (c: Cols, row: number) => BigInt((c.size as Float64Array)[row]!);

/** An array field's entries (`COL_start`, `COL_len` into the batch's pool). */
function entries(b: EventBatch, c: Cols, col: "dma_addrs" | "sizes", row: number): bigint[] {
  const st = (c[ARRAY_START[col]] as Int32Array)[row]!;
  const n = Math.max((c[ARRAY_LEN[col]] as Int32Array)[row]!, 0);
  const out = new Array<bigint>(n);
  for (let k = 0; k < n; ++k) out[k] = u64At(b.pool, st + k);
  return out;
}
const ARRAY_START = { dma_addrs: "dma_addrs_start", sizes: "sizes_start" } as const;
const ARRAY_LEN = { dma_addrs: "dma_addrs_len", sizes: "sizes_len" } as const;

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
          cpuAddr: c.virt_addr ? hexOf(c, "virt_addr", row) : 0n,
        });
        break;
      case "dma_free":
      case "dma_free_pages": {
        const cpu = c.virt_addr ? hexOf(c, "virt_addr", row) : 0n;
        if (cpu === 0n && sizeOf(c, row) === 0n) break; // dma_free_coherent(NULL): nothing to free
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
        const phys0 = u64At(b.pool, (c.phys_addrs_start as Int32Array)[row]!);
        const dmas = entries(b, c, "dma_addrs", row);
        const lens = entries(b, c, "sizes", row);
        const segs = new Array<readonly [bigint, bigint]>(dmas.length);
        let total = 0n;
        for (let k = 0; k < dmas.length; ++k) segs[k] = [dmas[k]!, lens[k] ?? 0n];
        for (const v of lens) total += v;
        d.map("sg", device, phys0, total, dir, line, { nents, segs });
        break;
      }
      case "dma_unmap_sg": {
        // Only the first address and the count: no array of the entries.
        const n = (c.phys_addrs_len as Int32Array)[row]!;
        if (n <= 0) break;
        const first = u64At(b.pool, (c.phys_addrs_start as Int32Array)[row]!);
        d.unmap("sg", device, first, 0n, dir, line, { nents: n });
        break;
      }
      case "dma_sync_single_for_cpu":
      case "dma_sync_single_for_device":
        d.sync(device, hexOf(c, "dma_addr", row), sizeOf(c, row), dir, name.endsWith("cpu"), line);
        break;
      case "dma_sync_sg_for_cpu":
      case "dma_sync_sg_for_device": {
        const dmas = entries(b, c, "dma_addrs", row);
        const lens = entries(b, c, "sizes", row);
        dmas.forEach((a, k) => d.sync(device, a, lens[k] ?? 0n, dir, name.endsWith("cpu"), line));
        break;
      }
    }
  }
}
