/**
 * The replay stage: drives the models with a trace's events and checks what the kernel's own
 * debugging would (dma-debug), plus what only a model can.
 *
 * @module
 */

export {
  DmaDebug,
  type DmaDebugAnomaly,
  type DmaDebugCode,
  type DmaDebugExtra,
  type DmaDebugLimits,
  type DmaDebugType,
  type DmaDir,
} from "./dma_debug.ts";
export { type IommuFaultAnomaly, IommuFaults } from "./iommu_faults.ts";
export {
  anomaliesChunk,
  anomaliesCsv,
  type ReplayAnomaly,
  type ReplayOptions,
  replayParse,
  type ReplayResult,
  type ReplaySummary,
  replayTrace,
} from "./replay.ts";
export { IovaReplay } from "./iova_replay.ts";
export { type IovaMismatch, IovaMismatches, type IovaReplaySummary } from "./_iova_report.ts";
export { type P2pAnomaly, P2pCheck } from "./p2p_check.ts";
export { feedDmaDebug } from "./dma_debug_events.ts";
export {
  OpsRecorder,
  type OpsRecorderOptions,
  type OpsStats,
  type UnownedIommuWork,
} from "./ops_recorder.ts";
export {
  ANOMALIES_SCHEMA,
  ATTACHMENTS_SCHEMA,
  OPS_SCHEMA,
  TIMELINE_SCHEMA,
} from "./replay_tables.ts";
export {
  chunkArrays,
  type ChunkDictionary,
  chunkRows,
  type ColumnData,
  type ColumnKind,
  type ColumnSpec,
  recycleChunkArrays,
  TableBuilder,
  type TableChunk,
  type TableSchema,
} from "./table_builder.ts";
export { ArrowStreamEncoder, chunkStrings } from "./table_io.ts";
export { chunkToCsv, CsvEncoder, csvHeader } from "./csv_encoder.ts";
export {
  addOpsToCalibrator,
  calibrateTrace,
  type CalibrateTraceOptions,
  type CalibrateTraceResult,
} from "./calibrate_trace.ts";
export {
  type RevisionAnomaly,
  RevisionReplay,
  type RevisionReplayStats,
} from "./revision_replay.ts";
export { type InferredTopology, TopologyInference } from "./topology_inference.ts";
export { ANOMALY_CODES } from "./anomaly_codes.ts";
export { PAIR_DEPENDENT_CODES, TraceGaps } from "./trace_gaps.ts";
export { orderBatch } from "./order_batch.ts";
export { type EncodedChunk, TableEncoder, WorkerTableEncoder } from "./table_encoder.ts";
export { ParquetStreamWriter } from "./parquet_writer.ts";
