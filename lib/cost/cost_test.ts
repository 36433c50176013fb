import assert from "node:assert/strict";
import fc from "fast-check";
import {
  COST_TERMS,
  CostCalibrator,
  costFeatures,
  DEFAULT_COST_PROFILE,
  modeledNs,
  modeledNsOf,
  validateCostProfile,
} from "./mod.ts";

Deno.test("default profile: every term has a source and a status; unverified rows are estimates", () => {
  for (const t of COST_TERMS) {
    const f = DEFAULT_COST_PROFILE.cpu[t];
    assert.ok(f.source.length > 5, t);
    assert.ok(f.status === "estimate" || f.status === "confirmed", t);
  }
  assert.equal(DEFAULT_COST_PROFILE.cpu.iotlb_invalidation.status, "confirmed");
  assert.match(DEFAULT_COST_PROFILE.cpu.iova_alloc_rbtree.source, /unverified/);
  assert.equal(DEFAULT_COST_PROFILE.cpu.iova_alloc_rbtree.status, "estimate");
});

Deno.test("validateCostProfile: a partial profile keeps the default figures it leaves out", () => {
  const r = validateCostProfile({
    name: "epyc",
    cpu: { pte_write: { value: 40, source: "calibrated from capture x", status: "calibrated" } },
  });
  assert.ok(r.ok);
  assert.equal(r.profile.cpu.pte_write.value, 40);
  assert.equal(r.profile.cpu.iotlb_invalidation, DEFAULT_COST_PROFILE.cpu.iotlb_invalidation);
  assert.equal(r.profile.dataPath.iotlb_miss_ns, DEFAULT_COST_PROFILE.dataPath.iotlb_miss_ns);
});

Deno.test("validateCostProfile: every bad figure is reported with its pointer", () => {
  const r = validateCostProfile({
    name: "",
    cpu: {
      pte_wrtie: { value: 1, source: "x" },
      iotlb_invalidation: { value: -1, source: "x" },
      fq_queue: { value: 1, source: "x", status: "guess" },
      sg_entry: 5,
    },
    dataPath: { iotlb_miss_ns: { value: 1 } },
    extra: 1,
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => e.pointer).sort(), [
    "/cpu/fq_queue/status",
    "/cpu/iotlb_invalidation/value",
    "/cpu/pte_wrtie",
    "/cpu/sg_entry",
    "/dataPath/iotlb_miss_ns/source",
    "/extra",
    "/name",
  ]);
  assert.ok(!validateCostProfile([]).ok);
  assert.ok(!validateCostProfile(null).ok);
});

Deno.test("costFeatures: alloc vs free by source, lazy unmaps pay the flush queue, not the IOTLB", () => {
  const op = {
    op: "dma_map_sg",
    iovaSource: "rbtree",
    pteWrites: 8,
    iotlbInvalidations: 0,
    sgEntries: 3,
  };
  assert.deepEqual(costFeatures(op), [
    ["dma_map_sg", 1],
    ["iova_alloc_rbtree", 1],
    ["pte_write", 8],
    ["sg_entry", 3],
  ]);
  assert.deepEqual(costFeatures({ ...op, op: "dma_unmap_sg", iovaSource: "fq", sgEntries: 0 }), [
    ["dma_unmap_sg", 1],
    ["fq_queue", 1],
    ["pte_write", 8],
  ]);
  assert.ok(
    Number.isNaN(
      modeledNs(DEFAULT_COST_PROFILE, {
        ...op,
        op: "x",
        iovaSource: "",
        pteWrites: 0,
        sgEntries: 0,
      }),
    ),
  );
});

Deno.test("CostCalibrator: recovers non-negative costs from noisy samples; unseen terms keep the base", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 50, max: 2000 }),
      fc.integer({ min: 10, max: 500 }),
      fc.integer({ min: 100, max: 3000 }),
      fc.integer({ min: 1, max: 1 << 30 }),
      (base, pte, tree, seed) => {
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
        const c = new CostCalibrator({ source: "calibrated from test" });
        for (let i = 0; i < 400; ++i) {
          const pages = 1 + Math.floor(rnd() * 16);
          const t = rnd() < 0.3 ? 1 : 0;
          const y = base + pte * pages + tree * t + (rnd() - 0.5) * 20;
          const f: [typeof COST_TERMS[number], number][] = [["dma_map_single", 1], [
            "pte_write",
            pages,
          ]];
          if (t) f.push(["iova_alloc_rbtree", 1]);
          c.add(f, y);
        }
        const r = c.fit(DEFAULT_COST_PROFILE);
        assert.ok(Math.abs(r.profile.cpu.pte_write.value - pte) < 3);
        assert.ok(Math.abs(r.profile.cpu.dma_map_single.value - base) < 15);
        assert.ok(Math.abs(r.profile.cpu.iova_alloc_rbtree.value - tree) < 15);
        assert.ok(r.r2 > 0.99 && r.rmseNs < 10);
        assert.equal(r.profile.cpu.fq_queue, DEFAULT_COST_PROFILE.cpu.fq_queue);
        assert.equal(r.terms.length, 3);
      },
    ),
    { numRuns: 20 },
  );
});

Deno.test("CostCalibrator: a term that would fit negative is clamped at 0", () => {
  const c = new CostCalibrator();
  // More sg entries make it *faster* in these samples: the best non-negative cost is 0.
  c.add([["dma_map_sg", 1], ["sg_entry", 1]], 1000);
  c.add([["dma_map_sg", 1], ["sg_entry", 10]], 900);
  const r = c.fit(DEFAULT_COST_PROFILE);
  assert.equal(r.profile.cpu.sg_entry.value, 0);
  assert.ok(Math.abs(r.profile.cpu.dma_map_sg.value - 950) < 1);
  assert.equal(new CostCalibrator().fit(DEFAULT_COST_PROFILE).samples, 0);
  assert.ok(Number.isNaN(new CostCalibrator().fit(DEFAULT_COST_PROFILE).r2));
});

Deno.test("modeledNsOf sums exactly costFeatures' terms, for any operation", () => {
  const ops = [
    "dma_map_page",
    "dma_unmap_page",
    "dma_map_sg",
    "dma_unmap_sg",
    "dma_alloc",
    "dma_free",
    "dma_sync_single_for_cpu",
    "dma_buf_get_pfn",
    "dma_buf_move_notify",
    "iommu_map",
    "no_such_op",
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...ops),
      fc.constantFrom("", "rcache", "rbtree", "fq", "other"),
      fc.nat(600),
      fc.nat(3),
      fc.nat(130),
      (op, iovaSource, pteWrites, iotlbInvalidations, sgEntries) => {
        const o = { op, iovaSource, pteWrites, iotlbInvalidations, sgEntries };
        const f = costFeatures(o);
        const want = f.length === 0
          ? NaN
          : f.reduce((s, [t, n]) => s + DEFAULT_COST_PROFILE.cpu[t].value * n, 0);
        const got = modeledNsOf(
          DEFAULT_COST_PROFILE,
          op,
          iovaSource,
          pteWrites,
          iotlbInvalidations,
          sgEntries,
        );
        assert.ok(Object.is(got, want) || got === want, `${JSON.stringify(o)}: ${got} vs ${want}`);
        assert.ok(Object.is(modeledNs(DEFAULT_COST_PROFILE, o), got));
      },
    ),
    { numRuns: 2000 },
  );
});
