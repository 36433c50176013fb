/**
 * The kernel functions a probe can stand for (kernel-spec §2.4: dma-buf and vfio have no
 * tracepoints on 6.x, so users bind kprobes), with the arguments each one passes at entry
 * (x86-64 `$arg1..` order) and what its return value is.
 *
 * @module
 */

/** One probe-able kernel function. */
export interface ProbeMeaning {
  /** Its arguments at entry, in order. */
  readonly entryArgs: readonly string[];
  /** What `$retval` is; `""` for a void function. */
  readonly returns: string;
  /**
   * Values a probe can fetch at entry besides the arguments (from the structures they point
   * to, with kprobe fetch-args), which the replay uses when present.
   */
  readonly fetchArgs?: readonly string[];
  /** One line for the README and `--help`. */
  readonly description: string;
}

/** Probe-able functions by kernel name. */
export const PROBE_MEANINGS: Readonly<Record<string, ProbeMeaning>> = {
  "dma_buf_export": {
    entryArgs: ["exp_info", "exp_name", "size"],
    returns: "dmabuf",
    description: "buffer created",
  },
  "vfio_pci_core_feature_dma_buf": {
    entryArgs: ["vdev", "flags", "arg", "argsz"],
    returns: "fd",
    // pci_name(vdev->pdev) and the uAPI struct's region_index and first ranges (offset/length,
    // offset1/length1, ...): the buffer's BAR memory, which the revisions need (README).
    fetchArgs: [
      "bdf",
      "region_index",
      "offset",
      "length",
      "offset1",
      "length1",
      "offset2",
      "length2",
      "offset3",
      "length3",
    ],
    description: "VFIO_DEVICE_FEATURE_DMA_BUF uAPI export (fd or -errno)",
  },
  "dma_buf_dynamic_attach": {
    entryArgs: ["dmabuf", "dev", "importer_ops", "importer_priv", "size"],
    returns: "attach",
    description: "attach; dynamic when importer_ops is not NULL",
  },
  "dma_buf_attach": {
    entryArgs: ["dmabuf", "dev", "size"],
    returns: "attach",
    description: "static attach",
  },
  "dma_buf_detach": { entryArgs: ["dmabuf", "attach"], returns: "", description: "detach" },
  "dma_buf_pin": { entryArgs: ["attach"], returns: "ret", description: "pin an attachment" },
  "dma_buf_unpin": { entryArgs: ["attach"], returns: "", description: "unpin an attachment" },
  "dma_buf_map_attachment": {
    entryArgs: ["attach", "dir"],
    returns: "sgt",
    description: "map (sgt or ERR_PTR)",
  },
  "dma_buf_map_attachment_unlocked": {
    entryArgs: ["attach", "dir"],
    returns: "sgt",
    description: "map, taking the reservation lock",
  },
  "dma_buf_unmap_attachment": {
    entryArgs: ["attach", "sgt", "dir"],
    returns: "",
    description: "unmap",
  },
  "dma_buf_unmap_attachment_unlocked": {
    entryArgs: ["attach", "sgt", "dir"],
    returns: "",
    description: "unmap, taking the reservation lock",
  },
  "dma_buf_get_pfn_unlocked": {
    entryArgs: ["attach", "pgoff"],
    returns: "ret",
    description: "a PFN importer (iommufd, KVM) takes a page's PFN (seed 004 RFC; 0 or -errno)",
  },
  "dma_buf_move_notify": {
    entryArgs: ["dmabuf"],
    returns: "",
    description: "invalidate all dynamic attachments",
  },
  "dma_buf_release": { entryArgs: ["dentry"], returns: "", description: "last reference dropped" },
  "vfio_pci_dma_buf_move": {
    entryArgs: ["vdev", "revoked"],
    returns: "",
    description: "revoke (1) / restore (0)",
  },
  "vfio_pci_dma_buf_cleanup": {
    entryArgs: ["vdev"],
    returns: "",
    description: "device close: permanent revoke",
  },
  "vfio_pci_dma_buf_map": {
    entryArgs: ["attach", "dir"],
    returns: "sgt",
    description: "exporter map callback",
  },
  "vfio_pci_dma_buf_unmap": {
    entryArgs: ["attach", "sgt", "dir"],
    returns: "",
    description: "exporter unmap callback",
  },
  "dma_buf_phys_vec_to_sgt": {
    entryArgs: ["attach", "provider", "phys_vec", "nr_ranges", "size", "dir"],
    returns: "sgt",
    description: "phys vectors to an sg table (dma_buf_map in S001 v8)",
  },
  "dma_buf_map": {
    entryArgs: ["attach", "provider", "phys_vec", "nr_ranges", "size", "dir"],
    returns: "sgt",
    description: "S001 v8 name of dma_buf_phys_vec_to_sgt",
  },
  "dma_buf_free_sgt": {
    entryArgs: ["attach", "sgt", "dir"],
    returns: "",
    description: "helper unmap",
  },
  "dma_buf_unmap": {
    entryArgs: ["attach", "sgt", "dir"],
    returns: "",
    description: "S001 v8 name of dma_buf_free_sgt",
  },
  "pci_p2pdma_map_type": {
    entryArgs: ["provider", "dev"],
    returns: "map_type",
    description: "path decision (1 NONE, 2 NOT_SUPPORTED, 3 BUS_ADDR, 4 THRU_HOST_BRIDGE)",
  },
  "pci_p2pdma_distance_many": {
    entryArgs: ["provider", "clients", "num_clients", "verbose"],
    returns: "distance",
    description: "P2P distance (-1 when not possible)",
  },
  "dma_iova_try_alloc": {
    entryArgs: ["dev", "state", "phys", "size"],
    returns: "ok",
    description: "IOVA reserve",
  },
  "dma_iova_link": {
    entryArgs: ["dev", "state", "phys", "offset", "size", "dir", "attrs"],
    returns: "ret",
    description: "link a range into a reserved IOVA",
  },
  "dma_iova_sync": {
    entryArgs: ["dev", "state", "offset", "size"],
    returns: "ret",
    description: "IOTLB sync of a linked range",
  },
  "dma_iova_destroy": {
    entryArgs: ["dev", "state", "mapped_len", "dir", "attrs"],
    returns: "",
    description: "unlink everything and free the IOVA",
  },
  "dma_iova_unlink": {
    entryArgs: ["dev", "state", "offset", "size", "dir", "attrs"],
    returns: "",
    description: "unlink a range",
  },
  "iommu_dma_map_sg": {
    entryArgs: ["dev", "sg", "nents", "dir", "attrs"],
    returns: "ents",
    description: "sg path",
  },
  "iommu_dma_unmap_sg": {
    entryArgs: ["dev", "sg", "nents", "dir", "attrs"],
    returns: "",
    description: "sg unmap",
  },
  "iommu_dma_map_phys": {
    entryArgs: ["dev", "phys", "size", "dir", "attrs"],
    returns: "dma_addr",
    description: "dma-iommu single map",
  },
  "dma_direct_map_phys": {
    entryArgs: ["dev", "phys", "size", "dir", "attrs"],
    returns: "dma_addr",
    description: "dma-direct single map",
  },
  "alloc_iova_fast": {
    entryArgs: ["iovad", "size", "limit_pfn", "flush_rcache"],
    returns: "pfn",
    description: "IOVA allocator (returns the pfn, 0 on failure)",
  },
  "free_iova_fast": {
    entryArgs: ["iovad", "pfn", "size"],
    returns: "",
    description: "IOVA free (pfn, size in pages)",
  },
  "vfio_pci_core_close_device": {
    entryArgs: ["core_vdev"],
    returns: "",
    description: "revoke trigger: close",
  },
  "vfio_pci_ioctl_reset": {
    entryArgs: ["vdev", "arg"],
    returns: "ret",
    description: "revoke trigger: FLR ioctl",
  },
  "pci_try_reset_function": {
    entryArgs: ["dev"],
    returns: "ret",
    description: "revoke trigger: reset",
  },
  "vfio_pci_set_power_state": {
    entryArgs: ["vdev", "state"],
    returns: "ret",
    description: "revoke trigger: D3",
  },
  "vfio_basic_config_write": {
    entryArgs: ["vdev", "pos", "count", "perm", "offset", "val"],
    returns: "ret",
    description: "revoke trigger: config write (memory enable, FLR)",
  },
};
