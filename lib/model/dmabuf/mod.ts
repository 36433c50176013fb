/**
 * The dma-buf model (kernel-spec §8): the dma-buf core's buffers and attachments as state
 * machines with the invariants of §8.5 as anomalies, and the vfio-pci exporter: its uAPI
 * validation, its ops on top of `dma_buf_phys_vec_to_sgt`, and its revoke triggers.
 *
 * @example A dynamic importer keeps its mapping across a reset: the mapping outlives the revoke
 * ```ts
 * import assert from "node:assert/strict";
 * import { DmaBufCore } from "./mod.ts";
 * const exporter = { name: "vfio", p2pMemory: true, revocable: true, attach: () => 0 as const, map: () => 0 as const, unmap: () => {} };
 * const core = new DmaBufCore({ revokeGraceMs: 10 });
 * const buf = core.exportBuf(exporter, 0x1000n, 1);
 * const att = core.attach(buf, "mlx5_0", "dynamic", true, 2).attach;
 * core.map(att, 3, 0);
 * core.revoke(buf, 4, 1_000_000);
 * core.end(50_000_000);
 * assert.deepEqual(core.anomalies.map((a) => [a.code, a.related]), [["DMABUF_MAPPING_OUTLIVES_REVOKE", [3, 4]]]);
 * ```
 *
 * @module
 */

export { DmaBufCore, type DmaBufCoreOptions, type DmaBufOpResult } from "./dma_buf.ts";
export type {
  DmaBufAnomaly,
  DmaBufAnomalyCode,
  DmaBufAttachmentInfo,
  DmaBufBarSource,
  DmaBufExporter,
  DmaBufInfo,
  DmaBufOpEvent,
  DmaBufOpName,
  DmaBufPfn,
  DmaBufState,
  ImporterKind,
  MoveNotifyHandler,
} from "./dma_buf_types.ts";
export {
  VFIO_DEVICE_FEATURE_DMA_BUF,
  VFIO_PCI_ROM_REGION_INDEX,
  type VfioDmaBufDevice,
  type VfioDmaBufRequest,
  type VfioDmaBufResult,
  vfioDmaBufV2Slice,
  vfioPciCoreFeatureDmaBuf,
} from "./vfio_pci_dmabuf.ts";
export {
  pfnMaxOrder,
  type VfioExporterContext,
  VfioPciDevice,
  VfioPciDmaBufExporter,
  type VfioRevokeTrigger,
} from "./vfio_pci_exporter.ts";
export {
  DmaBufTracker,
  type DmaBufTrackerOptions,
  type DmaBufTrackerStats,
} from "./dma_buf_tracker.ts";
export { defaultExporter, type ExporterFactory, VfioTrace } from "./vfio_pci_tracker.ts";
export { DynamicImporter, type ImporterUse, PfnImporter, PinnedImporter } from "./importers.ts";
