import assert from "node:assert/strict";
import { gzip, streamOf } from "./_test_util.ts";
import type { EventBatch } from "./event_batch.ts";
import { parseTraceOnWorker } from "./parse_on_worker.ts";
import { parseTrace } from "./parse_trace.ts";
import type { ParseTraceOptions, TraceParse } from "./parse_types.ts";

type Arr = Int32Array | Float64Array | Uint32Array | Uint8Array;
const used = (a: Arr, n: number) => Array.from(a.subarray(0, n));

/** Every array entry a batch uses, as plain data (ids, not strings: they must agree too). */
function batchData(b: EventBatch, stringsBefore: number) {
  const n = b.n;
  const p = b.probes;
  const c = b.calls;
  const a = b.args;
  return {
    n,
    common: [
      b.lineNo1,
      b.tsNs,
      b.cpu,
      b.pid,
      b.tgid,
      b.comm,
      b.irqFlags,
      b.instance,
      b.eventId,
      b.kind,
      b.tableRow,
      b.argStart,
      b.argLen,
    ].map((x) => used(x, n)),
    tables: [...b.tables.values()].map((t) => ({
      name: t.schema.name,
      n: t.n,
      rows: used(t.rows, t.n),
      cols: Object.entries(t.cols).map(([k, col]) => [
        k,
        used(col, col instanceof Uint32Array ? 2 * t.n : t.n),
      ]),
      present: Object.entries(t.present).map(([k, m]) => [k, used(m, t.n)]),
      incomplete: used(t.incomplete, t.n),
    })),
    probes: [
      p.rows,
      p.func,
      p.funcOffset,
      p.caller,
      p.callerOffset,
      p.meaning,
      p.durNs,
      p.argStart,
      p.argLen,
    ].map((x) => used(x, p.n)),
    calls: [
      c.entryLineNo1,
      c.exitLineNo1,
      c.cpu,
      c.depth,
      c.func,
      c.module,
      c.durNs,
      c.tsNs,
      c.pid,
    ].map((x) => used(x, c.n)),
    args: [used(a.key, a.n), used(a.kind, a.n), used(a.val, 2 * a.n), used(a.str, a.n)],
    pool: used(b.pool, 2 * b.poolLen),
    gaps: b.gaps.map((g) => ({ ...g })),
    tsBaseNs: b.tsBaseNs,
    tsBaseNsNumber: b.tsBaseNsNumber,
    newStrings: b.strings.values().slice(stringsBefore),
    eventNames: [...b.eventNames.values()],
  };
}

/**
 * Where `a` and `b` first differ ("batches[3].tables[1].cols[2][1][17]: 5 against 7"), or null:
 * a message that stays short when the parses hold millions of values.
 */
function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (Object.is(a, b)) return null;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return `${path}: ${String(a)} against ${String(b)}`;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array against non-array`;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return `${path}: ${ka.length} entries against ${kb.length}`;
  for (const k of ka) {
    const sub = Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`;
    const d = firstDifference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      sub,
    );
    if (d !== null) return d;
  }
  return null;
}

/** What a parse gives: its batches' data and, after them, its totals. */
async function parseData(parse: TraceParse) {
  const batches = [];
  let strings = 0;
  for await (const b of parse) {
    batches.push(batchData(b, strings));
    strings = b.strings.size;
  }
  return {
    batches,
    input: { ...parse.input },
    header: { ...parse.header },
    samples: parse.log.samples(),
    counters: parse.log.counters(),
    byCode: parse.log.byCode(),
    total: parse.log.total(),
    errors: parse.log.hasErrors(),
    eventCounts: parse.eventCounts(),
    unknownCounts: parse.unknownCounts(),
  };
}

/** The two parses of `data` (read in `stride`-byte chunks), which must agree. */
async function bothWays(
  data: Uint8Array | string,
  options: ParseTraceOptions = {},
  stride = 65536,
  byob = true,
) {
  const here = await parseData(parseTrace(streamOf(data, stride, byob), options));
  const there = await parseData(parseTraceOnWorker(streamOf(data, stride, byob), options));
  return { here, there };
}

const captures = ["a_strict-6.12.trace.gz", "b_lazy-6.12.trace.gz"];
for (const name of captures) {
  Deno.test(`parseTraceOnWorker() gives the batches of parseTrace() on capture ${name}`, async () => {
    const data = await Deno.readFile(new URL(`../../traces/captures/${name}`, import.meta.url));
    const { here, there } = await bothWays(data);
    assert.ok(here.batches.length > 1 && here.input.gzip && here.input.bytes > 1 << 20);
    assert.equal(firstDifference(there, here), null);
  });
}

for (const name of ["dmabuf-6.12.trace", "fgraph-6.12.trace", "strict-6.12.trace"]) {
  Deno.test(`parseTraceOnWorker() agrees on ${name} in batches of 8 rows`, async () => {
    const data = await Deno.readFile(new URL(`../../traces/${name}`, import.meta.url));
    // Small batches: many more than the worker may have out at once, buffers reused and grown.
    const { here, there } = await bothWays(data, { batchRows: 8 }, 999, false);
    assert.ok(here.batches.length > 2);
    assert.equal(firstDifference(there, here), null);
  });
}

