/**
 * The ops table folded as it streams by, in memory that does not grow with the trace: what the
 * report and `compare` read of the ops (cost by path, device, size class and task with their
 * percentiles; sums per op and path; the cumulative cost steps; the measured ops; the dma-buf
 * ops), so that a report of a 10 GB trace holds no table of every op.
 *
 * Exact where it can be: counts and sums always; percentiles from a histogram of the values
 * (the cost model gives few distinct modeled costs), exact while a group has at most
 * {@linkcode DIGEST_DISTINCT_MAX} distinct values, then from a uniform sample of that many
 * (`approximate` says which groups). The measured ops beside their modeled cost are a uniform
 * sample of {@linkcode DIGEST_SAMPLE_MAX} rows; the dma-buf ops are kept up to
 * {@linkcode DIGEST_DMABUF_MAX} rows (`dmaBufTruncated`).
 *
 * @module
 */

import { type ColumnTable, table } from "arquero";
import type { TableChunk } from "../replay/mod.ts";
import { direction, sizeClass } from "./cost_tables.ts";

/** Distinct values a group's histogram keeps before it samples instead. */
export const DIGEST_DISTINCT_MAX = 16384;
/** Measured ops kept (a uniform sample beyond). */
export const DIGEST_SAMPLE_MAX = 5000;
/** dma-buf ops kept. */
export const DIGEST_DMABUF_MAX = 200000;

/** The groupings of {@linkcode OpsDigest.costBy}. */
export type DigestGrouping = "path" | "device" | "size_class" | "task";
const GROUPINGS: readonly DigestGrouping[] = ["path", "device", "size_class", "task"];

/** A deterministic PRNG for the samples (the same trace gives the same report). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Values of one group: a histogram while small, then a uniform sample. */
class Distribution {
  valid = 0;
  sum = 0;
  #hist: Map<number, number> | null = new Map();
  #sample: number[] = [];
  readonly #rand: () => number;

  constructor(rand: () => number) {
    this.#rand = rand;
  }

  /** Whether the percentiles come from a sample. */
  get approximate(): boolean {
    return this.#hist === null;
  }

