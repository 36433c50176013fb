/**
 * The replay's output tables (DESIGN.md "Outputs"): their columns, units and meaning. Column
 * names are a contract like the anomaly codes: add columns, never rename one.
 *
 * @module
 */

import type { ColumnSpec, TableSchema } from "./table_builder.ts";

const col = (name: string, kind: ColumnSpec["kind"], doc: string): ColumnSpec => ({
  name,
  kind,
  doc,
});

/** `ops`: one row per modeled operation. */
export const OPS_SCHEMA: TableSchema = {
  name: "ops",
  columns: [
    col(
      "ts_s",
      "f64",
      "trace time in s as printed (null for function_graph calls without abstime)",
    ),
    col("cpu", "i32", "CPU (-1 unknown)"),
    col("task", "str", "task comm-pid"),
    col("line", "f64", "1-based trace line of the event (a call's entry line)"),
    col(
      "op",
      "str",
      "operation: the dma:* tracepoint name, dma_buf_* function, iommu_map/iommu_unmap (no DMA-API owner)",
    ),
    col("device", "str", "device (BDF) that maps, or the exporter"),
    col("dmabuf", "str", "dma-buf id, or empty"),
    col("attachment", "i32", "attachment id, or -1"),
    col(
      "path",
      "str",
      "BUS_ADDR, THRU_HOST_BRIDGE, DIRECT (not P2P memory), NOT_SUPPORTED, or empty",
    ),
    col("bytes", "f64", "bytes mapped or unmapped"),
    col("ranges", "i32", "physical ranges (sg input entries)"),
    col("sg_entries", "i32", "DMA segments (sg output entries)"),
    col("dma_addr", "str", "first DMA address, hex"),
    col("iova", "str", "first IOVA mapped or unmapped in the IOMMU, hex, or empty"),
    col(
      "iova_source",
      "str",
      "rcache or rbtree (allocations the model predicted), fq (lazy free), or empty",
    ),
    col("pte_writes", "i32", "leaf PTEs written (map) or cleared (unmap)"),
    col("iotlb_invalidations", "i32", "IOTLB invalidations waited for (strict unmaps)"),
    col("modeled_ns", "f64", "modeled CPU cost, ns (cost profile)"),
    col("observed_ns", "f64", "measured duration, ns (function_graph or kretprobe), or null"),
    col("revision", "str", "patch revision replayed"),
  ],
};

/** `timeline`: the live state sampled on a time grid. */
export const TIMELINE_SCHEMA: TableSchema = {
  name: "timeline",
  columns: [
    col("ts_s", "f64", "grid time in s"),
    col("line", "f64", "line of the first event at or after the grid time"),
    col("iova_pages", "f64", "IOVA pages mapped in the IOMMU"),
    col("live_mappings", "f64", "DMA-API mappings live"),
    col("dmabuf_attachments", "f64", "dma-buf attachments live"),
    col("dmabuf_mappings", "f64", "dma-buf attachment mappings live"),
    col("dmabuf_revoked", "f64", "dma-buf buffers revoked (move_notify seen, not restored)"),
    col("revision", "str", "patch revision replayed"),
  ],
};

/** `attachments`: one row per dma-buf attachment. */
export const ATTACHMENTS_SCHEMA: TableSchema = {
  name: "attachments",
  columns: [
    col("attachment", "i32", "attachment id"),
    col("dmabuf", "str", "dma-buf id"),
    col("exporter", "str", "exporter name"),
    col("device", "str", "importing device"),
    col("importer", "str", "dynamic, pinned, static or pfn"),
    col("peer2peer", "i32", "attach->peer2peer (1/0)"),
    col("attach_line", "f64", "line of the attach"),
    col("detach_line", "f64", "line of the detach, or null"),
    col("maps", "i32", "map_attachment calls"),
    col("unmaps", "i32", "unmap_attachment calls"),
    col("move_notifies", "i32", "move_notify rounds on its buffer while attached"),
    col("path", "str", "path of its last mapping, or empty"),
    col("revision", "str", "patch revision replayed"),
  ],
};

/** `anomalies`: one row per anomaly. */
export const ANOMALIES_SCHEMA: TableSchema = {
  name: "anomalies",
  columns: [
    col("line", "f64", "1-based trace line (0: the end of the trace)"),
    col("code", "str", "stable anomaly code"),
    col("device", "str", "device, when known"),
    col("related", "str", "other lines involved, space-separated"),
    col("message", "str", "one-line explanation"),
    col("revision", "str", "patch revision replayed"),
    col("severity", "str", "anomaly, or warning when lost events may explain it"),
  ],
};
