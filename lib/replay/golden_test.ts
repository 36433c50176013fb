// The golden traces of traces/golden/: each NAME.trace replays, under every topology and
// revision its NAME.expected.json lists, to the summary keys listed there (a subset: keys not
// listed are not compared), and each trace names its kernel version in its header.

import assert from "node:assert/strict";
import { validateTopology } from "../model/topology/mod.ts";
import type { RevisionName } from "../revisions/mod.ts";
import { replayTrace } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);
const DIR = new URL("traces/golden/", ROOT);

/** `actual` has every key of `expected` with the same value (recursively). */
function assertSubset(actual: unknown, expected: unknown, at: string): void {
  if (typeof expected !== "object" || expected === null) {
    assert.deepEqual(actual, expected, at);
    return;
  }
  assert.equal(typeof actual, "object", at);
  const e = expected as Record<string, unknown>;
  const a = actual as Record<string, unknown>;
  // An empty object means "exactly empty" (no anomalies), not "anything".
  if (Object.keys(e).length === 0) assert.deepEqual(a, {}, at);
  for (const k of Object.keys(e)) {
    if (!k.startsWith("_")) assertSubset(a[k], e[k], `${at}.${k}`);
  }
}

const names: string[] = [];
for await (const f of Deno.readDir(DIR)) if (f.name.endsWith(".trace")) names.push(f.name);
names.sort();

Deno.test("golden traces: at least one per revision comparison, each with its kernel version", async () => {
  assert.ok(names.length > 0);
  for (const n of names) {
    const text = await Deno.readTextFile(new URL(n, DIR));
    assert.match(text.slice(0, 2000), /^# .*Kernel: Linux \d+\.\d+/m, n);
  }
});

for (const name of names) {
  const expectedUrl = new URL(name.replace(/\.trace$/, ".expected.json"), DIR);
  Deno.test(`golden ${name}: the expected summary under each topology and revision`, async () => {
    const expected = JSON.parse(await Deno.readTextFile(expectedUrl)) as {
      runs: { topology?: string; revisions: Record<string, unknown> }[];
    };
    for (const run of expected.runs) {
      let topology;
      if (run.topology !== undefined) {
        const t = validateTopology(
          JSON.parse(await Deno.readTextFile(new URL(run.topology, ROOT))),
        );
        assert.ok(t.ok, run.topology);
        topology = t.topology;
      }
      for (const [revision, want] of Object.entries(run.revisions)) {
        const bytes = await Deno.readFile(new URL(name, DIR));
        const r = await replayTrace(new Blob([bytes]).stream(), {
          revision: revision as RevisionName,
          ...(topology ? { topology } : {}),
        });
        assertSubset(r.summary, want, `${name} ${run.topology ?? "(no topology)"} ${revision}`);
      }
    }
  });
}
