// The IOVA replay's queue entries (an allocation, an unmap) and what each tracepoint is to it,
// by event id: kept apart from iova_replay.ts, which orders and runs them.

import { DMA_MAP_EVENTS } from "../ingest/mod.ts";
import { exporterEventOf } from "./_exporter_iovas.ts";

/** What an allocation and an unmap both hold. */
interface OpBase {
  line: number;
  cpu: number;
  ts: number;
  pfn: number;
  pages: number;
  /** Its device, once known ("" until then). */
  dev: string;
  /** Whether the device is settled (for an unmap: or the pfn's last allocation is to be taken). */
  resolved: boolean;
}

/** An allocation: the iommu:map lines of a CPU up to the dma:* map event that owns them. */
export interface Alloc extends OpBase {
  /** It is its own queue entry (no wrapper object per map). */
  readonly kind: "alloc";
  /** Line of the dma:* event that owns it (0 until known). */
  ownerLine: number;
  /** Row of that event in its batch, and the batch's number (-1 until known). */
  ownerRow: number;
  ownerBatch: number;
  /** An interrupt freed IOVA on this CPU since the task's previous event (§4.4 ordering). */
  afterIrqFree: boolean;
}

/** An iommu:unmap of an IOVA the replay knows. */
export interface UnmapOp extends OpBase {
  kind: "unmap";
}

/** A queue entry. */
export type Op = Alloc | UnmapOp;

/**
 * What a tracepoint is to the replay, by event id (its name looked at once): the low four bits
 * what the replay does with it, the next ones its EXPORTER_EVENT.
 */
export const EV_UNKNOWN = 0;
export const EV_NONE = 1;
export const EV_MAP = 2;
export const EV_UNMAP = 3;
export const EV_UNMAP_BEFORE = 4;
export const EV_UNMAP_AFTER = 5;
export const EV_DMA_MAP = 6;

/** The EV_* code of a tracepoint name. */
export function iovaEventOf(name: string): number {
  const what = name === "map"
    ? EV_MAP
    : name === "unmap"
    ? EV_UNMAP
    : UNMAP_BEFORE.has(name)
    ? EV_UNMAP_BEFORE
    : UNMAP_AFTER.has(name)
    ? EV_UNMAP_AFTER
    : DMA_MAP_EVENTS.has(name)
    ? EV_DMA_MAP
    : EV_NONE;
  return what | (exporterEventOf(name) << 4);
}

/** DMA-API events traced before the unmap they cause: they name its device. */
export const UNMAP_BEFORE = new Set(["dma_unmap_sg", "dma_free", "dma_free_pages", "dma_free_sgt"]);
/** DMA-API events traced after it. */
export const UNMAP_AFTER = new Set(["dma_unmap_page", "dma_unmap_phys", "dma_unmap_resource"]);
