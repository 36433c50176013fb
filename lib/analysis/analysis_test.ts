import assert from "node:assert/strict";
import fc from "fast-check";
import { table } from "arquero";
import { parseTraceOnWorker } from "../ingest/mod.ts";
import { validateTopology } from "../model/topology/mod.ts";
import { type ReplayOptions, replayTrace, type TableChunk } from "../replay/mod.ts";
import {
  anomaliesByCode,
  attachmentLifetimes,
  compareRuns,
  costBy,
  cumulativeCost,
  observedVsModeled,
  replayRun,
  revokeTimeline,
  rowsOf,
  sizeClass,
  tablesFromChunks,
} from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);

async function run(trace: string, options: Omit<ReplayOptions, "tables"> = {}) {
  const chunks: TableChunk[] = [];
  const bytes = await Deno.readFile(new URL(trace, ROOT));
  const r = await replayTrace(new Blob([bytes]).stream(), {
    ...options,
    tables: (c) => chunks.push(c),
  });
  return { r, t: tablesFromChunks(chunks) };
}

Deno.test("analysis: the sample strict capture's cost by path and size class adds up to summary.json", async () => {
  const { r, t } = await run("traces/strict-6.12.trace");
  assert.equal(t.ops.numRows(), r.summary.ops.total);
  const byPath = rowsOf(costBy(t.ops, "path"));
  const total = byPath.filter((x) => x.path !== "(none)").reduce((n, x) => n + Number(x.ops), 0);
  assert.equal(total, Object.values(r.summary.ops.byPath).reduce((n, v) => n + v, 0));
  const bySize = rowsOf(costBy(t.ops, "size_class"));
  assert.ok(
    bySize.every((x) =>
      ["<=4K", "<=64K", "<=2M", "<=1G", ">1G", "unknown"].includes(String(x.size_class))
    ),
  );
  assert.equal(byPath.reduce((n, x) => n + Number(x.ops), 0), r.summary.ops.total);
  const sum = rowsOf(costBy(t.ops, "device")).reduce((n, x) => n + Number(x.modeled_total_ns), 0);
  assert.ok(Math.abs(sum - r.summary.ops.modeledNs) < 1e-6 * r.summary.ops.modeledNs + 1);
  // A percentile is between the mean's neighbours: p50 <= p90 <= p99 per group.
  for (const x of bySize) {
    assert.ok(Number(x.modeled_p50_ns) <= Number(x.modeled_p90_ns));
    assert.ok(Number(x.modeled_p90_ns) <= Number(x.modeled_p99_ns));
  }
});

Deno.test("analysis: revisions side by side on the golden vfio trace (v8 vs v2 on a switch pair)", async () => {
  const topo = validateTopology(
    JSON.parse(await Deno.readTextFile(new URL("traces/switch-acs-off.topology.json", ROOT))),
  );
  assert.ok(topo.ok);
  const v8 = await run("traces/golden/vfio-p2p-6.18.trace", { topology: topo.topology });
  const v2 = await run("traces/golden/vfio-p2p-6.18.trace", {
    topology: topo.topology,
    revision: "v2-2022",
  });
  const c = compareRuns(v8.t, v2.t);
  const maps = rowsOf(c.ops).filter((x) => x.op === "dma_buf_map_attachment");
  assert.deepEqual(maps.map((x) => [x.path, x.ops_a, x.ops_b]), [
    ["BUS_ADDR", 1, 0],
    ["THRU_HOST_BRIDGE", 0, 1],
  ]);
  assert.ok(maps.reduce((n, x) => n + Number(x.modeled_ns_delta), 0) > 0); // v2 costs more
  assert.deepEqual(rowsOf(c.anomalies).map((x) => [x.code, x.a, x.b]), [["P2P_WRONG_PATH", 0, 1]]);
  assert.match(String(rowsOf(c.anomalies)[0]!.meaning), /IOVA given for a bus-address pair/);
});

