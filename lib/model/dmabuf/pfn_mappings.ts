/**
 * What the PFN importers of a trace mapped (seed 004: `dma_buf_get_pfn_unlocked`): the CPU
 * ranges `get_pfn` handed each attachment, and the IOVAs the importer mapped them at — an
 * iommufd importer maps them into its I/O address space with `iommu_map`, so an `iommu:map`
 * whose physical address lies in a handed-out range is that attachment's, and the importer's
 * zap (its `move_notify`) is the `iommu:unmap` of those IOVAs. Where the PFN is unknown (a
 * replay knows the exporter's BAR offsets, not always its addresses), an `iommu:map` by the task
 * that has just taken a PFN, before it takes the next, is that PFN's mapping: iommufd maps each
 * range right after `get_pfn` returns it, in the same call. A KVM importer maps into EPT,
 * which no tracepoint shows: its attachments have no traced IOMMU mapping.
 *
 * @module
 */

import { type EventBatch, u64At } from "../../ingest/mod.ts";
import type { DmaBufCore } from "./dma_buf.ts";

interface PfnAttachment {
  /** CPU physical ranges `[lo, hi)` `get_pfn` handed out (pfn << 12, 4 KiB << max_order). */
  readonly ranges: { lo: bigint; hi: bigint }[];
  /** IOVA → bytes the importer mapped from those ranges. */
  readonly iovas: Map<bigint, bigint>;
}

/**
 * The PFN importers' mappings.
 *
 * @example get_pfn hands out 2 MiB; the importer maps it at IOVA 0x80000000, then zaps it
 * ```ts
 * import assert from "node:assert/strict";
 * import { PfnMappings } from "./pfn_mappings.ts";
 * const m = new PfnMappings();
 * m.handedOut(7, 0x383000200n, 9);
 * assert.equal(m.mapped(0x80000000n, 0x383000200000n, 0x200000n), 7);
 * assert.deepEqual(m.unmapped(0x80000000n, 0x200000n), [7]);
 * ```
 */
export class PfnMappings {
  readonly #atts = new Map<number, PfnAttachment>();
  /** The attachment whose PFN a task has just taken, per pid. */
  readonly #taken = new Map<number, number>();

  /** Attachments that took a PFN. */
  get size(): number {
    return this.#atts.size;
  }

  /**
   * `get_pfn` succeeded.
   *
   * @param att The attachment.
   * @param pfn The PFN (-1n when the model cannot say).
   * @param maxOrder The largest order the importer may map there.
   * @param pid The task that took it (-1: unknown).
   */
  handedOut(att: number, pfn: bigint, maxOrder: number, pid = -1): void {
    let a = this.#atts.get(att);
    if (a === undefined) this.#atts.set(att, a = { ranges: [], iovas: new Map() });
    if (pid >= 0) this.#taken.set(pid, att);
    if (pfn < 0n) return;
    const lo = pfn << 12n;
    const hi = lo + (4096n << BigInt(maxOrder));
    if (!a.ranges.some((r) => r.lo <= lo && hi <= r.hi)) a.ranges.push({ lo, hi });
  }

  /**
   * An `iommu:map`.
   *
   * @param iova Its IOVA.
   * @param paddr Its physical address.
   * @param bytes Its size.
   * @param pid The task that printed it (-1: unknown).
   * @returns The attachment whose handed-out memory it maps, or -1.
   */
  mapped(iova: bigint, paddr: bigint, bytes: bigint, pid = -1): number {
    for (const [att, a] of this.#atts) {
      if (a.ranges.some((r) => r.lo <= paddr && paddr + bytes <= r.hi)) {
        a.iovas.set(iova, bytes);
        return att;
      }
    }
    const att = this.#taken.get(pid);
    const a = att === undefined ? undefined : this.#atts.get(att);
    if (a === undefined) return -1;
    a.iovas.set(iova, bytes);
    return att!;
  }

  /**
   * A task calls `get_pfn` again, or does anything else: its next `iommu:map` is not the last
   * PFN's.
   *
   * @param pid The task.
   */
  moveOn(pid: number): void {
    this.#taken.delete(pid);
  }

  /**
   * An `iommu:unmap`.
   *
   * @param iova Its IOVA.
   * @param bytes Bytes unmapped.
   * @returns The attachments whose last traced IOMMU mapping it removed (zapped now).
   */
  unmapped(iova: bigint, bytes: bigint): number[] {
    const out: number[] = [];
    for (const [att, a] of this.#atts) {
      if (a.iovas.size === 0) continue;
      for (const [start] of a.iovas) {
        if (start >= iova && start < iova + bytes) a.iovas.delete(start);
      }
      if (a.iovas.size === 0) {
        a.ranges.length = 0;
        out.push(att);
      }
    }
    return out;
  }

  /**
   * Whether an attachment took PFNs but maps them nowhere a trace shows (KVM's EPT).
   *
   * @param att The attachment.
   * @returns True for a PFN attachment without traced IOMMU mappings.
   */
  untraced(att: number): boolean {
    const a = this.#atts.get(att);
    return a !== undefined && a.iovas.size === 0;
  }

  /**
   * Forget an attachment's ranges (zapped without a trace of it, or detached).
   *
   * @param att The attachment.
   */
  drop(att: number): void {
    this.#atts.delete(att);
    for (const [pid, a] of this.#taken) if (a === att) this.#taken.delete(pid);
  }

  /**
   * An `iommu:map`/`unmap` row while PFN importers are about: theirs (a zap when it removes an
   * attachment's last mapping), or not.
   *
   * @param core The core (told of zaps).
   * @param b The batch.
   * @param r The row.
   * @param name `map` or `unmap`.
   * @param nowNs Trace time.
   * @returns How many attachments it zapped.
   */
  iommu(core: DmaBufCore, b: EventBatch, r: number, name: string, nowNs: number): number {
    const t = b.tables.get(name);
    if (t === undefined) return 0;
    const row = b.tableRow[r]!;
    if (t.incomplete[row]) return 0;
    const iova = u64At(t.cols.iova as Uint32Array, row);
    if (name === "map") {
      const size = BigInt((t.cols.size as Float64Array)[row]!);
      this.mapped(iova, u64At(t.cols.paddr as Uint32Array, row), size, b.pid[r]!);
      return 0;
    }
    const zapped = this.unmapped(iova, BigInt((t.cols.unmapped_size as Float64Array)[row]!));
    for (const att of zapped) core.zapPfns(att, b.lineNo1[r]!, nowNs);
    return zapped.length;
  }

  /**
   * After a revoke: the PFN importers of a buffer whose mappings no tracepoint shows (KVM's
   * EPT) are taken to zap in their move_notify, as the RFC requires; only traced ones are
   * checked.
   *
   * @param core The core.
   * @param buf The buffer.
   * @param line Trace line of the move_notify.
   * @param nowNs Trace time.
   */
  zapUntraced(core: DmaBufCore, buf: number, line: number, nowNs: number): void {
    const b = core.buffer(buf)!;
    if (b.state === "LIVE" || this.#atts.size === 0) return;
    for (const att of b.attachments) {
      if (!this.untraced(att)) continue;
      core.zapPfns(att, line, nowNs);
      this.drop(att);
    }
  }
}