/** Lines of every kind the parser reports on, between good ones. */
function oddTrace(): string {
  const good = (i: number) =>
    `      dd-${100 + (i % 3)}     [00${i % 2}] d.h1.  ${(5 + i / 1e4).toFixed(6)}: ` +
    `map: IOMMU: iova=0x00000000fff${(i % 4096).toString(16).padStart(3, "0")}000 - ` +
    `0x0000000100000000 paddr=0x0000000000001000 size=4096`;
  const lines = ["# tracer: nop", "#", "# entries-in-buffer/entries-written: 9/9   #P:2"];
  for (let i = 0; i < 3000; ++i) {
    lines.push(good(i));
    if (i % 97 === 0) lines.push("this is no trace line " + i);
    if (i % 211 === 0) lines.push("CPU:1 [LOST 12 EVENTS]");
    if (i % 307 === 0) lines.push(`  dd-1 [000] .....  9.${"9".repeat(12)}: map: x`);
    if (i % 401 === 0) lines.push("x".repeat(300)); // over maxLineChars
    if (i % 503 === 0) lines.push(`  dd-1 [000] .....  7.000001: mystery_event: a=1 b=two`);
    if (i % 601 === 0) lines.push(good(i) + "\r");
  }
  return lines.join("\n") + "\n";
}

Deno.test("parseTraceOnWorker() reports every diagnostic parseTrace() does, at the same lines", async () => {
  const { here, there } = await bothWays(oddTrace(), { batchRows: 100, maxLineChars: 200 }, 4096);
  assert.ok(here.total > 50 && here.counters.lost_event_markers! > 0);
  assert.ok(Object.keys(here.unknownCounts).length > 0);
  assert.equal(firstDifference(there, here), null);
});

Deno.test("parseTraceOnWorker() agrees on gzip input and a read buffer smaller than a line", async () => {
  const text = oddTrace();
  const { here, there } = await bothWays(await gzip(text), { bufferBytes: 128 }, 777);
  assert.ok(here.counters.line_too_long! > 0);
  assert.equal(firstDifference(there, here), null);
});

/** A stream that gives `bytes` in pieces of `piece` bytes, then fails. */
function failing(bytes: Uint8Array, piece: number, byob: boolean): ReadableStream<Uint8Array> {
  let off = 0;
  const next = () => {
    if (off >= bytes.length) throw new Error("disk gone");
    const chunk = bytes.slice(off, off + piece);
    off += piece;
    return chunk;
  };
  return byob
    ? new ReadableStream({ type: "bytes", pull: (c) => c.enqueue(next()) })
    : new ReadableStream({ pull: (c) => c.enqueue(next()) });
}

for (const byob of [false, true]) {
  Deno.test(`parseTraceOnWorker() reports a failing ${byob ? "byte " : ""}stream as parseTrace() does`, async () => {
    const text = new TextEncoder().encode(oddTrace());
    const here = await parseData(parseTrace(failing(text, 100_000, byob)));
    const there = await parseData(parseTraceOnWorker(failing(text, 100_000, byob)));
    assert.equal(here.counters.gzip_truncated, 1);
    assert.match(here.samples.find((d) => d.code === "gzip_truncated")!.message, /disk gone/);
    // A default stream's bytes before the failure are kept; a failed BYOB read takes the
    // buffer they were in (counted as read on one thread, never sent to the worker).
    if (byob) {
      assert.equal(here.input.lines, 0);
      assert.equal(firstDifference({ ...there, input: {} }, { ...here, input: {} }), null);
    } else {
      assert.ok(here.input.lines > 100);
      assert.equal(firstDifference(there, here), null);
    }
  });
}

Deno.test("parseTraceOnWorker() calls onProgress on this thread, up to the whole input", async () => {
  const text = oddTrace();
  const seen: [number, number][] = [];
  const parse = parseTraceOnWorker(streamOf(text), {
    bufferBytes: 8192,
    onProgress: (bytes, lines) => seen.push([bytes, lines]),
  });
  for await (const _ of parse) { /* drained */ }
  assert.ok(seen.length > 3);
  for (let i = 1; i < seen.length; ++i) assert.ok(seen[i]![0] >= seen[i - 1]![0]);
  assert.equal(seen.at(-1)![0], parse.input.bytes);
});

Deno.test("parseTraceOnWorker() stops its worker when the caller stops early", async () => {
  const parse = parseTraceOnWorker(streamOf(oddTrace()), { batchRows: 10 });
  let batches = 0;
  for await (const b of parse) {
    assert.equal(b.n, 10);
    if (++batches === 3) break;
  }
  assert.equal(batches, 3);
  // (The test's sanitizers fail it if the worker or a pending read were left behind.)
});

Deno.test("parseTraceOnWorker() cannot be iterated twice", async () => {
  const parse = parseTraceOnWorker(streamOf(""));
  for await (const _ of parse) { /* empty */ }
  assert.throws(() => parse[Symbol.asyncIterator](), TypeError);
  assert.equal(parse.input.lines, 0);
});

Deno.test("parseTraceOnWorker() of a file's path: the worker reads it, with the same result", async () => {
  const path = new URL("../../traces/captures/b_lazy-6.12.trace.gz", import.meta.url).pathname;
  const here = await parseData(parseTrace(streamOf(await Deno.readFile(path))));
  const there = await parseData(parseTraceOnWorker({ path }, {}));
  assert.ok(here.batches.length > 1);
  assert.equal(firstDifference(there, here), null);
});

Deno.test("parseTraceOnWorker() of a path that does not open rejects, naming the reason", async () => {
  const parse = parseTraceOnWorker({ path: "/nonexistent/trace.txt" });
  await assert.rejects(async () => {
    for await (const _ of parse) { /* none */ }
  }, /Cannot parse on the worker: .*(No such file|not found)/i);
});
