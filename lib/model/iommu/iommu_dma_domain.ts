/**
 * One IOMMU domain as dma-iommu uses it (kernel-spec §5.1, §5.3): the IOVA allocator with its
 * rcaches, the page table, and the invalidation policy of its type: DMA (strict: a range
 * invalidation and the free at every unmap), DMA-FQ (lazy: the flush queue), identity (no
 * translation: dma-direct) and blocked (every map fails). `iommu_dma_init_domain` reserves
 * the host bridge windows and the reserved regions.
 *
 * @module
 */

import { FlushQueue, type FlushQueueOptions } from "./flush_queue.ts";
import { IovaDomain } from "./iova_domain.ts";
import { IovaRcaches, type RcacheVersion } from "./iova_rcache.ts";
import { IommuPageTable, type OverlapPolicy } from "./iommu_page_table.ts";

/** IOMMU domain types (`iommu_group/type`). */
export type IommuDomainType = "identity" | "dma" | "dma-fq" | "blocked";

/** Options of {@linkcode IommuDmaDomain}. */
export interface IommuDmaDomainOptions {
  /**
   * The domain type.
   * @default {"dma"}
   */
  type?: IommuDomainType;
  /**
   * IOVA granule (the smallest page size).
   * @default {4096}
   */
  granule?: number;
  /**
   * Page sizes.
   * @default {0x40201000n}
   */
  pgsizeBitmap?: bigint;
  /**
   * Reserved IOVA ranges `[first, last]`, bytes (host bridge windows, MSI).
   * @default {[]}
   */
  reserved?: readonly (readonly [bigint, bigint])[];
  /**
   * rcache layout.
   * @default {"6.7+"}
   */
  rcacheVersion?: RcacheVersion;
  /**
   * CPUs online.
   * @default {1}
   */
  onlineCpus?: number;
  /**
   * Flush-queue options (DMA-FQ).
   * @default {{}}
   */
  flushQueue?: FlushQueueOptions;
  /**
   * A map over present PTEs.
   * @default {"fail"}
   */
  overlap?: OverlapPolicy;
  /**
   * Called at each `free_iova_fast` (strict: at the unmap; lazy: when the flush queue frees),
   * with the pfn, the pages, the freeing CPU and the time (a trace writer emits its probe).
   * @default {none}
   */
  onIovaFree?: (pfn: number, pages: number, cpu: number, nowNs: number) => void;
}

/** Counters of a domain's invalidations. */
export interface InvalidationStats {
  /** Range invalidations with a wait (strict unmaps, `dma_iova_unlink/destroy`). */
  rangeInvalidations: number;
  /** `iotlb_sync_map` after maps. */
  syncMaps: number;
}

/**
 * A dma-iommu domain.
 *
 * @example Strict: the IOVA is free again right after the unmap
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "./mod.ts";
 * const d = new IommuDmaDomain({ type: "dma" });
 * const pfn = d.rcaches.allocIovaFast(1, 0xfffff, true, 0, 0);
 * d.pageTable.iommuMap(BigInt(pfn) << 12n, 0x1000000n, 0x1000n);
 * d.unmapAndFree(BigInt(pfn) << 12n, 0x1000n, 0, 0);
 * assert.equal(d.invalidation.rangeInvalidations, 1);
 * assert.equal(d.rcaches.allocIovaFast(1, 0xfffff, true, 0, 0), pfn); // from the rcache
 * ```
 */
export class IommuDmaDomain {
  /** Type. */
  readonly type: IommuDomainType;
  /** The IOVA allocator (unused by identity and blocked domains). */
  readonly iova: IovaDomain;
  /** Its caches. */
  readonly rcaches: IovaRcaches;
  /** The page table. */
  readonly pageTable: IommuPageTable;
  /** The flush queue of a DMA-FQ domain, else null. */
  readonly flushQueue: FlushQueue | null;
  /** Invalidation counters. */
  readonly invalidation: InvalidationStats = { rangeInvalidations: 0, syncMaps: 0 };

  /**
   * `iommu_dma_init_domain`: a fresh domain with its reservations.
   *
   * @param options Type, granule, reservations, caches.
   */
  constructor(options: IommuDmaDomainOptions = {}) {
    this.type = options.type ?? "dma";
    const granule = options.granule ?? 4096;
    this.iova = new IovaDomain(granule);
    const shift = BigInt(this.iova.shift);
    for (const [a, b] of options.reserved ?? []) {
      this.iova.reserveIova(Number(a >> shift), Number(b >> shift));
    }
    this.rcaches = new IovaRcaches(this.iova, {
      version: options.rcacheVersion ?? "6.7+",
      onlineCpus: options.onlineCpus ?? 1,
    });
    this.pageTable = new IommuPageTable({
      pgsizeBitmap: options.pgsizeBitmap ?? 0x40201000n,
      overlap: options.overlap ?? "fail",
    });
    this.#onIovaFree = options.onIovaFree ?? null;
    this.flushQueue = this.type === "dma-fq"
      ? new FlushQueue(
        (pfn, pages, cpu, now) => this.#free(pfn, pages, cpu, now),
        options.flushQueue ?? {},
      )
      : null;
  }

  readonly #onIovaFree: IommuDmaDomainOptions["onIovaFree"] | null;

  /** `free_iova_fast`, told to the observer. */
  #free(pfn: number, pages: number, cpu: number, nowNs: number): void {
    this.#onIovaFree?.(pfn, pages, cpu, nowNs);
    this.rcaches.freeIovaFast(pfn, pages, cpu, nowNs);
  }

  /** `use_dma_iommu()`: DMA and DMA-FQ domains translate through dma-iommu. */
  get translates(): boolean {
    return this.type === "dma" || this.type === "dma-fq";
  }

  /**
   * `__iommu_dma_unmap()`: clear the PTEs, then strict: invalidate the range and free the
   * IOVA on this CPU; lazy: queue the IOVA until the flush.
   *
   * @param iova Start of the IOVA range (granule-aligned).
   * @param sizeBytes Bytes (granule-aligned).
   * @param cpu The unmapping CPU.
   * @param nowNs Trace time.
   * @returns `unmapped_size`.
   */
  unmapAndFree(iova: bigint, sizeBytes: bigint, cpu: number, nowNs: number): bigint {
    const unmapped = this.pageTable.iommuUnmap(iova, sizeBytes);
    const shift = BigInt(this.iova.shift);
    const pfn = Number(iova >> shift);
    const pages = Number(sizeBytes >> shift);
    if (this.flushQueue !== null) this.flushQueue.queueIova(pfn, pages, cpu, nowNs);
    else {
      ++this.invalidation.rangeInvalidations;
      this.#free(pfn, pages, cpu, nowNs);
    }
    return unmapped;
  }

  /**
   * Run what fell due by `nowNs` (flush-queue timer, rcache depot trims).
   *
   * @param nowNs Trace time.
   */
  advanceTo(nowNs: number): void {
    this.flushQueue?.advanceTo(nowNs);
    this.rcaches.advanceTo(nowNs);
  }
}
