/**
 * A patch revision replayed over a trace's dma-buf maps (kernel-spec §9 "Replay rule"): for
 * every `dma_buf_map_attachment` of a buffer whose BAR memory is known (the vfio export probe's
 * fetch-args), the revision's strategy maps the ranges for the importer on its own model of
 * the machine (a fresh IOMMU domain per device), and the matching unmap tears it down. What the
 * importer would get is checked against the pair's path: the anomalies the revision causes.
 *
 * @module
 */

import { type DmaDevice, dmaDeviceFor, type PhysVec } from "../model/dma/mod.ts";
import type { DmaBufCore, DmaBufOpEvent } from "../model/dmabuf/mod.ts";
import type { P2pdmaMapType, Topology } from "../model/topology/mod.ts";
import {
  checkRevisionMapping,
  type ExportedBuffer,
  type MapContext,
  type MappingStrategy,
  type RevisionMapping,
  type RevisionUnmapping,
} from "../revisions/mod.ts";
import type { P2pCheck } from "./p2p_check.ts";

/** An anomaly a revision's mapping causes. */
export interface RevisionAnomaly {
  /** `P2P_WRONG_PATH`, `P2P_DMA_ADDR_MISMATCH`, `P2P_NOT_SUPPORTED_PATH`, `IOMMU_IOVA_LINK_OVERLAP`. */
  readonly code: string;
  /** Line of the map. */
  readonly line: number;
  /** Other lines. */
  readonly related: readonly number[];
  /** The importer. */
  readonly device: string;
  /** One line of explanation. */
  readonly message: string;
}

/** What the revision replay counted. */
export interface RevisionReplayStats {
  /** Maps the revision modeled (buffers with known BAR memory). */
  modeledMaps: number;
  /** Maps of buffers whose BAR memory the trace does not say (not modeled). */
  unknownBufferMaps: number;
  /** Maps the revision would fail. */
  failedMaps: number;
  /** Most struct page memory at once (v1-2024), bytes. */
  peakStructPageBytes: number;
}

/** Replays one revision's strategy for the dma-buf maps of a trace. */
export class RevisionReplay {
  /** The revision. */
  readonly strategy: MappingStrategy;
  /** Anomalies in trace order. */
  readonly anomalies: RevisionAnomaly[] = [];
  /** Figures. */
  readonly stats: RevisionReplayStats = {
    modeledMaps: 0,
    unknownBufferMaps: 0,
    failedMaps: 0,
    peakStructPageBytes: 0,
  };
  readonly #topology: Topology;
  readonly #p2p: P2pCheck;
  readonly #devices = new Map<string, DmaDevice>();
  /** Live mappings per attachment, oldest first. */
  readonly #live = new Map<number, { m: RevisionMapping; ctx: MapContext }[]>();
  readonly #structPages = new Map<number, number>();
  #structPageBytes = 0;

  /**
   * A replay of `strategy` on `topology`.
   *
   * @param strategy The revision.
   * @param topology The machine.
   * @param p2p Providers and map types of the machine.
   */
  constructor(strategy: MappingStrategy, topology: Topology, p2p: P2pCheck) {
    this.strategy = strategy;
    this.#topology = topology;
    this.#p2p = p2p;
  }

  #device(bdf: string): DmaDevice {
    let d = this.#devices.get(bdf);
    if (d === undefined) {
      d = dmaDeviceFor(this.#topology, bdf);
      this.#devices.set(bdf, d);
    }
    return d;
  }

