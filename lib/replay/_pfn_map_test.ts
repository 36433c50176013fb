import assert from "node:assert/strict";
import fc from "fast-check";
import { PfnMap } from "./_pfn_map.ts";

Deno.test("PfnMap behaves as a Map under any sequence of sets and deletes", () => {
  const key = fc.oneof(
    fc.integer({ min: 0, max: 300 }),
    fc.integer({ min: 0, max: 2 ** 52 }),
    fc.constantFrom(2 ** 32, 2 ** 32 + 64, 2 ** 40 + 1, 0xfffffffffffff),
  );
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), key, fc.nat(1000)), { maxLength: 400 }),
      (ops) => {
        const m = new PfnMap();
        const want = new Map<number, { pages: number; line: number }>();
        ops.forEach(([add, k, v], line) => {
          if (add) {
            m.set(k, v, line);
            want.set(k, { pages: v, line });
          } else assert.equal(m.delete(k), want.delete(k));
          assert.equal(m.size, want.size);
        });
        for (const [k, v] of want) {
          assert.ok(m.has(k));
          assert.equal(m.pages(k), v.pages);
        }
        assert.deepEqual(
          [...m.entries()].sort((a, b) => a[0] - b[0]),
          [...want].sort((a, b) => a[0] - b[0]),
        );
        assert.equal(m.pages(2 ** 52 + 7), undefined);
      },
    ),
    { numRuns: 500 },
  );
});
