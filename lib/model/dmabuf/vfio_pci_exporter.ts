/**
 * The vfio-pci dma-buf exporter's ops (kernel-spec §8.3, merged revision): attach refuses
 * importers without peer2peer and revoked buffers, map builds the sg table through
 * `dma_buf_phys_vec_to_sgt` on the importer's path (bus address, IOVA through the host bridge,
 * or dma-direct), unmap frees it; and the device side: `move` on a revoke trigger (§8.4) and
 * `cleanup` on close, which revoke for good.
 *
 * @module
 */

import {
  dmaBufFreeSgt,
  dmaBufPhysVecToSgt,
  type DmaBufSgt,
  type DmaDevice,
  type PhysVec,
} from "../dma/mod.ts";
import type { P2pdmaMapType, P2pdmaProvider } from "../topology/mod.ts";
import type { DmaBufCore } from "./dma_buf.ts";
import type {
  DmaBufAttachmentInfo,
  DmaBufExporter,
  DmaBufInfo,
  DmaBufPfn,
} from "./dma_buf_types.ts";

/** The revoke triggers of kernel-spec §8.4. */
export type VfioRevokeTrigger =
  | "memory_disable"
  | "reset"
  | "flr_config"
  | "hot_reset"
  | "d3"
  | "low_power_entry"
  | "close";

/** How the exporter reaches the importers' DMA model. */
export interface VfioExporterContext {
  /** The importer's device for the DMA model. */
  dmaDevice(name: string): DmaDevice;
  /** `pci_p2pdma_map_type(provider, dev)`. */
  mapType(provider: P2pdmaProvider, device: string): P2pdmaMapType;
}

/**
 * The largest order `get_pfn` reports at a PFN (`max_order`, seed 004): the PFN aligned to
 * 2^order pages, and 2^order pages left in its range; at most 18 (1 GiB).
 *
 * @param pfn The page frame.
 * @param pagesLeft Pages from it to the end of its range.
 * @returns The order.
 *
 * @example A 2 MiB-aligned PFN with 4 MiB left: order 10 would need 4 MiB alignment
 * ```ts
 * import assert from "node:assert/strict";
 * import { pfnMaxOrder } from "./mod.ts";
 * assert.equal(pfnMaxOrder(0x383000200n, 1024n), 9);
 * ```
 */
export function pfnMaxOrder(pfn: bigint, pagesLeft: bigint): number {
  let order = 0;
  while (
    order < 18 && (pfn & ((2n << BigInt(order)) - 1n)) === 0n && 2n << BigInt(order) <= pagesLeft
  ) ++order;
  return order;
}

/**
 * One exported vfio-pci dma-buf (`struct vfio_pci_dma_buf`): its ranges, provider and the
 * mappings its importers hold.
 */
export class VfioPciDmaBufExporter implements DmaBufExporter {
  /** Exporter name as dma_buf tracepoints print it. */
  readonly name = "vfio_pci_core";
  /** BAR memory: importers must allow peer2peer. */
  readonly p2pMemory = true;
  /** vfio revokes on reset, memory disable, power state and close. */
  readonly revocable = true;
  /** Tables of live mappings by attachment id (oldest first). */
  readonly tables = new Map<number, DmaBufSgt[]>();
  /** Every table built, failures included (for events and costs). */
  readonly built: { readonly line: number; readonly attach: number; readonly sgt: DmaBufSgt }[] =
    [];

  /** The export's physical ranges (`phys_vec`). */
  readonly phys: readonly PhysVec[];
  /** The BAR's provider. */
  readonly provider: P2pdmaProvider;
  /** The DMA model of the importers. */
  readonly ctx: VfioExporterContext;

  /**
   * The exporter of one buffer.
   *
   * @param phys The export's physical ranges.
   * @param provider The BAR's provider.
   * @param ctx The DMA model of the importers.
   */
  constructor(phys: readonly PhysVec[], provider: P2pdmaProvider, ctx: VfioExporterContext) {
    this.phys = phys;
    this.provider = provider;
    this.ctx = ctx;
  }

  /**
   * `vfio_pci_dma_buf_attach`.
   *
   * @param buf The buffer.
   * @param att The attachment.
   * @returns 0, `EOPNOTSUPP` without peer2peer, `ENODEV` when revoked.
   */
  attach(buf: DmaBufInfo, att: DmaBufAttachmentInfo): 0 | string {
    if (!att.peer2peer) return "EOPNOTSUPP";
    if (buf.state !== "LIVE") return "ENODEV";
    return 0;
  }

