/**
 * Looking a revision up by name, and checking what its map gave the importer against the
 * pair's path (the anomalies a revision causes: v2-2022's IOVA for a switch pair, its
 * physical address where a bus offset applies).
 *
 * @module
 */

import { type P2pDmaAddrVerdict, p2pDmaAddrVerdict, useDmaIommu } from "../model/dma/mod.ts";
import type {
  ExportedBuffer,
  MapContext,
  MappingStrategy,
  RevisionMapping,
  RevisionName,
} from "./mapping_strategy.ts";
import { V2_2022 } from "./v2_2022.ts";
import { V1_2024 } from "./v1_2024.ts";
import { V8_2025 } from "./v8_2025.ts";
import { RFC_2025_PFN } from "./rfc_2025_pfn.ts";

const BY_NAME: Readonly<Record<RevisionName, MappingStrategy>> = {
  "v2-2022": V2_2022,
  "v1-2024": V1_2024,
  "v8-2025": V8_2025,
  "rfc-2025-pfn": RFC_2025_PFN,
};

/**
 * A revision's strategy.
 *
 * @param name `v2-2022`, `v1-2024`, `v8-2025` or `rfc-2025-pfn`.
 * @returns The strategy, or undefined for another name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { revisionByName } from "./mod.ts";
 * assert.equal(revisionByName("v8-2025")?.name, "v8-2025");
 * assert.equal(revisionByName("v9"), undefined);
 * ```
 */
export function revisionByName(name: string): MappingStrategy | undefined {
  return Object.hasOwn(BY_NAME, name) ? BY_NAME[name as RevisionName] : undefined;
}

/**
 * Check the importer's DMA addresses of a revision's map against the pair's path: the first
 * entry that is wrong gives the verdict. A failed map of an unsupported pair is right; PFN
 * importers map for themselves and are not checked.
 *
 * @param buf The buffer.
 * @param ctx The importer and the pair's path.
 * @param m What the revision's map gave.
 * @returns The first wrong entry's verdict, or null.
 */
export function checkRevisionMapping(
  buf: ExportedBuffer,
  ctx: MapContext,
  m: RevisionMapping,
): P2pDmaAddrVerdict | null {
  if (m.path === "PFN") return null;
  if (m.errno !== 0) return null;
  const translates = useDmaIommu(ctx.dev);
  // Walk the ranges and the entries together: entry k covers the next lengthBytes of the ranges.
  let ri = 0;
  let roff = 0n;
  for (const e of m.entries) {
    const r = buf.ranges[ri];
    if (r === undefined) break;
    const v = p2pDmaAddrVerdict(
      ctx.mapType,
      translates,
      r.paddr + roff,
      buf.provider.busOffset,
      e.dmaAddr,
    );
    if (v !== null) return v;
    // An IOVA entry may span ranges (one reservation): advance through the ranges it covers.
    let left = e.lengthBytes;
    while (left > 0n && ri < buf.ranges.length) {
      const here = buf.ranges[ri]!.len - roff;
      if (left < here) {
        roff += left;
        left = 0n;
      } else {
        left -= here;
        ++ri;
        roff = 0n;
      }
    }
  }
  return null;
}
