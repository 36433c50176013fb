import assert from "node:assert/strict";
import fc from "fast-check";
import { Bytes, MAX_RLE_BITS, writeRleHybrid } from "./_parquet_encoding.ts";

/** The RLE / bit-packing hybrid read back (Encodings.md), `n` values of `width` bits. */
function decode(bytes: Uint8Array, n: number, width: number): number[] {
  const out: number[] = [];
  let at = 0;
  const varint = () => {
    let v = 0;
    for (let shift = 0;; shift += 7) {
      const b = bytes[at++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  while (out.length < n) {
    assert.ok(at < bytes.length, "the runs end before the values do");
    const header = varint();
    if (header % 2 === 0) {
      let v = 0;
      for (let k = 0; k < (width + 7) >> 3; ++k) v |= bytes[at++]! << (8 * k);
      for (let k = 0; k < header / 2; ++k) out.push(v);
    } else {
      const count = ((header - 1) / 2) * 8;
      let bit = 0;
      for (let k = 0; k < count; ++k) {
        let v = 0;
        for (let b = 0; b < width; ++b, ++bit) {
          v |= ((bytes[at + (bit >> 3)]! >> (bit & 7)) & 1) << b;
        }
        out.push(v);
      }
      at += (count * width) / 8;
    }
  }
  assert.equal(at, bytes.length, "bytes left after the values");
  return out.slice(0, n);
}

function encode(values: readonly number[], width: number): Uint8Array {
  const out = new Bytes();
  writeRleHybrid(out, Int32Array.from(values), values.length, width);
  return out.view().slice();
}

Deno.test("writeRleHybrid: property: any values of any width decode back (runs and scattered values mixed)", () => {
  const arb = fc.integer({ min: 1, max: MAX_RLE_BITS }).chain((width) =>
    fc.tuple(
      fc.constant(width),
      // Runs of random lengths, so that RLE runs and bit-packed groups alternate.
      fc.array(
        fc.tuple(fc.integer({ min: 0, max: 2 ** width - 1 }), fc.integer({ min: 1, max: 30 })),
        { maxLength: 30 },
      ),
    )
  );
  fc.assert(
    fc.property(arb, ([width, runs]) => {
      const values = runs.flatMap(([v, k]) => Array<number>(k).fill(v));
      assert.deepEqual(decode(encode(values, width), values.length, width), values);
    }),
    { numRuns: 300 },
  );
});

Deno.test("writeRleHybrid: a run of equal values is one RLE run; scattered values are packed bits", () => {
  // 16 384 rows of one value: a varint header and the value.
  assert.deepEqual([...encode(Array(16384).fill(1), 1)], [0x80, 0x80, 0x02, 1]);
  // 0..7 at 3 bits: one bit-packed group (header 3), 3 bytes.
  assert.deepEqual([...encode([0, 1, 2, 3, 4, 5, 6, 7], 3)], [
    3,
    0b10001000,
    0b11000110,
    0b11111010,
  ]);
  // A tail shorter than a group is padded with zeros, and no run follows it.
  assert.deepEqual([...encode([1, 0, 1], 1)], [3, 0b101]);
  // Width 24: three bytes per value, in RLE too.
  assert.deepEqual([...encode(Array(8).fill(0xabcdef), 24)], [16, 0xef, 0xcd, 0xab]);
});

Deno.test("writeRleHybrid: nothing to write gives no bytes", () => {
  assert.deepEqual([...encode([], 5)], []);
});
