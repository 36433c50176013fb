import assert from "node:assert/strict";
import fc from "fast-check";
import { hex, parseHexU64, pfnAt, u64AsNumber, u64At } from "./u64.ts";

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
