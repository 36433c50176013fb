/**
 * v2-2022 (S000): the exporter exports one BAR slice; attach computes
 * `pci_p2pdma_distance_many` and, when it fails, attaches with peer2peer false; map is one
 * `dma_map_resource(importer, bar_start + offset, size)` whatever the path, and the sg table
 * is that one address range cut into chunks of the importer's max segment size (`orig_nents`
 * 0); unmap is `dma_unmap_resource` of the whole size. Under an IOMMU a switch pair thus gets
 * an IOVA the peer cannot decode, and without one the bus offset is ignored (kernel-spec §9).
 * A buffer of several ranges is mapped as one slice per range (v2 needed one export each).
 *
 * @module
 */

import { DMA_ATTR_MMIO, DMA_MAPPING_ERROR, dmaMapPhys, dmaUnmapPhys } from "../model/dma/mod.ts";
import type { MappingStrategy, RevisionMapping } from "./mapping_strategy.ts";
import { counters, lastAllocSource, NO_MAPPING, unmapping } from "./_measure.ts";

interface V2Handle {
  readonly slices: readonly { dmaAddr: bigint; sizeBytes: bigint }[];
}

/**
 * The 2022 strategy.
 *
 * @example Under an IOMMU a switch pair gets an IOVA of the whole slice, cut in 64 KiB entries
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../model/iommu/mod.ts";
 * import { newDmaDevice } from "../model/dma/mod.ts";
 * import { V2_2022 } from "./mod.ts";
 * const provider = { owner: "0000:03:00.0", barIndex: 0, busOffset: 0n, cpuStart: 0x383000000000n, lenBytes: 1n << 36n };
 * const dev = newDmaDevice("0000:04:00.0", new IommuDmaDomain({ type: "dma" }));
 * const m = V2_2022.map({ ranges: [{ paddr: 0x383000000000n, len: 0x40000n }], provider }, { dev, mapType: "BUS_ADDR", cpu: 0, nowNs: 0 });
 * assert.deepEqual([m.path, m.iovaAllocs, m.sgEntries, m.pteWrites], ["THRU_HOST_BRIDGE", 1, 4, 64]);
 * ```
 */
export const V2_2022: MappingStrategy = {
  name: "v2-2022",
  description: "one BAR slice, dma_map_resource of the whole slice whatever the path",
  attach(mapType, allowPeer2peer) {
    // distance < 0 only clears peer2peer; the attach itself succeeds.
    return { errno: 0, peer2peer: allowPeer2peer && mapType !== "NOT_SUPPORTED" };
  },
  map(buf, ctx): RevisionMapping {
    const before = counters(ctx.dev);
    const seg = BigInt(ctx.dev.maxSegmentSize);
    const slices: { dmaAddr: bigint; sizeBytes: bigint }[] = [];
    const entries: { dmaAddr: bigint; lengthBytes: bigint }[] = [];
    let iova = -1n;
    let iovaSource: RevisionMapping["iovaSource"] = "";
    let translated = false;
    for (const r of buf.ranges) {
      const m = dmaMapPhys(ctx.dev, r.paddr, r.len, DMA_ATTR_MMIO, ctx.cpu, ctx.nowNs);
      if (m.dmaAddr === DMA_MAPPING_ERROR) {
        for (const s of slices) dmaUnmapPhys(ctx.dev, s.dmaAddr, s.sizeBytes, ctx.cpu, ctx.nowNs);
        return { ...NO_MAPPING, errno: "ENOMEM", path: "" };
      }
      if (m.backend === "IOMMU") {
        translated = true;
        if (iova < 0n) {
          iova = m.dmaAddr;
          iovaSource = lastAllocSource(ctx.dev);
        }
      }
      slices.push({ dmaAddr: m.dmaAddr, sizeBytes: r.len });
      for (let off = 0n; off < r.len; off += seg) {
        entries.push({
          dmaAddr: m.dmaAddr + off,
          lengthBytes: r.len - off < seg ? r.len - off : seg,
        });
      }
    }
    const handle: V2Handle = { slices };
    return {
      errno: 0,
      entries,
      path: translated ? "THRU_HOST_BRIDGE" : "DIRECT",
      iova,
      iovaAllocs: translated ? slices.length : 0,
      iovaSource,
      pteWrites: counters(ctx.dev).pteWrites - before.pteWrites,
      sgEntries: entries.length,
      structPageBytes: 0,
      modelAnomalies: [],
      handle,
    };
  },
  unmap(m, ctx) {
    const before = counters(ctx.dev);
    let bytes = 0n;
    for (const s of (m.handle as V2Handle).slices) {
      dmaUnmapPhys(ctx.dev, s.dmaAddr, s.sizeBytes, ctx.cpu, ctx.nowNs);
      bytes += s.sizeBytes;
    }
    return unmapping(ctx.dev, before, m.iovaAllocs > 0 ? bytes / BigInt(m.iovaAllocs) : 0n);
  },
};
