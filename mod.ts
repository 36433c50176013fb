/**
 * dmareplay: replay ftrace captures of PCI peer-to-peer DMA work (dma:*, iommu:*, dma_buf:*
 * tracepoints, kprobes on dma-buf and vfio functions, function_graph durations) through a
 * model of the kernel.
 *
 * Stages: ingest (streaming ftrace text into columnar events); the models of the PCI topology
 * and P2PDMA, the IOMMU, the DMA API and dma-buf; the revisions and the cost model; the
 * replay; the analysis tables.
 *
 * @example Summarize a trace
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeTrace } from "./mod.ts";
 * const text = "              dd-494     [001] .....     8.588117: iova_alloc: (iommu_dma_alloc_iova+0xd4/0x120 <- alloc_iova_fast) ret=1048448\n";
 * const summary = await summarizeTrace(new Blob([text]).stream());
 * assert.deepEqual(summary.events.byName, { iova_alloc: 1 });
 * ```
 *
 * @module
 */

export * from "./lib/ingest/mod.ts";
export * from "./lib/model/topology/mod.ts";
export * from "./lib/model/iommu/mod.ts";
export * from "./lib/model/dma/mod.ts";
export * from "./lib/model/dmabuf/mod.ts";
export * from "./lib/revisions/mod.ts";
export * from "./lib/cost/mod.ts";
export * from "./lib/replay/mod.ts";
export * from "./lib/analysis/mod.ts";
export * from "./lib/charts/mod.ts";
export * from "./lib/report/mod.ts";
