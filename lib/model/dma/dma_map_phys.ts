/**
 * `dma_map_phys()` / `dma_unmap_phys()` (kernel/dma/mapping.c 6.18+, kernel-spec §6.1–6.3) with
 * their two back ends: dma-direct (`dma_direct_map_phys`: the physical address, a mask check,
 * a swiotlb bounce noted for RAM beyond the mask) and dma-iommu (`iommu_dma_map_phys`: an IOVA
 * of the granule-aligned length, one `iommu_map`). The older `dma_map_page` and
 * `dma_map_resource` are `dma_map_phys` without and with `DMA_ATTR_MMIO`. Leaves out cache
 * maintenance of non-coherent devices and the untrusted-device bounce.
 *
 * @module
 */

import { iommuDmaAllocIova } from "../iommu/mod.ts";
import { DMA_MAPPING_ERROR, type DmaDevice, useDmaIommu } from "./dma_device.ts";

/** `DMA_ATTR_SKIP_CPU_SYNC` and `DMA_ATTR_MMIO` (kernel-spec §2.1 bit numbers). */
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
/** The address is MMIO, not RAM: no cache maintenance, no bounce (6.18+). */
export const DMA_ATTR_MMIO = 1 << 10;

/** What one map did (the ops table's columns). */
export interface DmaMapResult {
  /** The DMA address, or `DMA_MAPPING_ERROR`; 0n for a swiotlb bounce (slot not modelled). */
  readonly dmaAddr: bigint;
  /** `"DIRECT"` (dma-direct, identity) or `"IOMMU"`. */
  readonly backend: "DIRECT" | "IOMMU";
  /** Bytes of IOVA taken (0 for dma-direct). */
  readonly iovaBytes: bigint;
  /** Leaf PTEs written. */
  readonly pteWrites: number;
  /** Where the IOVA came from. */
  readonly iovaSource: "rcache" | "tree" | "tree_after_flush" | "none";
  /** dma-direct bounced the buffer through swiotlb (RAM beyond the mask). */
  readonly bounced: boolean;
  /** Why it failed, when it did. */
  readonly error: "" | "MASK" | "NO_IOVA" | "MAP_FAILED" | "BLOCKED";
}

const fail = (backend: "DIRECT" | "IOMMU", error: DmaMapResult["error"]): DmaMapResult => ({
  dmaAddr: DMA_MAPPING_ERROR,
  backend,
  iovaBytes: 0n,
  pteWrites: 0,
  iovaSource: "none",
  bounced: false,
  error,
});

/** `dma_capable()`: the whole range below the device's mask and bus limit. */
export function dmaCapable(dev: DmaDevice, addr: bigint, sizeBytes: bigint): boolean {
  const limit = dev.busDmaLimit !== 0n && dev.busDmaLimit < dev.dmaMask
    ? dev.busDmaLimit
    : dev.dmaMask;
  return addr + sizeBytes - 1n <= limit;
}

/**
 * `dma_direct_map_phys()`: no IOMMU translation.
 *
 * @param dev The device.
 * @param phys CPU physical address.
 * @param sizeBytes Bytes.
 * @param attrs DMA attributes (`DMA_ATTR_MMIO`).
 * @returns The result.
 */
export function dmaDirectMapPhys(
  dev: DmaDevice,
  phys: bigint,
  sizeBytes: bigint,
  attrs: number,
): DmaMapResult {
  // phys_to_dma() adds no offset on x86; MMIO addresses are used as they are.
  const capable = dmaCapable(dev, phys, sizeBytes);
  if ((attrs & DMA_ATTR_MMIO) !== 0) {
    return capable ? { ...fail("DIRECT", ""), dmaAddr: phys } : fail("DIRECT", "MASK");
  }
  // RAM beyond the mask bounces through swiotlb (below 4 GiB): noted, the address not modelled.
  return { ...fail("DIRECT", ""), dmaAddr: capable ? phys : 0n, bounced: !capable };
}

