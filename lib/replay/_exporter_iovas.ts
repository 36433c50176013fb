// The IOMMU work a dma-buf exporter does inside `dma_buf_map_attachment`: v8's dma_iova_link
// path maps the buffer's pages with iommu_map while the importer's map call runs, and no dma:*
// event owns them. The IOVA replay leaves those maps, and the unmaps of their IOVAs, to the
// exporter instead of taking them as the next DMA-API map's allocation.

import { EVENT_KIND, type EventBatch, grown, pfnAt, type SchemaTable } from "../ingest/mod.ts";

/** dma-buf calls inside which the exporter may map IOMMU pages. */
const DMABUF_MAP_CALLS = new Set(["dma_buf_map_attachment", "dma_buf_map_attachment_unlocked"]);

/** What a tracepoint row is to {@linkcode ExporterIovas.owns}. */
export const EXPORTER_EVENT = {
  /** iommu:map. */
  MAP: 0,
  /** iommu:unmap. */
  UNMAP: 1,
  /** A dma:* event: it ends a task's map call. */
  DMA: 2,
  /** Any other tracepoint. */
  OTHER: 3,
} as const;

/** The {@linkcode EXPORTER_EVENT} of a tracepoint name. */
export function exporterEventOf(name: string): number {
  if (name === "map") return EXPORTER_EVENT.MAP;
  if (name === "unmap") return EXPORTER_EVENT.UNMAP;
  return name.startsWith("dma_") ? EXPORTER_EVENT.DMA : EXPORTER_EVENT.OTHER;
}

/** A probed function, to the exporter: not dma-buf's, a map call, another dma-buf call. */
const F_UNKNOWN = 0;
const F_OTHER = 1;
const F_MAP_CALL = 2;
const F_DMABUF = 3;

/** Which iommu:map/unmap rows are a dma-buf exporter's. */
export class ExporterIovas {
  /** Tasks inside a dma-buf map call (their iommu:map is the exporter's). */
  readonly #inMap = new Set<number>();
  /** IOVA pfns the exporters mapped inside dma-buf maps (their unmap is theirs too). */
  readonly #pfns = new Set<number>();
  /** What each probed function is (by string id; 0 until met). */
  #funcKind = new Uint8Array(64);

  /**
   * Whether row `r` is the exporter's (and so not the IOVA replay's); call it for every probe
   * and tracepoint row, in order: dma-buf probe rows and dma:* events move a task in and out
   * of its map call. Without a return probe, a map call ends at the task's next dma-buf call
   * or dma:* event.
   *
   * @param event For a tracepoint, its {@linkcode EXPORTER_EVENT} (ignored for probe rows).
   * @param table For iommu:map/unmap, the batch's table of that event.
   */
  owns(b: EventBatch, r: number, event: number, table: SchemaTable | undefined): boolean {
    const kind = b.kind[r]!;
    const pid = b.pid[r]!;
    if (kind === EVENT_KIND.PROBE_ENTRY || kind === EVENT_KIND.PROBE_RETURN) {
      const fid = b.probes.func[b.tableRow[r]!]!;
      const f = fid < 0 ? F_OTHER : this.#funcKindOf(b, fid);
      if (f === F_OTHER) return false;
      if (kind === EVENT_KIND.PROBE_ENTRY && f === F_MAP_CALL) this.#inMap.add(pid);
      else if (kind === EVENT_KIND.PROBE_ENTRY || f === F_MAP_CALL) this.#inMap.delete(pid);
      return false;
    }
    if (event === EXPORTER_EVENT.MAP && this.#inMap.size > 0 && this.#inMap.has(pid) && table) {
      if (this.#pfns.size >= 65536) this.#pfns.clear(); // bounded
      this.#pfns.add(pfnAt(table.cols.iova as Uint32Array, b.tableRow[r]!));
      return true;
    }
    if (event === EXPORTER_EVENT.UNMAP && this.#pfns.size > 0 && table) {
      return this.#pfns.delete(pfnAt(table.cols.iova as Uint32Array, b.tableRow[r]!));
    }
    if (this.#inMap.size > 0 && event === EXPORTER_EVENT.DMA) this.#inMap.delete(pid);
    return false;
  }

  /** What probed function `fid` is (its name looked at once). */
  #funcKindOf(b: EventBatch, fid: number): number {
    if (fid >= this.#funcKind.length) this.#funcKind = grown(this.#funcKind, fid + 1);
    let k = this.#funcKind[fid]!;
    if (k === F_UNKNOWN) {
      const f = b.strings.get(fid);
      k = !f.startsWith("dma_buf_") ? F_OTHER : DMABUF_MAP_CALLS.has(f) ? F_MAP_CALL : F_DMABUF;
      this.#funcKind[fid] = k;
    }
    return k;
  }
}
