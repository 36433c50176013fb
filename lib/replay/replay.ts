/**
 * One pass over a trace that runs every check the replay has so far: dma-debug's
 * ({@linkcode DmaDebug}), faults after unmap ({@linkcode IommuFaults}), the IOVA allocator
 * against the kernel's IOVAs ({@linkcode IovaReplay}) and the dma-buf lifecycle
 * ({@linkcode DmaBufTracker}), and with a topology the P2P paths ({@linkcode P2pCheck}), and
 * returns DESIGN.md's `summary.json` with the
 * anomalies in trace order. Streaming: memory follows the live state (mappings, buffers), not
 * the trace's length.
 *
 * @module
 */

import {
  type ParseSummary,
  parseTrace,
  parseTraceOnWorker,
  type ParseTraceOptions,
  type ProbeMap,
  summaryOf,
  type TraceParse,
} from "../ingest/mod.ts";
import type { Topology } from "../model/topology/mod.ts";
import { DmaBufCore, DmaBufTracker, type DmaBufTrackerStats } from "../model/dmabuf/mod.ts";
import { DmaDebug } from "./dma_debug.ts";
import { feedDmaDebug } from "./dma_debug_events.ts";
import { IommuFaults } from "./iommu_faults.ts";
import { IovaReplay } from "./iova_replay.ts";
import type { IovaReplaySummary } from "./_iova_report.ts";
import { P2pCheck } from "./p2p_check.ts";
import { TraceGaps } from "./trace_gaps.ts";
import { orderBatch } from "./order_batch.ts";
import { type InferredTopology, TopologyInference } from "./topology_inference.ts";
import { revisionByName, type RevisionName } from "../revisions/mod.ts";
import { RevisionReplay, type RevisionReplayStats } from "./revision_replay.ts";
import { type CostProfile, DEFAULT_COST_PROFILE } from "../cost/mod.ts";
import { OpsRecorder, type OpsStats } from "./ops_recorder.ts";
import { ANOMALIES_SCHEMA } from "./replay_tables.ts";
import type { TableChunk } from "./table_builder.ts";
import { chunkToCsv, csvHeader } from "./csv_encoder.ts";
import { dmaBufSource, Findings, listSource, mismatchSource } from "./_findings.ts";

/** One anomaly of any check. */
export interface ReplayAnomaly {
  /** Stable code (DESIGN.md "Anomalies"). */
  readonly code: string;
  /** 1-based trace line that shows it (0: the end of the trace). */
  readonly line: number;
  /** Other lines involved. */
  readonly related: readonly number[];
  /** Device, when one is known. */
  readonly device: string;
  /** One line of explanation. */
  readonly message: string;
}

/** `summary.json` (DESIGN.md's contract; `parse --json` keys plus the replay's). */
export interface ReplaySummary extends ParseSummary {
  /** Anomalies by code, and the first ones; those lost events may explain, downgraded apart. */
  readonly anomalies: {
    readonly total: number;
    readonly byCode: Record<string, number>;
    readonly first: readonly { line: number; code: string; message: string }[];
    readonly downgraded: { readonly total: number; readonly byCode: Record<string, number> };
  };
  /** Rows merged back into timestamp order across CPUs (trace_pipe input). */
  readonly ordering: { readonly rowsReordered: number };
  /** Lost-event markers (`CPU:N [LOST M EVENTS]`, `buffer started`) by CPU. */
  readonly gaps: { readonly markers: number; readonly byCpu: Record<number, number> };
  /** Modeled operations (the `ops` table): rows, by path, cost totals. */
  readonly ops: OpsStats & { readonly costProfile: string };
  /**
   * The data path of the P2P mappings, modeled from the cost profile: the latency factor of
   * each path against switch-local P2P, and the IOTLB miss a translated access may pay.
   */
  readonly dataPath: {
    readonly p2pMappings: Record<string, number>;
    readonly latencyFactor: Record<string, number>;
    readonly iotlbMissNs: number;
    readonly sources: Record<string, string>;
  };
  /** The patch revision replayed. */
  readonly revision: string;
  /** The revision's replay of the dma-buf maps (buffers whose BAR memory the trace names). */
  readonly revisionReplay: RevisionReplayStats;
  /** Durations measured in the trace (function_graph, kretprobe pairs). */
  readonly durationsMeasured: boolean;
  /** What the DMA-API check saw. */
  readonly dma: { readonly preTraceUnmaps: number; readonly liveAtEnd: number };
  /** What the dma-buf tracker saw. */
  readonly dmaBuf: DmaBufTrackerStats;
  /** IOVA use and the allocator model against the kernel's IOVAs (from the dma and iommu events alone). */
  readonly iova: IovaReplaySummary;
  /** Single mappings of BAR memory, by the pair's path (topology given). */
  readonly p2p: { readonly byPath: Record<string, number> };
  /** Faults seen. */
  readonly iommuFaults: { faults: number };
  /**
   * Whether a topology was given (else DMA limits are unknown and their checks skipped), and
   * without one what the trace says of the machine.
   */
  readonly topology: { readonly given: boolean; readonly inferred?: InferredTopology };
  /** The what-if applied to the topology, or null. */
  readonly whatIf: { readonly name: string; readonly applied: readonly string[] } | null;
}

