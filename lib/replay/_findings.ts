// The findings of every check at the end of a replay, in trace order, without building them all
// at once: each check keeps its own list (the IOVA mismatches and the dma-buf findings as
// compact records), an index of 17 bytes a finding (10 kept) orders them, and each pass
// reads them one at a time, materialising a finding (its message) only while it is counted or
// written into a table chunk. Building every finding with its message, sorting, filtering and
// chunking them together took a looped 4 GB replay's heap from ~25 to 46 MB in its last second
// (its 51 876 IOVA mismatches), the peak of the whole run.

import type { ReplayAnomaly } from "./replay.ts";
import type { IovaMismatches } from "./_iova_report.ts";
import type { DmaBufAnomaly } from "../model/dmabuf/mod.ts";

/** A check's findings: how many, the line of each, and each one as an anomaly. */
export interface FindingSource {
  /** How many. */
  readonly n: number;
  /** The line of the i-th (0: the end of the trace). */
  line(i: number): number;
  /** The i-th, built. */
  anomaly(i: number): ReplayAnomaly;
}

/** A list of built anomalies as a source. */
export function listSource(list: readonly ReplayAnomaly[]): FindingSource {
  return { n: list.length, line: (i) => list[i]!.line, anomaly: (i) => list[i]! };
}

/** The IOVA allocator's mismatches (`IOMMU_IOVA_MISMATCH`), messages built when read. */
export function mismatchSource(list: IovaMismatches): FindingSource {
  return {
    n: list.length,
    line: (i) => list.lineAt(i),
    anomaly: (i) => {
      const m = list.at(i);
      const model = m.predictedPfn > 0
        ? `0x${(m.predictedPfn * 4096).toString(16)}`
        : "another one";
      return {
        code: "IOMMU_IOVA_MISMATCH",
        line: m.line,
        related: [],
        device: m.device,
        message: `${m.device}: the kernel gave IOVA 0x${
          (m.actualPfn * 4096).toString(16)
        }, the allocator model ${model} (strict domain, after warm-up)`,
      };
    },
  };
}

/** The dma-buf lifecycle's findings, the device found from the attachment when read. */
export function dmaBufSource(
  list: readonly DmaBufAnomaly[],
  deviceOf: (attach: number) => string,
): FindingSource {
  return {
    n: list.length,
    line: (i) => list[i]!.line,
    anomaly: (i) => {
      const a = list[i]!;
      const device = a.attach >= 0 ? deviceOf(a.attach) : "";
      return { code: a.code, line: a.line, related: a.related, device, message: a.message };
    },
  };
}

/** Counts by code, codes sorted. */
type ByCode = Record<string, number>;

function sortedCounts(m: Map<string, number>): ByCode {
  const out: ByCode = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}

/**
 * Every finding of a replay in trace order (end-of-trace ones, line 0, last; a stable order:
 * sources in the order given, then each source's own), split into anomalies and the warnings
 * that lost events may explain.
 */
export class Findings {
  readonly #sources: readonly FindingSource[];
  /** Source and index within it of each finding, in the sources' order. */
  readonly #src: Uint8Array;
  readonly #idx: Uint32Array;
  /** The findings (entries of `#src`/`#idx`) in trace order. */
  readonly #order: Uint32Array;
  /** Whether each finding (in trace order) is downgraded to a warning. */
  readonly #warning: Uint8Array;
  /** Anomalies (not warnings). */
  readonly total: number;
  /** Anomalies by code. */
  readonly byCode: ByCode;
  /** Warnings, and by code. */
  readonly downgraded: { readonly total: number; readonly byCode: ByCode };
  /** The first 20 anomalies, for the summary. */
  readonly first: { line: number; code: string; message: string }[] = [];
  /** The first anomalies, at most `keep`. */
  readonly kept: ReplayAnomaly[] = [];
  /** The first warnings, at most `keep`. */
  readonly keptWarnings: ReplayAnomaly[] = [];

  /**
   * Order the findings, count them, and keep the first ones.
   *
   * @param sources The checks' findings.
   * @param explains Whether lost events may explain a finding (it becomes a warning).
   * @param keep How many anomalies (and warnings) to keep built.
   */
  constructor(
    sources: readonly FindingSource[],
    explains: (a: ReplayAnomaly) => boolean,
    keep = Infinity,
  ) {
    this.#sources = sources;
    const n = sources.reduce((t, s) => t + s.n, 0);
    const key = new Float64Array(n);
    const src = new Uint8Array(n);
    const idx = new Uint32Array(n);
    let e = 0;
    sources.forEach((s, k) => {
      for (let i = 0; i < s.n; ++i, ++e) {
        const line = s.line(i);
        key[e] = line === 0 ? Number.MAX_SAFE_INTEGER : line;
        src[e] = k;
        idx[e] = i;
      }
    });
    const order = new Uint32Array(n);
    for (let i = 0; i < n; ++i) order[i] = i;
    order.sort((a, b) => key[a]! - key[b]! || a - b);
    this.#src = src;
    this.#idx = idx;
    this.#order = order;
    this.#warning = new Uint8Array(n);
    const codes = new Map<string, number>();
    const warnCodes = new Map<string, number>();
    let total = 0;
    for (let i = 0; i < n; ++i) {
      const a = this.#at(i);
      const warning = explains(a);
      this.#warning[i] = warning ? 1 : 0;
      const m = warning ? warnCodes : codes;
      m.set(a.code, (m.get(a.code) ?? 0) + 1);
      const list = warning ? this.keptWarnings : this.kept;
      if (list.length < keep) list.push(a);
      if (warning) continue;
      if (++total <= 20) this.first.push({ line: a.line, code: a.code, message: a.message });
    }
    this.total = total;
    this.byCode = sortedCounts(codes);
    this.downgraded = { total: n - total, byCode: sortedCounts(warnCodes) };
  }

  /** The i-th finding in trace order, built. */
  #at(i: number): ReplayAnomaly {
    const e = this.#order[i]!;
    return this.#sources[this.#src[e]!]!.anomaly(this.#idx[e]!);
  }

  /**
   * The findings in parts of at most `rows`: every anomaly, then every warning; at least one
   * part (empty when there are none).
   *
   * @param rows Findings a part.
   * @yields Each part and how many of it (the first) are anomalies.
   */
  *parts(rows: number): Generator<{ rows: ReplayAnomaly[]; errors: number }> {
    let part: ReplayAnomaly[] = [];
    let errors = 0;
    let yielded = false;
    for (const warning of [0, 1]) {
      for (let i = 0; i < this.#warning.length; ++i) {
        if (this.#warning[i] !== warning) continue;
        part.push(this.#at(i));
        if (warning === 0) ++errors;
        if (part.length === rows) {
          yield { rows: part, errors };
          yielded = true;
          part = [];
          errors = 0;
        }
      }
    }
    if (part.length > 0 || !yielded) yield { rows: part, errors };
  }
}
