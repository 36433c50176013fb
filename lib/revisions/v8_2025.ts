/**
 * v8-2025, the merged code (S001 v8, K-VFIO, K-DBMAP): the exporter keeps a provider per BAR
 * and `phys_vec` ranges; attach requires peer2peer; map is `dma_buf_phys_vec_to_sgt`
 * (kernel-spec §7.2): bus addresses for BUS_ADDR (no IOMMU work), one IOVA reservation linked
 * range by range through the host bridge, dma-direct without an IOMMU; unmap is
 * `dma_buf_free_sgt`. The default revision.
 *
 * @module
 */

import {
  dmaBufFreeSgt,
  dmaBufPhysVecToSgt,
  type DmaBufSgt,
  useDmaIommu,
} from "../model/dma/mod.ts";
import type { MappingStrategy, RevisionMapping } from "./mapping_strategy.ts";
import { counters, lastAllocSource, NO_MAPPING, unmapping } from "./_measure.ts";

/**
 * The merged strategy.
 *
 * @example A switch pair gets bus addresses and costs the IOMMU nothing
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../model/iommu/mod.ts";
 * import { newDmaDevice } from "../model/dma/mod.ts";
 * import { V8_2025 } from "./mod.ts";
 * const provider = { owner: "0000:03:00.0", barIndex: 0, busOffset: 0n, cpuStart: 0x383000000000n, lenBytes: 1n << 36n };
 * const dev = newDmaDevice("0000:04:00.0", new IommuDmaDomain({ type: "dma" }));
 * const m = V8_2025.map({ ranges: [{ paddr: 0x383000000000n, len: 0x200000n }], provider }, { dev, mapType: "BUS_ADDR", cpu: 0, nowNs: 0 });
 * assert.deepEqual([m.path, m.entries[0]!.dmaAddr, m.pteWrites, m.iovaAllocs], ["BUS_ADDR", 0x383000000000n, 0, 0]);
 * ```
 */
export const V8_2025: MappingStrategy = {
  name: "v8-2025",
  description: "provider per BAR, phys_vec ranges, dma_buf_phys_vec_to_sgt (merged)",
  attach(mapType, allowPeer2peer) {
    if (!allowPeer2peer) return { errno: "EOPNOTSUPP", peer2peer: false };
    return { errno: 0, peer2peer: mapType !== "NOT_SUPPORTED" };
  },
  map(buf, ctx): RevisionMapping {
    const before = counters(ctx.dev);
    const sgt = dmaBufPhysVecToSgt(ctx.dev, ctx.mapType, buf.provider.busOffset, buf.ranges, {
      cpu: ctx.cpu,
      nowNs: ctx.nowNs,
    });
    if (sgt.errno !== 0) {
      return { ...NO_MAPPING, errno: sgt.errno, path: "", modelAnomalies: sgt.anomalies };
    }
    const iovaPath = sgt.path === "IOVA";
    return {
      errno: 0,
      entries: sgt.entries,
      path: sgt.path === "BUS_ADDR"
        ? "BUS_ADDR"
        : iovaPath || (ctx.mapType === "THRU_HOST_BRIDGE" && !useDmaIommu(ctx.dev))
        ? (iovaPath ? "THRU_HOST_BRIDGE" : "DIRECT")
        : "DIRECT",
      iova: iovaPath && sgt.state !== null ? sgt.state.addr : -1n,
      iovaAllocs: iovaPath ? 1 : 0,
      iovaSource: iovaPath ? lastAllocSource(ctx.dev) : "",
      pteWrites: counters(ctx.dev).pteWrites - before.pteWrites,
      sgEntries: sgt.entries.length,
      structPageBytes: 0,
      modelAnomalies: sgt.anomalies,
      handle: sgt,
    };
  },
  unmap(m, ctx) {
    const before = counters(ctx.dev);
    const sgt = m.handle as DmaBufSgt;
    dmaBufFreeSgt(ctx.dev, sgt, { cpu: ctx.cpu, nowNs: ctx.nowNs });
    // dma_iova_destroy waits for its invalidation even in a DMA-FQ domain (§6.5).
    return unmapping(ctx.dev, before, m.iovaAllocs > 0 ? sgt.sizeBytes : 0n, false);
  },
};
