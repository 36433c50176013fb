import assert from "node:assert/strict";
import fc from "fast-check";
import { RecentSet } from "./_recent_set.ts";

/** The reference: a JS Set evicting its first (oldest) member; re-adding moves to the end. */
class Reference {
  s = new Set<number>();
  constructor(readonly max: number) {}
  add(x: number) {
    this.s.delete(x);
    this.s.add(x);
    if (this.s.size > this.max) this.s.delete(this.s.values().next().value!);
  }
}

Deno.test("RecentSet keeps exactly the most recently added members, as an evicting Set would", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.tuple(fc.constantFrom("add", "add", "delete"), fc.integer({ min: 0, max: 30 })), {
        maxLength: 500,
      }),
      (max, ops) => {
        const got = new RecentSet<number>(max);
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
          for (let y = 0; y <= 30; ++y) assert.equal(got.has(y), want.s.has(y), `member ${y}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
