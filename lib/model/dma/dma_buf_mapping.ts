/**
 * `dma_buf_phys_vec_to_sgt()` and `dma_buf_free_sgt()` of drivers/dma-buf/dma-buf-mapping.c
 * (kernel-spec §7.2): how an MMIO exporter (vfio-pci) turns its physical ranges into the sg
 * table an importer gets, on each of the three paths (P2P bus addresses, one IOVA through the
 * host bridge, per-range `dma_map_phys` without an IOMMU), with the two revisions' entry
 * splitting, the offset-0 `dma_iova_link` of every range and the unwind rules, leaks included.
 *
 * @module
 */

import type { P2pdmaMapType } from "../topology/mod.ts";
import { DMA_MAPPING_ERROR, type DmaDevice, useDmaIommu } from "./dma_device.ts";
import {
  dmaIovaDestroy,
  dmaIovaFree,
  dmaIovaLink,
  type DmaIovaState,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaUseIova,
} from "./dma_iova.ts";
import { DMA_ATTR_MMIO, dmaMapPhys, dmaUnmapPhys } from "./dma_map_phys.ts";

/** Which code the export runs: the v8 series of Nov 2025 or the merged helper. */
export type DmaBufMappingRevision = "v8-2025" | "merged";

/**
 * Largest sg entry: merged code `ALIGN_DOWN(UINT_MAX, PAGE_SIZE)`; v8 used `UINT_MAX`, so its
 * splits are not page aligned (kernel-spec §7.2).
 *
 * @param revision The revision.
 * @returns The entry limit in bytes.
 */
export function maxSgEntSz(revision: DmaBufMappingRevision): bigint {
  return revision === "merged" ? 0xffff_f000n : 0xffff_ffffn;
}

/** One physical range of the export (`struct phys_vec`). */
export interface PhysVec {
  /** CPU physical address. */
  readonly paddr: bigint;
  /** Bytes. */
  readonly len: bigint;
}

/** One entry of the resulting sg table (DMA side). */
export interface DmaBufSgEntry {
  /** `sg_dma_address`. */
  readonly dmaAddr: bigint;
  /** `sg_dma_len`. */
  readonly lengthBytes: bigint;
}

/** An event the kernel emits while mapping or unmapping (dma:* and iommu:* tracepoints). */
export interface DmaBufMappingEvent {
  /** Tracepoint: `map`/`unmap` (iommu:*), `dma_map_phys`/`dma_unmap_phys` (dma:*). */
  readonly event: "map" | "unmap" | "dma_map_phys" | "dma_unmap_phys";
  /** IOVA or DMA address. */
  readonly addr: bigint;
  /** CPU physical address (maps only; 0n otherwise). */
  readonly phys: bigint;
  /** Bytes. */
  readonly sizeBytes: bigint;
}

/** Anomalies the helper can leave behind (kernel-spec §7.2 consequences). */
export type DmaBufMappingAnomaly = "IOVA_LINK_OVERLAP" | "IOVA_LEAK";

/** The sg table of an export, or why there is none. */
export interface DmaBufSgt {
  /** 0, or the errno the helper returns as `ERR_PTR`. */
  readonly errno: 0 | "EINVAL" | "ENOMEM" | "EEXIST" | "EIO";
  /** The path taken (null when refused before one was chosen). */
  readonly path: "BUS_ADDR" | "IOVA" | "DIRECT" | null;
  /** The DMA entries (`nents`; `orig_nents` is 0). */
  readonly entries: readonly DmaBufSgEntry[];
  /** The IOVA reservation of the IOVA path (kept for `dma_buf_free_sgt`). */
  readonly state: DmaIovaState | null;
  /** Bytes linked into the IOVA. */
  readonly mappedBytes: bigint;
  /** Total size of the export. */
  readonly sizeBytes: bigint;
  /** dma:*, iommu:* events of the map, its unwind included. */
  readonly events: readonly DmaBufMappingEvent[];
  /** Anomalies. */
  readonly anomalies: readonly DmaBufMappingAnomaly[];
  /** Bytes of IOVA reserved and never freed (the first-link-failure leak). */
  readonly leakedIovaBytes: bigint;
}

/** Options of {@linkcode dmaBufPhysVecToSgt}. */
export interface DmaBufPhysVecToSgtOptions {
  /**
   * Revision of the helper.
   * @default {"merged"}
   */
  revision?: DmaBufMappingRevision;
  /**
   * Mapping CPU.
   * @default {0}
   */
  cpu?: number;
  /**
   * Trace time.
   * @default {0}
   */
  nowNs?: number;
}

