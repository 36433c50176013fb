/**
 * The ingest stage: ftrace text bytes → lines → typed, columnar events.
 *
 * Input forms (kernel-spec §1): the `trace` file with its `#` header (with or without the
 * irq-info and TGID columns), `trace_pipe`, `trace-cmd report` (plain, `-R`, `-t`, several
 * buffers), `CPU:N [LOST M EVENTS]` markers, function_graph, and gzip of any of these.
 * Events (kernel-spec §2): every `dma:*`, `iommu:*`, `dma_buf:*` and `swiotlb:*` format of
 * kernels 6.1 to 7.3, and kprobe/kretprobe/fprobe lines bound to meanings by a probe map.
 *
 * @example Parse a trace and read a column
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace, u64At } from "./mod.ts";
 * const line = "     kworker/4:1-98      [004] ..s1.   812.310004: unmap: IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 size=77824 unmapped_size=77824\n";
 * for await (const batch of parseTrace(new Blob([line]).stream())) {
 *   const unmaps = batch.tables.get("unmap")!;
 *   assert.equal(u64At(unmaps.cols["iova"] as Uint32Array, 0), 0xfffe0000n);
 *   assert.equal(batch.strings.get(batch.comm[0]!), "kworker/4:1");
 * }
 * ```
 *
 * @module
 */

export {
  DiagnosticLog,
  type DiagnosticLogOptions,
  type DiagnosticLogState,
  type ParseDiagnostic,
} from "./diagnostics.ts";
export {
  ARG_KIND,
  type ArgPool,
  type CallTable,
  type Column,
  EVENT_KIND,
  type EventBatch,
  INT_ABSENT,
  type ProbeTable,
  type SchemaTable,
  type TraceGap,
} from "./event_batch.ts";
export { DEFAULT_PROBE_MAP } from "./default_probe_map.ts";
export {
  type InputInfo,
  parseTrace,
  type ParseTraceOptions,
  type TraceHeader,
  type TraceParse,
} from "./parse_trace.ts";
export { parseTraceOnWorker, type TraceFile } from "./parse_on_worker.ts";
export { fileStream } from "./file_stream.ts";
export {
  type JsonError,
  printedArgName,
  type ProbeBinding,
  type ProbeKind,
  type ProbeMap,
  type ProbeMapResult,
  resolveProbe,
  validateProbeMap,
} from "./probe_map.ts";
export { PROBE_MEANINGS, type ProbeMeaning } from "./probe_meanings.ts";
export {
  type BareDef,
  DMA_ATTR_BITS,
  DMA_DIRECTIONS,
  DMA_MAP_EVENTS,
  EVENT_SCHEMAS,
  type EventSchema,
  type FieldDef,
  type FieldKind,
  SCHEMA_BY_NAME,
} from "./schemas.ts";
export { decodeIrqFlags, type IrqContext, type IrqFlags } from "./irq_flags.ts";
export { STAT_SEVERITY, type StatDef, type StatName, STATS, type StatSeverity } from "./stats.ts";
export { StringTable } from "./string_table.ts";
export { grown, type Typed } from "./_grown.ts";
export { type ParseSummary, summarizeTrace, summaryOf } from "./summarize_trace.ts";
export {
  hex,
  hexAt,
  parseAutoU64,
  parseDecU64,
  parseHexU64,
  pfnAt,
  type U64,
  u64AsNumber,
  u64At,
  u64Exact,
  u64ExactAt,
  u64Sum,
} from "./u64.ts";
export { escapeJsonPointer, JsonReader } from "./json_reader.ts";