  /**
   * A map of an attachment.
   *
   * @param core The dma-buf core (buffer and attachment).
   * @param e The map operation.
   * @param cpu The mapping CPU.
   * @returns What the revision did, or null when the buffer's memory is not known.
   */
  map(
    core: DmaBufCore,
    e: DmaBufOpEvent,
    cpu: number,
  ): { mapping: RevisionMapping; mapType: P2pdmaMapType; ranges: number } | null {
    const buf = core.buffer(e.buf);
    const att = core.attachment(e.attach);
    const src = buf?.barSource ?? null;
    if (buf === undefined || att === undefined || src === null) {
      ++this.stats.unknownBufferMaps;
      return null;
    }
    const provider = this.#p2p.providerOf(src.device, src.barIndex);
    if (provider === null) {
      ++this.stats.unknownBufferMaps;
      return null;
    }
    const ranges: PhysVec[] = src.ranges.map((r) => ({
      paddr: provider.cpuStart + r.offsetBytes,
      len: r.lengthBytes,
    }));
    const exported: ExportedBuffer = { ranges, provider };
    const ctx: MapContext = {
      dev: this.#device(att.device),
      mapType: this.#p2p.mapTypeOf(provider, att.device),
      cpu: cpu < 0 ? 0 : cpu,
      nowNs: Number.isFinite(e.nowNs) ? e.nowNs : 0,
    };
    const m = this.strategy.map(exported, ctx);
    if (ctx.mapType === "THRU_HOST_BRIDGE") {
      this.#p2p.noteHostBridgePath(provider, att.device, e.line);
    }
    ++this.stats.modeledMaps;
    const what =
      `${this.strategy.name}: ${att.device} mapping dma-buf ${e.buf} (${src.device} BAR ${src.barIndex})`;
    const raise = (code: string, why: string) =>
      this.anomalies.push({
        code,
        line: e.line,
        related: [],
        device: att.device,
        message: `${what}: ${why}`,
      });
    for (const a of m.modelAnomalies) {
      if (a === "IOVA_LINK_OVERLAP") {
        raise("IOMMU_IOVA_LINK_OVERLAP", "a range is linked over another at offset 0");
      }
    }
    const out = { mapping: m, mapType: ctx.mapType, ranges: ranges.length };
    if (m.errno !== 0) {
      ++this.stats.failedMaps;
      return out;
    }
    const v = checkRevisionMapping(exported, ctx, m);
    if (v !== null) raise(v.code, v.why);
    const list = this.#live.get(e.attach) ?? [];
    list.push({ m, ctx });
    this.#live.set(e.attach, list);
    if (m.structPageBytes > 0 && !this.#structPages.has(e.buf)) {
      this.#structPages.set(e.buf, m.structPageBytes);
      this.#structPageBytes += m.structPageBytes;
      this.stats.peakStructPageBytes = Math.max(
        this.stats.peakStructPageBytes,
        this.#structPageBytes,
      );
    }
    return out;
  }

  /**
   * The CPU physical ranges a buffer exports, when the trace says.
   *
   * @param core The dma-buf core.
   * @param buf The buffer.
   * @returns The ranges, or null.
   */
  rangesOf(core: DmaBufCore, buf: number): PhysVec[] | null {
    const src = core.buffer(buf)?.barSource ?? null;
    if (src === null) return null;
    const provider = this.#p2p.providerOf(src.device, src.barIndex);
    if (provider === null) return null;
    return src.ranges.map((r) => ({
      paddr: provider.cpuStart + r.offsetBytes,
      len: r.lengthBytes,
    }));
  }

  /**
   * The unmap of an attachment's oldest live mapping.
   *
   * @param e The unmap operation.
   * @param cpu The unmapping CPU.
   * @returns What it cost, or null when the revision holds no mapping for it.
   */
  unmap(e: DmaBufOpEvent, cpu: number): RevisionUnmapping | null {
    const x = this.#live.get(e.attach)?.shift();
    if (x === undefined) return null;
    const ctx = {
      ...x.ctx,
      cpu: cpu < 0 ? 0 : cpu,
      nowNs: Number.isFinite(e.nowNs) ? e.nowNs : x.ctx.nowNs,
    };
    return this.strategy.unmap(x.m, ctx);
  }

  /**
   * A buffer released: its struct pages (v1-2024) go.
   *
   * @param buf The buffer.
   */
  release(buf: number): void {
    const b = this.#structPages.get(buf);
    if (b === undefined) return;
    this.#structPageBytes -= b;
    this.#structPages.delete(buf);
  }
}
