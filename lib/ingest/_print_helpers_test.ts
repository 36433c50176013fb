// The __print_array decoder (kernel-spec §2.1's `{0x..,0x..}` fields) against a reference
// that reads the array the slow way: split at commas, each element through parseHexU64.

import assert from "node:assert/strict";
import fc from "fast-check";
import { newBatch } from "./_batch_builder.ts";
import { parseArray, parseArrayAt } from "./_print_helpers.ts";
import { StringTable } from "./string_table.ts";
import { parseHexU64, u64At } from "./u64.ts";

const enc = new TextEncoder();

/** The values of the array that is exactly `text`, or null when it is not one. */
function reference(text: string): bigint[] | null {
  if (text.length < 2 || text[0] !== "{" || text[text.length - 1] !== "}") return null;
  const inner = text.slice(1, -1);
  if (inner === "") return [];
  const out: bigint[] = [];
  const col = new Uint32Array(2);
  for (const el of inner.split(",")) {
    const b = enc.encode(el);
    if (!parseHexU64(b, 0, b.length, col, 0)) return null;
    out.push(u64At(col, 0));
  }
  return out;
}

/** What parseArray stores for `text` (null: false), and the pool it leaves in use. */
function decoded(text: string): { values: bigint[] | null; poolLen: number } {
  const b = newBatch(4, new StringTable(), new StringTable(), 0n);
  b.poolLen = 3; // arrays of earlier rows: kept
  const start = new Int32Array(1);
  const len = new Int32Array(1);
  const s = enc.encode(text);
  if (!parseArray(b, s, 0, s.length, start, len, 0)) return { values: null, poolLen: b.poolLen };
  const values: bigint[] = [];
  for (let k = 0; k < len[0]!; ++k) values.push(u64At(b.pool, start[0]! + k));
  return { values, poolLen: b.poolLen };
}

const hexWord = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).chain((v) =>
  fc.record({
    prefix: fc.constantFrom("", "0x", "0X"),
    zeros: fc.nat({ max: 4 }),
    upper: fc.boolean(),
  }).map(({ prefix, zeros, upper }) => {
    const digits = v.toString(16);
    return prefix + "0".repeat(zeros) + (upper ? digits.toUpperCase() : digits);
  })
);
const arrayText = fc.array(hexWord, { maxLength: 6 }).map((els) => "{" + els.join(",") + "}");
/** Arrays with a few characters changed: the odd shapes a decoder must refuse or agree on. */
const mutated = fc.tuple(
  arrayText,
  fc.array(
    fc.tuple(fc.nat(), fc.constantFrom("", ",", "{", "}", "x", "0", "f", "g", "0x", " ", "00000")),
    { maxLength: 3 },
  ),
).map(([t, edits]) =>
  edits.reduce((acc, [at, text]) => {
    const i = at % (acc.length + 1);
    return acc.slice(0, i) + text + acc.slice(i + 1);
  }, t)
);

Deno.test("parseArray() reads every {0x..,0x..} array as the element-by-element reference does", () => {
  fc.assert(
    fc.property(fc.oneof(arrayText, mutated), (text) => {
      const want = reference(text);
      const got = decoded(text);
      assert.deepEqual(got.values, want, text);
      assert.equal(got.poolLen, 3 + (want?.length ?? 0), text);
    }),
    { numRuns: 3000 },
  );
});

Deno.test("parseArray() takes 16 significant digits after leading zeros, not 17", () => {
  assert.deepEqual(decoded("{0x0000ffffffffffffffff}").values, [(1n << 64n) - 1n]);
  assert.deepEqual(decoded("{1ffffffffffffffff}").values, null);
  assert.deepEqual(decoded("{0x,0x1}").values, null);
  assert.deepEqual(decoded("{}").values, []);
  assert.deepEqual(decoded("{0x1,}").values, null);
});

Deno.test("parseArrayAt() ends at the array's brace: what follows is the caller's", () => {
  const b = newBatch(4, new StringTable(), new StringTable(), 0n);
  const s = enc.encode("phys_addrs={0x2d15000,0xA} attrs=");
  const start = new Int32Array(1);
  const len = new Int32Array(1);
  assert.equal(parseArrayAt(b, s, 11, s.length, start, len, 0), 26);
  assert.deepEqual([u64At(b.pool, 0), u64At(b.pool, 1), len[0]], [0x2d15000n, 10n, 2]);
  // Cut off before its brace (a line read before its end is known): nothing kept.
  assert.equal(parseArrayAt(b, s, 11, 20, start, len, 0), -1);
  assert.equal(b.poolLen, 2);
});
