/**
 * The interface every patch revision implements (kernel-spec §9): how the exporter maps an
 * attachment of a BAR-memory dma-buf for an importer, what the importer gets, what it cost,
 * and how the mapping is torn down. Replaying one trace under each revision runs each
 * revision's strategy for every map/unmap pair of the trace.
 *
 * @module
 */

import type { DmaDevice, PhysVec } from "../model/dma/mod.ts";
import type { P2pdmaMapType, P2pdmaProvider } from "../model/topology/mod.ts";

/** The revisions (kernel-spec §9). */
export const REVISION_NAMES = ["v2-2022", "v1-2024", "v8-2025", "rfc-2025-pfn"] as const;

/** A revision's name. */
export type RevisionName = typeof REVISION_NAMES[number];

/** A buffer of BAR memory as the exporter holds it. */
export interface ExportedBuffer {
  /** CPU physical ranges (`phys_vec`; one slice for v2-2022). */
  readonly ranges: readonly PhysVec[];
  /** The BAR's provider (owner, BAR, bus offset). */
  readonly provider: P2pdmaProvider;
}

/** The importer side of one map. */
export interface MapContext {
  /** The importer's DMA model (IOMMU domain, limits); each revision keeps its own. */
  readonly dev: DmaDevice;
  /** `pci_p2pdma_map_type(provider, importer)`. */
  readonly mapType: P2pdmaMapType;
  /** Mapping CPU. */
  readonly cpu: number;
  /** Trace time, ns. */
  readonly nowNs: number;
}

/** What one map did under a revision (the ops table's columns). */
export interface RevisionMapping {
  /** 0 or the errno the importer sees. */
  readonly errno: 0 | string;
  /** What the importer gets: DMA addresses (CPU addresses for rfc-2025-pfn) and lengths. */
  readonly entries: readonly { readonly dmaAddr: bigint; readonly lengthBytes: bigint }[];
  /** The path the revision took: BUS_ADDR, THRU_HOST_BRIDGE, DIRECT (no IOMMU), or PFN. */
  readonly path: "BUS_ADDR" | "THRU_HOST_BRIDGE" | "DIRECT" | "PFN" | "";
  /** First IOVA taken, or -1n. */
  readonly iova: bigint;
  /** IOVA allocations. */
  readonly iovaAllocs: number;
  /** Where the first IOVA came from, or "". */
  readonly iovaSource: "" | "rcache" | "rbtree";
  /** Leaf PTEs written. */
  readonly pteWrites: number;
  /** sg entries the importer walks (0 without an sg table). */
  readonly sgEntries: number;
  /** struct page memory the export needs (v1-2024: 64 B per 4 KiB page of the BAR area). */
  readonly structPageBytes: number;
  /**
   * What the model saw go wrong inside the map (kernel-spec §7.2: a second range linked over
   * the first at offset 0, an IOVA reserved and never freed).
   */
  readonly modelAnomalies: readonly ("IOVA_LINK_OVERLAP" | "IOVA_LEAK")[];
  /** Opaque state for {@linkcode MappingStrategy.unmap}. */
  readonly handle: unknown;
}

/** What one unmap did. */
export interface RevisionUnmapping {
  /** Leaf PTEs cleared. */
  readonly pteWrites: number;
  /** IOTLB invalidations waited for. */
  readonly iotlbInvalidations: number;
  /** Where the IOVA went: rcache, rbtree, fq (lazy), or "". */
  readonly iovaSource: "" | "rcache" | "rbtree" | "fq";
}

/** One revision's mapping strategy. */
export interface MappingStrategy {
  /** Its name. */
  readonly name: RevisionName;
  /** One line: what it does. */
  readonly description: string;
  /**
   * The attachment's `peer2peer` and whether attach succeeds.
   *
   * @param mapType The pair's path.
   * @param allowPeer2peer The importer allows peer2peer.
   * @returns errno and peer2peer.
   */
  attach(
    mapType: P2pdmaMapType,
    allowPeer2peer: boolean,
  ): { errno: 0 | string; peer2peer: boolean };
  /**
   * Map the buffer for the importer.
   *
   * @param buf The buffer.
   * @param ctx The importer and the pair's path.
   * @returns What the importer gets and what it cost.
   */
  map(buf: ExportedBuffer, ctx: MapContext): RevisionMapping;
  /**
   * Tear a mapping down.
   *
   * @param m A mapping {@linkcode map} returned with errno 0.
   * @param ctx The importer.
   * @returns What it cost.
   */
  unmap(m: RevisionMapping, ctx: MapContext): RevisionUnmapping;
}