/** Rows of an `anomalies` table chunk at most (`ReplayOptions.tableChunkRows` may lower it). */
const ANOMALY_CHUNK_ROWS = 2048;

/** Options of {@linkcode replayTrace}. */
export interface ReplayOptions {
  /** The machine (DMA limits for the sg checks); optional. */
  topology?: Topology;
  /** The probe map. */
  probeMap?: ProbeMap;
  /** Progress callback (bytes, lines). */
  onProgress?: (bytes: number, lines: number) => void;
  /**
   * Parse on a worker thread ({@linkcode parseTraceOnWorker}) while this one replays: the same
   * results, sooner on a machine with a second core, for a worker's memory (some 20 MB).
   * @default {false}
   */
  parseOnWorker?: boolean;
  /** dma-buf revoke grace. @default {10} */
  revokeGraceMs?: number;
  /**
   * Takes the chunks of the `ops`, `timeline`, `attachments` and `anomalies` tables (in that
   * order of completion; anomalies last).
   * @default {none: only the summary and the anomaly list}
   */
  tables?: (chunk: TableChunk) => void;
  /** Rows of each table chunk handed to `tables` (anomalies: 2048 at most). @default {16384} */
  tableChunkRows?: number;
  /**
   * Backpressure from the table sink: awaited after each batch, so a sink that encodes
   * elsewhere (a worker) holds the replay back instead of queueing chunks without bound.
   * @default {none}
   */
  tablesReady?: () => Promise<void> | void;
  /**
   * The cost profile for `modeled_ns`.
   * @default {DEFAULT_COST_PROFILE}
   */
  cost?: CostProfile;
  /**
   * The what-if the topology was changed by (`applyWhatIf`), for the summary.
   * @default {null}
   */
  whatIf?: { name: string; applied: readonly string[] } | null;
  /**
   * The patch revision whose mapping strategy models the dma-buf maps (kernel-spec §9).
   * @default {"v8-2025"}
   */
  revision?: RevisionName;
  /**
   * The timeline's grid step, ns.
   * @default {1_000_000}
   */
  timelineStepNs?: number;
  /**
   * How many anomalies (and as many warnings) the result keeps; the summary counts, and the
   * `anomalies` table holds, every one. A bound keeps the memory of a trace with many
   * anomalies flat.
   * @default {Infinity}
   */
  keepAnomalies?: number;
}

/** What {@linkcode replayTrace} returns. */
export interface ReplayResult {
  /** `summary.json`. */
  readonly summary: ReplaySummary;
  /** The anomalies, in trace order (end-of-trace ones last): all, or the first `keepAnomalies`. */
  readonly anomalies: readonly ReplayAnomaly[];
  /** Anomalies lost events may explain (kernel-spec §1.3), downgraded to warnings (as many). */
  readonly warnings: readonly ReplayAnomaly[];
}

/**
 * Replay a trace through the checks.
 *
 * @param stream The trace bytes (gzip or text).
 * @param options Topology, probe map, progress.
 * @returns The summary and the anomalies.
 *
 * @example A double unmap and an io_page_fault after unmap
 * ```ts
 * import assert from "node:assert/strict";
 * import { replayTrace } from "./mod.ts";
 * const l = (ts: string, w: string) => `  dd-1 [000] .....  ${ts}: ${w}`;
 * const text = [
 *   l("1.000001", "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096"),
 *   l("1.000002", "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs="),
 *   l("1.000003", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
 *   l("1.000004", "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096"),
 *   l("1.000005", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
 *   l("1.000006", "io_page_fault: IOMMU:nvme 0000:00:02.0 iova=0x00000000fffff000 flags=0x0020"),
 * ].join("\n") + "\n";
 * const r = await replayTrace(new Blob([text]).stream());
 * assert.deepEqual(r.anomalies.map((a) => [a.code, a.line]), [
 *   ["DMA_UNMAP_NOT_MAPPED", 5],
 *   ["IOMMU_FAULT_AFTER_UNMAP", 6],
 * ]);
 * assert.equal(r.summary.anomalies.total, 2);
 * ```
 */
