/**
 * The vfio-pci dma-buf exporter's uAPI, `VFIO_DEVICE_FEATURE_DMA_BUF` (kernel-spec §8.2;
 * drivers/vfio/pci/vfio_pci_dmabuf.c `vfio_pci_core_feature_dma_buf`): every validation rule in
 * the kernel's order with the errno it returns, and what a valid request becomes (the physical
 * ranges, the buffer size, the provider of the BAR, and whether the buffer starts revoked).
 * Also the two older uAPIs of the series (v2-2022, v1-2024) for replaying old kernels.
 *
 * @module
 */

import type { P2pdmaProvider, PciDevice } from "../topology/mod.ts";
import type { PhysVec } from "../dma/mod.ts";

/** `VFIO_DEVICE_FEATURE_DMA_BUF` feature id (merged and v1-2024; v2-2022 used 3). */
export const VFIO_DEVICE_FEATURE_DMA_BUF = 11;
/** `VFIO_PCI_ROM_REGION_INDEX`: region indexes from here on are not BARs. */
export const VFIO_PCI_ROM_REGION_INDEX = 6;

/** A request as userspace passes it (`struct vfio_device_feature_dma_buf`). */
export interface VfioDmaBufRequest {
  /** `region_index`. */
  readonly regionIndex: number;
  /** `open_flags` (passed to the fd, never checked). */
  readonly openFlags: number;
  /** `flags` (must be 0). */
  readonly flags: number;
  /** `dma_ranges[]` (`nr_ranges` is its length unless {@linkcode nrRanges} says otherwise). */
  readonly ranges: readonly { readonly offset: bigint; readonly length: bigint }[];
  /** `nr_ranges` as passed, when it differs from `ranges.length` (a bad request). */
  readonly nrRanges?: number;
  /** The `VFIO_DEVICE_FEATURE` flags: exactly `GET` is valid. @default {"GET"} */
  readonly featureFlags?: "GET" | "SET" | "PROBE" | "GET|SET";
  /** `argsz` is smaller than the header. @default {false} */
  readonly argszShort?: boolean;
}

/** The exporting device as the feature sees it. */
export interface VfioDmaBufDevice {
  /** The PCI function (its BARs). */
  readonly pci: PciDevice;
  /** The driver: vfio-pci and nvgrace-gpu have `get_dmabuf_phys`, other variants do not. */
  readonly driver: "vfio-pci" | "nvgrace-gpu" | "other";
  /** The provider of a BAR (`pcim_p2pdma_provider`), null for I/O BARs. */
  readonly provider: (barIndex: number) => P2pdmaProvider | null;
  /** PCI_COMMAND.MEMORY is set. @default {true} */
  readonly memoryEnabled?: boolean;
  /** The device is in D3 (or lower). @default {false} */
  readonly inD3?: boolean;
  /** Still registered (not being removed). @default {true} */
  readonly registered?: boolean;
  /** nvgrace-gpu: the device memory a region really exports (not the BAR), by region. */
  readonly deviceMemory?: (regionIndex: number) => { cpuStart: bigint; lenBytes: bigint } | null;
}

/** Why a request failed, or what it made. */
export type VfioDmaBufResult =
  | {
    readonly errno: "EOPNOTSUPP" | "EINVAL" | "ENODEV" | "EOVERFLOW" | "ENOMEM" | "EFAULT";
    /** The rule of kernel-spec §8.2 that refused it (1-based row). */
    readonly rule: number;
    /** One line for the user. */
    readonly message: string;
  }
  | {
    readonly errno: 0;
    /** `phys_vec[]`: CPU physical ranges. */
    readonly phys: readonly PhysVec[];
    /** Σ length. */
    readonly sizeBytes: bigint;
    /** The BAR's provider. */
    readonly provider: P2pdmaProvider;
    /** The buffer starts revoked (memory decoding off, or D3). */
    readonly revoked: boolean;
  };

const PAGE = 4096n;
const U64 = (1n << 64n) - 1n;

/**
 * `vfio_pci_core_feature_dma_buf()`: validate a request, first failure wins.
 *
 * @param dev The exporting device.
 * @param req The request.
 * @returns The errno with the rule, or the export.
 *
 * @example A page of BAR 0; then an unaligned offset (rule 6)
 * ```ts
 * import assert from "node:assert/strict";
 * import { vfioPciCoreFeatureDmaBuf } from "./mod.ts";
 * const bar = { index: 0, cpuStart: 0x40_0000_0000n, busStart: 0x8000_0000n, lenBytes: 1n << 34n, mem: true, prefetch: true, mmap: true };
 * const provider = { owner: "0000:03:00.0", barIndex: 0, busOffset: 0xffff_ffc0_8000_0000n, cpuStart: bar.cpuStart, lenBytes: bar.lenBytes };
 * const dev = { pci: { bdf: "0000:03:00.0", kind: "endpoint", bars: [bar] } as never, driver: "vfio-pci" as const, provider: () => provider };
 * const ok = vfioPciCoreFeatureDmaBuf(dev, { regionIndex: 0, openFlags: 0, flags: 0, ranges: [{ offset: 0n, length: 0x1000n }] });
 * assert.equal(ok.errno, 0);
 * const bad = vfioPciCoreFeatureDmaBuf(dev, { regionIndex: 0, openFlags: 0, flags: 0, ranges: [{ offset: 0x800n, length: 0x1000n }] });
 * assert.deepEqual([bad.errno, bad.errno !== 0 && bad.rule], ["EINVAL", 6]);
 * ```
 */