const U32_MAX = 0xffff_ffffn;
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

/**
 * `calc_sg_nents()`: entries the table needs.
 *
 * @returns The count, 0 on u32 overflow.
 */
function calcSgNents(
  ranges: readonly PhysVec[],
  size: bigint,
  useIova: boolean,
  max: bigint,
): number {
  let n = 0n;
  if (useIova) n = ceilDiv(size, max);
  else for (const r of ranges) n += ceilDiv(r.len, max);
  return n > U32_MAX ? 0 : Number(n);
}

/** `fill_sg_entry()`: split `length` at `addr` into entries of at most `max`. */
function fillSgEntry(out: DmaBufSgEntry[], length: bigint, addr: bigint, max: bigint): void {
  while (length > 0n) {
    const l = length < max ? length : max;
    out.push({ dmaAddr: addr, lengthBytes: l });
    addr += l;
    length -= l;
  }
}

/**
 * `dma_buf_phys_vec_to_sgt(attach, provider, phys_vec, nr_ranges, size, dir)`.
 *
 * `mapType` is `pci_p2pdma_map_type(provider, attach->dev)`; `busOffset` the provider's. On the
 * IOVA path every range is linked at offset 0 (the code's behaviour in both revisions), so a
 * second range lands on the first one's IOVA: the domain's `overlap` policy decides whether
 * the link fails (`fail`, unwound), replaces the first range (`overwrite`) or is ignored
 * (`keep`); each such link raises `IOVA_LINK_OVERLAP`. When the first link fails nothing is
 * unwound and the reservation leaks (`IOVA_LEAK`). The non-IOVA unwind unmaps every slot of
 * the table, the not yet filled ones as `dma_unmap_phys(dev, 0, 0)`.
 *
 * @param dev The importer's device (`attach->dev`).
 * @param mapType The P2P path from the provider to the device.
 * @param busOffset The provider's bus offset.
 * @param ranges The export's physical ranges.
 * @param options Revision, CPU, time.
 * @returns The table, its events and anomalies.
 *
 * @example kernel-spec §11 test 27: one range through the host bridge into a fresh domain
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../iommu/mod.ts";
 * import { dmaBufPhysVecToSgt, newDmaDevice } from "./mod.ts";
 * const dev = newDmaDevice("0000:41:00.0", new IommuDmaDomain({ type: "dma" }));
 * const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [{ paddr: 0x380_0000_0000n, len: 0x13000n }]);
 * assert.deepEqual(sgt.entries, [{ dmaAddr: 0xfffe0000n, lengthBytes: 0x13000n }]);
 * assert.deepEqual(sgt.events.map((e) => [e.event, e.sizeBytes]), [["map", 77824n]]);
 * ```
 */
