import assert from "node:assert/strict";
import fc from "fast-check";
import {
  hex,
  parseHexU64,
  pfnAt,
  u64AsNumber,
  u64At,
  u64Exact,
  u64ExactAt,
  u64Sum,
} from "./u64.ts";

Deno.test("u64At: any 64-bit value round-trips, on both sides of the 2^53 fast path", () => {
  const col = new Uint32Array(2);
  const check = (v: bigint) => {
    col[0] = Number(v & 0xffffffffn);
    col[1] = Number(v >> 32n);
    assert.equal(u64At(col, 0), v);
    assert.equal(pfnAt(col, 0), Number(v >> 12n));
  };
  for (
    const v of [0n, 1n, 0xffffffffn, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n]
  ) check(v);
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), check), { numRuns: 2000 });
});

Deno.test("parseHexU64 writes the column u64At and u64AsNumber read", () => {
  const col = new Uint32Array(2);
  const text = new TextEncoder().encode("fffff000deadbeef");
  assert.ok(parseHexU64(text, 0, text.length, col, 0));
  assert.equal(hex(u64At(col, 0)), "0xfffff000deadbeef");
  assert.equal(u64AsNumber(col, 0), Number(0xfffff000deadbeefn));
});

Deno.test("U64: one form per value (a number up to 2^53 - 1, a bigint above), sums exact", () => {
  const u64 = fc.oneof(
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    fc.bigInt({ min: 2n ** 53n - 4096n, max: 2n ** 53n + 4096n }),
    fc.bigInt({ min: 0n, max: 2n ** 32n }),
  );
  const form = (v: bigint) => (v < 2n ** 53n ? Number(v) : v);
  fc.assert(
    fc.property(u64, u64, (a, b) => {
      const col = new Uint32Array([Number(a & 0xffffffffn), Number(a >> 32n)]);
      assert.equal(u64ExactAt(col, 0), form(a));
      assert.equal(u64Exact(a), form(a));
      assert.equal(u64Exact(form(a)), form(a));
      assert.equal(u64Sum(u64Exact(a), u64Exact(b)), form(a + b));
      if (a > 0n) assert.equal(u64Sum(u64Exact(a), -1), form(a - 1n));
    }),
    { numRuns: 2000 },
  );
});
