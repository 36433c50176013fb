/**
 * dma-iommu's IOVA policy, `iommu_dma_alloc_iova()` of drivers/iommu/dma-iommu.c
 * (kernel-spec §4.3): a PCI device first tries below 4 GiB (`pci_32bit_workaround`), and after
 * the first failure uses its full DMA limit for the rest of its life. `iommu.forcedac=1` skips
 * the 32-bit try.
 *
 * @module
 */

import type { IovaRcaches } from "./iova_rcache.ts";

/** Per-device state dma-iommu keeps (`dev->iommu->pci_32bit_workaround`). */
export interface DeviceIovaState {
  /** Try below 4 GiB first; cleared for good after the first 32-bit failure. */
  pci32bitWorkaround: boolean;
  /** `bus_dma_limit` of the device (0 = none). */
  readonly busDmaLimit: bigint;
}

/**
 * The state `iommu_setup_dma_ops()` gives a device: the workaround on for PCI devices unless
 * `iommu.forcedac` is set, off for others.
 *
 * @param isPci A PCI function.
 * @param forceDac `iommu.forcedac=1`.
 * @returns Fresh state.
 */
export function newDeviceIovaState(isPci: boolean, forceDac: boolean): DeviceIovaState {
  return { pci32bitWorkaround: isPci && !forceDac, busDmaLimit: 0n };
}

/** Options of {@linkcode iommuDmaAllocIova}. */
export interface IommuDmaAllocIovaOptions {
  /**
   * The domain's aperture end (`geometry.aperture_end`) when `force_aperture` is set.
   * @default {(1n << 48n) - 1n}
   */
  apertureEnd?: bigint;
  /**
   * The CPU the mapping runs on (the trace's `[cpu]`).
   * @default {0}
   */
  cpu?: number;
  /**
   * Trace time in ns (runs due depot trims).
   * @default {0}
   */
  nowNs?: number;
}

const MASK32 = 0xffff_ffffn;

/**
 * `iommu_dma_alloc_iova(domain, size, dma_limit, dev)`: an IOVA for `sizeBytes` (already
 * granule-aligned by the caller), below the device's DMA limit.
 *
 * @param rcaches The domain's allocator with its caches.
 * @param sizeBytes Size, a multiple of the granule.
 * @param dmaLimit The device's DMA mask (`dma_get_mask`).
 * @param dev The device's state (its workaround flag may be cleared).
 * @param options Aperture, CPU, time.
 * @returns The IOVA, or 0n when the space is full.
 *
 * @example Below 4 GiB first, then above for good (kernel-spec §11 test 9)
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaDomain, IovaRcaches, iommuDmaAllocIova, newDeviceIovaState } from "./mod.ts";
 * const d = new IovaDomain(4096);
 * d.reserveIova(1, 0xfffff); // the whole 32-bit space taken
 * const rc = new IovaRcaches(d);
 * const dev = newDeviceIovaState(true, false);
 * assert.equal(iommuDmaAllocIova(rc, 4096n, (1n << 64n) - 1n, dev), 0xfffffffff000n);
 * assert.equal(dev.pci32bitWorkaround, false); // "Using 48-bit DMA addresses"
 * assert.equal(d.max32AllocSize, 1);
 * ```
 */
export function iommuDmaAllocIova(
  rcaches: IovaRcaches,
  sizeBytes: bigint,
  dmaLimit: bigint,
  dev: DeviceIovaState,
  options: IommuDmaAllocIovaOptions = {},
): bigint {
  const shift = BigInt(rcaches.domain.shift);
  const cpu = options.cpu ?? 0;
  const nowNs = options.nowNs ?? 0;
  const lenPfn = Number(sizeBytes >> shift);
  let limit = dmaLimit;
  if (dev.busDmaLimit !== 0n && (limit === 0n || dev.busDmaLimit < limit)) limit = dev.busDmaLimit; // min_not_zero
  const apertureEnd = options.apertureEnd ?? (1n << 48n) - 1n;
  if (apertureEnd < limit) limit = apertureEnd;
  if (limit > MASK32 && dev.pci32bitWorkaround) {
    const pfn = rcaches.allocIovaFast(lenPfn, Number(MASK32 >> shift), false, cpu, nowNs);
    if (pfn !== 0) return BigInt(pfn) << shift;
    dev.pci32bitWorkaround = false; // sticky for the device's lifetime
  }
  const pfn = rcaches.allocIovaFast(lenPfn, Number(limit >> shift), true, cpu, nowNs);
  return BigInt(pfn) << shift;
}
