// The synthesizer's records: a map in flight, and an action a CPU runs at a time.

import type { DmaSegment } from "../model/dma/mod.ts";
import type { SynthFaultCode } from "./scenario.ts";

/** Line spacing within one kernel call: the tracepoints of a map come a microsecond apart. */
export const STEP_NS = 1000;

export interface Mapping {
  readonly w: number;
  readonly cpu: number;
  readonly phys: readonly bigint[];
  readonly physStart: bigint;
  readonly bytes: number;
  readonly dmaAddr: bigint;
  readonly segments: readonly DmaSegment[];
  readonly iova: bigint;
  readonly iovaBytes: bigint;
  /** Faults to inject into it. */
  readonly faults: readonly SynthFaultCode[];
  /** A coherent allocation's CPU address (`%p`, hashed), else "". */
  readonly cpuAddr?: string;
}

/**
 * Something a CPU does at `t`: the time of its line that orders it for the allocator (a map's
 * first `iommu:map`, an unmap's `iommu:unmap`); lines before that one come a step earlier.
 */
export interface Action {
  readonly t: number;
  readonly seq: number;
  readonly kind: "submit" | "complete" | "call";
  readonly w: number;
  readonly cpu: number;
  /** The workload's thread on that CPU (pid offset). */
  readonly thread: number;
  readonly m: Mapping | null;
  /** A "call": the step to run (a dma-buf workload's); returns when its CPU is free again. */
  readonly fn?: (t: number) => number;
}
