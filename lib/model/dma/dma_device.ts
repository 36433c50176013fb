/**
 * A device as the DMA API sees it: its DMA limits, and the IOMMU domain it is attached to
 * (none, identity and blocked included). What `dma_map_*` consults to pick dma-direct or
 * dma-iommu (kernel-spec §6.1).
 *
 * @module
 */

import { type IommuDmaDomain, newDeviceIovaState } from "../iommu/mod.ts";
import type { DeviceIovaState } from "../iommu/mod.ts";

/** `DMA_MAPPING_ERROR`: what a failed map returns (`~(dma_addr_t)0`). */
export const DMA_MAPPING_ERROR: bigint = (1n << 64n) - 1n;

/** A device doing DMA. */
export interface DmaDevice {
  /** BDF or name, as dma:* events print it (`dev_name()`). */
  readonly name: string;
  /** `dma_get_mask()`. */
  readonly dmaMask: bigint;
  /** `bus_dma_limit` (0 = none). */
  readonly busDmaLimit: bigint;
  /** `dma_get_max_seg_size()`. */
  readonly maxSegmentSize: number;
  /** `dma_get_seg_boundary()`. */
  readonly segmentBoundary: bigint;
  /** The IOMMU domain, or null (no IOMMU: dma-direct). */
  readonly domain: IommuDmaDomain | null;
  /** dma-iommu's per-device state (the 32-bit workaround). */
  readonly iovaState: DeviceIovaState;
  /** A PCI function (the 32-bit workaround applies). */
  readonly isPci: boolean;
}

/** Options of {@linkcode newDmaDevice}. */
export interface NewDmaDeviceOptions {
  /**
   * DMA mask width in bits.
   * @default {64}
   */
  maskBits?: number;
  /**
   * Max segment size.
   * @default {65536}
   */
  maxSegmentSize?: number;
  /**
   * Segment boundary mask.
   * @default {0xffffffffn}
   */
  segmentBoundary?: bigint;
  /**
   * A PCI function.
   * @default {true}
   */
  isPci?: boolean;
  /**
   * `iommu.forcedac`.
   * @default {false}
   */
  forceDac?: boolean;
}

/**
 * A device for the DMA model.
 *
 * @param name Its name.
 * @param domain Its IOMMU domain or null.
 * @param options Limits.
 * @returns The device.
 */
export function newDmaDevice(
  name: string,
  domain: IommuDmaDomain | null,
  options: NewDmaDeviceOptions = {},
): DmaDevice {
  const bits = options.maskBits ?? 64;
  const isPci = options.isPci ?? true;
  return {
    name,
    dmaMask: bits >= 64 ? DMA_MAPPING_ERROR : (1n << BigInt(bits)) - 1n,
    busDmaLimit: 0n,
    maxSegmentSize: options.maxSegmentSize ?? 65536,
    segmentBoundary: options.segmentBoundary ?? 0xffffffffn,
    domain,
    iovaState: newDeviceIovaState(isPci, options.forceDac ?? false),
    isPci,
  };
}

/**
 * `use_dma_iommu(dev)`: the device maps through dma-iommu (a DMA or DMA-FQ domain).
 *
 * @param dev The device.
 * @returns True for dma-iommu, false for dma-direct.
 */
export function useDmaIommu(dev: DmaDevice): boolean {
  return dev.domain !== null && dev.domain.translates;
}
