/**
 * v1-2024 (S002): the exporter registers the p2p areas with `pci_p2pdma_add_resource` and
 * allocates struct pages for them (ZONE_DEVICE, whole 2 MiB sections: 64 B per 4 KiB page), so
 * a BAR area under 2 MiB cannot be exported; map is `dma_map_sgtable` of the page sg list,
 * which dma-iommu maps P2P-aware (kernel-spec §6.4): bus addresses for BUS_ADDR entries, an
 * IOVA for host-bridge ones, `EREMOTEIO` for unsupported pairs; unmap is `dma_unmap_sgtable`.
 *
 * @module
 */

import { dmaMapSg, type DmaSegment, dmaUnmapSg, type SgEntry } from "../model/dma/mod.ts";
import type { MappingStrategy, RevisionMapping } from "./mapping_strategy.ts";
import { counters, lastAllocSource, NO_MAPPING, unmapping } from "./_measure.ts";

const SECTION_BYTES = 2n * 1024n * 1024n;
const STRUCT_PAGE_BYTES = 64n;
/** sg_alloc_table_from_pages caps an entry below 4 GiB (page aligned). */
const MAX_ENTRY_BYTES = 0xffff_f000n;

interface V1Handle {
  readonly segments: readonly DmaSegment[];
  readonly iovaBytes: bigint;
}

/**
 * The 2024 strategy.
 *
 * @example A 1 MiB area cannot get struct pages: the export fails
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../model/iommu/mod.ts";
 * import { newDmaDevice } from "../model/dma/mod.ts";
 * import { V1_2024 } from "./mod.ts";
 * const provider = { owner: "0000:03:00.0", barIndex: 2, busOffset: 0n, cpuStart: 0x382000000000n, lenBytes: 0x100000n };
 * const dev = newDmaDevice("0000:04:00.0", new IommuDmaDomain({ type: "dma" }));
 * assert.equal(V1_2024.map({ ranges: [{ paddr: 0x382000000000n, len: 0x100000n }], provider }, { dev, mapType: "BUS_ADDR", cpu: 0, nowNs: 0 }).errno, "EINVAL");
 * ```
 */
export const V1_2024: MappingStrategy = {
  name: "v1-2024",
  description: "struct pages for the BAR (pci_p2pdma_add_resource), dma_map_sgtable P2P-aware",
  attach(mapType, allowPeer2peer) {
    return { errno: 0, peer2peer: allowPeer2peer && mapType !== "NOT_SUPPORTED" };
  },
  map(buf, ctx): RevisionMapping {
    if (buf.provider.lenBytes < SECTION_BYTES) return { ...NO_MAPPING, errno: "EINVAL", path: "" };
    const pages = (buf.provider.lenBytes + SECTION_BYTES - 1n) / SECTION_BYTES * SECTION_BYTES /
      4096n;
    const entries: SgEntry[] = [];
    for (const r of buf.ranges) {
      for (let off = 0n; off < r.len; off += MAX_ENTRY_BYTES) {
        const len = r.len - off < MAX_ENTRY_BYTES ? r.len - off : MAX_ENTRY_BYTES;
        entries.push({ phys: r.paddr + off, lengthBytes: Number(len) });
      }
    }
    const before = counters(ctx.dev);
    const classify = () => ({ mapType: ctx.mapType, busOffset: buf.provider.busOffset });
    const r = dmaMapSg(ctx.dev, entries, classify, ctx.cpu, ctx.nowNs);
    if (r.errno !== 0) return { ...NO_MAPPING, errno: r.errno, path: "" };
    const handle: V1Handle = { segments: r.segments, iovaBytes: r.iovaBytes };
    const translated = r.iovaBytes > 0n;
    return {
      errno: 0,
      entries: r.segments.map((s) => ({ dmaAddr: s.dmaAddr, lengthBytes: BigInt(s.lengthBytes) })),
      path: r.segments.every((s) => s.bus)
        ? "BUS_ADDR"
        : translated
        ? "THRU_HOST_BRIDGE"
        : "DIRECT",
      iova: translated ? r.iova : -1n,
      iovaAllocs: translated ? 1 : 0,
      iovaSource: translated ? lastAllocSource(ctx.dev) : "",
      pteWrites: counters(ctx.dev).pteWrites - before.pteWrites,
      sgEntries: r.segments.length,
      structPageBytes: Number(pages * STRUCT_PAGE_BYTES),
      modelAnomalies: [],
      handle,
    };
  },
  unmap(m, ctx) {
    const before = counters(ctx.dev);
    const h = m.handle as V1Handle;
    dmaUnmapSg(ctx.dev, h.segments, ctx.cpu, ctx.nowNs);
    return unmapping(ctx.dev, before, h.iovaBytes);
  },
};
