/**
 * `IOMMU_FAULT_AFTER_UNMAP` (DESIGN.md "Anomalies"): an `iommu:io_page_fault` at an IOVA that
 * the trace shows unmapped earlier and not mapped again, i.e. a device still doing DMA to a
 * buffer its driver already gave back (a use-after-unmap dma-debug cannot see). Works from
 * `iommu:*` events alone, with no topology: the IOMMU events carry no device, so ranges are
 * global, and the fault names the device. A fault inside a live mapping (a permission fault)
 * or at an IOVA the trace never mapped is not this anomaly.
 *
 * @module
 */

import { type EventBatch, u64At } from "../ingest/mod.ts";

/** One fault after unmap. */
export interface IommuFaultAnomaly {
  /** `IOMMU_FAULT_AFTER_UNMAP`. */
  readonly code: "IOMMU_FAULT_AFTER_UNMAP";
  /** Line of the fault. */
  readonly line: number;
  /** Lines of the unmap, and of the map before it. */
  readonly related: readonly number[];
  /** The faulting device. */
  readonly device: string;
  /** The IOVA. */
  readonly iova: bigint;
  /** One line of explanation. */
  readonly message: string;
}

interface Range {
  end: bigint;
  line: number;
  mapLine: number;
}

/**
 * Tracks mapped and unmapped IOVA ranges and checks each fault against them.
 *
 * @example A fault 1 ms after the unmap of its IOVA
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuFaults } from "./mod.ts";
 * const f = new IommuFaults();
 * f.map(0xfffe0000n, 0x13000n, 101);
 * f.unmap(0xfffe0000n, 0x13000n, 102);
 * f.fault("0000:03:00.0", 0xfffe1000n, 103);
 * assert.deepEqual(f.anomalies.map((a) => [a.line, a.related]), [[103, [102, 101]]]);
 * ```
 */
export class IommuFaults {
  /** Anomalies in trace order. */
  readonly anomalies: IommuFaultAnomaly[] = [];
  /** Faults seen, and those at IOVAs never mapped in the trace. */
  readonly stats = { faults: 0, inLiveMapping: 0, neverMapped: 0 };
  readonly #live = new Map<bigint, Range>();
  readonly #unmapped = new Map<bigint, Range>();

  /**
   * `iommu:map`.
   *
   * @param iova Start.
   * @param size Bytes.
   * @param line Trace line.
   */
  map(iova: bigint, size: bigint, line: number): void {
    this.#live.set(iova, { end: iova + size, line, mapLine: line });
    this.#unmapped.delete(iova);
  }

  /**
   * `iommu:unmap` (a part of a mapping splits it).
   *
   * @param iova Start.
   * @param size Bytes.
   * @param line Trace line.
   */
  unmap(iova: bigint, size: bigint, line: number): void {
    const end = iova + size;
    let mapLine = -1;
    const exact = this.#live.get(iova);
    if (exact !== undefined) {
      this.#live.delete(iova);
      mapLine = exact.mapLine;
      if (exact.end > end) this.#live.set(end, { ...exact }); // the rest stays mapped
    } else {
      for (const [start, r] of this.#live) {
        if (start < end && iova < r.end) {
          this.#live.delete(start);
          mapLine = r.mapLine;
          if (start < iova) this.#live.set(start, { ...r, end: iova });
          if (r.end > end) this.#live.set(end, { ...r });
        }
      }
    }
    this.#unmapped.set(iova, { end, line, mapLine });
  }

  /**
   * `iommu:io_page_fault`.
   *
   * @param device The faulting device.
   * @param iova The IOVA.
   * @param line Trace line.
   */
  fault(device: string, iova: bigint, line: number): void {
    ++this.stats.faults;
    for (const [start, r] of this.#live) {
      if (iova >= start && iova < r.end) return void ++this.stats.inLiveMapping;
    }
    let hit: Range | undefined;
    for (const [start, r] of this.#unmapped) {
      if (iova >= start && iova < r.end && (hit === undefined || r.line > hit.line)) hit = r;
    }
    if (hit === undefined) return void ++this.stats.neverMapped;
    this.anomalies.push({
      code: "IOMMU_FAULT_AFTER_UNMAP",
      line,
      related: hit.mapLine >= 0 ? [hit.line, hit.mapLine] : [hit.line],
      device,
      iova,
      message: `${device} faulted at IOVA 0x${iova.toString(16)}, unmapped at line ${hit.line}`,
    });
  }

  /**
   * Apply a batch's `iommu:map`, `unmap` and `io_page_fault` events.
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    const maps = b.tables.get("map");
    const unmaps = b.tables.get("unmap");
    const faults = b.tables.get("io_page_fault");
    if (!maps && !unmaps && !faults) return;
    for (let r = 0; r < b.n; ++r) {
      const name = b.eventNames.get(b.eventId[r]!);
      const row = b.tableRow[r]!;
      const line = b.lineNo1[r]!;
      if (name === "map" && maps) {
        const size = BigInt((maps.cols.size as Float64Array)[row]!);
        this.map(u64At(maps.cols.iova as Uint32Array, row), size, line);
      } else if (name === "unmap" && unmaps) {
        const size = BigInt((unmaps.cols.size as Float64Array)[row]!);
        this.unmap(u64At(unmaps.cols.iova as Uint32Array, row), size, line);
      } else if (name === "io_page_fault" && faults) {
        const dev = b.strings.get((faults.cols.device as Int32Array)[row]!);
        this.fault(dev, u64At(faults.cols.iova as Uint32Array, row), line);
      }
    }
  }
}
