// Property tests (fast-check): bad input never crashes the replay and never loses the rest of
// the input. Lines of the sample traces and the anomaly goldens, cut anywhere, with bytes
// changed or dropped, in any order: replayTrace finishes, with every table written.

import assert from "node:assert/strict";
import fc from "fast-check";
import { validateTopology } from "../model/topology/mod.ts";
import { replayTrace, type TableChunk } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);
const files = [
  "traces/strict-6.12.trace",
  "traces/dmabuf-6.12.trace",
  "traces/fgraph-6.12.trace",
  "traces/golden/vfio-p2p-6.18.trace",
  "traces/anomalies/P2P_RANGE_OUT_OF_BAR.trace",
  "traces/anomalies/DMABUF_MAP_WHILE_REVOKED.trace",
  "traces/anomalies/IOMMU_FAULT_AFTER_UNMAP.trace",
];
const LINES: string[] = [];
for (const f of files) {
  const text = await Deno.readTextFile(new URL(f, ROOT));
  LINES.push(...text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).slice(0, 300));
}
const topo = validateTopology(
  JSON.parse(await Deno.readTextFile(new URL("traces/switch-acs-redirect.topology.json", ROOT))),
);
assert.ok(topo.ok);

const line = fc.oneof(
  fc.constantFrom(...LINES),
  // A real line cut short (a truncated capture), or with one character changed.
  fc.tuple(fc.constantFrom(...LINES), fc.nat()).map(([l, k]) => l.slice(0, k % (l.length + 1))),
  fc.tuple(fc.constantFrom(...LINES), fc.nat(), fc.string({ minLength: 1, maxLength: 1 })).map(
    ([l, k, c]) => {
      const i = k % l.length;
      return l.slice(0, i) + c + l.slice(i + 1);
    },
  ),
  fc.constant("CPU:1 [LOST 12 EVENTS]"),
);

Deno.test("replayTrace() never throws on cut and mutated real lines, with or without a topology", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 120 }), fc.boolean(), async (lines, withTopo) => {
      const text = lines.join("\n") + "\n";
      const chunks: TableChunk[] = [];
      const r = await replayTrace(new Blob([text]).stream(), {
        tables: (c) => chunks.push(c),
        ...(withTopo ? { topology: topo.topology } : {}),
      });
      assert.equal(r.summary.input.lines, Math.max(lines.length, 1)); // nothing lost
      assert.ok(chunks.some((c) => c.schema.name === "anomalies"));
      for (const a of [...r.anomalies, ...r.warnings]) {
        assert.ok(a.line >= 0 && a.line <= lines.length, `${a.code} at ${a.line}`);
      }
    }),
    { numRuns: 150 },
  );
});
