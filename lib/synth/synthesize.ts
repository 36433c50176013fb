/**
 * The trace synthesizer: runs a scenario's workloads against the kernel model (the DMA API of
 * `model/dma` over each device's IOMMU domain: IOVA allocator with its per-CPU caches, page
 * table, strict or flush-queue invalidation) and writes what the kernel's tracepoints and the
 * capture recipe's kprobes would print, as `trace_pipe` writes it (no header), merged across
 * CPUs in time order. Deterministic for a seed; streaming, so any size.
 *
 * @module
 */

import { Synthesizer } from "./_synthesizer.ts";
import type { Scenario } from "./scenario.ts";

/** Options of {@linkcode synthesizeTrace}. */
export interface SynthOptions {
  /**
   * The seed: the same scenario and seed give the same bytes.
   * @default {1}
   */
  seed?: number;
  /**
   * Stop starting I/O once this many events are written (the I/O in flight still completes,
   * so the trace holds a few more).
   * @default {100000, when `bytes` is not given}
   */
  events?: number;
  /** Stop starting I/O once this many bytes are written (instead of `events`). */
  bytes?: number;
}

/** What a synthesis wrote (known when its stream ends). */
export interface SynthStats {
  /** Events (lines). */
  events: number;
  /** Bytes. */
  bytes: number;
  /** Maps by the DMA API. */
  maps: number;
  /** Maps that failed (the model returned DMA_MAPPING_ERROR or an errno): not traced. */
  failedMaps: number;
  /**
   * The anomalies injected, each at the line that shows it (what a replay must find), in line
   * order; faults whose map never came (the trace ended first) are not listed.
   */
  injected: { code: string; line: number }[];
}

const CHUNK_BYTES = 1 << 20;

/**
 * Synthesize a scenario's trace.
 *
 * @param s The scenario (`validateScenario`).
 * @param o Seed and size.
 * @returns The trace bytes as a stream, and what was written (final when the stream ends).
 *
 * @example Ten thousand events of an NVMe under a strict IOMMU
 * ```ts
 * import assert from "node:assert/strict";
 * import { synthesizeTrace, validateScenario } from "./mod.ts";
 * const v = validateScenario({
 *   name: "nvme",
 *   topology: { hostBridges: [{ id: "pci0000:00" }], devices: [{ bdf: "0000:00:02.0", kind: "endpoint", parent: "pci0000:00" }], iommu: { present: true } },
 *   workloads: [{ kind: "stream", device: "0000:00:02.0", task: "dd", sizes: [{ bytes: 131072 }] }],
 * });
 * assert.ok(v.ok);
 * const { stream, stats } = synthesizeTrace(v.scenario, { events: 10000, seed: 7 });
 * const text = await new Response(stream).text();
 * assert.ok(stats.events >= 10000 && stats.events === text.split("\n").length - 1);
 * assert.match(text, /dd-400 +\[000\] \.\.\.\.\. +1\.\d{6}: iova_alloc: /);
 * ```
 */
export function synthesizeTrace(
  s: Scenario,
  o: SynthOptions = {},
): { stream: ReadableStream<Uint8Array>; stats: SynthStats } {
  const g = new Synthesizer(s, o);
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const text = g.next(CHUNK_BYTES);
      if (text === null) {
        controller.close();
        return;
      }
      const bytes = enc.encode(text);
      g.addBytes(bytes.byteLength);
      controller.enqueue(bytes);
    },
  });
  return { stream, stats: g.stats };
}
