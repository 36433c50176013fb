import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteKeys } from "./_byte_keys.ts";

Deno.test("ByteKeys finds exactly the keys added, at any offset in any buffer, through growth", () => {
  fc.assert(
    fc.property(
      // Short alphabets make keys that differ in one byte, and lengths that straddle words.
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }).map((k) => k.map((b) => b % 3)), {
        maxLength: 400,
      }),
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }).map((k) => k.map((b) => b % 3)), {
        maxLength: 50,
      }),
      fc.nat(7),
      fc.constantFrom(32, 2, 0),
      (keys, probes, pad, hashBits) => {
        const t = new ByteKeys(hashBits);
        const ids = new Map<string, number>();
        for (const k of keys) {
          // Each key inside a fresh buffer with junk around it.
          const buf = new Uint8Array(pad + k.length + 5).fill(7);
          buf.set(k, pad);
          const name = k.join(",");
          const found = t.find(buf, pad, pad + k.length);
          if (ids.has(name)) assert.equal(found, ids.get(name));
          else {
            assert.equal(found, -1, `false hit for [${name}]`);
            const id = t.add(buf, pad, pad + k.length);
            assert.equal(id, ids.size);
            ids.set(name, id);
          }
        }
        // recentAt: a key last or next-to-last found, when the buffer holds it at the start.
        const byId = [...ids.keys()];
        for (const k of [...keys, ...probes]) {
          const buf = new Uint8Array(k.length + 2).fill(9);
          buf.set(k, 0);
          const r = t.recentAt(buf, 0, buf.length);
          if (r < 0) continue;
          const key = byId[r] === "" ? [] : byId[r]!.split(",").map(Number);
          assert.equal(t.lengthOf(r), key.length);
          assert.deepEqual([...buf.subarray(0, key.length)], key, "a key that is not there");
        }
        assert.equal(t.size, ids.size);
        for (const k of [...keys, ...probes]) {
          const buf = new Uint8Array(k.length + 3).fill(1);
          buf.set(k, 3);
          assert.equal(t.find(buf.subarray(3), 0, k.length), ids.get(k.join(",")) ?? -1);
        }
      },
    ),
    { numRuns: 300 },
  );
});
