import assert from "node:assert/strict";
import fc from "fast-check";
import { OPS_SCHEMA, TableBuilder, type TableChunk } from "../replay/mod.ts";
import {
  costBy,
  cumulativeCost,
  dmaBufOps,
  observedVsModeled,
  OpsDigest,
  rowsOf,
  tablesFromChunks,
} from "./mod.ts";

const col = (n: string) => OPS_SCHEMA.columns.findIndex((c) => c.name === n);

interface Op {
  op: string;
  path: string;
  device: string;
  task: string;
  bytes: number;
  modeled: number;
  observed: number;
  pte: number;
}

function chunksOf(ops: readonly Op[], rows: number): TableChunk[] {
  const out: TableChunk[] = [];
  const b = new TableBuilder(OPS_SCHEMA, (c) => out.push(c), rows);
  ops.forEach((o, i) => {
    const r = b.addRow();
    b.setNum(col("ts_s"), r, 1 + i / 1000);
    b.setNum(col("line"), r, i + 1);
    b.setStr(col("op"), r, o.op);
    b.setStr(col("path"), r, o.path);
    b.setStr(col("device"), r, o.device);
    b.setStr(col("task"), r, o.task);
    b.setNum(col("bytes"), r, o.bytes);
    b.setNum(col("modeled_ns"), r, o.modeled);
    b.setNum(col("observed_ns"), r, o.observed);
    b.setNum(col("pte_writes"), r, o.pte);
  });
  b.flush();
  return out;
}

const anOp = fc.record({
  op: fc.constantFrom(
    "dma_map_page",
    "dma_unmap_page",
    "dma_map_sg",
    "dma_buf_attach",
    "dma_sync_single_for_cpu",
    "iommu_map",
  ),
  path: fc.constantFrom("", "DIRECT", "BUS_ADDR", "THRU_HOST_BRIDGE"),
  device: fc.constantFrom("", "0000:03:00.0", "0000:04:00.0"),
  task: fc.constantFrom("dd-1", "kworker/0:1-7"),
  bytes: fc.oneof(fc.constant(NaN), fc.integer({ min: 1, max: 2 ** 31 })),
  modeled: fc.oneof(
    fc.constant(NaN),
    fc.constantFrom(150, 310, 460, 1200),
    fc.integer({ min: 0, max: 5000 }),
  ),
  observed: fc.oneof(fc.constant(NaN), fc.constant(NaN), fc.integer({ min: 1, max: 100000 })),
  pte: fc.oneof(fc.constant(NaN), fc.nat(600)),
});

const COLS = [
  "ops",
  "modeled_mean_ns",
  "modeled_p50_ns",
  "modeled_p90_ns",
  "modeled_p99_ns",
  "modeled_total_ns",
  "observed_ops",
  "observed_p50_ns",
  "observed_p90_ns",
  "pte_writes",
  "iotlb_invalidations",
];

const close = (a: unknown, b: unknown) =>
  typeof a === "number" && typeof b === "number"
    ? Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b))
    : a === b;

Deno.test("OpsDigest gives costBy's rows for every grouping, and the other tables the report reads", () => {
  fc.assert(
    fc.property(
      fc.array(anOp, { maxLength: 300 }),
      fc.integer({ min: 1, max: 64 }),
      (ops, rows) => {
        const chunks = chunksOf(ops, rows);
        const d = new OpsDigest(8);
        for (const c of chunks) d.add(c);
        const t = tablesFromChunks(chunks).ops;
        assert.equal(d.total, ops.length);
        for (const by of ["path", "device", "size_class", "task"] as const) {
          const want = rowsOf(costBy(t, by));
          const got = rowsOf(d.costBy(by));
          assert.equal(got.length, want.length, by);
          want.forEach((w, i) => {
            assert.equal(got[i]![by], w[by]);
            assert.equal(got[i]!.direction, w.direction);
            for (const c of COLS) {
              assert.ok(close(got[i]![c], w[c]), `${by} ${c}: ${got[i]![c]} vs ${w[c]}`);
            }
            assert.equal(got[i]!.approximate, false);
          });
        }
        // Cumulative: at most 8 steps a path, exact running sums ending at each path's total.
        const steps = rowsOf(d.cumulativeCost());
        const whole = rowsOf(cumulativeCost(t, 1e9));
        for (const p of new Set(whole.map((r) => r.path))) {
          const mine = steps.filter((r) => r.path === p);
          assert.ok(mine.length <= 8);
          const total = whole.filter((r) => r.path === p).reduce(
            (s, r) => s + Number(r.modeled_ns),
            0,
          );
          assert.ok(close(mine.reduce((s, r) => s + Number(r.modeled_ns), 0), total));
          // Every step's running sum is the exact sum of the ops up to its time.
          let run = 0;
          for (const s of mine) {
            run += Number(s.modeled_ns);
            const upTo = whole.filter((r) => r.path === p && Number(r.ts_s) <= Number(s.ts_s))
              .reduce((x, r) => x + Number(r.modeled_ns), 0);
            assert.ok(close(run, upTo), `${p} at ${s.ts_s}`);
          }
        }
        assert.deepEqual(rowsOf(d.observedVsModeled()), rowsOf(observedVsModeled(t)));
        if (t.numRows() > 0) {
          assert.deepEqual(rowsOf(d.dmaBufOps()), rowsOf(dmaBufOps(t)));
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("OpsDigest: past its distinct-value bound a group's percentiles come from a sample, flagged", () => {
  const ops: Op[] = Array.from({ length: 20000 }, (_, i) => ({
    op: "dma_map_page",
    path: "DIRECT",
    device: "0000:03:00.0",
    task: "dd-1",
    bytes: 4096,
    modeled: i,
    observed: NaN,
    pte: 1,
  }));
  const d = new OpsDigest();
  for (const c of chunksOf(ops, 4096)) d.add(c);
  const [row] = rowsOf(d.costBy("path"));
  assert.equal(row!.ops, 20000);
  assert.equal(row!.modeled_total_ns, (19999 * 20000) / 2);
  assert.equal(row!.approximate, true);
  // The sample's median is near the true one (9999.5).
  assert.ok(Math.abs(Number(row!.modeled_p50_ns) - 9999.5) < 600, String(row!.modeled_p50_ns));
});
