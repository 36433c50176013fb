import assert from "node:assert/strict";
import { replayRun } from "../analysis/mod.ts";
import type { ReportRun } from "./mod.ts";
import { validateTopology } from "../model/topology/mod.ts";
import { reportModel } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("reportModel from ops digests (no ops table kept) gives the tables and charts of the whole ops table", async () => {
  const trace = new URL("traces/golden/vfio-p2p-6.18.trace", ROOT);
  const topo = validateTopology(
    JSON.parse(await Deno.readTextFile(new URL("traces/switch-acs-off.topology.json", ROOT))),
  );
  assert.ok(topo.ok);
  const runs = async (keepOps: boolean): Promise<ReportRun[]> =>
    await Promise.all(
      (["v8-2025", "v2-2022"] as const).map(async (revision) => {
        const r = await replayRun(revision, (await Deno.open(trace)).readable, {
          topology: topo.topology,
          revision,
          keepOps,
        });
        // The whole-table path: the same run without its digest.
        const { digest, ...rest } = r;
        return keepOps ? rest : { ...rest, digest };
      }),
    );
  const whole = reportModel("t", await runs(true));
  const digested = await runs(false);
  assert.equal(digested[0]!.tables.ops.numRows(), 0);
  const fromDigest = reportModel("t", digested);
  assert.deepEqual(fromDigest.facts, whole.facts);
  assert.deepEqual(fromDigest.tables.map((t) => t.title), whole.tables.map((t) => t.title));
  for (const [i, t] of whole.tables.entries()) {
    assert.deepEqual(fromDigest.tables[i]!.rows, t.rows, t.title);
  }
  assert.deepEqual(fromDigest.charts.map((c) => c.name), whole.charts.map((c) => c.name));
  assert.ok(whole.tables.some((t) => t.title.startsWith("v8-2025 vs v2-2022")));
});
