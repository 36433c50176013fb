import assert from "node:assert/strict";
import fc from "fast-check";
import { hex, hexNum } from "./_ops_table.ts";

Deno.test("a page-aligned 64-bit IOVA held as a number prints the same hex as its bigint", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 52n) - 1n }), (pfn) => {
      const iova = pfn << 12n;
      const lo = Number(iova & 0xffffffffn);
      const hi = Number(iova >> 32n);
      assert.equal(hexNum(lo + hi * 4294967296), hex(iova));
    }),
    { numRuns: 2000 },
  );
  assert.equal(hexNum(-1), "");
  assert.equal(hexNum(0xfffffffffffff000), "0xfffffffffffff000");
});
