/**
 * The charts of a replay as vega-lite specs (DESIGN.md "Outputs"): pure functions from the
 * analysis tables' rows to specs, each with a title, units on its axes and a legend. Modeled
 * numbers say so in their titles.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";

/** A vega-lite spec, as JSON (what vega-lite's `compile` takes). */
export interface ChartSpec {
  /** Its fields (`$schema`, `title`, `data`, `mark`, `encoding`, `layer`, ...). */
  readonly [key: string]: unknown;
}

function chart(spec: TopLevelSpec): ChartSpec {
  return spec as unknown as ChartSpec;
}

/** A row of a table (as `rowsOf` gives). */
export type Row = Record<string, unknown>;

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
const WIDTH = 560;

/** Keep at most `max` rows, evenly spread (charts of long traces stay small). */
function sample<T>(rows: readonly T[], max: number): T[] {
  if (rows.length <= max) return [...rows];
  const out: T[] = [];
  const step = rows.length / max;
  for (let i = 0; i < max; ++i) out.push(rows[Math.floor(i * step)]!);
  return out;
}

/**
 * Map and unmap cost by path: the median as a bar, p90 and p99 as ticks (`costBy(ops, "path")`).
 *
 * @param rows Rows of `costBy(ops, "path")`.
 * @returns The spec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { costByPathSpec } from "./mod.ts";
 * const s = costByPathSpec([{ path: "BUS_ADDR", direction: "map", ops: 3, modeled_p50_ns: 150, modeled_p90_ns: 170, modeled_p99_ns: 200 }]);
 * assert.match(String((s.title as { text: string }).text), /modeled/);
 * ```
 */
export function costByPathSpec(rows: readonly Row[]): ChartSpec {
  return chart({
    $schema: SCHEMA,
    title: {
      text: "CPU cost per operation by path (modeled)",
      subtitle: "bar: median; ticks: p90, p99",
    },
    width: WIDTH,
    data: { values: rows as Row[] },
    encoding: {
      y: { field: "path", type: "nominal", title: "path" },
      yOffset: { field: "direction" },
      color: { field: "direction", type: "nominal", title: "operation" },
    },
    layer: [
      {
        mark: "bar",
        encoding: {
          x: { field: "modeled_p50_ns", type: "quantitative", title: "ns per operation" },
        },
      },
      {
        mark: { type: "tick", thickness: 2 },
        encoding: { x: { field: "modeled_p90_ns", type: "quantitative" } },
      },
      {
        mark: { type: "tick", thickness: 1 },
        encoding: { x: { field: "modeled_p99_ns", type: "quantitative" } },
      },
    ],
  } as TopLevelSpec);
}

/**
 * Cumulative modeled CPU cost over trace time, one line per path.
 *
 * @param ops Rows of the ops table (`ts_s`, `path`, `modeled_ns`), in trace order.
 * @returns The spec (at most 2000 points per path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cumulativeCostSpec } from "./mod.ts";
 * const s = cumulativeCostSpec([{ ts_s: 1, path: "DIRECT", modeled_ns: 100 }, { ts_s: 2, path: "DIRECT", modeled_ns: 50 }]);
 * assert.deepEqual((s.data as { values: { cumulative_us: number }[] }).values.map((v) => v.cumulative_us), [0.1, 0.15]);
 * ```
 */
export function cumulativeCostSpec(ops: readonly Row[]): ChartSpec {
  const byPath = new Map<string, Row[]>();
  const sum = new Map<string, number>();
  for (const r of ops) {
    const t = r.ts_s as number | null;
    const ns = r.modeled_ns as number | null;
    if (t === null || ns === null || !Number.isFinite(t) || !Number.isFinite(ns)) continue;
    const path = (r.path as string) || "(none)";
    const s = (sum.get(path) ?? 0) + ns;
    sum.set(path, s);
    let list = byPath.get(path);
    if (list === undefined) byPath.set(path, list = []);
    list.push({ ts_s: t, path, cumulative_us: s / 1000 });
  }
  const values = [...byPath.values()].flatMap((l) => sample(l, 2000));
  return chart({
    $schema: SCHEMA,
    title: "Cumulative CPU cost of the DMA mappings (modeled)",
    width: WIDTH,
    data: { values },
    mark: "line",
    encoding: {
      x: { field: "ts_s", type: "quantitative", title: "trace time (s)", scale: { zero: false } },
      y: { field: "cumulative_us", type: "quantitative", title: "cumulative cost (µs)" },
      color: { field: "path", type: "nominal", title: "path" },
    },
  } as TopLevelSpec);
}

