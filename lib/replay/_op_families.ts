// Which dma:* tracepoints and which kernel functions are one DMA-API operation: a map event
// and the function_graph call or kretprobe of the function that printed it share a family.

/** The DMA-API operation families. */
export type Family =
  | "map_single"
  | "unmap_single"
  | "map_sg"
  | "unmap_sg"
  | "alloc"
  | "free"
  | "sync";

export const FAMILY_OF_EVENT: ReadonlyMap<string, Family> = new Map<string, Family>([
  ["dma_map_page", "map_single"],
  ["dma_map_phys", "map_single"],
  ["dma_map_resource", "map_single"],
  ["dma_unmap_page", "unmap_single"],
  ["dma_unmap_phys", "unmap_single"],
  ["dma_unmap_resource", "unmap_single"],
  ["dma_map_sg", "map_sg"],
  ["dma_map_sg_err", "map_sg"],
  ["dma_unmap_sg", "unmap_sg"],
  ["dma_alloc", "alloc"],
  ["dma_alloc_pages", "alloc"],
  ["dma_alloc_sgt", "alloc"],
  ["dma_alloc_sgt_err", "alloc"],
  ["dma_free", "free"],
  ["dma_free_pages", "free"],
  ["dma_free_sgt", "free"],
  ["dma_sync_single_for_cpu", "sync"],
  ["dma_sync_single_for_device", "sync"],
  ["dma_sync_sg_for_cpu", "sync"],
  ["dma_sync_sg_for_device", "sync"],
]);

/** The kernel functions (kernel/dma/mapping.c, drivers/iommu/dma-iommu.c) of each family. */
export const FAMILY_OF_FUNC: ReadonlyMap<string, Family> = new Map<string, Family>([
  ["dma_map_page_attrs", "map_single"],
  ["dma_map_phys", "map_single"],
  ["dma_map_resource", "map_single"],
  ["iommu_dma_map_page", "map_single"],
  ["iommu_dma_map_phys", "map_single"],
  ["iommu_dma_map_resource", "map_single"],
  ["dma_unmap_page_attrs", "unmap_single"],
  ["dma_unmap_phys", "unmap_single"],
  ["dma_unmap_resource", "unmap_single"],
  ["iommu_dma_unmap_page", "unmap_single"],
  ["iommu_dma_unmap_phys", "unmap_single"],
  ["iommu_dma_unmap_resource", "unmap_single"],
  ["dma_map_sg_attrs", "map_sg"],
  ["__dma_map_sg_attrs", "map_sg"],
  ["dma_map_sgtable", "map_sg"],
  ["iommu_dma_map_sg", "map_sg"],
  ["dma_unmap_sg_attrs", "unmap_sg"],
  ["iommu_dma_unmap_sg", "unmap_sg"],
  ["dma_alloc_attrs", "alloc"],
  ["iommu_dma_alloc", "alloc"],
  ["dma_free_attrs", "free"],
  ["iommu_dma_free", "free"],
]);

/** The row name of a call no tracepoint claimed: its family's 6.12 tracepoint. */
export function familyOp(f: Family): string {
  switch (f) {
    case "map_single":
      return "dma_map_page";
    case "unmap_single":
      return "dma_unmap_page";
    case "map_sg":
      return "dma_map_sg";
    case "unmap_sg":
      return "dma_unmap_sg";
    case "alloc":
      return "dma_alloc";
    case "free":
      return "dma_free";
    case "sync":
      return "dma_sync_single_for_device";
  }
}

// The ops recorder's handler of a tracepoint (a table built once per event id).
export const H_NONE = 0;
export const H_MAP = 1;
export const H_UNMAP = 2;
export const H_DMA = 3;
export const H_ATTACH_DOMAIN = 4;

export function handlerOf(name: string): number {
  if (name === "map") return H_MAP;
  if (name === "unmap") return H_UNMAP;
  if (FAMILY_OF_EVENT.has(name)) return H_DMA;
  return name === "attach_device_to_domain" ? H_ATTACH_DOMAIN : H_NONE;
}
