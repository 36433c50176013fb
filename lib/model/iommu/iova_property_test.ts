// Property tests of the allocator: random alloc/free sequences keep its invariants (no
// overlap, alignment, within the limit, the anchor last, a valid red-black tree), and a free
// makes its space allocatable again.

import assert from "node:assert/strict";
import fc from "fast-check";
import { IOVA_ANCHOR_PFN, IovaDomain, IovaRcaches } from "./mod.ts";

function checkDomain(d: IovaDomain): void {
  const t = d.tree;
  t.checkInvariants();
  let prevHi = -1;
  let last = 0;
  for (let n = t.first(); n !== 0; n = t.next(n)) {
    assert.ok(t.lo[n]! > prevHi, "ranges overlap or are out of order");
    assert.ok(t.lo[n]! <= t.hi[n]!);
    prevHi = t.hi[n]!;
    last = n;
  }
  assert.equal(last, d.anchor);
  assert.equal(t.lo[d.anchor], IOVA_ANCHOR_PFN);
}

const op = fc.oneof(
  fc.record({
    kind: fc.constant("alloc" as const),
    size: fc.integer({ min: 1, max: 300 }),
    limit: fc.constantFrom(0xfffff, 0x3ffff, 0xfffffffff),
  }),
  fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
);

Deno.test("allocIova()/freeIova() keep the tree's invariants on random sequences", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const d = new IovaDomain(4096);
      const live: { lo: number; size: number }[] = [];
      for (const o of ops) {
        if (o.kind === "alloc") {
          const pfn = d.allocIova(o.size, o.limit, true);
          if (pfn < 0) continue;
          const align = 2 ** Math.ceil(Math.log2(o.size));
          assert.equal(pfn % align, 0, "not size-aligned");
          assert.ok(pfn + o.size - 1 <= o.limit, "beyond the limit");
          assert.ok(pfn >= d.startPfn);
          live.push({ lo: pfn, size: o.size });
        } else if (live.length > 0) {
          const [x] = live.splice(o.pick % live.length, 1);
          assert.ok(d.freeIova(x!.lo + (x!.size - 1)));
        }
      }
      checkDomain(d);
      assert.equal(d.rangeCount, live.length);
    }),
    { numRuns: 300 },
  );
});

Deno.test("freeIova() makes the space allocatable again: refill after free-all gives the same pfns", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 60 }),
      (sizes) => {
        const d = new IovaDomain(4096);
        const first = sizes.map((s) => d.allocIova(s, 0xfffff, true));
        for (const p of first) if (p >= 0) d.freeIova(p);
        assert.equal(d.rangeCount, 0);
        const again = sizes.map((s) => d.allocIova(s, 0xfffff, true));
        assert.deepEqual(again, first);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("allocIovaFast()/freeIovaFast() on random CPUs never hand out a pfn twice", () => {
  const fast = fc.oneof(
    fc.record({
      kind: fc.constant("alloc" as const),
      size: fc.integer({ min: 1, max: 40 }),
      cpu: fc.integer({ min: 0, max: 3 }),
    }),
    fc.record({
      kind: fc.constant("free" as const),
      pick: fc.nat(),
      cpu: fc.integer({ min: 0, max: 3 }),
    }),
  );
  fc.assert(
    fc.property(
      fc.array(fast, { maxLength: 400 }),
      fc.constantFrom("6.7+" as const, "pre-6.7" as const),
      (ops, version) => {
        const d = new IovaDomain(4096);
        const rc = new IovaRcaches(d, { version, onlineCpus: 4 });
        const live = new Map<number, number>(); // pfn → size
        let now = 0;
        for (const o of ops) {
          now += 7_000_000;
          if (o.kind === "alloc") {
            const pfn = rc.allocIovaFast(o.size, 0xfffff, true, o.cpu, now);
            if (pfn === 0) continue;
            assert.ok(!live.has(pfn), `pfn 0x${pfn.toString(16)} handed out twice`);
            live.set(pfn, o.size);
          } else if (live.size > 0) {
            const keys = [...live.keys()];
            const pfn = keys[o.pick % keys.length]!;
            rc.freeIovaFast(pfn, live.get(pfn)!, o.cpu, now);
            live.delete(pfn);
          }
        }
        checkDomain(d);
        // Every live pfn is in the tree; none is also in a cache.
        for (const [pfn, size] of live) {
          assert.notEqual(d.findIova(pfn), 0);
          const cls = size <= 1 ? 0 : Math.ceil(Math.log2(size));
          assert.equal(rc.isCached(pfn, cls), false);
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("IovaTree keeps its red-black invariants at 100 k live ranges with churn", () => {
  const d = new IovaDomain(4096);
  const pfns: number[] = [];
  for (let i = 0; i < 100_000; ++i) pfns.push(d.allocIova(1, 0xfffffffff, false));
  d.tree.checkInvariants();
  // Free every third, reallocate as many: the tree stays valid and the height logarithmic.
  for (let i = 0; i < pfns.length; i += 3) d.freeIova(pfns[i]!);
  for (let i = 0; i < pfns.length; i += 3) assert.ok(d.allocIova(1, 0xfffffffff, false) > 0);
  d.tree.checkInvariants();
  let height = 0;
  const depth = (x: number, h: number): void => {
    if (x === 0) {
      height = Math.max(height, h);
      return;
    }
    depth(d.tree.left[x]!, h + 1);
    depth(d.tree.right[x]!, h + 1);
  };
  depth(d.tree.root, 0);
  assert.ok(height <= 2 * Math.log2(d.tree.size + 1), `height ${height}`);
});
