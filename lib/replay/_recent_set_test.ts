import assert from "node:assert/strict";
import fc from "fast-check";
import { RecentSet } from "./_recent_set.ts";

/** The reference: a JS Set evicting its first (oldest) member; re-adding moves to the end. */
class Reference {
  s = new Set<number | bigint>();
  constructor(readonly max: number) {}
  add(x: number | bigint) {
    this.s.delete(x);
    this.s.add(x);
    if (this.s.size > this.max) this.s.delete(this.s.values().next().value!);
  }
}

type Op = readonly [string, number | bigint];

/**
 * Apply `ops` to a RecentSet and to the reference, both of `max`; after each one `check` gets
 * the two (sizes are compared every time).
 */
function replayOps(
  max: number,
  ops: readonly Op[],
  check: (got: RecentSet, want: Reference) => void,
) {
  const got = new RecentSet(max);
  const want = new Reference(max);
  for (const [op, x] of ops) {
    if (op === "add") {
      got.add(x);
      want.add(x);
    } else {
      got.delete(x);
      want.s.delete(x);
    }
    assert.equal(got.size, want.s.size);
    check(got, want);
  }
  return { got, want };
}

Deno.test("RecentSet keeps exactly the most recently added members, as an evicting Set would", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.tuple(fc.constantFrom("add", "add", "delete"), fc.integer({ min: 0, max: 30 })), {
        maxLength: 500,
      }),
      (max, ops) => {
        replayOps(max, ops, (got, want) => {
          for (let y = 0; y <= 30; ++y) assert.equal(got.has(y), want.s.has(y), `member ${y}`);
        });
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("RecentSet over addresses: numbers and bigints, many members, colliding probes", () => {
  // Addresses a page apart (their low bits alike), a few above 2^53 (held as bigints), and a
  // window larger than the arrays' first size, so that they grow and the index is rebuilt.
  const address = fc.oneof(
    fc.integer({ min: 0, max: 400 }).map((k) => 0xfff00000 - k * 4096),
    fc.integer({ min: 0, max: 400 }).map((k) => k * 2 ** 32),
    fc.integer({ min: 0, max: 20 }).map((k) => 0xffff_8000_0000_0000n + BigInt(k) * 4096n),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 300 }),
      fc.array(fc.tuple(fc.constantFrom("add", "add", "add", "delete"), address), {
        minLength: 100,
        maxLength: 1500,
        size: "max",
      }),
      (max, ops) => {
        const { got, want } = replayOps(max, ops, () => {});
        for (const [, y] of ops) assert.equal(got.has(y), want.s.has(y), `member ${y}`);
      },
    ),
    { numRuns: 200 },
  );
});
