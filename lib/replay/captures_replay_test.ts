// Every shared capture (../shared/captures, real kernels) replays with its topology with no
// anomaly but those the capture explains: c_pt-6.12's three coherent allocations (the NVMe
// queues) are still live when the trace stops. Skipped where the captures are not checked out.

import assert from "node:assert/strict";
import { validateTopology } from "../model/topology/mod.ts";
import { replayTrace } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);
const EXPLAINED: Record<string, Record<string, number>> = {
  "c_pt-6.12": { DMA_LEAK_AT_END: 3 },
};

for (
  const name of ["a_strict", "b_lazy", "b_lazy_cmon", "c_pt", "d_fgraph", "e_dmabuf", "f_vfio"]
) {
  const capture = `${name}-6.12`;
  Deno.test(`capture ${capture} replays with no unexplained anomaly`, async () => {
    const f = await Deno.open(new URL(`../shared/captures/${capture}.trace.gz`, ROOT)).catch(() =>
      null
    );
    if (f === null) return;
    const t = validateTopology(
      JSON.parse(
        await Deno.readTextFile(new URL(`traces/captures/${capture}.topology.json`, ROOT)),
      ),
    );
    assert.ok(t.ok);
    const r = await replayTrace(f.readable, { topology: t.topology });
    assert.deepEqual(r.summary.anomalies.byCode, EXPLAINED[capture] ?? {}, capture);
    assert.deepEqual(r.warnings, []);
    assert.equal(r.summary.diagnostics.total, 0);
    assert.ok(r.summary.ops.total > 0);
  });
}