export function replayTrace(
  stream: ReadableStream<Uint8Array>,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const parseOptions: ParseTraceOptions = {};
  if (options.probeMap) parseOptions.probeMap = options.probeMap;
  if (options.onProgress) parseOptions.onProgress = options.onProgress;
  const parse = options.parseOnWorker
    ? parseTraceOnWorker(stream, parseOptions)
    : parseTrace(stream, parseOptions);
  return replayParse(parse, options);
}

/**
 * Replay a trace parse already made: {@linkcode replayTrace} after its `parseTrace`. For a
 * parse of another origin (batches parsed once and replayed under several options, as
 * `bench/ab_after_parse.ts` does, or a parse on another thread); iterated once.
 *
 * @param parse The parse (made with `options.probeMap`, whose meanings its probe rows index).
 * @param options As for `replayTrace` (`onProgress` is the parse's own, not used here).
 * @returns The summary and the anomalies.
 *
 * @example The parse made first
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace } from "../ingest/mod.ts";
 * import { replayParse } from "./mod.ts";
 * const text = "  dd-1 [000] .....  1.000002: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=2d15000 size=4096 phys_addr=2d15000 attrs=\n";
 * const r = await replayParse(parseTrace(new Blob([text]).stream()));
 * assert.deepEqual(r.anomalies.map((a) => a.code), ["DMA_LEAK_AT_END"]);
 * ```
 */
export async function replayParse(
  parse: TraceParse,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const topo = options.topology;
  // The devices' DMA limits, looked up once (the sg checks ask on every dma_map_sg).
  const limits = new Map(
    (topo?.devices ?? []).map((d) => [
      d.bdf,
      {
        // A default max segment size is a guess (drivers raise it): checked only when stated.
        maxSegmentSize: d.dma.maxSegmentSizeStated ? d.dma.maxSegmentSize : Number.MAX_SAFE_INTEGER,
        segmentBoundary: d.dma.segmentBoundary,
      },
    ]),
  );
  const dmaDebug = new DmaDebug((dev) => limits.get(dev) ?? null);
  const faults = new IommuFaults();
  const iova = new IovaReplay(topo);
  const p2p = topo === undefined ? null : new P2pCheck(topo);
  const cost = options.cost ?? DEFAULT_COST_PROFILE;
  const revision = options.revision ?? "v8-2025";
  const strategy = revisionByName(revision);
  if (strategy === undefined) throw new RangeError(`Cannot replay revision "${revision}": unknown`);
  const rev = topo === undefined || p2p === null ? null : new RevisionReplay(strategy, topo, p2p);
  const ops = new OpsRecorder({
    sink: options.tables ?? (() => {}),
    cost,
    revision,
    p2p,
    iova,
    revisions: rev,
    ...(topo?.iommu.pgsizeBitmap !== undefined ? { pgsizeBitmap: topo.iommu.pgsizeBitmap } : {}),
    ...(options.timelineStepNs !== undefined ? { timelineStepNs: options.timelineStepNs } : {}),
    ...(options.tableChunkRows !== undefined ? { chunkRows: options.tableChunkRows } : {}),
  });
  const core: DmaBufCore = new DmaBufCore({
    revokeGraceMs: options.revokeGraceMs ?? 10,
    onOp: ops.dmaBufListener((): DmaBufCore => core),
  });
  const tracker = new DmaBufTracker(
    options.probeMap ? { probeMap: options.probeMap } : {},
    core,
  );
  const inference = topo === undefined ? new TopologyInference() : null;
  const gaps = new TraceGaps();
  let calls = 0;
  let unknownCountMarkers = 0;
  let measured = false;
  let reordered = 0;
  let lastLine = 0;
  for await (const b of parse) {
    if (b.n > 0) lastLine = Math.max(lastLine, b.lineNo1[b.n - 1]!);
    reordered += orderBatch(b);
    calls += b.calls.n;
    for (const g of b.gaps) if (g.kind === "lost" && g.lostEvents < 0) ++unknownCountMarkers;
    if (!measured) {
      for (let i = 0; i < b.probes.n && !measured; ++i) {
        measured = Number.isFinite(b.probes.durNs[i]!);
      }
    }
    feedDmaDebug(dmaDebug, b);
    faults.feed(b);
    iova.feed(b);
    p2p?.feed(b);
    tracker.feed(b);
    ops.feed(b);
    inference?.feed(b);
    gaps.feed(b);
    if (options.tablesReady) await options.tablesReady();
  }
  dmaDebug.end();
  tracker.end();
  iova.end();
  ops.end();
  const findings = new Findings(
    [
      listSource(dmaDebug.anomalies),
      listSource(faults.anomalies),
      listSource(p2p?.anomalies ?? []),
      listSource(rev?.anomalies ?? []),
      listSource(ops.anomalies),
      listSource(
        iova.leaks().map((l) => ({
          code: "IOMMU_IOVA_LEAK_AT_END",
          // Shown by the end of the trace, as dma-debug's leaks are; related: its first map.
          line: lastLine,
          related: [l.line],
          device: l.device,
          message: `${l.device}: IOVA 0x${
            l.iova.toString(16)
          } (${l.pages} pages) still allocated at the end`,
        })),
      ),
      mismatchSource(iova.mismatches),
      dmaBufSource(tracker.core.anomalies, (at) => tracker.core.attachment(at)!.device),
    ],
    (a) => gaps.explains(a),
    options.keepAnomalies,
  );
  const summary: ReplaySummary = {
    ...summaryOf(parse, calls, unknownCountMarkers),
    anomalies: {
      total: findings.total,
      byCode: findings.byCode,
      first: findings.first,
      downgraded: findings.downgraded,
    },
    gaps: { markers: gaps.lines.length, byCpu: { ...gaps.byCpu } },
    ordering: { rowsReordered: reordered },
    ops: { ...ops.stats, byPath: { ...ops.stats.byPath }, costProfile: cost.name },
    dataPath: {
      p2pMappings: Object.fromEntries(
        Object.entries(ops.stats.byPath).filter(([p]) =>
          p === "BUS_ADDR" || p === "THRU_HOST_BRIDGE"
        ),
      ),
      latencyFactor: {
        BUS_ADDR: cost.dataPath.switch_p2p_factor.value,
        THRU_HOST_BRIDGE: cost.dataPath.root_complex_forwarding_factor.value,
      },
      iotlbMissNs: cost.dataPath.iotlb_miss_ns.value,
      sources: {
        BUS_ADDR: cost.dataPath.switch_p2p_factor.source,
        THRU_HOST_BRIDGE: cost.dataPath.root_complex_forwarding_factor.source,
        iotlbMissNs: cost.dataPath.iotlb_miss_ns.source,
      },
    },
    revision,
    revisionReplay: {
      ...(rev?.stats ??
        { modeledMaps: 0, unknownBufferMaps: 0, failedMaps: 0, peakStructPageBytes: 0 }),
    },
    durationsMeasured: measured || calls > 0,
    dma: { preTraceUnmaps: dmaDebug.preTraceUnmaps, liveAtEnd: dmaDebug.live },
    dmaBuf: { ...tracker.stats },
    iova: iova.summary(),
    p2p: { byPath: p2p === null ? {} : { ...p2p.byPath } },
    iommuFaults: { ...faults.stats },
    topology: inference === null ? { given: true } : { given: false, inferred: inference.result() },
    whatIf: options.whatIf ?? null,
  };
  if (options.tables !== undefined) {
    // In chunks of at most 2048 rows: an anomaly's row, with its message, is some ten times an
    // ops row, and chunks of the ops table's 16 384 rows, four waiting for the encoder, took a
    // looped 4 GB replay (51 876 anomalies) from 175 to 205 MB in its last second.
    const rows = Math.min(options.tableChunkRows ?? ANOMALY_CHUNK_ROWS, ANOMALY_CHUNK_ROWS);
    for (const part of findings.parts(Math.max(1, rows))) {
      options.tables(anomaliesChunk(part.rows, revision, part.errors));
      // As after each batch: a sink encoding elsewhere gets one chunk at a time.
      if (options.tablesReady) await options.tablesReady();
    }
  }
  return { summary, anomalies: findings.kept, warnings: findings.keptWarnings };
}

