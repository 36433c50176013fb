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

import { EVENT_KIND, type EventBatch, pfnAt, u64At } from "../ingest/mod.ts";

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

const BUCKET_PAGES = 16; // 64 KiB: a DMA mapping touches a few buckets, a bucket holds few ranges
const MAX_BUCKETS = 4096; // ranges wider than 256 MiB go to a list every lookup scans

/**
 * The unmapped ranges, columnar, in 4 KiB pages (IOMMU mappings are page-granular; numbers are
 * exact for every 64-bit address's page): a ring of slots (first page, end page, unmap line,
 * map line), oldest overwritten first, and an index from 64 KiB buckets of IOVA space to the
 * slots that touch them. (No object and no bigint per range: a long trace would fill the old
 * generation with dead ones.)
 */
class UnmappedRing {
  readonly start = new Float64Array(UNMAPPED_KEPT);
  readonly end = new Float64Array(UNMAPPED_KEPT);
  readonly line = new Float64Array(UNMAPPED_KEPT);
  readonly mapLine = new Float64Array(UNMAPPED_KEPT);
  readonly live = new Uint8Array(UNMAPPED_KEPT);
  readonly #buckets = new Map<number, number[]>();
  readonly #wide = new Set<number>();
  #at = 0;
  size = 0;

  /** Whether any range may touch pages [first, last]. */
  mayTouch(first: number, last: number): boolean {
    if (this.size === 0) return false;
    const a = Math.floor(first / BUCKET_PAGES);
    const b = Math.floor(last / BUCKET_PAGES);
    if (this.#wide.size > 0 || b - a >= MAX_BUCKETS) return true;
    for (let k = a; k <= b; ++k) if (this.#buckets.get(k)?.length) return true;
    return false;
  }

  /** Slots that touch pages [start, end), into `out` (grown when full); returns how many. */
  overlapping(start: number, end: number, out: { slots: Int32Array }): number {
    let n = 0;
    if (this.size === 0) return 0;
    if (this.#wide.size > 0) {
      for (const k of this.#wide) {
        if (this.start[k]! < end && start < this.end[k]!) n = pushSlot(out, n, k);
      }
    }
    const a = Math.floor(start / BUCKET_PAGES);
    const b = Math.floor((end - 1) / BUCKET_PAGES);
    if (b - a >= MAX_BUCKETS) return n;
    for (let k = a; k <= b; ++k) {
      const list = this.#buckets.get(k);
      if (list === undefined) continue;
      for (let i = 0; i < list.length; ++i) {
        const slot = list[i]!;
        const s = this.start[slot]!;
        // A range in several buckets is reported from the first bucket it shares with the query.
        if (
          s < end && start < this.end[slot]! && (k === a || Math.floor(s / BUCKET_PAGES) >= k)
        ) n = pushSlot(out, n, slot);
      }
    }
    return n;
  }

  /** Forget a slot (mapped again, or the oldest). */
  forget(slot: number): void {
    if (this.live[slot] === 0) return;
    this.live[slot] = 0;
    --this.size;
    const a = Math.floor(this.start[slot]! / BUCKET_PAGES);
    const b = Math.floor((this.end[slot]! - 1) / BUCKET_PAGES);
    if (b - a >= MAX_BUCKETS) return void this.#wide.delete(slot);
    for (let k = a; k <= b; ++k) {
      const list = this.#buckets.get(k);
      if (list === undefined) continue;
      const i = list.indexOf(slot);
      if (i >= 0) {
        list[i] = list[list.length - 1]!; // pop swaps in the last entry
        list.pop();
      }
    }
    // Empty lists stay (a bucket is used again soon); swept when they outnumber the slots.
    if (this.#buckets.size > 4 * UNMAPPED_KEPT) {
      for (const [k, list] of this.#buckets) if (list.length === 0) this.#buckets.delete(k);
    }
  }

  /** Remember unmapped pages [start, end), overwriting the oldest. */
  add(start: number, end: number, line: number, mapLine: number): void {
    const slot = this.#at;
    this.forget(slot);
    this.#at = (slot + 1) % UNMAPPED_KEPT;
    this.start[slot] = start;
    this.end[slot] = end;
    this.line[slot] = line;
    this.mapLine[slot] = mapLine;
    this.live[slot] = 1;
    ++this.size;
    const a = Math.floor(start / BUCKET_PAGES);
    const b = Math.floor((end - 1) / BUCKET_PAGES);
    if (b - a >= MAX_BUCKETS) return void this.#wide.add(slot);
    for (let k = a; k <= b; ++k) {
      let list = this.#buckets.get(k);
      if (list === undefined) this.#buckets.set(k, list = []);
      list.push(slot);
    }
  }
}

/** Append a slot to `out` at `n` (growing it when full); returns the new count. */
function pushSlot(out: { slots: Int32Array }, n: number, slot: number): number {
  if (n === out.slots.length) {
    const grown = new Int32Array(2 * n);
    grown.set(out.slots);
    out.slots = grown;
  }
  out.slots[n] = slot;
  return n + 1;
}

/** Pages from an address and a byte count: [first, end) (a partial page counts whole). */
const firstPage = (iova: bigint) => Number(iova >> 12n);
const endPage = (iova: bigint, size: bigint) => Number((iova + size + 4095n) >> 12n);

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
  readonly #unmapped = new UnmappedRing();
  /** Map line by IOVA pfn (for the anomaly's related lines), cleared as it fills. */
  #mapLines = new Map<number, number>();
  /** Slots a lookup found (reused: no array per map). */
  readonly #hits = { slots: new Int32Array(64) };

  /**
   * `iommu:map`: the range is mapped again, so no longer "unmapped earlier".
   *
   * @param iova Start.
   * @param size Bytes.
   * @param line Trace line.
   */
  map(iova: bigint, size: bigint, line: number): void {
    this.#mapPages(firstPage(iova), endPage(iova, size), line);
  }

  #mapPages(start: number, end: number, line: number): void {
    const u = this.#unmapped;
    if (u.size > 0 && u.mayTouch(start, end - 1)) {
      const n = u.overlapping(start, end, this.#hits);
      for (let i = 0; i < n; ++i) u.forget(this.#hits.slots[i]!);
    }
    this.#noteMapLine(start, line);
  }

  #noteMapLine(pfn: number, line: number): void {
    if (this.#mapLines.size >= UNMAPPED_KEPT) this.#mapLines.clear(); // bounded
    this.#mapLines.set(pfn, line);
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
    this.#unmapPages(firstPage(iova), endPage(iova, size), line);
  }

  #unmapPages(start: number, end: number, line: number): void {
    if (end <= start) return;
    this.#unmapped.add(start, end, line, this.#mapLines.get(start) ?? -1);
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
    const u = this.#unmapped;
    const page = firstPage(iova);
    const n = u.overlapping(page, page + 1, this.#hits);
    let hit = -1;
    for (let i = 0; i < n; ++i) {
      const k = this.#hits.slots[i]!;
      if (hit < 0 || u.line[k]! > u.line[hit]!) hit = k;
    }
    if (hit < 0) return; // a live mapping (a permission fault), or never mapped
    const unmapLine = u.line[hit]!;
    const mapLine = u.mapLine[hit]!;
    this.anomalies.push({
      code: "IOMMU_FAULT_AFTER_UNMAP",
      line,
      related: mapLine >= 0 ? [unmapLine, mapLine] : [unmapLine],
      device,
      iova,
      message: `${device} faulted at IOVA 0x${iova.toString(16)}, unmapped at line ${unmapLine}`,
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
      if (name === "map" && maps) {
        if (maps.incomplete[row]) continue; // a truncated line: diagnosed, not guessed
        // Pages, as numbers: no bigint per event (the IOVAs of iommu:map are page-aligned).
        const pfn = pfnAt(maps.cols.iova as Uint32Array, row);
        const bytes = (maps.cols.size as Float64Array)[row]!;
        this.#mapPages(pfn, pfn + Math.max(1, Math.ceil(bytes / 4096)), line);
      } else if (name === "unmap" && unmaps) {
        if (unmaps.incomplete[row]) continue;
        const pfn = pfnAt(unmaps.cols.iova as Uint32Array, row);
        const bytes = (unmaps.cols.size as Float64Array)[row]!;
        this.#unmapPages(pfn, pfn + Math.ceil(bytes / 4096), line);
      } else if (name === "io_page_fault" && faults) {
        if (faults.incomplete[row]) continue;
        const dev = b.strings.get((faults.cols.device as Int32Array)[row]!);
        this.fault(dev, u64At(faults.cols.iova as Uint32Array, row), line);
      }
    }
  }
}