/**
 * `iommu_dma_map_phys()`: an IOVA for the granule-aligned span and one `iommu_map`.
 *
 * @param dev The device (its domain translates).
 * @param phys CPU physical address.
 * @param sizeBytes Bytes.
 * @param cpu The mapping CPU.
 * @param nowNs Trace time.
 * @returns The result.
 *
 * @example kernel-spec §11 test 6: 0x10000 bytes at phys 0x2000_0800
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../iommu/mod.ts";
 * import { iommuDmaMapPhys, newDmaDevice } from "./mod.ts";
 * const dev = newDmaDevice("0000:41:00.0", new IommuDmaDomain());
 * const r = iommuDmaMapPhys(dev, 0x2000_0800n, 0x10000n, 0, 0);
 * assert.equal(r.dmaAddr, 0xfffe0800n); // 17 pages, rounded to 32, aligned to 32
 * assert.equal(r.pteWrites, 17);
 * assert.equal(r.iovaBytes, 0x11000n);
 * ```
 */
export function iommuDmaMapPhys(
  dev: DmaDevice,
  phys: bigint,
  sizeBytes: bigint,
  cpu: number,
  nowNs: number,
): DmaMapResult {
  const d = dev.domain!;
  d.advanceTo(nowNs);
  const g = BigInt(d.iova.granule);
  const off = phys & (g - 1n);
  const len = ((sizeBytes + off + g - 1n) / g) * g;
  const iova = iommuDmaAllocIova(d.rcaches, len, dev.dmaMask, dev.iovaState, { cpu, nowNs });
  if (iova === 0n) return fail("IOMMU", "NO_IOVA");
  const source = d.rcaches.lastSource;
  const m = d.pageTable.iommuMap(iova, phys - off, len);
  if (m.errno !== 0) {
    d.rcaches.freeIovaFast(Number(iova >> BigInt(d.iova.shift)), Number(len / g), cpu, nowNs);
    return fail("IOMMU", "MAP_FAILED");
  }
  ++d.invalidation.syncMaps;
  return {
    dmaAddr: iova + off,
    backend: "IOMMU",
    iovaBytes: len,
    pteWrites: m.pteWrites,
    iovaSource: source,
    bounced: false,
    error: "",
  };
}

/**
 * `dma_map_phys(dev, phys, size, dir, attrs)`: dma-direct or dma-iommu by the device's domain;
 * a blocked domain fails every map.
 *
 * @param dev The device.
 * @param phys CPU physical address.
 * @param sizeBytes Bytes.
 * @param attrs DMA attributes.
 * @param cpu The mapping CPU.
 * @param nowNs Trace time.
 * @returns The result.
 */
export function dmaMapPhys(
  dev: DmaDevice,
  phys: bigint,
  sizeBytes: bigint,
  attrs: number,
  cpu: number,
  nowNs: number,
): DmaMapResult {
  if (dev.domain !== null && dev.domain.type === "blocked") return fail("IOMMU", "BLOCKED");
  if (useDmaIommu(dev)) return iommuDmaMapPhys(dev, phys, sizeBytes, cpu, nowNs);
  return dmaDirectMapPhys(dev, phys, sizeBytes, attrs);
}

/** What one unmap did. */
export interface DmaUnmapResult {
  /** Bytes the IOMMU unmapped (0 for dma-direct). */
  readonly unmappedBytes: bigint;
  /** Range invalidations it waited for (strict: 1; lazy: 0, the flush queue does it later). */
  readonly invalidations: number;
}

/**
 * `dma_unmap_phys(dev, addr, size, dir, attrs)`: for dma-iommu, unmap the granule-aligned span
 * and free (strict) or queue (lazy) its IOVA; nothing for dma-direct.
 *
 * @param dev The device.
 * @param dmaAddr The address the map returned.
 * @param sizeBytes The mapped size.
 * @param cpu The unmapping CPU.
 * @param nowNs Trace time.
 * @returns The result.
 */
export function dmaUnmapPhys(
  dev: DmaDevice,
  dmaAddr: bigint,
  sizeBytes: bigint,
  cpu: number,
  nowNs: number,
): DmaUnmapResult {
  if (!useDmaIommu(dev)) return { unmappedBytes: 0n, invalidations: 0 };
  const d = dev.domain!;
  d.advanceTo(nowNs);
  const g = BigInt(d.iova.granule);
  const off = dmaAddr & (g - 1n);
  const len = ((sizeBytes + off + g - 1n) / g) * g;
  const before = d.invalidation.rangeInvalidations;
  const unmapped = d.unmapAndFree(dmaAddr - off, len, cpu, nowNs);
  return { unmappedBytes: unmapped, invalidations: d.invalidation.rangeInvalidations - before };
}
