/**
 * The IOMMU model (kernel-spec §4–5): the IOVA allocator of drivers/iommu/iova.c with its
 * per-CPU rcaches, bit for bit, and dma-iommu's allocation policy.
 *
 * @example Map and unmap on CPU 0, then again: the rcache hands the IOVA back
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaDomain, IovaRcaches } from "./mod.ts";
 * const rc = new IovaRcaches(new IovaDomain(4096));
 * const pfn = rc.allocIovaFast(17, 0xfffff, true, 0, 0); // 17 pages: aligned to 32 (tree)
 * assert.equal(pfn, 0xfffe0);
 * rc.freeIovaFast(pfn, 17, 0, 1000);
 * assert.equal(rc.allocIovaFast(17, 0xfffff, true, 0, 2000), 0xfffe0);
 * assert.equal(rc.lastSource, "rcache");
 * ```
 *
 * @module
 */

export {
  fls,
  IOVA_ANCHOR_PFN,
  IovaDomain,
  type IovaDomainOptions,
  roundupPowOfTwo,
} from "./iova_domain.ts";
export {
  IOVA_DEPOT_DELAY_NS,
  IOVA_RANGE_CACHE_MAX_SIZE,
  IovaRcaches,
  type IovaRcachesOptions,
  iovaSizeClass,
  type IovaSource,
  MAX_GLOBAL_MAGS,
  type RcacheSnapshot,
  type RcacheStats,
  type RcacheVersion,
} from "./iova_rcache.ts";
export {
  type DeviceIovaState,
  iommuDmaAllocIova,
  type IommuDmaAllocIovaOptions,
  newDeviceIovaState,
} from "./iommu_dma_alloc_iova.ts";
export { IovaTree, NIL } from "./iova_tree.ts";
export {
  iommuLeafCount,
  type IommuMapResult,
  IommuPageTable,
  type IommuPageTableOptions,
  iommuPgsize,
  type OverlapPolicy,
  type PageTableStats,
} from "./iommu_page_table.ts";
export {
  type IovaPredictionStats,
  IovaPredictor,
  type IovaPredictorOptions,
  iovaPredictorOptionsFor,
} from "./iova_predictor.ts";
export {
  FlushQueue,
  type FlushQueueOptions,
  type FlushQueueStats,
  FQ_SIZE,
  FQ_TIMEOUT_MS,
  type FreeIova,
  SINGLE_FQ_SIZE,
  SINGLE_FQ_TIMEOUT_MS,
} from "./flush_queue.ts";
export {
  type InvalidationStats,
  IommuDmaDomain,
  type IommuDmaDomainOptions,
  type IommuDomainType,
} from "./iommu_dma_domain.ts";