/**
 * The anomalies as an `anomalies` table chunk.
 *
 * @param anomalies The anomalies.
 * @param revision The revision column.
 * @param errors How many of them (the first) are anomalies; the rest are warnings.
 * @returns One chunk with every anomaly.
 */
export function anomaliesChunk(
  anomalies: readonly ReplayAnomaly[],
  revision: string,
  errors = anomalies.length,
): TableChunk {
  return {
    schema: ANOMALIES_SCHEMA,
    n: anomalies.length,
    data: [
      Float64Array.from(anomalies, (a) => a.line),
      anomalies.map((a) => a.code),
      anomalies.map((a) => a.device),
      anomalies.map((a) => a.related.join(" ")),
      anomalies.map((a) => a.message),
      anomalies.map(() => revision),
      anomalies.map((_, i) => (i < errors ? "anomaly" : "warning")),
    ],
  };
}

/**
 * The anomalies as CSV (`line,code,device,related,message,revision`; RFC 4180 quoting, so
 * trace text cannot break the columns).
 *
 * @param anomalies The anomalies.
 * @param revision The revision column.
 * @returns CSV text with a header line.
 */
export function anomaliesCsv(anomalies: readonly ReplayAnomaly[], revision = "v8-2025"): string {
  const c = anomaliesChunk(anomalies, revision);
  return csvHeader(c.schema) + chunkToCsv(c);
}
