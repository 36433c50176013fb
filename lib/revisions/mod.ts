/**
 * Patch revisions as mapping strategies (kernel-spec §9), all behind {@linkcode MappingStrategy}:
 * `v2-2022` (one slice, `dma_map_resource` whatever the path), `v1-2024` (struct pages,
 * P2P-aware `dma_map_sgtable`), `v8-2025` (the merged provider + `phys_vec` helper, default)
 * and `rfc-2025-pfn` (PFNs for importers with their own page tables), with
 * {@linkcode checkRevisionMapping} for the anomalies a revision's addresses cause.
 *
 * @example One switch pair under an IOMMU: v8 gives the bus address, v2 an IOVA that is wrong
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../model/iommu/mod.ts";
 * import { newDmaDevice } from "../model/dma/mod.ts";
 * import { checkRevisionMapping, revisionByName } from "./mod.ts";
 * const provider = { owner: "0000:03:00.0", barIndex: 0, busOffset: 0n, cpuStart: 0x383000000000n, lenBytes: 1n << 36n };
 * const buf = { ranges: [{ paddr: 0x383000000000n, len: 0x10000n }], provider };
 * for (const [name, code] of [["v8-2025", null], ["v2-2022", "P2P_WRONG_PATH"]] as const) {
 *   const ctx = { dev: newDmaDevice("0000:04:00.0", new IommuDmaDomain({ type: "dma" })), mapType: "BUS_ADDR" as const, cpu: 0, nowNs: 0 };
 *   const m = revisionByName(name)!.map(buf, ctx);
 *   assert.equal(checkRevisionMapping(buf, ctx, m)?.code ?? null, code);
 * }
 * ```
 *
 * @module
 */

export {
  type ExportedBuffer,
  type MapContext,
  type MappingStrategy,
  REVISION_NAMES,
  type RevisionMapping,
  type RevisionName,
  type RevisionUnmapping,
} from "./mapping_strategy.ts";
export { V2_2022 } from "./v2_2022.ts";
export { V1_2024 } from "./v1_2024.ts";
export { V8_2025 } from "./v8_2025.ts";
export { RFC_2025_PFN } from "./rfc_2025_pfn.ts";
export { checkRevisionMapping, revisionByName } from "./revision_by_name.ts";