/**
 * IOVA in use and live mappings over time (the timeline table).
 *
 * @param timeline Rows of the timeline table.
 * @returns The spec: two lines on their own axes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iovaTimelineSpec } from "./mod.ts";
 * const s = iovaTimelineSpec([{ ts_s: 1, iova_pages: 3, live_mappings: 2 }]);
 * assert.equal((s.data as { values: unknown[] }).values.length, 2);
 * ```
 */
export function iovaTimelineSpec(timeline: readonly Row[]): ChartSpec {
  const values = sample(timeline, 4000).flatMap((r) => [
    { ts_s: r.ts_s, series: "IOVA pages in use", value: r.iova_pages },
    { ts_s: r.ts_s, series: "live DMA mappings", value: r.live_mappings },
  ]);
  return chart({
    $schema: SCHEMA,
    title: "IOVA in use and live mappings over time",
    width: WIDTH,
    height: 120,
    data: { values },
    mark: "line",
    encoding: {
      x: { field: "ts_s", type: "quantitative", title: "trace time (s)", scale: { zero: false } },
      y: { field: "value", type: "quantitative", title: null },
      row: { field: "series", type: "nominal", title: null },
      color: { field: "series", type: "nominal", legend: null },
    },
    resolve: { scale: { y: "independent" } },
  } as TopLevelSpec);
}

/**
 * The dma-buf revoke timeline: each attachment's maps, unmaps and the move_notify rounds of
 * its buffer, over trace time.
 *
 * @param ops Rows of the ops table.
 * @returns The spec (one row of marks per attachment or buffer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { revokeTimelineSpec } from "./mod.ts";
 * const s = revokeTimelineSpec([{ ts_s: 1, op: "dma_buf_move_notify", dmabuf: "0", attachment: -1, line: 9 }, { ts_s: 1, op: "dma_map_page" }]);
 * assert.equal((s.data as { values: unknown[] }).values.length, 1);
 * ```
 */
export function revokeTimelineSpec(ops: readonly Row[]): ChartSpec {
  const values = ops.filter((r) => String(r.op).startsWith("dma_buf_")).map((r) => ({
    ts_s: r.ts_s,
    op: r.op,
    who: Number(r.attachment) >= 0 ? `attachment ${r.attachment}` : `dma-buf ${r.dmabuf}`,
    line: r.line,
  }));
  return chart({
    $schema: SCHEMA,
    title: "dma-buf timeline: maps, unmaps, move_notify (revoke)",
    width: WIDTH,
    data: { values: sample(values, 5000) },
    mark: { type: "point", filled: true },
    encoding: {
      x: { field: "ts_s", type: "quantitative", title: "trace time (s)", scale: { zero: false } },
      y: { field: "who", type: "nominal", title: null },
      color: { field: "op", type: "nominal", title: "operation" },
      shape: { field: "op", type: "nominal", legend: null },
      tooltip: [{ field: "op" }, { field: "line", title: "trace line" }],
    },
  } as TopLevelSpec);
}

/**
 * Two runs side by side (`compareRuns(a, b).ops`): modeled CPU cost per (op, path) in each.
 *
 * @param rows Rows of `compareRuns(...).ops`.
 * @param labels The runs' names.
 * @returns The spec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { comparisonSpec } from "./mod.ts";
 * const s = comparisonSpec([{ op: "dma_buf_map_attachment", path: "BUS_ADDR", modeled_ns_a: 540, modeled_ns_b: 0 }], ["v8-2025", "v2-2022"]);
 * assert.equal((s.data as { values: unknown[] }).values.length, 2);
 * ```
 */
