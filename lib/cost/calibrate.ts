/**
 * Fitting a cost profile to measured durations: each operation with an observed duration
 * (function_graph, kprobe/kretprobe pair) is one equation `Σ term × count = observed`, and the
 * per-term costs are the non-negative least-squares solution. Streaming: the normal equations
 * are accumulated, so memory does not grow with the samples.
 *
 * @module
 */

import { COST_TERMS, type CostFigure, type CostProfile, type CostTerm } from "./cost_profile.ts";

/** One term's fitted figure. */
export interface CalibratedTerm {
  /** The term. */
  readonly term: CostTerm;
  /** Fitted cost, ns. */
  readonly valueNs: number;
  /** The base profile's figure. */
  readonly beforeNs: number;
  /** Samples in which the term appears. */
  readonly samples: number;
}

/** What {@linkcode CostCalibrator.fit} returns. */
export interface CalibrationResult {
  /** The base profile with the fitted terms replaced (status "calibrated"). */
  readonly profile: CostProfile;
  /** Samples used. */
  readonly samples: number;
  /** Coefficient of determination of the fit (1: exact; NaN with < 2 samples). */
  readonly r2: number;
  /** Root-mean-square residual, ns. */
  readonly rmseNs: number;
  /** Mean observed duration, ns. */
  readonly meanObservedNs: number;
  /** The fitted terms (those seen in at least one sample). */
  readonly terms: readonly CalibratedTerm[];
}

/** Options of {@linkcode CostCalibrator}. */
export interface CostCalibratorOptions {
  /**
   * Text for the fitted figures' `source`, e.g. "calibrated from capture d_fgraph-6.12".
   * @default {"calibrated"}
   */
  source?: string;
  /**
   * Name of the fitted profile.
   * @default {the base profile's name + "-calibrated"}
   */
  name?: string;
}

const K = COST_TERMS.length;

/**
 * Accumulates (features, observed ns) samples and fits the per-term costs.
 *
 * @example Two terms recovered exactly from three operations
 * ```ts
 * import assert from "node:assert/strict";
 * import { CostCalibrator, DEFAULT_COST_PROFILE } from "./mod.ts";
 * const c = new CostCalibrator();
 * c.add([["dma_map_single", 1], ["pte_write", 1]], 1100);
 * c.add([["dma_map_single", 1], ["pte_write", 4]], 2600);
 * c.add([["dma_map_single", 1], ["pte_write", 2]], 1600);
 * const r = c.fit(DEFAULT_COST_PROFILE);
 * assert.equal(Math.round(r.profile.cpu.pte_write.value), 500);
 * assert.equal(Math.round(r.profile.cpu.dma_map_single.value), 600);
 * assert.equal(r.profile.cpu.pte_write.status, "calibrated");
 * assert.ok(r.r2 > 0.999);
 * ```
 */
export class CostCalibrator {
  readonly #xtx = new Float64Array(K * K);
  readonly #xty = new Float64Array(K);
  readonly #seen = new Float64Array(K);
  readonly #source: string;
  readonly #name: string | undefined;
  #n = 0;
  #sumY = 0;
  #sumY2 = 0;

  /**
   * An empty fit.
   *
   * @param options Source text and profile name of the result.
   */
  constructor(options: CostCalibratorOptions = {}) {
    this.#source = options.source ?? "calibrated";
    this.#name = options.name;
  }

  /** Samples so far. */
  get samples(): number {
    return this.#n;
  }

  /**
   * One operation's terms and its observed duration.
   *
   * @param features `[term, count]` pairs (from `costFeatures`).
   * @param observedNs The measured duration.
   */
  add(features: readonly (readonly [CostTerm, number])[], observedNs: number): void {
    if (!Number.isFinite(observedNs) || features.length === 0) return;
    const idx: number[] = [];
    const val: number[] = [];
    for (const [t, n] of features) {
      const i = COST_TERMS.indexOf(t);
      if (i < 0 || n === 0) continue;
      idx.push(i);
      val.push(n);
    }
    for (let a = 0; a < idx.length; ++a) {
      const i = idx[a]!;
      ++this.#seen[i]!;
      this.#xty[i]! += val[a]! * observedNs;
      for (let b = 0; b < idx.length; ++b) this.#xtx[i * K + idx[b]!]! += val[a]! * val[b]!;
    }
    ++this.#n;
    this.#sumY += observedNs;
    this.#sumY2 += observedNs * observedNs;
  }

  /**
   * Non-negative least squares over the terms seen (projected coordinate descent on the
   * normal equations); terms never seen keep the base profile's figure.
   *
   * @param base The profile to start from.
   * @returns The fitted profile and the fit's quality.
   */
  fit(base: CostProfile): CalibrationResult {
    const q = this.#xtx;
    const b = this.#xty;
    const active: number[] = [];
    for (let i = 0; i < K; ++i) if (this.#seen[i]! > 0 && q[i * K + i]! > 0) active.push(i);
    const c = new Float64Array(K);
    for (const i of active) c[i] = base.cpu[COST_TERMS[i]!].value;
    for (let sweep = 0; sweep < 5000; ++sweep) {
      let change = 0;
      for (const j of active) {
        let s = b[j]!;
        for (const i of active) if (i !== j) s -= q[j * K + i]! * c[i]!;
        const v = Math.max(0, s / q[j * K + j]!);
        change = Math.max(change, Math.abs(v - c[j]!));
        c[j] = v;
      }
      if (change < 1e-9) break;
    }
    // Residual sum of squares from the normal equations: y'y - 2c'b + c'Qc.
    let cb = 0;
    let cqc = 0;
    for (const i of active) {
      cb += c[i]! * b[i]!;
      for (const j of active) cqc += c[i]! * q[i * K + j]! * c[j]!;
    }
    const n = this.#n;
    const rss = Math.max(0, this.#sumY2 - 2 * cb + cqc);
    const mean = n > 0 ? this.#sumY / n : NaN;
    const tss = this.#sumY2 - n * mean * mean;
    const cpu = { ...base.cpu } as Record<CostTerm, CostFigure>;
    const terms: CalibratedTerm[] = [];
    for (const i of active) {
      const term = COST_TERMS[i]!;
      terms.push({
        term,
        valueNs: c[i]!,
        beforeNs: base.cpu[term].value,
        samples: this.#seen[i]!,
      });
      cpu[term] = {
        value: Math.round(c[i]! * 10) / 10,
        source: `${this.#source} (${this.#seen[i]} samples)`,
        status: "calibrated",
      };
    }
    return {
      profile: {
        name: this.#name ?? `${base.name}-calibrated`,
        description: base.description,
        cpu,
        dataPath: base.dataPath,
      },
      samples: n,
      r2: n >= 2 && tss > 0 ? 1 - rss / tss : NaN,
      rmseNs: n > 0 ? Math.sqrt(rss / n) : NaN,
      meanObservedNs: mean,
      terms,
    };
  }
}
