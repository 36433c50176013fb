/**
 * `IOMMU_FAULT_AFTER_UNMAP` (DESIGN.md "Anomalies"): an `iommu:io_page_fault` at an IOVA that
 * the trace shows unmapped earlier and not mapped again, i.e. a device still doing DMA to a
 * buffer its driver already gave back (a use-after-unmap dma-debug cannot see). Works from
 * `iommu:*` events alone, with no topology: the IOMMU events carry no device, so ranges are
 * global, and the fault names the device. A fault inside a live mapping (a permission fault)
 * or at an IOVA the trace never mapped is not this anomaly. Only unmapped spans are kept (a
 * map removes what it covers from them), the last 65536, so memory stays bounded whatever the
 * trace's length or its live mappings.
 *
 * @module
 */

import { EVENT_KIND, type EventBatch, u64At } from "../ingest/mod.ts";

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

/** Unmapped ranges remembered (the oldest are forgotten: memory stays bounded). */
const UNMAPPED_KEPT = 1 << 16;

interface Range {
  start: bigint;
  end: bigint;
  /** Line of the unmap (unmapped ranges) or of the map (live ones). */
  line: number;
  mapLine: number;
}

const BUCKET_SHIFT = 21n; // 2 MiB: most DMA mappings touch one or two buckets
const MAX_BUCKETS = 4096; // ranges wider than 8 GiB go to a list every lookup scans

/**
 * IOVA ranges indexed by the 2 MiB buckets they touch: overlap and point lookups cost the
 * ranges sharing a bucket, not all ranges. Ranges may overlap (several domains share IOVA
 * numbers, and the IOMMU events do not say which domain).
 */
class RangeIndex {
  readonly #buckets = new Map<number, Set<Range>>();
  readonly #wide = new Set<Range>();
  size = 0;

  #span(r: { start: bigint; end: bigint }): [number, number] {
    return [Number(r.start >> BUCKET_SHIFT), Number((r.end - 1n) >> BUCKET_SHIFT)];
  }

  add(r: Range): void {
    ++this.size;
    const [a, b] = this.#span(r);
    if (b - a >= MAX_BUCKETS) return void this.#wide.add(r);
    for (let k = a; k <= b; ++k) {
      let set = this.#buckets.get(k);
      if (set === undefined) this.#buckets.set(k, set = new Set());
      set.add(r);
    }
  }

  remove(r: Range): void {
    --this.size;
    const [a, b] = this.#span(r);
    if (b - a >= MAX_BUCKETS) return void this.#wide.delete(r);
    for (let k = a; k <= b; ++k) {
      const set = this.#buckets.get(k);
      set?.delete(r);
      if (set?.size === 0) this.#buckets.delete(k);
    }
  }

  /** Ranges overlapping [start, end). */
  overlapping(start: bigint, end: bigint): Range[] {
    const out: Range[] = [];
    if (this.size === 0) return out;
    for (const r of this.#wide) if (r.start < end && start < r.end) out.push(r);
    const a = Number(start >> BUCKET_SHIFT);
    const b = Number((end - 1n) >> BUCKET_SHIFT);
    if (b - a >= MAX_BUCKETS) return out;
    for (let k = a; k <= b; ++k) {
      const set = this.#buckets.get(k);
      if (set === undefined) continue;
      for (const r of set) {
        // A range in several buckets is reported from the first bucket it shares with the query.
        if (r.start < end && start < r.end && (k === a || Number(r.start >> BUCKET_SHIFT) >= k)) {
          out.push(r);
        }
      }
    }
    return out;
  }
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
  /** Faults seen. */
  readonly stats = { faults: 0 };
  readonly #unmapped = new RangeIndex();
  /**
   * Unmapped ranges in a ring, oldest overwritten first. (A Map or Set used as a queue by
   * deleting its first key goes quadratic in V8: the iterator skips the deleted slots.)
   */
  readonly #ring: (Range | undefined)[] = new Array(UNMAPPED_KEPT);
  #ringAt = 0;
  /** Map line by IOVA start (for the anomaly's related lines), cleared as it fills. */
  #mapLines = new Map<bigint, number>();

  /**
   * `iommu:map`: the range is mapped again, so no longer "unmapped earlier".
   *
   * @param iova Start.
   * @param size Bytes.
   * @param line Trace line.
   */
  map(iova: bigint, size: bigint, line: number): void {
    if (this.#unmapped.size > 0) {
      for (const u of this.#unmapped.overlapping(iova, iova + size)) this.#forget(u);
    }
    if (this.#mapLines.size >= UNMAPPED_KEPT) this.#mapLines = new Map(); // bounded
    this.#mapLines.set(iova, line);
  }

  #forget(u: Range): void {
    if (u.start < 0n) return; // forgotten already
    this.#unmapped.remove(u);
    u.start = -1n;
  }

  /**
   * `iommu:unmap`: the span becomes "unmapped" (a part of a mapping leaves the rest mapped:
   * only the span unmapped counts).
   *
   * @param iova Start.
   * @param size Bytes.
   * @param line Trace line.
   */
  unmap(iova: bigint, size: bigint, line: number): void {
    const u = { start: iova, end: iova + size, line, mapLine: this.#mapLines.get(iova) ?? -1 };
    const old = this.#ring[this.#ringAt];
    if (old !== undefined) this.#forget(old); // the oldest goes
    this.#ring[this.#ringAt] = u;
    this.#ringAt = (this.#ringAt + 1) % UNMAPPED_KEPT;
    this.#unmapped.add(u);
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
    let hit: Range | undefined;
    for (const r of this.#unmapped.overlapping(iova, iova + 1n)) {
      if (hit === undefined || r.line > hit.line) hit = r;
    }
    if (hit === undefined) return; // a live mapping (a permission fault), or never mapped
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
      if (b.kind[r] !== EVENT_KIND.TRACEPOINT) continue;
      const name = b.eventNames.get(b.eventId[r]!);
      const row = b.tableRow[r]!;
      const line = b.lineNo1[r]!;
      if (b.tables.get(name)?.incomplete[row]) continue; // a truncated line: diagnosed, not guessed
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
