/**
 * Charts (issue [6/8]): vega-lite specs from the analysis tables, rendered to SVG (vega) and
 * PNG (resvg).
 *
 * @example A cost-by-path chart as SVG
 * ```ts
 * import assert from "node:assert/strict";
 * import { costByPathSpec, renderSvg } from "./mod.ts";
 * const svg = await renderSvg(costByPathSpec([
 *   { path: "BUS_ADDR", direction: "map", modeled_p50_ns: 150, modeled_p90_ns: 170, modeled_p99_ns: 200 },
 * ]));
 * assert.match(svg, /CPU cost per operation by path/);
 * ```
 *
 * @module
 */

export {
  type ChartSpec,
  comparisonSpec,
  costByPathSpec,
  cumulativeCostSpec,
  iovaTimelineSpec,
  observedVsModeledSpec,
  revokeTimelineSpec,
  type Row,
  sweepSpec,
} from "./chart_specs.ts";
export { renderPng, type RenderPngOptions, renderSvg } from "./render_chart.ts";
