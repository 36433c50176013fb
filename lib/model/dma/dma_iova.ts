/**
 * The two-step IOVA API of dma-iommu.c (6.14+, kernel-spec §6.5): reserve an IOVA range once
 * (`dma_iova_try_alloc`), link physical ranges into it (`dma_iova_link`: `iommu:map` events, no
 * dma:* event), sync, and tear down (`dma_iova_unlink` keeps the reservation;
 * `dma_iova_destroy` unmaps what was linked with a synchronous invalidation, never through
 * the flush queue, and frees the reservation; `dma_iova_free` frees without unmapping).
 *
 * @module
 */

import { iommuDmaAllocIova } from "../iommu/mod.ts";
import { type DmaDevice, useDmaIommu } from "./dma_device.ts";

/** `struct dma_iova_state`. */
export interface DmaIovaState {
  /** IOVA plus the offset of `phys` in its granule; 0n = not using an IOVA. */
  addr: bigint;
  /** Bytes reserved (0n = none). */
  size: bigint;
}

/** `DMA_IOVA_USE_SWIOTLB`: bit 63 of `size`. */
export const DMA_IOVA_USE_SWIOTLB: bigint = 1n << 63n;

/**
 * `dma_use_iova(state)`.
 *
 * @param state The state.
 * @returns True when an IOVA is reserved.
 */
export function dmaUseIova(state: DmaIovaState): boolean {
  return state.size !== 0n;
}

function granuleOf(dev: DmaDevice): bigint {
  return BigInt(dev.domain!.iova.granule);
}

const alignUp = (x: bigint, g: bigint) => ((x + g - 1n) / g) * g;

/**
 * `dma_iova_try_alloc(dev, state, phys, size)`.
 *
 * @param dev The device.
 * @param state Filled on success.
 * @param phys The offset source (callers pass 0 for page-aligned use).
 * @param sizeBytes Bytes to reserve.
 * @param cpu The CPU.
 * @param nowNs Trace time.
 * @returns False when the device does not use dma-iommu or there is no IOVA.
 */
export function dmaIovaTryAlloc(
  dev: DmaDevice,
  state: DmaIovaState,
  phys: bigint,
  sizeBytes: bigint,
  cpu: number,
  nowNs: number,
): boolean {
  state.addr = 0n;
  state.size = 0n;
  if (!useDmaIommu(dev) || sizeBytes === 0n || (sizeBytes & DMA_IOVA_USE_SWIOTLB) !== 0n) {
    return false;
  }
  const g = granuleOf(dev);
  const off = phys & (g - 1n);
  const a = iommuDmaAllocIova(
    dev.domain!.rcaches,
    alignUp(sizeBytes + off, g),
    dev.dmaMask,
    dev.iovaState,
    { cpu, nowNs },
  );
  if (a === 0n) return false;
  state.addr = a + off;
  state.size = sizeBytes;
  return true;
}

/** Result of {@linkcode dmaIovaLink}. */
export interface DmaIovaLinkResult {
  /** 0, or the errno (`EIO` a padded link at an offset, `EEXIST` a present PTE, `EINVAL`). */
  readonly errno: 0 | "EIO" | "EEXIST" | "EINVAL";
  /** The `iommu:map` it emits (none on failure). */
  readonly map: { readonly iova: bigint; readonly phys: bigint; readonly sizeBytes: bigint } | null;
  /** Leaf PTEs written. */
  readonly pteWrites: number;
}

/**
 * `dma_iova_link(dev, state, phys, offset, size, dir, attrs)`: map `[phys, phys + size)` at
 * `state.addr + offset` (nosync).
 *
 * @param dev The device.
 * @param state A reserved state.
 * @param phys CPU physical address.
 * @param offsetBytes Offset into the reservation.
 * @param sizeBytes Bytes.
 * @returns The errno and the map event.
 */
