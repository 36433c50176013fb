// The IOMMU work a dma-buf exporter does inside `dma_buf_map_attachment`: v8's dma_iova_link
// path maps the buffer's pages with iommu_map while the importer's map call runs, and no dma:*
// event owns them. The IOVA replay leaves those maps, and the unmaps of their IOVAs, to the
// exporter instead of taking them as the next DMA-API map's allocation.

import { EVENT_KIND, type EventBatch, pfnAt, type SchemaTable } from "../ingest/mod.ts";

/** dma-buf calls inside which the exporter may map IOMMU pages. */
const DMABUF_MAP_CALLS = new Set(["dma_buf_map_attachment", "dma_buf_map_attachment_unlocked"]);

/** Which iommu:map/unmap rows are a dma-buf exporter's. */
export class ExporterIovas {
  /** Tasks inside a dma-buf map call (their iommu:map is the exporter's). */
  readonly #inMap = new Set<number>();
  /** IOVA pfns the exporters mapped inside dma-buf maps (their unmap is theirs too). */
  readonly #pfns = new Set<number>();

  /**
   * Whether row `r` is the exporter's (and so not the IOVA replay's); call it for every row,
   * in order: dma-buf probe rows and dma:* events move a task in and out of its map call.
   * Without a return probe, a map call ends at the task's next dma-buf call or dma:* event.
   */
  owns(b: EventBatch, r: number, name: string, table: SchemaTable | undefined): boolean {
    const kind = b.kind[r]!;
    const pid = b.pid[r]!;
    if (kind === EVENT_KIND.PROBE_ENTRY || kind === EVENT_KIND.PROBE_RETURN) {
      const f = b.strings.get(b.probes.func[b.tableRow[r]!]!);
      if (!f.startsWith("dma_buf_")) return false;
      if (kind === EVENT_KIND.PROBE_ENTRY && DMABUF_MAP_CALLS.has(f)) this.#inMap.add(pid);
      else if (kind === EVENT_KIND.PROBE_ENTRY || DMABUF_MAP_CALLS.has(f)) this.#inMap.delete(pid);
      return false;
    }
    if (name === "map" && this.#inMap.size > 0 && this.#inMap.has(pid) && table) {
      if (this.#pfns.size >= 65536) this.#pfns.clear(); // bounded
      this.#pfns.add(pfnAt(table.cols.iova as Uint32Array, b.tableRow[r]!));
      return true;
    }
    if (name === "unmap" && this.#pfns.size > 0 && table) {
      return this.#pfns.delete(pfnAt(table.cols.iova as Uint32Array, b.tableRow[r]!));
    }
    if (this.#inMap.size > 0 && name.startsWith("dma_")) this.#inMap.delete(pid);
    return false;
  }
}