  /**
   * `vfio_pci_dma_buf_map`: `ENODEV` when revoked, else the §7.2 helper's outcome.
   *
   * @param buf The buffer.
   * @param att The attachment.
   * @param line Trace line.
   * @returns 0 or the errno.
   */
  map(buf: DmaBufInfo, att: DmaBufAttachmentInfo, line: number): 0 | string {
    if (buf.state !== "LIVE") return "ENODEV";
    const dev = this.ctx.dmaDevice(att.device);
    const sgt = dmaBufPhysVecToSgt(
      dev,
      this.ctx.mapType(this.provider, att.device),
      this.provider.busOffset,
      this.phys,
    );
    this.built.push({ line, attach: att.id, sgt });
    if (sgt.errno !== 0) return sgt.errno;
    const list = this.tables.get(att.id) ?? [];
    list.push(sgt);
    this.tables.set(att.id, list);
    return 0;
  }

  /**
   * `get_pfn` (seed 004 RFC on top of the merged exporter): `ENODEV` when revoked, `EINVAL`
   * past the end; the PFN of the page and the largest order that stays inside its range and
   * is PFN-aligned.
   *
   * @param buf The buffer.
   * @param _att The attachment.
   * @param pgoff Page offset into the buffer.
   * @returns The PFN.
   */
  getPfn(buf: DmaBufInfo, _att: DmaBufAttachmentInfo, pgoff: bigint): DmaBufPfn {
    if (buf.state !== "LIVE") return { errno: "ENODEV", pfn: -1n, maxOrder: 0 };
    let off = pgoff << 12n;
    for (const r of this.phys) {
      if (off < r.len) {
        const pfn = (r.paddr + off) >> 12n;
        return { errno: 0, pfn, maxOrder: pfnMaxOrder(pfn, (r.len - off) >> 12n) };
      }
      off -= r.len;
    }
    return { errno: "EINVAL", pfn: -1n, maxOrder: 0 };
  }

  /**
   * `vfio_pci_dma_buf_unmap`: `dma_buf_free_sgt` of the oldest live table.
   *
   * @param _buf The buffer.
   * @param att The attachment.
   */
  unmap(_buf: DmaBufInfo, att: DmaBufAttachmentInfo): void {
    const sgt = this.tables.get(att.id)?.shift();
    if (sgt !== undefined) dmaBufFreeSgt(this.ctx.dmaDevice(att.device), sgt);
  }
}

/**
 * The device side of the exporter: its live buffers, `vfio_pci_dma_buf_move` and
 * `vfio_pci_dma_buf_cleanup`.
 */
export class VfioPciDevice {
  /** Buffers exported by this device and not yet released or cleaned up. */
  readonly buffers = new Set<number>();
  /** Memory decoding currently on (PCI_COMMAND.MEMORY and D0). */
  memoryEnabled = true;
  /** The device was closed: no later restore reaches its buffers. */
  closed = false;

  /** The device's BDF. */
  readonly bdf: string;
  /** The dma-buf core its buffers live in. */
  readonly core: DmaBufCore;

  /**
   * A vfio-pci device that exports dma-bufs.
   *
   * @param bdf The device.
   * @param core The dma-buf core its buffers live in.
   */
  constructor(bdf: string, core: DmaBufCore) {
    this.bdf = bdf;
    this.core = core;
  }

  /**
   * A revoke trigger of §8.4: every live buffer of the device is revoked (`close`: for good).
   *
   * @param trigger What happened.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  revoke(trigger: VfioRevokeTrigger, line: number, nowNs: number): void {
    if (trigger === "memory_disable" || trigger === "d3") this.memoryEnabled = false;
    const permanent = trigger === "close";
    for (const id of this.buffers) {
      const b = this.core.buffer(id)!;
      if (b.state === "RELEASED") continue;
      if (permanent || b.state === "LIVE") this.core.revoke(id, line, nowNs, true, permanent);
    }
    if (permanent) {
      this.closed = true;
      this.buffers.clear(); // unlinked from the device
    }
  }

  /**
   * The end of a trigger (memory enabled again, reset done, back to D0): `move(false)` for
   * revoked buffers, when memory decoding is on.
   *
   * @param line Trace line.
   * @param nowNs Trace time.
   * @param memoryEnabled Memory decoding after the event.
   */
  restore(line: number, nowNs: number, memoryEnabled = true): void {
    this.memoryEnabled = memoryEnabled;
    if (!memoryEnabled || this.closed) return;
    for (const id of this.buffers) {
      if (this.core.buffer(id)!.state === "REVOKED") this.core.revoke(id, line, nowNs, false);
    }
  }
}
