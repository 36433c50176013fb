/**
 * Every anomaly code the replay raises, with its one-line meaning (DESIGN.md "Anomalies").
 * Codes are a contract: reports, tests and users' scripts key on them; add codes, never
 * rename one.
 *
 * @module
 */

/** Code → meaning. */
export const ANOMALY_CODES: Readonly<Record<string, string>> = {
  // dma-debug's checks (kernel/dma/debug.c) that a trace can show.
  DMA_UNMAP_NOT_MAPPED: "unmap/free of a DMA address that is not mapped to that device",
  DMA_UNMAP_SIZE_MISMATCH: "unmap with a size other than the map's",
  DMA_UNMAP_DIR_MISMATCH: "unmap with a direction other than the map's",
  DMA_UNMAP_TYPE_MISMATCH: "unmapped with another function family (single/phys, sg, coherent)",
  DMA_UNMAP_SG_NENTS_MISMATCH: "sg unmap with another entry count",
  DMA_FREE_CPU_ADDR_MISMATCH: "coherent free with another CPU address",
  DMA_SYNC_NOT_MAPPED: "sync of unmapped memory",
  DMA_SYNC_OUT_OF_RANGE: "sync outside the mapping",
  DMA_SYNC_DIR_MISMATCH: "sync with another direction than the mapping's",
  DMA_SYNC_TO_DEVICE_FOR_CPU: "sync of device-read-only memory for the CPU",
  DMA_SYNC_FROM_DEVICE_FOR_DEVICE: "sync of device-write-only memory for the device",
  DMA_SG_SEGMENT_TOO_LONG: "sg segment longer than the device's max segment size (topology)",
  DMA_SG_SEGMENT_CROSSES_BOUNDARY: "sg segment across the device's segment boundary (topology)",
  DMA_LEAK_AT_END: "DMA mappings still live when the trace ends",
  // What dma-debug cannot see.
  IOMMU_MAP_WITHOUT_DMA_OWNER: "iommu map/unmap that no DMA API or importer operation explains",
  IOMMU_FAULT_AFTER_UNMAP: "io_page_fault on an IOVA that was unmapped earlier",
  IOMMU_IOVA_MISMATCH:
    "the kernel printed an IOVA the modeled allocator, after warm-up and trace-loss repair, would not have given",
  IOMMU_IOVA_LEAK_AT_END: "IOVA still allocated when the trace ends",
  IOMMU_IOVA_LINK_OVERLAP: "two links of one IOVA state overlap (kernel-spec §7.2)",
  P2P_DMA_ADDR_MISMATCH: "a P2P DMA address other than the model's (bus offset, wrong path)",
  P2P_HOST_BRIDGE_WHEN_BUS_PATH: "mapped through the host bridge where a bus-address path exists",
  P2P_NOT_SUPPORTED_PATH: "P2P mapping on a path the kernel refuses",
  P2P_WRONG_PATH:
    "an IOVA given for a bus-address pair (v2-2022 style), or a bus address for a host-bridge pair",
  P2P_RANGE_OUT_OF_BAR: "a physical address outside every exported range of the buffer",
  DMABUF_MAPPING_OUTLIVES_REVOKE: "an importer still holds a mapping after move_notify/revoke",
  DMABUF_MAP_WHILE_REVOKED: "a map that succeeded while the exporter was revoked",
  DMABUF_ATTACH_WITHOUT_P2P: "attachment without peer2peer on P2P (MMIO) memory",
  DMABUF_PINNED_ON_REVOCABLE: "a pinned importer (no move_notify) on a revocable exporter",
  DMABUF_UNMAP_NOT_MAPPED: "attachment unmap that matches no map",
  DMABUF_DOUBLE_UNMAP: "attachment unmap a second time",
  DMABUF_DETACH_WITH_MAPPINGS: "detach with mappings still live",
  DMABUF_RELEASE_WITH_ATTACHMENTS: "release with attachments still live",
  DMABUF_OP_AFTER_RELEASE: "any operation on a released buffer",
};
