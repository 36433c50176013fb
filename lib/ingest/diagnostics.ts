/**
 * Diagnostics and counters of one parse: every counter of `stats.ts` counted exactly, and a
 * capped sample of diagnostics per code (STYLE 18).
 *
 * @module
 */

import { STAT_SEVERITY, type StatName, STATS } from "./stats.ts";

/** One problem found in the input. */
export interface ParseDiagnostic {
  /** 1-based line number. */
  readonly line: number;
  /** 1-based column, 0 when the whole line is meant. */
  readonly column: number;
  /** The counter name. */
  readonly code: StatName;
  /** What was expected and what was found. */
  readonly message: string;
}

/** Options of {@linkcode DiagnosticLog}. */
export interface DiagnosticLogOptions {
  /**
   * Samples kept per code.
   * @default {20}
   */
  samplesPerCode?: number;
}

/** A {@linkcode DiagnosticLog}'s whole state as plain data (what a parse on a worker sends). */
export interface DiagnosticLogState {
  /** Counters, `[name, value]`. */
  readonly counts: readonly (readonly [StatName, number])[];
  /** Diagnostics reported by code, `[code, number]`. */
  readonly reported: readonly (readonly [StatName, number])[];
  /** Kept diagnostics, in the order reported. */
  readonly samples: readonly ParseDiagnostic[];
}

/**
 * Counts every declared counter and keeps the first diagnostics of each code.
 *
 * @example Counting
 * ```ts
 * import assert from "node:assert/strict";
 * import { DiagnosticLog } from "./diagnostics.ts";
 * const log = new DiagnosticLog({ samplesPerCode: 1 });
 * log.report("bad_line", 3, 0, "first");
 * log.report("bad_line", 9, 0, "second");
 * assert.equal(log.count("bad_line"), 2);
 * assert.deepEqual(log.samples().map((d) => d.line), [3]);
 * ```
 */
export class DiagnosticLog {
  #counts = new Map<StatName, number>();
  #samples: ParseDiagnostic[] = [];
  #perCode = new Map<StatName, number>();
  #reported = new Map<StatName, number>();
  #cap: number;

  /**
   * A new, empty log.
   *
   * @param options Sample cap.
   */
  constructor(options: DiagnosticLogOptions = {}) {
    this.#cap = options.samplesPerCode ?? 20;
  }

  /**
   * Count a condition without a diagnostic (info counters, or amounts like lost events).
   *
   * @param name The counter.
   * @param by Amount.
   */
  add(name: StatName, by = 1): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + by);
  }

  /**
   * Count a condition and keep a diagnostic for it while under the cap.
   *
   * @param code The counter.
   * @param line 1-based line.
   * @param column 1-based column or 0.
   * @param message The message (from `_messages.ts`).
   */
  report(code: StatName, line: number, column: number, message: string): void {
    this.add(code);
    this.#reported.set(code, (this.#reported.get(code) ?? 0) + 1);
    const kept = this.#perCode.get(code) ?? 0;
    if (kept < this.#cap) {
      this.#perCode.set(code, kept + 1);
      this.#samples.push({ line, column, code, message });
    }
  }

  /**
   * Value of a counter.
   *
   * @param name The counter.
   * @returns Its count.
   */
  count(name: StatName): number {
    return this.#counts.get(name) ?? 0;
  }

  /**
   * Kept diagnostics in line order.
   *
   * @returns The samples.
   */
  samples(): ParseDiagnostic[] {
    return [...this.#samples].sort((a, b) => a.line - b.line || a.column - b.column);
  }

  /**
   * All non-zero counters, in declaration order.
   *
   * @returns Counter name → value.
   */
  counters(): Partial<Record<StatName, number>> {
    const out: Partial<Record<StatName, number>> = {};
    for (const s of STATS) {
      const v = this.#counts.get(s.name);
      if (v !== undefined && v > 0) out[s.name] = v;
    }
    return out;
  }

  /**
   * Diagnostics reported, by code (what `diagnostics.byCode` of the summary holds).
   *
   * @returns Code → number of diagnostics.
   */
  byCode(): Partial<Record<StatName, number>> {
    const out: Partial<Record<StatName, number>> = {};
    for (const s of STATS) {
      const v = this.#reported.get(s.name);
      if (v !== undefined) out[s.name] = v;
    }
    return out;
  }

  /**
   * Number of diagnostics reported (what `diagnostics.total` of the summary holds).
   *
   * @returns The count.
   */
  total(): number {
    let n = 0;
    for (const v of this.#reported.values()) n += v;
    return n;
  }

  /**
   * The log's state, to be carried to another thread and {@linkcode DiagnosticLog.restore}d.
   *
   * @returns Plain data (structured-clone safe).
   */
  state(): DiagnosticLogState {
    return {
      counts: [...this.#counts],
      reported: [...this.#reported],
      samples: [...this.#samples],
    };
  }

  /**
   * Replace this log's contents with a state another log gave (the sample cap stays this
   * log's, and the samples are kept as given).
   *
   * @param state From {@linkcode DiagnosticLog.state}.
   */
  restore(state: DiagnosticLogState): void {
    this.#counts = new Map(state.counts);
    this.#reported = new Map(state.reported);
    this.#samples = [...state.samples];
    this.#perCode = new Map();
    for (const d of this.#samples) this.#perCode.set(d.code, (this.#perCode.get(d.code) ?? 0) + 1);
  }

  /**
   * Whether any `error` counter is above zero (the command line then exits 1).
   *
   * @returns True on errors.
   */
  hasErrors(): boolean {
    for (const [name, v] of this.#counts) if (STAT_SEVERITY[name] === "error" && v > 0) return true;
    return false;
  }
}