export function comparisonSpec(
  rows: readonly Row[],
  labels: readonly [string, string],
): ChartSpec {
  const values = rows.flatMap((r) => [
    {
      what: `${r.op} (${r.path || "-"})`,
      run: labels[0],
      modeled_us: Number(r.modeled_ns_a) / 1000,
    },
    {
      what: `${r.op} (${r.path || "-"})`,
      run: labels[1],
      modeled_us: Number(r.modeled_ns_b) / 1000,
    },
  ]);
  return chart({
    $schema: SCHEMA,
    title: `CPU cost by operation and path: ${labels[0]} vs ${labels[1]} (modeled)`,
    width: WIDTH,
    data: { values },
    mark: "bar",
    encoding: {
      y: { field: "what", type: "nominal", title: null, axis: { labelLimit: 400 } },
      yOffset: { field: "run", sort: [...labels] },
      x: { field: "modeled_us", type: "quantitative", title: "total cost (µs)" },
      color: { field: "run", type: "nominal", title: "run", scale: { domain: [...labels] } },
    },
  } as TopLevelSpec);
}

/**
 * Measured against modeled cost, one point per timed op, with the line where they agree.
 *
 * @param rows Rows of `observedVsModeled(ops)`.
 * @returns The spec (log scales).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { observedVsModeledSpec } from "./mod.ts";
 * const s = observedVsModeledSpec([{ op: "dma_map_sg", modeled_ns: 2000, observed_ns: 4000 }]);
 * assert.match(JSON.stringify(s), /observed/);
 * ```
 */
export function observedVsModeledSpec(rows: readonly Row[]): ChartSpec {
  const values = sample(rows, 5000).map((r) => ({
    op: r.op,
    modeled_us: Number(r.modeled_ns) / 1000,
    observed_us: Number(r.observed_ns) / 1000,
  }));
  const max = Math.max(1, ...values.map((v) => Math.max(v.modeled_us, v.observed_us)));
  return chart({
    $schema: SCHEMA,
    title: "Measured vs modeled cost per operation",
    width: WIDTH,
    height: 360,
    layer: [
      {
        data: { values },
        mark: { type: "point", opacity: 0.6 },
        encoding: {
          x: {
            field: "modeled_us",
            type: "quantitative",
            title: "modeled (µs)",
            scale: { type: "log" },
          },
          y: {
            field: "observed_us",
            type: "quantitative",
            title: "observed (µs)",
            scale: { type: "log" },
          },
          color: { field: "op", type: "nominal", title: "operation" },
        },
      },
      {
        data: { values: [{ a: 0.001, b: 0.001 }, { a: max, b: max }] },
        mark: { type: "line", strokeDash: [4, 4], color: "gray" },
        encoding: {
          x: { field: "a", type: "quantitative" },
          y: { field: "b", type: "quantitative" },
        },
      },
    ],
  } as TopLevelSpec);
}

/**
 * Several runs of one workload side by side (a what-if sweep, the revisions): each run's total
 * modeled CPU cost, stacked by path.
 *
 * @param rows Rows of `sweepTable(runs)` (`run`, `path`, `modeled_ns`).
 * @param runs The runs in the order to show them (default: as they come).
 * @returns The spec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sweepSpec } from "./mod.ts";
 * const s = sweepSpec([{ run: "acs off", path: "BUS_ADDR", modeled_ns: 2000 }, { run: "acs on", path: "THRU_HOST_BRIDGE", modeled_ns: 9000 }]);
 * assert.deepEqual((s.data as { values: { modeled_us: number }[] }).values.map((v) => v.modeled_us), [2, 9]);
 * ```
 */
export function sweepSpec(rows: readonly Row[], runs?: readonly string[]): ChartSpec {
  const order = runs ?? [...new Set(rows.map((r) => String(r.run)))];
  return chart({
    $schema: SCHEMA,
    title: { text: "CPU cost of the workload per run, by path (modeled)" },
    width: WIDTH,
    data: {
      values: rows.map((r) => ({
        run: String(r.run),
        path: String(r.path),
        "modeled_us": Number(r.modeled_ns) / 1000,
        ops: Number(r.ops ?? 0),
      })),
    },
    mark: "bar",
    encoding: {
      y: { field: "run", type: "nominal", title: null, sort: [...order] },
      x: { field: "modeled_us", type: "quantitative", title: "total cost (µs)", stack: "zero" },
      color: { field: "path", type: "nominal", title: "path" },
      tooltip: [
        { field: "run", type: "nominal" },
        { field: "path", type: "nominal" },
        { field: "ops", type: "quantitative" },
        { field: "modeled_us", type: "quantitative", format: ".1f" },
      ],
    },
  } as TopLevelSpec);
}
