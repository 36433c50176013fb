/**
 * `dmareplay calibrate`: replay a capture that measured durations (function_graph, kprobe /
 * kretprobe pairs) and fit a cost profile's per-operation costs to them.
 *
 * @module
 */

import {
  type CalibrationResult,
  CostCalibrator,
  costFeatures,
  type CostProfile,
  DEFAULT_COST_PROFILE,
} from "../cost/mod.ts";
import { type ReplayOptions, type ReplaySummary, replayTrace } from "./replay.ts";
import { OPS_SCHEMA } from "./replay_tables.ts";
import type { TableChunk } from "./table_builder.ts";

/** Options of {@linkcode calibrateTrace}. */
export interface CalibrateTraceOptions extends Omit<ReplayOptions, "tables" | "cost"> {
  /**
   * The profile to start from (terms the capture does not time keep its figures).
   * @default {DEFAULT_COST_PROFILE}
   */
  base?: CostProfile;
  /**
   * The fitted figures' source, e.g. "calibrated from capture d_fgraph-6.12".
   * @default {"calibrated from a capture"}
   */
  source?: string;
}

/** What {@linkcode calibrateTrace} returns. */
export interface CalibrateTraceResult extends CalibrationResult {
  /** The replay's summary. */
  readonly summary: ReplaySummary;
}

const col = (name: string) => OPS_SCHEMA.columns.findIndex((c) => c.name === name);
const OP = col("op");
const SRC = col("iova_source");
const PTE = col("pte_writes");
const IOTLB = col("iotlb_invalidations");
const SG = col("sg_entries");
const OBSERVED = col("observed_ns");

/**
 * Add the timed rows of an `ops` chunk to a calibrator.
 *
 * @param c An `ops` chunk (other tables are ignored).
 * @param cal The calibrator.
 */
export function addOpsToCalibrator(c: TableChunk, cal: CostCalibrator): void {
  if (c.schema.name !== "ops") return;
  const obs = c.data[OBSERVED] as Float64Array;
  for (let r = 0; r < c.n; ++r) {
    if (Number.isNaN(obs[r]!)) continue;
    cal.add(
      costFeatures({
        op: (c.data[OP] as string[])[r]!,
        iovaSource: (c.data[SRC] as string[])[r]!,
        pteWrites: (c.data[PTE] as Int32Array)[r]!,
        iotlbInvalidations: (c.data[IOTLB] as Int32Array)[r]!,
        sgEntries: (c.data[SG] as Int32Array)[r]!,
      }),
      obs[r]!,
    );
  }
}

/**
 * Replay a capture and fit the cost profile to its measured durations.
 *
 * @param stream The trace.
 * @param options Replay options, the base profile and the source text.
 * @returns The fitted profile, the fit's quality, and the replay's summary.
 *
 * @example Two timed maps of 1 and 3 pages: the PTE cost is the difference / 2
 * ```ts
 * import assert from "node:assert/strict";
 * import { calibrateTrace } from "./mod.ts";
 * const text = [
 *   " 0)               |  iommu_dma_map_page() {",
 *   " 0)               |    /* map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096 *\/",
 *   " 0)   1.000 us    |  }",
 *   " 0)               |  iommu_dma_map_page() {",
 *   " 0)               |    /* map: IOMMU: iova=0x00000000ffffc000 - 0x00000000fffff000 paddr=0x0000000002d18000 size=12288 *\/",
 *   " 0)   2.000 us    |  }",
 * ].join("\n") + "\n";
 * const r = await calibrateTrace(new Blob([text]).stream());
 * assert.equal(r.samples, 2);
 * assert.equal(r.profile.cpu.pte_write.status, "calibrated");
 * ```
 */
export async function calibrateTrace(
  stream: ReadableStream<Uint8Array>,
  options: CalibrateTraceOptions = {},
): Promise<CalibrateTraceResult> {
  const base = options.base ?? DEFAULT_COST_PROFILE;
  const cal = new CostCalibrator({ source: options.source ?? "calibrated from a capture" });
  const { base: _b, source: _s, ...replayOptions } = options;
  const r = await replayTrace(stream, {
    ...replayOptions,
    cost: base,
    tables: (c) => addOpsToCalibrator(c, cal),
  });
  return { ...cal.fit(base), summary: r.summary };
}