  add(v: number): void {
    ++this.valid;
    this.sum += v;
    const h = this.#hist;
    if (h !== null) {
      h.set(v, (h.get(v) ?? 0) + 1);
      if (h.size <= DIGEST_DISTINCT_MAX) return;
      // Too many distinct values: a uniform sample of what came so far, then reservoir.
      const all: number[] = [];
      for (const [x, n] of h) for (let k = 0; k < n; ++k) all.push(x);
      for (let i = all.length - 1; i > 0; --i) {
        const j = Math.floor(this.#rand() * (i + 1));
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      this.#sample = all.slice(0, DIGEST_DISTINCT_MAX);
      this.#hist = null;
      return;
    }
    if (this.#sample.length < DIGEST_DISTINCT_MAX) this.#sample.push(v);
    else {
      const j = Math.floor(this.#rand() * this.valid);
      if (j < DIGEST_DISTINCT_MAX) this.#sample[j] = v;
    }
  }

  /** The p-quantile as arquero's `op.quantile` computes it (linear between order statistics). */
  quantile(p: number): number | undefined {
    if (this.valid === 0) return undefined;
    if (this.#hist === null) {
      const s = [...this.#sample].sort((a, b) => a - b);
      const h = (s.length - 1) * p;
      const i = Math.floor(h);
      return i + 1 < s.length ? s[i]! + (s[i + 1]! - s[i]!) * (h - i) : s[i]!;
    }
    const sorted = [...this.#hist].sort((a, b) => a[0] - b[0]);
    const h = (this.valid - 1) * p;
    const i = Math.floor(h);
    const at = (k: number) => {
      let seen = 0;
      for (const [x, n] of sorted) {
        seen += n;
        if (k < seen) return x;
      }
      return sorted[sorted.length - 1]![0];
    };
    const lo = at(i);
    return i + 1 < this.valid ? lo + (at(i + 1) - lo) * (h - i) : lo;
  }
}

/** One (key, direction) group of a grouping. */
interface Group {
  ops: number;
  modeled: Distribution;
  observed: Distribution;
  pte: number;
  pteValid: number;
  iotlb: number;
  iotlbValid: number;
}

/** A path's cumulative-cost steps: `per` ops summed into each. */
interface Steps {
  per: number;
  n: number;
  sum: number;
  lastTs: number;
  rows: [number, number][];
}

/** Sums of one (op, path): what `compare` puts side by side. */
export interface OpPathSums {
  /** Ops. */
  ops: number;
  /** Their modeled ns. */
  modeled: number;
  /** Their PTE writes. */
  pte: number;
  /** Their IOTLB invalidations. */
  iotlb: number;
}

/**
 * The ops table's digest: feed it the ops chunks as the replay hands them out.
 *
 * @example The cost by path of three ops, as costBy gives it
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpsDigest, rowsOf } from "./mod.ts";
 * import { OPS_SCHEMA, TableBuilder } from "../replay/mod.ts";
 * const d = new OpsDigest();
 * const b = new TableBuilder(OPS_SCHEMA, (c) => d.add(c));
 * const col = (n: string) => OPS_SCHEMA.columns.findIndex((c) => c.name === n);
 * for (const [op, path, ns] of [["dma_map_page", "DIRECT", 100], ["dma_map_page", "DIRECT", 300], ["dma_unmap_page", "DIRECT", 50]] as const) {
 *   const r = b.addRow();
 *   b.setStr(col("op"), r, op);
 *   b.setStr(col("path"), r, path);
 *   b.setNum(col("modeled_ns"), r, ns);
 * }
 * b.flush();
 * assert.deepEqual(rowsOf(d.costBy("path")).map((r) => [r.direction, r.ops, r.modeled_p50_ns]), [["map", 2, 200], ["unmap", 1, 50]]);
 * ```
 */
export class OpsDigest {
  /** Ops seen. */
  total = 0;
  /** Whether dma-buf ops beyond {@linkcode DIGEST_DMABUF_MAX} were dropped. */
  dmaBufTruncated = false;
  /** Per grouping, per direction, per key (no string built per op). */
  readonly #groups = new Map<DigestGrouping, Map<string, Map<string, Group>>>(
    GROUPINGS.map((g) => [g, new Map()]),
  );
  readonly #steps = new Map<string, Steps>();
  readonly #maxSteps: number;
  /** Per op, per path (no string built per op). */
  readonly #opPath = new Map<string, Map<string, OpPathSums>>();
  readonly #measured: { op: string; path: string; line: number; m: number; o: number }[] = [];
  #measuredSeen = 0;
  readonly #dmabuf: Record<string, (number | string | null)[]> = {};
  #dmabufRows = 0;
  readonly #rand = lcg(0x5eed);

  /**
   * A digest.
   *
   * @param maxStepsPerPath Cumulative-cost steps kept per path (at most).
   */
  constructor(maxStepsPerPath = 2000) {
    this.#maxSteps = maxStepsPerPath;
  }

  /**
   * Fold one chunk in (chunks of other tables are ignored).
   *
   * @param c A chunk of the replay's tables.
   */
  add(c: TableChunk): void {
    if (c.schema.name !== "ops") return;
    const ix = (name: string) => c.schema.columns.findIndex((x) => x.name === name);
    const col = <T>(name: string) => (ix(name) < 0 ? undefined : c.data[ix(name)] as T);
    const op = col<string[]>("op")!;
    const path = col<string[]>("path")!;
    const device = col<string[]>("device")!;
    const task = col<string[]>("task")!;
    const bytes = col<Float64Array>("bytes")!;
    const modeled = col<Float64Array>("modeled_ns")!;
    const observed = col<Float64Array>("observed_ns")!;
    const pte = col<Float64Array>("pte_writes")!;
    const iotlb = col<Float64Array>("iotlb_invalidations")!;
    const ts = col<Float64Array>("ts_s")!;
    const line = col<Float64Array>("line")!;
    for (let r = 0; r < c.n; ++r) {
      ++this.total;
      const o = op[r]!;
      const dir = direction(o);
      const m = modeled[r]!;
      const obs = observed[r]!;
      const pathKey = path[r] || "(none)";
      for (const g of GROUPINGS) {
        const key = g === "path"
          ? pathKey
          : g === "device"
          ? device[r] || "(none)"
          : g === "task"
          ? task[r] || "(none)"
          : sizeClass(Number.isNaN(bytes[r]!) ? null : bytes[r]!);
        const byDir = this.#groups.get(g)!;
        let groups = byDir.get(dir);
        if (groups === undefined) byDir.set(dir, groups = new Map());
        let grp = groups.get(key);
        if (grp === undefined) {
          grp = {
            ops: 0,
            modeled: new Distribution(this.#rand),
            observed: new Distribution(this.#rand),
            pte: 0,
            pteValid: 0,
            iotlb: 0,
            iotlbValid: 0,
          };
          groups.set(key, grp);
        }
        ++grp.ops;
        if (!Number.isNaN(m)) grp.modeled.add(m);
        if (!Number.isNaN(obs)) grp.observed.add(obs);
        if (!Number.isNaN(pte[r]!)) {
          grp.pte += pte[r]!;
          ++grp.pteValid;
        }
        if (!Number.isNaN(iotlb[r]!)) {
          grp.iotlb += iotlb[r]!;
          ++grp.iotlbValid;
        }
      }
      this.#addOpPath(o, path[r]!, m, pte[r]!, iotlb[r]!);
      if (Number.isFinite(ts[r]!) && Number.isFinite(m)) this.#step(pathKey, ts[r]!, m);
      if (!Number.isNaN(obs)) this.#measure(o, path[r]!, line[r]!, m, obs);
      if (o.startsWith("dma_buf_")) this.#keepDmaBuf(c, r);
    }
  }

  #addOpPath(op: string, path: string, m: number, pte: number, iotlb: number): void {
    let byPath = this.#opPath.get(op);
    if (byPath === undefined) this.#opPath.set(op, byPath = new Map());
    let s = byPath.get(path);
    if (s === undefined) byPath.set(path, s = { ops: 0, modeled: 0, pte: 0, iotlb: 0 });
    ++s.ops;
    if (!Number.isNaN(m)) s.modeled += m;
    if (!Number.isNaN(pte)) s.pte += pte;
    if (!Number.isNaN(iotlb)) s.iotlb += iotlb;
  }

  /** The cumulative steps of a path: when they fill up, pairs merge and each step holds twice. */
  #step(path: string, ts: number, m: number): void {
    let s = this.#steps.get(path);
    if (s === undefined) this.#steps.set(path, s = { per: 1, n: 0, sum: 0, lastTs: ts, rows: [] });
    s.sum += m;
    s.lastTs = ts;
    if (++s.n < s.per) return;
    s.rows.push([ts, s.sum]);
    s.n = 0;
    s.sum = 0;
    if (s.rows.length < this.#maxSteps) return;
    const merged: [number, number][] = [];
    for (let i = 0; i + 1 < s.rows.length; i += 2) {
      merged.push([s.rows[i + 1]![0], s.rows[i]![1] + s.rows[i + 1]![1]]);
    }
    if (s.rows.length % 2 === 1) merged.push(s.rows[s.rows.length - 1]!);
    s.rows = merged;
    s.per *= 2;
  }

  #measure(op: string, path: string, line: number, m: number, o: number): void {
    const row = { op, path, line, m, o };
    const k = this.#measuredSeen++;
    if (this.#measured.length < DIGEST_SAMPLE_MAX) this.#measured.push(row);
    else {
      const j = Math.floor(this.#rand() * (k + 1));
      if (j < DIGEST_SAMPLE_MAX) this.#measured[j] = row;
    }
  }

  #keepDmaBuf(c: TableChunk, r: number): void {
    if (this.#dmabufRows >= DIGEST_DMABUF_MAX) {
      this.dmaBufTruncated = true;
      return;
    }
    ++this.#dmabufRows;
    c.schema.columns.forEach((s, i) => {
      const v = c.data[i]![r]!;
      (this.#dmabuf[s.name] ??= []).push(typeof v === "number" && Number.isNaN(v) ? null : v);
    });
  }

  /**
   * Cost grouped by a key and split into maps and unmaps: the columns and rows of
   * `costBy(ops, by)`.
   *
   * @param by The grouping.
   * @returns One row per (key, direction), in key then direction order.
   */
  costBy(by: DigestGrouping): ColumnTable {
    const groups: [string, string, Group][] = [];
    for (const [dir, m] of this.#groups.get(by)!) {
      for (const [k, g] of m) groups.push([k, dir, g]);
    }
    const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    groups.sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]));
    const out: Record<string, unknown[]> = {};
    const put = (k: string, v: unknown) => (out[k] ??= []).push(v);
    for (const [k, dir, g] of groups) {
      put(by, k);
      put("direction", dir);
      put("ops", g.ops);
      put("modeled_mean_ns", g.modeled.valid > 0 ? g.modeled.sum / g.modeled.valid : undefined);
      put("modeled_p50_ns", g.modeled.quantile(0.5));
      put("modeled_p90_ns", g.modeled.quantile(0.9));
      put("modeled_p99_ns", g.modeled.quantile(0.99));
      put("modeled_total_ns", g.modeled.valid > 0 ? g.modeled.sum : undefined);
      put("observed_ops", g.observed.valid);
      put("observed_p50_ns", g.observed.quantile(0.5));
      put("observed_p90_ns", g.observed.quantile(0.9));
      put("pte_writes", g.pteValid > 0 ? g.pte : undefined);
      put("iotlb_invalidations", g.iotlbValid > 0 ? g.iotlb : undefined);
      put("approximate", g.modeled.approximate || g.observed.approximate);
    }
    return table(out);
  }

  /**
   * The cumulative cost steps per path (at most the constructor's count each), exact sums:
   * the rows `cumulativeCost` gives (steps of other widths).
   *
   * @returns ts_s, path, modeled_ns.
   */
  cumulativeCost(): ColumnTable {
    const out = { "ts_s": [] as number[], path: [] as string[], "modeled_ns": [] as number[] };
    for (const [p, s] of this.#steps) {
      const rows = s.n > 0 ? [...s.rows, [s.lastTs, s.sum] as [number, number]] : s.rows;
      for (const [t, sum] of rows) {
        out.ts_s.push(t);
        out.path.push(p);
        out.modeled_ns.push(sum);
      }
    }
    return table(out);
  }

  /**
   * The measured ops beside their modeled cost (a uniform sample beyond
   * {@linkcode DIGEST_SAMPLE_MAX}), in trace order: `observedVsModeled`'s columns.
   *
   * @returns op, path, line, modeled_ns, observed_ns, ratio.
   */
  observedVsModeled(): ColumnTable {
    const rows = [...this.#measured].sort((a, b) => a.line - b.line);
    const nul = (v: number) => (Number.isNaN(v) ? null : v);
    return table({
      op: rows.map((r) => r.op),
      path: rows.map((r) => r.path),
      line: rows.map((r) => r.line),
      "modeled_ns": rows.map((r) => nul(r.m)),
      "observed_ns": rows.map((r) => r.o),
      // As observedVsModeled divides (a missing modeled cost counts as 0).
      ratio: rows.map((r) => r.o / (Number.isNaN(r.m) ? 0 : r.m)),
    });
  }

  /** Measured ops seen (the sample's population). */
  get measured(): number {
    return this.#measuredSeen;
  }

  /**
   * The dma-buf ops (every column of the ops table), up to {@linkcode DIGEST_DMABUF_MAX}.
   *
   * @returns The rows, in trace order.
   */
  dmaBufOps(): ColumnTable {
    return table(this.#dmabuf);
  }

  /**
   * Sums per (op, path): ops, modeled ns, PTE writes, IOTLB invalidations.
   *
   * @returns Keyed `op \0 path`.
   */
  sumsByOpPath(): ReadonlyMap<string, Readonly<OpPathSums>> {
    const out = new Map<string, OpPathSums>();
    for (const [op, byPath] of this.#opPath) {
      for (const [path, s] of byPath) out.set(`${op}\u0000${path}`, s);
    }
    return out;
  }
}

/**
 * The timeline table thinned as it streams by: at most `2 * max` rows, evenly spread over the
 * trace (every other row dropped each time it fills), for the report's chart; the whole table
 * is what the replay writes to its files.
 *
 * @example 10 000 grid rows thinned to at most 200
 * ```ts
 * import assert from "node:assert/strict";
 * import { TimelineSample } from "./mod.ts";
 * const schema = { name: "timeline", columns: [{ name: "ts_s", kind: "f64" as const, doc: "" }] };
 * const t = new TimelineSample(100);
 * t.add({ schema, n: 10000, data: [Float64Array.from({ length: 10000 }, (_, i) => i)] });
 * const ts = t.table().array("ts_s") as number[];
 * assert.ok(ts.length <= 200 && ts[0] === 0 && ts[1]! - ts[0]! === ts[2]! - ts[1]!);
 * ```
 */
export class TimelineSample {
  readonly #max: number;
  #every = 1;
  #seen = 0;
  #names: string[] = [];
  #rows: (number | string | null)[][] = [];

  /**
   * A sample of about `max` to `2 * max` rows.
   *
   * @param max Rows kept at least, once there are that many.
   */
  constructor(max = 2000) {
    this.#max = max;
  }

  /**
   * Fold a chunk in (other tables' chunks are ignored).
   *
   * @param c A chunk.
   */
  add(c: TableChunk): void {
    if (c.schema.name !== "timeline") return;
    this.#names = c.schema.columns.map((x) => x.name);
    for (let r = 0; r < c.n; ++r) {
      if (this.#seen++ % this.#every !== 0) continue;
      this.#rows.push(c.data.map((d) => {
        const v = d[r]!;
        return typeof v === "number" && Number.isNaN(v) ? null : v;
      }));
      if (this.#rows.length >= 2 * this.#max) {
        this.#rows = this.#rows.filter((_, i) => i % 2 === 0);
        this.#every *= 2;
      }
    }
  }

  /**
   * The rows kept.
   *
   * @returns The timeline's columns.
   */
  table(): ColumnTable {
    const cols: Record<string, (number | string | null)[]> = {};
    this.#names.forEach((n, i) => (cols[n] = this.#rows.map((r) => r[i]!)));
    return table(cols);
  }
}
