// The real captures in shared/captures (Debian 6.12 kernels under QEMU): every one parses with
// no diagnostics and no unknown events, and its counts equal those in the capture's JSON.

import assert from "node:assert/strict";
import { summarizeTrace } from "./summarize_trace.ts";

const DIR = new URL("../../../shared/captures/", import.meta.url);
const present = await Deno.stat(DIR).then(() => true, () => false);

async function captureNames(): Promise<string[]> {
  if (!present) return [];
  const names: string[] = [];
  for await (const e of Deno.readDir(DIR)) {
    if (e.name.endsWith(".trace.gz") || e.name.endsWith(".trace_pipe.gz")) names.push(e.name);
  }
  return names.sort();
}

/**
 * The capture JSON counts function_graph lines with a simple pattern that misses module
 * functions (`nvme_irq [nvme]() {`): it files them under `fgraph-other`. We parse them as
 * calls; move them back to compare.
 */
function asCaptureCounts(
  byName: Record<string, number>,
  expected: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  let movedToOther = 0;
  for (const [k, v] of Object.entries(byName)) {
    if ((k.startsWith("fgraph-entry:") || k.startsWith("fgraph-leaf:")) && !(k in expected)) {
      movedToOther += v;
    } else out[k] = v;
  }
  if ("fgraph-other" in expected) out["fgraph-other"] = movedToOther;
  return out;
}

for (const file of await captureNames()) {
  Deno.test(`summarizeTrace() parses capture ${file} like the kernel wrote it`, async () => {
    const base = file.replace(/\.trace(_pipe)?\.gz$/, "");
    const meta = JSON.parse(await Deno.readTextFile(new URL(`${base}.json`, DIR)));
    const f = await Deno.open(new URL(file, DIR));
    const s = await summarizeTrace(f.readable);
    assert.equal(s.diagnostics.total, 0, JSON.stringify(s.diagnostics.first));
    assert.equal(s.events.unknown, 0);
    assert.equal(s.input.gzip, true);
    const expected = meta.event_counts as Record<string, number>;
    const got = asCaptureCounts(s.events.byName, expected);
    if ("fgraph-other" in expected) {
      // fgraph-other also counts separators, context switches and blank lines; we count only
      // the module functions moved there, so compare the rest and check the sum is below it.
      assert.ok(got["fgraph-other"]! < expected["fgraph-other"]!);
      delete got["fgraph-other"];
      const rest = { ...expected };
      delete rest["fgraph-other"];
      assert.deepEqual(got, rest);
      assert.ok(s.events.calls > 0);
    } else {
      assert.deepEqual(got, expected);
    }
    const fileMeta = (meta.files as { file: string; uncompressed_bytes: number }[]).find((x) =>
      x.file + ".gz" === file
    );
    if (fileMeta) assert.equal(s.input.bytes, fileMeta.uncompressed_bytes);
    if (s.header.entriesInBuffer !== null) {
      assert.equal(s.events.total, s.header.entriesInBuffer);
    }
  });
}

Deno.test({
  name: "summarizeTrace() sees the same events in a capture's trace and trace_pipe forms",
  ignore: !present,
  fn: async () => {
    const a = await summarizeTrace(
      (await Deno.open(new URL("a_strict-6.12.trace.gz", DIR))).readable,
    );
    const b = await summarizeTrace(
      (await Deno.open(new URL("a_strict-6.12.trace_pipe.gz", DIR))).readable,
    );
    assert.deepEqual(a.events.byName, b.events.byName);
    assert.equal(a.header.format, "trace");
    assert.equal(b.header.format, "trace_pipe");
  },
});