export function dmaIovaLink(
  dev: DmaDevice,
  state: DmaIovaState,
  phys: bigint,
  offsetBytes: bigint,
  sizeBytes: bigint,
): DmaIovaLinkResult {
  const g = granuleOf(dev);
  const pad = phys & (g - 1n);
  if (pad !== 0n && offsetBytes > 0n) return { errno: "EIO", map: null, pteWrites: 0 };
  const iova = state.addr + offsetBytes - pad;
  const len = alignUp(sizeBytes + pad, g);
  const m = dev.domain!.pageTable.iommuMap(iova, phys - pad, len, true);
  if (m.errno !== 0) return { errno: m.errno, map: null, pteWrites: 0 };
  return { errno: 0, map: { iova, phys: phys - pad, sizeBytes: len }, pteWrites: m.pteWrites };
}

/**
 * `dma_iova_sync(dev, state, offset, size)`: `iotlb_sync_map` of a linked range.
 *
 * @param dev The device.
 */
export function dmaIovaSync(dev: DmaDevice): void {
  ++dev.domain!.invalidation.syncMaps;
}

/**
 * `dma_iova_unlink(dev, state, offset, size)`: unmap with a synchronous invalidation; the
 * reservation stays.
 *
 * @param dev The device.
 * @param state The state.
 * @param offsetBytes Offset of the linked range.
 * @param sizeBytes Its bytes.
 * @returns Bytes unmapped.
 */
export function dmaIovaUnlink(
  dev: DmaDevice,
  state: DmaIovaState,
  offsetBytes: bigint,
  sizeBytes: bigint,
): bigint {
  const g = granuleOf(dev);
  const start = state.addr + offsetBytes;
  const off = start & (g - 1n);
  const unmapped = dev.domain!.pageTable.iommuUnmap(start - off, alignUp(sizeBytes + off, g));
  ++dev.domain!.invalidation.rangeInvalidations;
  return unmapped;
}

/**
 * `dma_iova_free(dev, state)`: free the whole reservation without unmapping.
 *
 * @param dev The device.
 * @param state The state (cleared).
 * @param cpu The CPU.
 * @param nowNs Trace time.
 */
export function dmaIovaFree(dev: DmaDevice, state: DmaIovaState, cpu: number, nowNs: number): void {
  const d = dev.domain!;
  const g = granuleOf(dev);
  const off = state.addr & (g - 1n);
  d.rcaches.freeIovaFast(
    Number((state.addr - off) >> BigInt(d.iova.shift)),
    Number(alignUp(state.size + off, g) / g),
    cpu,
    nowNs,
  );
  state.addr = 0n;
  state.size = 0n;
}

/**
 * `dma_iova_destroy(dev, state, mapped_len, dir, attrs)`: unmap the linked `mappedLen` (a
 * synchronous invalidation, even in a DMA-FQ domain) and free the reservation at once, with
 * the size of `mappedLen` (not of the reservation: kernel-spec §6.5).
 *
 * @param dev The device.
 * @param state The state (cleared).
 * @param mappedLenBytes Bytes linked (0: free the whole reservation, nothing unmapped).
 * @param cpu The CPU.
 * @param nowNs Trace time.
 * @returns Bytes unmapped.
 */
export function dmaIovaDestroy(
  dev: DmaDevice,
  state: DmaIovaState,
  mappedLenBytes: bigint,
  cpu: number,
  nowNs: number,
): bigint {
  if (mappedLenBytes === 0n) {
    dmaIovaFree(dev, state, cpu, nowNs);
    return 0n;
  }
  const d = dev.domain!;
  const g = granuleOf(dev);
  const off = state.addr & (g - 1n);
  const len = alignUp(mappedLenBytes + off, g);
  const unmapped = d.pageTable.iommuUnmap(state.addr - off, len);
  ++d.invalidation.rangeInvalidations;
  d.rcaches.freeIovaFast(
    Number((state.addr - off) >> BigInt(d.iova.shift)),
    Number(len / g),
    cpu,
    nowNs,
  );
  state.addr = 0n;
  state.size = 0n;
  return unmapped;
}
