// traces/anomalies/: for every anomaly code, CODE.trace raises it and CODE.ok.trace, its
// correct twin, does not. Each trace says in its header what it expects
// (`# expect: CODE=N ...` or `none`), and optionally the topology and revision to replay with.

import assert from "node:assert/strict";
import { validateTopology } from "../model/topology/mod.ts";
import type { RevisionName } from "../revisions/mod.ts";
import { ANOMALY_CODES, replayTrace } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);
const DIR = new URL("traces/anomalies/", ROOT);
const HEADER_REGEXP = /^# (expect|topology|revision): (.*)$/gm;

async function replayGolden(name: string) {
  const text = await Deno.readTextFile(new URL(name, DIR));
  const head: Record<string, string> = {};
  for (const m of text.slice(0, 4000).matchAll(HEADER_REGEXP)) head[m[1]!] = m[2]!.trim();
  assert.ok(head.expect !== undefined, `${name}: no "# expect:" line`);
  let topology;
  if (head.topology !== undefined) {
    const t = validateTopology(JSON.parse(await Deno.readTextFile(new URL(head.topology, ROOT))));
    assert.ok(t.ok, head.topology);
    topology = t.topology;
  }
  const r = await replayTrace(new Blob([text]).stream(), {
    ...(topology ? { topology } : {}),
    ...(head.revision ? { revision: head.revision as RevisionName } : {}),
  });
  const want: Record<string, number> = {};
  if (head.expect !== "none") {
    for (const kv of head.expect.split(/\s+/)) {
      const [k, v] = kv.split("=");
      want[k!] = Number(v);
    }
  }
  return { r, want };
}

Deno.test("anomaly goldens: a trigger and a correct twin for every code", async () => {
  const files = new Set<string>();
  for await (const f of Deno.readDir(DIR)) files.add(f.name);
  for (const code of Object.keys(ANOMALY_CODES)) {
    assert.ok(files.has(`${code}.trace`), `traces/anomalies/${code}.trace`);
    assert.ok(files.has(`${code}.ok.trace`), `traces/anomalies/${code}.ok.trace`);
  }
});

for (const code of Object.keys(ANOMALY_CODES)) {
  Deno.test(`anomaly golden ${code}: the trigger raises it, the twin does not`, async () => {
    const trigger = await replayGolden(`${code}.trace`);
    assert.deepEqual(trigger.r.summary.anomalies.byCode, trigger.want, `${code}.trace`);
    assert.ok((trigger.want[code] ?? 0) > 0, `${code}.trace must expect ${code}`);
    const first = trigger.r.anomalies.find((a) => a.code === code)!;
    assert.ok(first.message.length > 10);
    const twin = await replayGolden(`${code}.ok.trace`);
    assert.deepEqual(twin.r.summary.anomalies.byCode, twin.want, `${code}.ok.trace`);
    assert.equal(twin.want[code], undefined, `${code}.ok.trace must not expect ${code}`);
    assert.equal(twin.r.summary.diagnostics.total + trigger.r.summary.diagnostics.total, 0);
  });
}