export function dmaBufPhysVecToSgt(
  dev: DmaDevice,
  mapType: P2pdmaMapType,
  busOffset: bigint,
  ranges: readonly PhysVec[],
  options: DmaBufPhysVecToSgtOptions = {},
): DmaBufSgt {
  const max = maxSgEntSz(options.revision ?? "merged");
  const cpu = options.cpu ?? 0;
  const nowNs = options.nowNs ?? 0;
  let size = 0n;
  for (const r of ranges) size += r.len;
  const events: DmaBufMappingEvent[] = [];
  const anomalies: DmaBufMappingAnomaly[] = [];
  const refuse = (errno: DmaBufSgt["errno"], path: DmaBufSgt["path"], leaked = 0n) => ({
    errno,
    path,
    entries: [],
    state: null,
    mappedBytes: 0n,
    sizeBytes: size,
    events,
    anomalies,
    leakedIovaBytes: leaked,
  });

  let state: DmaIovaState | null = null;
  if (mapType === "THRU_HOST_BRIDGE") {
    state = { addr: 0n, size: 0n };
    dmaIovaTryAlloc(dev, state, 0n, size, cpu, nowNs);
  } else if (mapType !== "BUS_ADDR") {
    return refuse("EINVAL", null);
  }
  const useIova = state !== null && dmaUseIova(state);
  const path = state === null ? "BUS_ADDR" : useIova ? "IOVA" : "DIRECT";
  const nents = calcSgNents(ranges, size, useIova, max);
  if (nents === 0) {
    if (useIova) dmaIovaFree(dev, state!, cpu, nowNs);
    return refuse("EINVAL", path);
  }

  const entries: DmaBufSgEntry[] = [];
  let mapped = 0n;
  let failed: DmaBufSgt["errno"] = 0;
  let i = 0;
  for (; i < ranges.length; ++i) {
    const { paddr, len } = ranges[i]!;
    let addr = 0n;
    if (state === null) {
      addr = (paddr + busOffset) & DMA_MAPPING_ERROR;
    } else if (useIova) {
      if (i > 0) anomalies.push("IOVA_LINK_OVERLAP");
      const link = dmaIovaLink(dev, state, paddr, 0n, len);
      if (link.errno !== 0) {
        failed = link.errno;
        break;
      }
      if (link.map !== null) {
        // iommu_map() traces on success, a driver that kept the old PTE included
        events.push({
          event: "map",
          addr: link.map.iova,
          phys: link.map.phys,
          sizeBytes: link.map.sizeBytes,
        });
      }
      mapped += len;
    } else {
      const m = dmaMapPhys(dev, paddr, len, DMA_ATTR_MMIO, cpu, nowNs);
      if (m.dmaAddr === DMA_MAPPING_ERROR) {
        failed = "EIO";
        break;
      }
      events.push({ event: "dma_map_phys", addr: m.dmaAddr, phys: paddr, sizeBytes: len });
      addr = m.dmaAddr;
    }
    if (!useIova) fillSgEntry(entries, len, addr, max);
  }

  if (failed !== 0) {
    // err_unmap_dma: nothing when the first range failed or there is no state.
    if (i === 0 || state === null) {
      const leaked = useIova ? state!.size : 0n;
      if (useIova) anomalies.push("IOVA_LEAK");
      return refuse(failed, path, leaked);
    }
    if (useIova) {
      const addr = state.addr; // destroy clears the state
      const unmapped = dmaIovaDestroy(dev, state, mapped, cpu, nowNs);
      events.push({ event: "unmap", addr, phys: 0n, sizeBytes: unmapped });
    } else {
      for (let slot = 0; slot < nents; ++slot) {
        const e = entries[slot] ?? { dmaAddr: 0n, lengthBytes: 0n };
        dmaUnmapPhys(dev, e.dmaAddr, e.lengthBytes, cpu, nowNs);
        events.push({
          event: "dma_unmap_phys",
          addr: e.dmaAddr,
          phys: 0n,
          sizeBytes: e.lengthBytes,
        });
      }
    }
    return refuse(failed, path);
  }

  if (useIova) {
    dmaIovaSync(dev);
    fillSgEntry(entries, mapped, state!.addr, max);
  }
  return {
    errno: 0,
    path,
    entries,
    state: useIova ? { ...state! } : null,
    mappedBytes: mapped,
    sizeBytes: size,
    events,
    anomalies,
    leakedIovaBytes: 0n,
  };
}

/**
 * `dma_buf_free_sgt(attach, sgt, dir)`: nothing for bus addresses; one `dma_iova_destroy` of
 * the whole size for the IOVA path (synchronous invalidation, even in a DMA-FQ domain); one
 * `dma_unmap_phys` per sg entry otherwise (a range split in k entries gives k unmaps).
 *
 * @param dev The importer's device.
 * @param sgt A table {@linkcode dmaBufPhysVecToSgt} returned with errno 0.
 * @param options CPU and time.
 * @returns The unmap events.
 */
export function dmaBufFreeSgt(
  dev: DmaDevice,
  sgt: DmaBufSgt,
  options: { cpu?: number; nowNs?: number } = {},
): DmaBufMappingEvent[] {
  const cpu = options.cpu ?? 0;
  const nowNs = options.nowNs ?? 0;
  const events: DmaBufMappingEvent[] = [];
  if (sgt.errno !== 0 || sgt.path === "BUS_ADDR") return events;
  if (sgt.path === "IOVA" && sgt.state !== null && useDmaIommu(dev)) {
    const state = { ...sgt.state };
    const addr = state.addr;
    const unmapped = dmaIovaDestroy(dev, state, sgt.sizeBytes, cpu, nowNs);
    events.push({ event: "unmap", addr, phys: 0n, sizeBytes: unmapped });
    return events;
  }
  for (const e of sgt.entries) {
    dmaUnmapPhys(dev, e.dmaAddr, e.lengthBytes, cpu, nowNs);
    events.push({ event: "dma_unmap_phys", addr: e.dmaAddr, phys: 0n, sizeBytes: e.lengthBytes });
  }
  return events;
}
