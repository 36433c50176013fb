// A/B of everything after the parse (the replay's checks, the ops recorder and the encoding of
// every table) in one process: the trace is parsed once, its batches copied, and each checkout's
// `replayParse` replays fresh copies of them in turn, N turns each. Without the parse (nearly half
// of a replay) and without a process per run, a change of a few per cent of the replay shows
// through a machine whose speed moves by tens of per cent between minutes.
// deno-lint-ignore-file no-console no-explicit-any -- a benchmark prints its figures, and loads
// other checkouts' modules whose types are their own
//
//   deno run -A bench/ab_after_parse.ts N TRACE TOPOLOGY "LABEL|CHECKOUT" ...
//
// CHECKOUT is a directory with lib/ (a `git worktree` of a commit that has `replayParse`, or
// "."). Memory: every batch of the trace is held, twice: give it a slice (100 MB) of a trace.

import { parseTrace } from "../lib/ingest/mod.ts";
import { validateTopology } from "../mod.ts";

const [count, trace, topologyPath, ...specs] = Deno.args;
const n = Number(count);
if (!(n > 0) || trace === undefined || topologyPath === undefined || specs.length === 0) {
  console.error('usage: deno run -A bench/ab_after_parse.ts N TRACE TOPOLOGY "LABEL|DIR" ...');
  Deno.exit(2);
}
const checked = validateTopology(JSON.parse(await Deno.readTextFile(topologyPath)));
if (!checked.ok) throw new Error(`Invalid topology "${topologyPath}"`);
const topology = checked.topology;

/** A batch's own copy: typed arrays, arrays, Maps and records copied; the rest shared. */
function copyOf(v: unknown, key = ""): unknown {
  if (ArrayBuffer.isView(v)) return (v as Uint8Array).slice();
  if (key === "schema" || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => copyOf(x));
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, copyOf(x)]));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v; // the string tables
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyOf(x, k)]));
}

const parse = parseTrace((await Deno.open(trace)).readable);
const batches: unknown[] = [];
for await (const b of parse) batches.push(copyOf(b));
console.error(`${trace}: ${parse.input.lines} lines in ${batches.length} batches`);

const variants = await Promise.all(specs.map(async (s) => {
  const [label = "", dir = "."] = s.split("|");
  const url = new URL(`${dir}/lib/replay/mod.ts`, `file://${Deno.cwd()}/`);
  return { label, m: await import(url.href) as any, ms: [] as number[], out: "" };
}));

for (let turn = 0; turn < n; ++turn) {
  for (const v of variants) {
    const own = batches.map((b) => copyOf(b));
    const replayed = {
      input: parse.input,
      header: parse.header,
      log: parse.log,
      eventCounts: () => parse.eventCounts(),
      unknownCounts: () => parse.unknownCounts(),
      async *[Symbol.asyncIterator]() {
        yield* own;
      },
    };
    const enc = new v.m.TableEncoder({ reuse: true });
    let bytes = 0;
    const t0 = performance.now();
    const r = await v.m.replayParse(replayed, {
      topology,
      keepAnomalies: 10,
      tables: (c: any) => {
        const e = enc.encode(c);
        bytes += e.csv.length + e.arrow.length + e.parquet.length;
      },
    });
    for (const e of enc.end()) bytes += e.arrow.length + e.parquet.length;
    v.ms.push(performance.now() - t0);
    // What each variant wrote, to see that they did the same work.
    v.out = `${bytes} bytes of tables, ${r.summary.anomalies.total} anomalies`;
  }
}

console.log("| variant | ms median (least-most) | output |");
console.log("| --- | --- | --- |");
for (const v of variants) {
  const s = [...v.ms].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(0);
  console.log(
    `| ${v.label} | ${f(s[s.length >> 1]!)} (${f(s[0]!)}-${f(s[s.length - 1]!)}) | ${v.out} |`,
  );
}
