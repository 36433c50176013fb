/**
 * The DMA API model (kernel-spec §6–7): dma-direct and dma-iommu single mappings, the
 * scatter-gather path with its merging and P2P handling, the two-step IOVA API, sg tables,
 * and dma-buf's `dma_buf_phys_vec_to_sgt`.
 *
 * @example Map a page through the IOMMU, strict, and unmap it
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../iommu/mod.ts";
 * import { dmaMapPhys, dmaUnmapPhys, newDmaDevice } from "./mod.ts";
 * const dev = newDmaDevice("0000:00:02.0", new IommuDmaDomain({ type: "dma" }));
 * const m = dmaMapPhys(dev, 0x1_0000_0000n, 4096n, 0, 0, 0);
 * assert.equal(m.dmaAddr, 0xfffff000n); // kernel-spec §11 test 1
 * assert.equal(dmaUnmapPhys(dev, m.dmaAddr, 4096n, 0, 0).invalidations, 1);
 * ```
 *
 * @module
 */

export {
  DMA_MAPPING_ERROR,
  type DmaDevice,
  newDmaDevice,
  type NewDmaDeviceOptions,
  useDmaIommu,
} from "./dma_device.ts";
export {
  DMA_ATTR_MMIO,
  DMA_ATTR_SKIP_CPU_SYNC,
  dmaCapable,
  dmaDirectMapPhys,
  dmaMapPhys,
  type DmaMapResult,
  dmaUnmapPhys,
  type DmaUnmapResult,
  iommuDmaMapPhys,
} from "./dma_map_phys.ts";
export {
  dmaMapSg,
  type DmaMapSgResult,
  type DmaSegment,
  dmaUnmapSg,
  type P2pClassifier,
  type SgEntry,
} from "./iommu_dma_map_sg.ts";
export {
  DMA_IOVA_USE_SWIOTLB,
  dmaIovaDestroy,
  dmaIovaFree,
  dmaIovaLink,
  type DmaIovaLinkResult,
  type DmaIovaState,
  dmaIovaSync,
  dmaIovaTryAlloc,
  dmaIovaUnlink,
  dmaUseIova,
} from "./dma_iova.ts";
export { SG_MAX_SINGLE_ALLOC, sgAllocTable, type SgTableShape } from "./sg_table.ts";
export {
  dmaBufFreeSgt,
  type DmaBufMappingAnomaly,
  type DmaBufMappingEvent,
  type DmaBufMappingRevision,
  dmaBufPhysVecToSgt,
  type DmaBufPhysVecToSgtOptions,
  type DmaBufSgEntry,
  type DmaBufSgt,
  maxSgEntSz,
  type PhysVec,
} from "./dma_buf_mapping.ts";
export { type P2pDmaAddrVerdict, p2pDmaAddrVerdict } from "./p2p_dma_addr.ts";
export { dmaDeviceFor } from "./dma_device_for.ts";
