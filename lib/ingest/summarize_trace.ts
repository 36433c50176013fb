/**
 * The `parse` summary of DESIGN.md's contract: `input`, `events`, `diagnostics`, plus the
 * header facts, lost events and every non-zero counter.
 *
 * @module
 */

import type { ParseDiagnostic } from "./diagnostics.ts";
import {
  parseTrace,
  type ParseTraceOptions,
  type TraceHeader,
  type TraceParse,
} from "./parse_trace.ts";
import type { StatName } from "./stats.ts";

/** The summary `dmareplay parse --json` prints (keys shared with `summary.json`). */
export interface ParseSummary {
  /** Input sizes. */
  input: { bytes: number; lines: number; gzip: boolean; compressedBytes: number };
  /** Event counts. */
  events: {
    total: number;
    byName: Record<string, number>;
    unknown: number;
    unknownByName: Record<string, number>;
    /** Completed function_graph calls (entry/exit pairs and leaves). */
    calls: number;
  };
  /** Diagnostics: problems in the input, each with its line. */
  diagnostics: {
    total: number;
    byCode: Partial<Record<StatName, number>>;
    first: ParseDiagnostic[];
  };
  /** Events the ring buffer lost. */
  lost: { markers: number; events: number; unknownCountMarkers: number };
  /** What the header said. */
  header: TraceHeader;
  /** Every non-zero counter (info counters included). */
  stats: Partial<Record<StatName, number>>;
}

/**
 * Summarize a finished parse.
 *
 * @param parse A parse whose batches have all been read.
 * @param calls Number of function_graph calls seen.
 * @param unknownCountMarkers Lost-event markers without a count.
 * @returns The summary.
 */
export function summaryOf(
  parse: TraceParse,
  calls: number,
  unknownCountMarkers: number,
): ParseSummary {
  const byName = parse.eventCounts();
  const sorted: Record<string, number> = {};
  for (const k of Object.keys(byName).sort()) sorted[k] = byName[k]!;
  let total = 0;
  for (const v of Object.values(byName)) total += v;
  const unknownByName = parse.unknownCounts();
  let unknown = 0;
  for (const v of Object.values(unknownByName)) unknown += v;
  return {
    input: {
      bytes: parse.input.bytes,
      lines: parse.input.lines,
      gzip: parse.input.gzip,
      compressedBytes: parse.input.gzip ? parse.input.rawBytes : 0,
    },
    events: { total, byName: sorted, unknown, unknownByName, calls },
    diagnostics: {
      total: parse.log.total(),
      byCode: parse.log.byCode(),
      first: parse.log.samples().slice(0, 20),
    },
    lost: {
      markers: parse.log.count("lost_event_markers"),
      events: parse.log.count("lost_events"),
      unknownCountMarkers,
    },
    header: parse.header,
    stats: parse.log.counters(),
  };
}

/**
 * Parse a whole trace and summarize it.
 *
 * @param stream The trace bytes.
 * @param options Parse options.
 * @returns The summary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeTrace } from "./summarize_trace.ts";
 * const line = "  rdma_a-2211    [004] .....   812.300112: dma_map_phys: 0000:41:00.0 dir=BIDIRECTIONAL dma_addr=fffe0000 size=77824 phys_addr=38000000000 attrs=MMIO\ngarbage\n";
 * const s = await summarizeTrace(new Blob([line]).stream());
 * assert.equal(s.events.byName["dma_map_phys"], 1);
 * assert.equal(s.diagnostics.byCode.bad_line, 1);
 * assert.equal(s.diagnostics.first[0]!.line, 2);
 * ```
 */
export async function summarizeTrace(
  stream: ReadableStream<Uint8Array>,
  options: ParseTraceOptions = {},
): Promise<ParseSummary> {
  const parse = parseTrace(stream, options);
  let calls = 0;
  let unknownCountMarkers = 0;
  for await (const b of parse) {
    calls += b.calls.n;
    for (const g of b.gaps) if (g.kind === "lost" && g.lostEvents < 0) ++unknownCountMarkers;
  }
  return summaryOf(parse, calls, unknownCountMarkers);
}
