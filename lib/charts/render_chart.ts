/**
 * Rendering a vega-lite spec: SVG through vega's headless view, PNG from the SVG through resvg
 * with the fonts the caller gives (DejaVu on Debian: `fonts-dejavu-core`), so text renders the
 * same on every machine.
 *
 * @module
 */

import { compile, type TopLevelSpec } from "vega-lite";
import type { ChartSpec } from "./chart_specs.ts";
import { parse, View } from "vega";

/**
 * A spec as an SVG document.
 *
 * @param spec The vega-lite spec.
 * @returns The SVG text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderSvg } from "./mod.ts";
 * const svg = await renderSvg({ data: { values: [{ a: 1 }] }, mark: "point", encoding: { x: { field: "a", type: "quantitative" } } });
 * assert.match(svg, /^<svg/);
 * ```
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const view = new View(parse(compile(spec as unknown as TopLevelSpec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Options of {@linkcode renderPng}. */
export interface RenderPngOptions {
  /** Font files to draw text with (no system fonts are read). */
  fontFiles: readonly string[];
  /**
   * Font family for text that names none.
   * @default {"DejaVu Sans"}
   */
  defaultFontFamily?: string;
  /**
   * Pixels per SVG unit.
   * @default {2}
   */
  scale?: number;
}

/**
 * An SVG document as a PNG image.
 *
 * @param svg The SVG text.
 * @param options The fonts and the scale.
 * @returns The PNG bytes.
 */
export async function renderPng(svg: string, options: RenderPngOptions): Promise<Uint8Array> {
  const { Resvg } = await import("@resvg/resvg-js");
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: options.scale ?? 2 },
    background: "white",
    font: {
      fontFiles: [...options.fontFiles],
      loadSystemFonts: false,
      defaultFontFamily: options.defaultFontFamily ?? "DejaVu Sans",
    },
  });
  return new Uint8Array(r.render().asPng());
}
