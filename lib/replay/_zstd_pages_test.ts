import assert from "node:assert/strict";
import zlib from "node:zlib";
import fc from "fast-check";
import { zstdPage } from "./_zstd_pages.ts";

const Z = zlib as unknown as {
  zstdDecompressSync(input: Uint8Array): Uint8Array;
};

/** An empty zstd frame: zstdCompressSync ends a frame larger than its 16 KiB output chunks so. */
const EMPTY_FRAME = [0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x00, 0x01, 0x00, 0x00];

/** zstdCompressSync's bytes: the same frame, or the same frame and an empty one. */
function sameFrame(ours: Uint8Array, theirs: Uint8Array): boolean {
  const a = [...ours].join();
  return a === [...theirs].join() || [...ours, ...EMPTY_FRAME].join() === [...theirs].join();
}

Deno.test("zstdPage: property: the frames of a context of their own, page after page", () => {
  const page = fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).chain((unit) =>
      fc.integer({ min: 1, max: 4000 }).map((times) =>
        Uint8Array.from({ length: unit.length * times }, (_, i) => unit[i % unit.length]!)
      )
    ),
  );
  fc.assert(
    fc.property(fc.array(page, { minLength: 1, maxLength: 8 }), (pages) => {
      for (const body of pages) {
        const frame = zstdPage(body).slice();
        assert.ok(sameFrame(frame, zstdPage(body, false)));
        assert.deepEqual([...Z.zstdDecompressSync(frame)], [...body]);
      }
    }),
    { numRuns: 100 },
  );
});

Deno.test("zstdPage: large and incompressible pages, and the kept context in use", () => {
  const noise = new Uint8Array(300_000);
  for (let i = 0; i < noise.length; i += 65536) {
    crypto.getRandomValues(noise.subarray(i, i + 65536));
  }
  const a = zstdPage(noise).slice();
  assert.ok(sameFrame(a, zstdPage(noise, false)));
  assert.deepEqual([...Z.zstdDecompressSync(a)], [...noise]);
  assert.ok(a.length > noise.length); // stored: a frame larger than its page
  const b = zstdPage(new Uint8Array(131_072));
  assert.deepEqual([...Z.zstdDecompressSync(b.slice())], [...new Uint8Array(131_072)]);
  // One reused buffer: the kept context, not a new one a page.
  assert.equal(zstdPage(new Uint8Array(10)).buffer, zstdPage(new Uint8Array(20)).buffer);
});
