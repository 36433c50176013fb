import assert from "node:assert/strict";
import Ajv from "ajv";
import { compile, type TopLevelSpec } from "vega-lite";
import type { ChartSpec } from "./mod.ts";
import { replayTrace, type TableChunk } from "../replay/mod.ts";
import {
  compareRuns,
  costBy,
  observedVsModeled,
  rowsOf,
  sweepTable,
  tablesFromChunks,
} from "../analysis/mod.ts";
import { validateTopology } from "../model/topology/mod.ts";
import {
  comparisonSpec,
  costByPathSpec,
  cumulativeCostSpec,
  iovaTimelineSpec,
  observedVsModeledSpec,
  renderPng,
  renderSvg,
  revokeTimelineSpec,
  sweepSpec,
} from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);
const FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

async function tables(trace: string, revision?: "v2-2022") {
  const topo = validateTopology(
    JSON.parse(await Deno.readTextFile(new URL("traces/switch-acs-off.topology.json", ROOT))),
  );
  assert.ok(topo.ok);
  const chunks: TableChunk[] = [];
  await replayTrace(new Blob([await Deno.readFile(new URL(trace, ROOT))]).stream(), {
    topology: topo.topology,
    tables: (c) => chunks.push(c),
    ...(revision ? { revision } : {}),
  });
  return tablesFromChunks(chunks);
}

async function allSpecs(): Promise<[string, ChartSpec][]> {
  const strict = await tables("traces/strict-6.12.trace");
  const fgraph = await tables("traces/fgraph-6.12.trace");
  const v8 = await tables("traces/golden/vfio-p2p-6.18.trace");
  const v2 = await tables("traces/golden/vfio-p2p-6.18.trace", "v2-2022");
  const revoke = await tables("traces/anomalies/DMABUF_MAPPING_OUTLIVES_REVOKE.ok.trace");
  return [
    ["cost by path", costByPathSpec(rowsOf(costBy(strict.ops, "path")))],
    ["cumulative cost", cumulativeCostSpec(rowsOf(strict.ops))],
    ["IOVA timeline", iovaTimelineSpec(rowsOf(strict.timeline))],
    ["revoke timeline", revokeTimelineSpec(rowsOf(revoke.ops))],
    ["revisions", comparisonSpec(rowsOf(compareRuns(v8, v2).ops), ["v8-2025", "v2-2022"])],
    ["observed vs modeled", observedVsModeledSpec(rowsOf(observedVsModeled(fgraph.ops)))],
    [
      "sweep",
      sweepSpec(
        rowsOf(sweepTable([{ label: "v8-2025", tables: v8 }, { label: "v2-2022", tables: v2 }])),
      ),
    ],
  ];
}

Deno.test("charts: every spec compiles with vega-lite and renders to SVG with its title and axis units", async () => {
  for (const [name, spec] of await allSpecs()) {
    const warnings: string[] = [];
    compile(spec as unknown as TopLevelSpec, {
      logger: {
        level: () => 0 as never,
        warn: (...m: unknown[]) => (warnings.push(m.join(" ")), undefined),
        info: () => undefined,
        debug: () => undefined,
        error: (...m: unknown[]) => {
          throw new Error(m.join(" "));
        },
      } as never,
    });
    assert.deepEqual(warnings, [], name);
    const svg = await renderSvg(spec);
    assert.match(svg, /^<svg/, name);
    const title = typeof spec.title === "string"
      ? spec.title
      : (spec.title as { text: string }).text;
    assert.ok(
      svg.includes(title.replaceAll("&", "&amp;").slice(0, 20)),
      `${name}: title in the SVG`,
    );
    assert.match(svg, /<path|<rect|<circle|<line/, `${name}: marks drawn`);
  }
});

Deno.test("charts: PNG through resvg with the DejaVu fonts", async () => {
  // The test task installs fonts-dejavu-core when missing (tools/ensure_debian.sh).
  assert.ok(await Deno.stat(FONT).then(() => true, () => false), `${FONT} (fonts-dejavu-core)`);
  const [, spec] = (await allSpecs())[0]!;
  const png = await renderPng(await renderSvg(spec), { fontFiles: [FONT] });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.ok(png.byteLength > 5000);
});

Deno.test("charts: every spec validates against vega-lite's JSON schema", async () => {
  const schema = JSON.parse(
    await Deno.readTextFile(new URL("node_modules/vega-lite/build/vega-lite-schema.json", ROOT)),
  );
  const AjvClass = Ajv as unknown as new (o: Record<string, unknown>) => {
    compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown };
  };
  const validate = new AjvClass({
    allowUnionTypes: true,
    strict: false,
    validateFormats: false,
    logger: false,
  })
    .compile(schema);
  for (const [name, spec] of await allSpecs()) {
    assert.ok(validate(spec), `${name}: ${JSON.stringify(validate.errors)?.slice(0, 400)}`);
  }
  assert.ok(!validate({ mark: "nonsense" }), "the schema does refuse a bad spec");
});
