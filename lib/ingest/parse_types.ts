/**
 * The types of `parseTrace`'s options and result (apart from the parse loop, so that
 * it stays one file that reads top to bottom).
 *
 * @module
 */

import type { DiagnosticLog } from "./diagnostics.ts";
import type { EventBatch } from "./event_batch.ts";
import type { ProbeMap } from "./probe_map.ts";
import type { TraceHeader } from "./_trace_header.ts";

/** Options of {@linkcode parseTrace}. */
export interface ParseTraceOptions {
  /**
   * Probe map binding probe names and functions to meanings.
   * @default {DEFAULT_PROBE_MAP}
   */
  probeMap?: ProbeMap;
  /**
   * Event rows per batch.
   * @default {16384}
   */
  batchRows?: number;
  /**
   * Longest line kept, in characters; longer lines are skipped with `line_too_long`.
   * @default {65536}
   */
  maxLineChars?: number;
  /**
   * Read the commonest formats (iommu:map/unmap, the dma:* mappings and syncs) with their
   * fixed-order fast paths; false sends every payload through the general walker, which gives
   * the same events (for checking the fast paths against it).
   * @default {true}
   */
  fastPaths?: boolean;
  /**
   * Diagnostics kept per code (counts are never capped).
   * @default {20}
   */
  samplesPerCode?: number;
  /**
   * Size of the read buffer in bytes (tests shrink it to exercise boundaries).
   * @default {1048576}
   */
  bufferBytes?: number;
  /**
   * Called after each piece of input (every few MiB) with the text bytes and lines so far.
   * @default {undefined}
   */
  onProgress?: (bytes: number, lines: number) => void;
}

/** Sizes of the input. */
export interface InputInfo {
  /** Bytes of trace text (after inflating gzip). */
  bytes: number;
  /** Lines. */
  lines: number;
  /** Whether the input was gzip. */
  gzip: boolean;
  /** Bytes read from the stream (the compressed size for gzip). */
  rawBytes: number;
}

/**
 * One parse of a trace: iterate it for batches; after the iteration, `input`, `header`,
 * `log` and `eventCounts()` describe the whole input.
 *
 * A batch is valid until the iteration moves on: the parser then reuses its arrays for the
 * next one (memory stays flat), so copy out what must outlive it. The string tables are
 * shared by all batches and stay valid.
 */
export interface TraceParse extends AsyncIterable<EventBatch> {
  /** Input sizes (final once iteration ends). */
  readonly input: InputInfo;
  /** Header facts. */
  readonly header: TraceHeader;
  /** Counters and diagnostics. */
  readonly log: DiagnosticLog;
  /**
   * Event counts by name: tracepoints and probes by their event name, unknown events too;
   * function_graph records as `fgraph-entry:<fn>`, `fgraph-leaf:<fn>`, `fgraph-exit` and
   * `fgraph-comment:<event>`.
   */
  eventCounts(): Record<string, number>;
  /** Events whose name has no schema and whose payload is no probe's, by name. */
  unknownCounts(): Record<string, number>;
}
