/**
 * What a trace says about the machine when no topology file is given (issue [5/8] "Without a
 * topology"): the devices its events name, whether an IOMMU translates (iommu:* map events, or
 * DMA addresses in the IOVA range), and strict or lazy invalidation from how soon an unmapped
 * IOVA comes back: a strict domain frees at unmap, so the next map on that CPU reuses the IOVA
 * at once from the rcache; a DMA-FQ domain holds it on the flush queue until a flush (a 10 ms
 * timer or a full 256-entry ring), so reuses come late and in batches.
 *
 * @module
 */

import { EVENT_KIND, type EventBatch, pfnAt } from "../ingest/mod.ts";

/** summary.json's `topology.inferred`. */
export interface InferredTopology {
  /** Devices the events name (DMA-API, faults, IOMMU group and domain events). */
  readonly devices: readonly string[];
  /** An IOMMU translates: iommu:map events were seen. */
  readonly iommu: boolean;
  /** strict (DMA), lazy (DMA-FQ), or unknown (too few reuses to tell). */
  readonly invalidation: "strict" | "lazy" | "unknown";
  /** IOVAs unmapped and mapped again, and how many of those came back within 1 ms. */
  readonly reuses: { readonly total: number; readonly within1ms: number };
  /** What was inferred, in words. */
  readonly notes: readonly string[];
  /** What a topology file would add. */
  readonly missing: readonly string[];
}

/** Infers what it can of the machine from a trace's events. */
export class TopologyInference {
  readonly #devices = new Set<string>();
  /** pfn → time of its last unmap. */
  readonly #unmappedAt = new Map<number, number>();
  #maps = 0;
  #reuses = 0;
  #fast = 0;
  #faults = 0;

  /**
   * Apply a batch.
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    for (let r = 0; r < b.n; ++r) {
      if (b.kind[r] !== EVENT_KIND.TRACEPOINT) continue;
      const name = b.eventNames.get(b.eventId[r]!);
      const t = b.tables.get(name);
      if (t === undefined) continue;
      const row = b.tableRow[r]!;
      if (t.incomplete[row]) continue; // diagnosed, not guessed
      const dev = t.cols.device as Int32Array | undefined;
      if (dev !== undefined && dev[row]! >= 0) this.#devices.add(b.strings.get(dev[row]!));
      if (name === "map") {
        ++this.#maps;
        const pfn = pfnAt(t.cols.iova as Uint32Array, row);
        const at = this.#unmappedAt.get(pfn);
        if (at !== undefined) {
          ++this.#reuses;
          if (b.tsNs[r]! + b.tsBaseNsNumber - at < 1e6) ++this.#fast;
          this.#unmappedAt.delete(pfn);
        }
      } else if (name === "unmap") {
        const pfn = pfnAt(t.cols.iova as Uint32Array, row);
        this.#unmappedAt.set(pfn, b.tsNs[r]! + b.tsBaseNsNumber);
        // Bounded: the IOVAs of a working set; an old entry is just forgotten.
        if (this.#unmappedAt.size > 1 << 16) this.#unmappedAt.clear();
      } else if (name === "io_page_fault") ++this.#faults;
    }
  }

  /**
   * What was inferred so far.
   *
   * @returns summary.json's `topology.inferred`.
   */
  result(): InferredTopology {
    const iommu = this.#maps > 0;
    const ratio = this.#reuses > 0 ? this.#fast / this.#reuses : 0;
    const invalidation = !iommu || this.#reuses < 20
      ? "unknown"
      : ratio >= 0.5
      ? "strict"
      : ratio <= 0.1
      ? "lazy"
      : "unknown";
    const notes = [
      `${this.#devices.size} device(s) named by the events`,
      iommu
        ? `an IOMMU translates (${this.#maps} iommu:map events); devices are replayed in strict DMA domains`
        : "no iommu:map event: no IOMMU translation seen (dma-direct or identity)",
    ];
    if (iommu) {
      notes.push(
        invalidation === "unknown"
          ? `strict or lazy invalidation cannot be told (${this.#reuses} IOVA reuses)`
          : `${invalidation} invalidation: ${this.#fast} of ${this.#reuses} unmapped IOVAs came back within 1 ms`,
      );
    }
    if (this.#faults > 0) notes.push(`${this.#faults} io_page_fault(s)`);
    return {
      devices: [...this.#devices].sort(),
      iommu,
      invalidation,
      reuses: { total: this.#reuses, within1ms: this.#fast },
      notes,
      missing: [
        "P2P paths (BUS_ADDR vs THRU_HOST_BRIDGE) and their checks: the PCI tree, ACS and BARs",
        "the revisions' dma-buf mappings: which BAR memory a buffer exports",
        "sg segment checks: the devices' max segment size and boundary",
        "the IOVA allocator's limits: DMA masks, host-bridge windows, reserved regions",
        "per-device IOMMU domain types (strict, lazy, identity)",
      ],
    };
  }
}
