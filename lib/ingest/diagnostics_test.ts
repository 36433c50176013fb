import assert from "node:assert/strict";
import { DiagnosticLog } from "./diagnostics.ts";

Deno.test("DiagnosticLog.restore() takes another log's state whole, its caps included", () => {
  const a = new DiagnosticLog({ samplesPerCode: 2 });
  a.report("bad_line", 3, 0, "first");
  a.report("bad_line", 5, 0, "second");
  a.report("bad_line", 9, 0, "third (not kept)");
  a.report("bad_timestamp", 4, 7, "a timestamp");
  a.add("lost_events", 12);
  // Through structured clone, as between threads.
  const state = structuredClone(a.state());
  const b = new DiagnosticLog({ samplesPerCode: 2 });
  b.report("missing_field", 1, 0, "replaced by the restore");
  b.restore(state);
  assert.deepEqual(b.samples(), a.samples());
  assert.deepEqual(b.counters(), a.counters());
  assert.deepEqual(b.byCode(), a.byCode());
  assert.equal(b.total(), 4);
  assert.equal(b.count("missing_field"), 0);
  // bad_line already has its two samples: a fourth is counted, not kept; another code is kept.
  b.report("bad_line", 11, 0, "fourth");
  b.report("missing_field", 12, 0, "kept");
  assert.equal(b.count("bad_line"), 4);
  assert.deepEqual(b.samples().map((d) => d.line), [3, 4, 5, 12]);
});