export function vfioPciCoreFeatureDmaBuf(
  dev: VfioDmaBufDevice,
  req: VfioDmaBufRequest,
): VfioDmaBufResult {
  const no = (errno: Exclude<VfioDmaBufResult["errno"], 0>, rule: number, message: string) => ({
    errno,
    rule,
    message,
  });
  if (dev.driver === "other") return no("EOPNOTSUPP", 1, "the driver has no get_dmabuf_phys op");
  if ((req.featureFlags ?? "GET") !== "GET" || req.argszShort === true) {
    return no("EINVAL", 2, "the feature is GET only, with a full header (vfio_check_feature)");
  }
  const nr = req.nrRanges ?? req.ranges.length;
  if (nr === 0) return no("EINVAL", 3, "nr_ranges is 0");
  if (req.flags !== 0) return no("EINVAL", 3, `flags must be 0, got ${req.flags}`);
  if (req.regionIndex < 0 || req.regionIndex >= VFIO_PCI_ROM_REGION_INDEX) {
    return no("ENODEV", 4, `region ${req.regionIndex} is not a BAR (0-5)`);
  }
  if (nr > 0x0fff_ffff || nr !== req.ranges.length) {
    // nr_ranges * 16 bytes overflows, or the array is shorter than nr_ranges says
    return nr !== req.ranges.length && nr <= 0x0fff_ffff
      ? no("EFAULT", 5, `nr_ranges ${nr} but ${req.ranges.length} ranges readable`)
      : no("EOVERFLOW", 5, `nr_ranges ${nr} overflows the array size`);
  }
  let size = 0n;
  for (const [i, r] of req.ranges.entries()) {
    if (r.length === 0n || r.offset % PAGE !== 0n || r.length % PAGE !== 0n) {
      return no("EINVAL", 6, `range ${i}: zero length or not page aligned`);
    }
    size += r.length;
    if (size > U64) return no("EINVAL", 7, "the total length overflows size_t");
  }
  if ((size & (1n << 63n)) !== 0n) {
    return no("EINVAL", 8, "the total length has bit 63 set (DMA_IOVA_USE_SWIOTLB)");
  }
  const provider = dev.provider(req.regionIndex);
  const mem = dev.deviceMemory?.(req.regionIndex) ?? null;
  const bar = dev.pci.bars.find((b) => b.index === req.regionIndex);
  if (provider === null || (mem === null && (bar === undefined || !bar.mem))) {
    return no("EINVAL", 9, `BAR ${req.regionIndex} is not a memory BAR (no provider)`);
  }
  const start = mem?.cpuStart ?? bar!.cpuStart;
  const len = mem?.lenBytes ?? bar!.lenBytes;
  const phys: PhysVec[] = [];
  for (const [i, r] of req.ranges.entries()) {
    if (start + r.offset > U64 || start + r.offset + r.length > U64) {
      return no("EOVERFLOW", 10, `range ${i}: BAR start + offset overflows`);
    }
    if (r.offset + r.length > len) {
      return no(
        "EINVAL",
        11,
        `range ${i}: ends at 0x${(r.offset + r.length).toString(16)}, past the BAR's 0x${
          len.toString(16)
        } bytes`,
      );
    }
    phys.push({ paddr: start + r.offset, len: r.length });
  }
  if (dev.registered === false) return no("ENODEV", 12, "the device is being removed");
  const revoked = dev.memoryEnabled === false || dev.inD3 === true;
  return { errno: 0, phys, sizeBytes: size, provider, revoked };
}

/**
 * The v2-2022 uAPI (S000; feature id 3): one slice `{offset, length}` of a BAR, 0/0 = the whole
 * BAR.
 *
 * @param dev The exporting device.
 * @param req Region, offset and length.
 * @returns The errno, or the single physical range.
 */
export function vfioDmaBufV2Slice(
  dev: VfioDmaBufDevice,
  req: { regionIndex: number; offset: bigint; length: bigint },
): { errno: 0 | "EINVAL"; phys: PhysVec | null; message: string } {
  const bad = (message: string) => ({ errno: "EINVAL" as const, phys: null, message });
  if (req.regionIndex < 0 || req.regionIndex >= VFIO_PCI_ROM_REGION_INDEX) {
    return bad(`region ${req.regionIndex} is not a BAR`);
  }
  const bar = dev.pci.bars.find((b) => b.index === req.regionIndex);
  if (bar === undefined || !bar.mem) return bad(`BAR ${req.regionIndex} is not a memory BAR`);
  let { offset, length } = req;
  if (offset === 0n && length === 0n) length = bar.lenBytes;
  if (length > bar.lenBytes || offset >= bar.lenBytes || length > bar.lenBytes - offset) {
    return bad("the slice does not fit the BAR");
  }
  if (offset % PAGE !== 0n || length % PAGE !== 0n) return bad("the slice is not page aligned");
  return { errno: 0, phys: { paddr: bar.cpuStart + offset, len: length }, message: "" };
}
