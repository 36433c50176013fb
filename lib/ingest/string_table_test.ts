import assert from "node:assert/strict";
import fc from "fast-check";
import { StringTable } from "./string_table.ts";

const enc = new TextEncoder();

Deno.test("StringTable.internBytes: the same ids as intern, for any strings, across growth", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: "grapheme", maxLength: 24 }), { minLength: 1, maxLength: 300 }),
      fc.integer({ min: 0, max: 7 }),
      (words, pad) => {
        const byBytes = new StringTable();
        const byString = new StringTable();
        for (const w of [...words, ...words.toReversed()]) {
          // The string sits inside a larger buffer, at an offset.
          const bytes = new Uint8Array([...new Uint8Array(pad).fill(0x41), ...enc.encode(w), 0x20]);
          const id = byBytes.internBytes(bytes, pad, bytes.length - 1);
          assert.equal(id, byString.intern(w));
          assert.equal(byBytes.get(id), w);
        }
        assert.equal(byBytes.size, new Set(words).size);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("StringTable.internBytes: names that differ only inside (device names) stay apart", () => {
  const t = new StringTable();
  const names = Array.from(
    { length: 5000 },
    (_, i) =>
      `0000:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 0xff).toString(16).padStart(2, "0")
      }.0`,
  );
  const ids = names.map((n) => t.internBytes(enc.encode(n), 0, n.length));
  assert.equal(new Set(ids).size, names.length);
  names.forEach((n, i) =>
    assert.equal(t.internBytes(enc.encode(` ${n}`), 1, n.length + 1), ids[i])
  );
  assert.equal(t.internBytes(new Uint8Array(0), 0, 0), t.intern(""));
});