Deno.test("analysis: observed vs modeled on the function_graph sample; anomalies by code", async () => {
  const { r, t } = await run("traces/fgraph-6.12.trace");
  const ovm = rowsOf(observedVsModeled(t.ops));
  assert.equal(ovm.length, r.summary.ops.observed);
  assert.ok(ovm.every((x) => Number(x.ratio) > 0));
  const a = await run("traces/anomalies/DMABUF_DOUBLE_UNMAP.trace");
  assert.deepEqual(rowsOf(anomaliesByCode(a.t.anomalies)).map((x) => [x.code, x.count]), [
    ["DMABUF_DOUBLE_UNMAP", 1],
  ]);
  assert.equal(sizeClass(null), "unknown");
  assert.equal(sizeClass(2 ** 21), "<=2M");
  // Empty tables stay empty.
  assert.equal(costBy(tablesFromChunks([]).ops, "path").numRows(), 0);
});

Deno.test("analysis: the revoke timeline and attachment lifetimes of a revoked dma-buf", async () => {
  const { t } = await run("traces/anomalies/DMABUF_MAPPING_OUTLIVES_REVOKE.ok.trace");
  const rev = rowsOf(revokeTimeline(t.ops));
  assert.deepEqual(rev.map((r) => [r.unmaps, Number(r.last_unmap_ms) >= 0]), [[1, true]]);
  const lives = rowsOf(attachmentLifetimes(t.attachments, t.ops));
  assert.equal(lives.length, 1);
  assert.deepEqual([lives[0]!.maps, lives[0]!.unmaps, lives[0]!.move_notifies], [1, 1, 1]);
  assert.ok(Number(lives[0]!.lifetime_s) > 0);
});

Deno.test("cumulativeCost: a few rows per path whose running sum is the exact cumulative cost (property)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          path: fc.constantFrom("DIRECT", "BUS_ADDR", ""),
          ns: fc.option(fc.integer({ min: 0, max: 10000 }), { nil: null }),
        }),
        { maxLength: 300 },
      ),
      fc.integer({ min: 1, max: 20 }),
      (rows, max) => {
        const ops = table({
          "ts_s": rows.map((_, i) => i),
          path: rows.map((r) => r.path),
          "modeled_ns": rows.map((r) => r.ns),
        });
        const out = rowsOf(cumulativeCost(ops, max));
        for (const p of ["DIRECT", "BUS_ADDR", "(none)"]) {
          const mine = out.filter((r) => r.path === p);
          assert.ok(mine.length <= max);
          const want = rows.filter((r) => (r.path || "(none)") === p && r.ns !== null);
          const total = want.reduce((s, r) => s + r.ns!, 0);
          assert.equal(mine.reduce((s, r) => s + (r.modeled_ns as number), 0), total);
          // Each step's time is a real op's, and the cumulative at it is exact.
          let run = 0;
          for (const r of mine) {
            run += r.modeled_ns as number;
            const upTo = rows.slice(0, (r.ts_s as number) + 1)
              .filter((x) => (x.path || "(none)") === p && x.ns !== null)
              .reduce((s, x) => s + x.ns!, 0);
            assert.equal(run, upTo);
          }
        }
      },
    ),
  );
});

Deno.test("replayRun() of a parse on a worker gives the run of the same trace's stream", async () => {
  const bytes = await Deno.readFile(new URL("traces/dmabuf-6.12.trace", ROOT));
  const stream = await replayRun("s", new Blob([bytes]).stream(), { keepOps: false });
  const parse = parseTraceOnWorker(new Blob([bytes]).stream());
  const worker = await replayRun("w", parse, { keepOps: false });
  assert.equal(parse.input.lines, 105);
  assert.deepEqual(worker.summary, stream.summary);
  assert.deepEqual(worker.anomalies, stream.anomalies);
  assert.ok(worker.tables.attachments.numRows() > 0);
  assert.deepEqual(worker.tables.attachments.objects(), stream.tables.attachments.objects());
  assert.deepEqual(worker.tables.timeline.objects(), stream.tables.timeline.objects());
  assert.deepEqual(worker.digest, stream.digest);
});
