// What a DMA-model call cost: page-table and invalidation counters before and after.

import type { DmaDevice } from "../model/dma/mod.ts";
import type { RevisionMapping, RevisionUnmapping } from "./mapping_strategy.ts";

export interface Counters {
  pteWrites: number;
  pteClears: number;
  invalidations: number;
}

export function counters(dev: DmaDevice): Counters {
  const d = dev.domain;
  if (d === null) return { pteWrites: 0, pteClears: 0, invalidations: 0 };
  return {
    pteWrites: d.pageTable.stats.pteWrites,
    pteClears: d.pageTable.stats.pteClears,
    invalidations: d.invalidation.rangeInvalidations,
  };
}

/** The rcache's word for where the last allocation came from, as the ops table says it. */
export function lastAllocSource(dev: DmaDevice): RevisionMapping["iovaSource"] {
  const s = dev.domain?.rcaches.lastSource;
  return s === "rcache" ? "rcache" : s === "tree" || s === "tree_after_flush" ? "rbtree" : "";
}

/** Where an unmap's IOVA went: the flush queue (DMA-FQ), an rcache (<= 32 pages), the tree. */
export function freeSource(
  dev: DmaDevice,
  bytes: bigint,
  queued: boolean,
): RevisionUnmapping["iovaSource"] {
  const d = dev.domain;
  if (d === null || bytes === 0n) return "";
  if (queued && d.type === "dma-fq") return "fq";
  return bytes <= 32n * BigInt(d.iova.granule) ? "rcache" : "rbtree";
}

/**
 * What an unmap cost, from the counters before it. `queued`: a DMA-FQ domain queues the IOVA
 * (dma_unmap_*); the two-step API's destroy never does (kernel-spec §6.5).
 */
export function unmapping(
  dev: DmaDevice,
  before: Counters,
  bytes: bigint,
  queued = true,
): RevisionUnmapping {
  const after = counters(dev);
  return {
    pteWrites: after.pteClears - before.pteClears,
    iotlbInvalidations: after.invalidations - before.invalidations,
    iovaSource: freeSource(dev, bytes, queued),
  };
}

export const NO_MAPPING = {
  entries: [],
  iova: -1n,
  iovaAllocs: 0,
  iovaSource: "",
  pteWrites: 0,
  sgEntries: 0,
  structPageBytes: 0,
  modelAnomalies: [],
  handle: null,
} as const;
