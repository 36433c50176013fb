/**
 * rfc-2025-pfn (S004): as v8-2025, plus a `get_pfn(attach, pgoff) → (pfn, max_order)` op. An
 * importer that maps memory into its own page tables (KVM, iommufd) takes PFNs under the
 * reservation lock and builds no sg table: the DMA API does nothing at map time, and the
 * exporter's only duty at revoke is move_notify. What the importer gets is the CPU ranges.
 *
 * @module
 */

import type { MappingStrategy, RevisionMapping } from "./mapping_strategy.ts";
import { NO_MAPPING } from "./_measure.ts";
import { pfnMaxOrder } from "../model/dmabuf/mod.ts";

/**
 * The PFN strategy: one `get_pfn` per largest naturally aligned run.
 *
 * @example 4 MiB at a 2 MiB (not 4 MiB) boundary: two order-9 PFN runs, no DMA API work
 * ```ts
 * import assert from "node:assert/strict";
 * import { newDmaDevice } from "../model/dma/mod.ts";
 * import { RFC_2025_PFN } from "./mod.ts";
 * const provider = { owner: "0000:03:00.0", barIndex: 0, busOffset: 0n, cpuStart: 0x383000000000n, lenBytes: 1n << 36n };
 * const m = RFC_2025_PFN.map({ ranges: [{ paddr: 0x383000200000n, len: 0x400000n }], provider }, { dev: newDmaDevice("kvm", null), mapType: "BUS_ADDR", cpu: 0, nowNs: 0 });
 * assert.deepEqual([m.path, m.entries.length, m.pteWrites, m.sgEntries], ["PFN", 2, 0, 0]);
 * ```
 */
export const RFC_2025_PFN: MappingStrategy = {
  name: "rfc-2025-pfn",
  description: "v8 plus get_pfn: PFN importers build their own page tables, no sg table",
  attach(mapType, allowPeer2peer) {
    // An importer may attach without a device; peer2peer as v8 for DMA-API importers.
    return { errno: 0, peer2peer: allowPeer2peer && mapType !== "NOT_SUPPORTED" };
  },
  map(buf): RevisionMapping {
    const entries: { dmaAddr: bigint; lengthBytes: bigint }[] = [];
    for (const r of buf.ranges) {
      let off = 0n;
      while (off < r.len) {
        // The largest order the pfn is aligned to that stays inside the range (max_order).
        const pfn = (r.paddr + off) >> 12n;
        const len = 4096n << BigInt(pfnMaxOrder(pfn, (r.len - off) >> 12n));
        entries.push({ dmaAddr: r.paddr + off, lengthBytes: len });
        off += len;
      }
    }
    return { ...NO_MAPPING, errno: 0, entries, path: "PFN" };
  },
  unmap() {
    return { pteWrites: 0, iotlbInvalidations: 0, iovaSource: "" };
  },
};
