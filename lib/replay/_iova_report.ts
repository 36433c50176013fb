// What the IOVA replay (iova_replay.ts) reports: its summary, and its mismatches
// (IOMMU_IOVA_MISMATCH), kept until the findings are read at the end: in columns, 28 bytes a mismatch, not an object each. A looped capture restarts the
// kernel's allocator with each copy and gives some 13 000 a GB; as objects they were 3 MB of the
// live heap at 4 GB, and its growth.

import { grown } from "../ingest/mod.ts";

/** A kernel IOVA the model would not have given (strict domains, after warm-up). */
export interface IovaMismatch {
  /** The dma:* map event's line (the first iommu:map's when none came). */
  readonly line: number;
  /** The mapping device. */
  readonly device: string;
  /** What the kernel gave. */
  readonly actualPfn: number;
  /** What the model would have given (-1 unknown). */
  readonly predictedPfn: number;
}

/** summary.json's `iova` (DESIGN.md). */
export interface IovaReplaySummary {
  /** Most IOVA pages mapped at once (all devices). */
  readonly peakPages: number;
  /** Pages still mapped at the end. */
  readonly leakedPages: number;
  /** Model against kernel. */
  readonly prediction: {
    readonly checked: number;
    readonly matched: number;
    readonly firstMismatchLine: number;
    /** Mismatches with a known cause (not anomalies). */
    readonly explained: {
      /** DMA-FQ domains: the trace does not show when the flush ran. */
      readonly lazyFlushTiming: number;
      /** An interrupt freed an IOVA between the task's allocation and its map event (§4.4). */
      readonly interruptOrder: number;
      /** The first allocations of a domain, before the pre-trace state is learnt. */
      readonly warmUp: number;
    };
    /** Mismatches without one: the `IOMMU_IOVA_MISMATCH` anomalies. */
    readonly unexplained: number;
  };
  /** Devices (IOVA domains) replayed. */
  readonly devices: number;
}

/**
 * IOVA mismatches in columns, each read back as an {@linkcode IovaMismatch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaMismatches } from "./mod.ts";
 * const list = new IovaMismatches();
 * list.push({ line: 7, device: "0000:00:02.0", actualPfn: 0xfff60, predictedPfn: 0xfff20 });
 * assert.equal(list.length, 1);
 * assert.equal(list.at(0).device, "0000:00:02.0");
 * ```
 */
export class IovaMismatches {
  #n = 0;
  #line = new Float64Array(64);
  #actual = new Float64Array(64);
  #predicted = new Float64Array(64);
  #device = new Int32Array(64);
  /** The devices, by their codes in `#device`. */
  readonly #devices: string[] = [];
  readonly #codes = new Map<string, number>();

  /** How many. */
  get length(): number {
    return this.#n;
  }

  /**
   * Keep one.
   *
   * @param m The mismatch.
   */
  push(m: IovaMismatch): void {
    const i = this.#n++;
    if (i >= this.#line.length) {
      this.#line = grown(this.#line, i + 1);
      this.#actual = grown(this.#actual, i + 1);
      this.#predicted = grown(this.#predicted, i + 1);
      this.#device = grown(this.#device, i + 1);
    }
    let code = this.#codes.get(m.device);
    if (code === undefined) {
      code = this.#devices.push(m.device) - 1;
      this.#codes.set(m.device, code);
    }
    this.#line[i] = m.line;
    this.#actual[i] = m.actualPfn;
    this.#predicted[i] = m.predictedPfn;
    this.#device[i] = code;
  }

  /**
   * The `i`-th kept, as it was pushed.
   *
   * @param i Its index (below `length`).
   * @returns The mismatch.
   */
  at(i: number): IovaMismatch {
    return {
      line: this.#line[i]!,
      device: this.#devices[this.#device[i]!]!,
      actualPfn: this.#actual[i]!,
      predictedPfn: this.#predicted[i]!,
    };
  }

  /**
   * The line of the `i`-th (without building it).
   *
   * @param i Its index (below `length`).
   * @returns Its line.
   */
  lineAt(i: number): number {
    return this.#line[i]!;
  }
}
