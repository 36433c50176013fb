/**
 * dma-debug's checks fed from a trace: each `dma:*` tracepoint (kernel/dma/mapping.c) becomes
 * the map, unmap or sync call {@linkcode DmaDebug} checks.
 *
 * @module
 */

import { DMA_DIRECTIONS, EVENT_KIND, type EventBatch, u64At } from "../ingest/mod.ts";
import type { DmaDebug, DmaDir } from "./dma_debug.ts";

const dirName = (v: number): DmaDir => DMA_DIRECTIONS[v] ?? "NONE";

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
    const c = t.cols;
    const line = b.lineNo1[r]!;
    const device = b.strings.get((c.device as Int32Array)[row]!);
    const dir = dirName((c.dir as Int32Array | undefined)?.[row] ?? -1);
    const hex = (col: string) => u64At(c[col] as Uint32Array, row);
    const size = () => BigInt((c.size as Float64Array)[row]!);
    const arr = (col: string) => {
      const st = (c[col + "_start"] as Int32Array)[row]!;
      const n = (c[col + "_len"] as Int32Array)[row]!;
      return Array.from({ length: Math.max(n, 0) }, (_, k) => u64At(b.pool, st + k));
    };
    switch (name) {
      case "dma_map_page":
      case "dma_map_phys":
      case "dma_map_resource":
        d.map("single", device, hex("dma_addr"), size(), dir, line);
        break;
      case "dma_unmap_page":
      case "dma_unmap_phys":
      case "dma_unmap_resource":
        d.unmap("single", device, hex("dma_addr"), size(), dir, line);
        break;
      case "dma_alloc":
      case "dma_alloc_pages":
        d.map("coherent", device, hex("dma_addr"), size(), dir, line, {
          cpuAddr: c.virt_addr ? hex("virt_addr") : 0n,
        });
        break;
      case "dma_free":
      case "dma_free_pages": {
        const cpu = c.virt_addr ? hex("virt_addr") : 0n;
        if (cpu === 0n && size() === 0n) break; // dma_free_coherent(NULL): nothing to free
        d.unmap("coherent", device, hex("dma_addr"), size(), dir, line, { cpuAddr: cpu });
        break;
      }
      case "dma_map_sg": {
        if ((c.truncated as Int32Array)[row]! > 0) break; // arrays cut at 128: not checkable
        const phys = arr("phys_addrs");
        const dmas = arr("dma_addrs");
        const lens = arr("sizes");
        if (phys.length === 0) break;
        const segs = dmas.map((a, k) => [a, lens[k] ?? 0n] as const);
        const total = lens.reduce((s, v) => s + v, 0n);
        d.map("sg", device, phys[0]!, total, dir, line, { nents: phys.length, segs });
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
        d.sync(device, hex("dma_addr"), size(), dir, name.endsWith("cpu"), line);
        break;
      case "dma_sync_sg_for_cpu":
      case "dma_sync_sg_for_device": {
        const dmas = arr("dma_addrs");
        const lens = arr("sizes");
        dmas.forEach((a, k) => d.sync(device, a, lens[k] ?? 0n, dir, name.endsWith("cpu"), line));
        break;
      }
    }
  }
}
