/**
 * Analysis (issue [6/8]): the replay's tables as arquero tables, and the tables a kernel
 * engineer asks for: cost by path, device and size class (modeled and observed), observed vs
 * modeled, anomalies by code, and two runs side by side (revisions, what-ifs, captures).
 *
 * @example Replay a trace, then its cost by path
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayTrace, type TableChunk } from "../replay/mod.ts";
 * import { costBy, rowsOf, tablesFromChunks } from "./mod.ts";
 * const l = (ts: string, w: string) => `  dd-1 [000] .....  ${ts}: ${w}`;
 * const text = [
 *   l("1.000001", "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096"),
 *   l("1.000002", "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs="),
 * ].join("\n") + "\n";
 * const chunks: TableChunk[] = [];
 * await replayTrace(new Blob([text]).stream(), { tables: (c) => chunks.push(c) });
 * const byPath = rowsOf(costBy(tablesFromChunks(chunks).ops, "path"));
 * assert.deepEqual(byPath.map((r) => [r.path, r.direction, r.ops]), [["DIRECT", "map", 1]]);
 * ```
 *
 * @module
 */

export { type ReplayTables, rowsOf, tablesFromChunks } from "./replay_tables.ts";
export {
  costBy,
  cumulativeCost,
  observedVsModeled,
  SIZE_CLASSES,
  sizeClass,
} from "./cost_tables.ts";
export { anomaliesByCode, compareRuns, type RunComparison } from "./compare_runs.ts";
export { attachmentLifetimes, dmaBufOps, revokeTimeline } from "./dmabuf_tables.ts";
export {
  type ReplayRun,
  replayRun,
  type ReplayRunOptions,
  REPORT_ANOMALIES,
  sweepTable,
} from "./replay_run.ts";
export {
  DIGEST_DISTINCT_MAX,
  DIGEST_DMABUF_MAX,
  DIGEST_SAMPLE_MAX,
  type DigestGrouping,
  type OpPathSums,
  OpsDigest,
  TimelineSample,
} from "./ops_digest.ts";
