// tinybench suite of the ingest stage: parse of an in-memory trace, beside the floor of the
// same run (decode + newline split of the same bytes). Input: BENCH_TRACE (default: a 20 MB
// trace from bench/gen_trace.ts's generator, seed 1), read once into memory.
// deno-lint-ignore-file no-console -- a benchmark prints its figures
//
//   deno task bench            (or: deno run -A bench/ingest_bench.ts [FILE])

import { Bench } from "tinybench";
import { parseTrace } from "../mod.ts";

async function input(): Promise<Uint8Array> {
  const path = Deno.args[0] ?? Deno.env.get("BENCH_TRACE");
  if (path) return await Deno.readFile(path);
  const gen = new Deno.Command(Deno.execPath(), {
    args: ["run", new URL("./gen_trace.ts", import.meta.url).pathname, "20000000", "1"],
    stdout: "piped",
  });
  return (await gen.output()).stdout;
}

const data = await input();
let lines = 0;
for (let i = 0; i < data.length; ++i) if (data[i] === 10) ++lines;

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    start(c) {
      c.enqueue(bytes.slice());
      c.close();
    },
  });
}

// Warm-up long enough for the parser to reach its optimized code (the first passes over 20 MB
// run at half speed).
const bench = new Bench({ warmupIterations: 8, iterations: 10, time: 0 });
bench
  .add("floor: utf-8 decode + split lines (4 MiB pieces)", () => {
    const dec = new TextDecoder();
    let n = 0;
    for (let off = 0; off < data.length;) {
      let end = Math.min(off + (4 << 20), data.length);
      if (end < data.length) end = data.lastIndexOf(10, end - 1) + 1;
      const s = dec.decode(data.subarray(off, end));
      off = end;
      for (let p = s.indexOf("\n"); p >= 0; p = s.indexOf("\n", p + 1)) ++n;
    }
    if (n !== lines) throw new Error("Invariant violated: line count");
  })
  .add("parseTrace: every event typed, columnar", async () => {
    let rows = 0;
    for await (const b of parseTrace(streamOf(data))) rows += b.n;
    if (rows === 0) throw new Error("Invariant violated: no rows");
  });
await bench.run();

console.log(`input: ${data.length} bytes, ${lines} lines (${Deno.args[0] ?? "generated, seed 1"})`);
function minMs(t: (typeof bench.tasks)[number]): number {
  const r = t.result;
  if (r === undefined || !("latency" in r)) {
    throw new Error(`Benchmark "${t.name}" did not complete`);
  }
  return r.latency.min;
}
const floorMs = minMs(bench.tasks[0]!);
for (const t of bench.tasks) {
  const ms = minMs(t);
  console.log(
    `${t.name.padEnd(52)} min ${ms.toFixed(1)} ms  ${(lines / ms / 1e3).toFixed(2)} M lines/s  ` +
      `${(data.length / ms / 1e3).toFixed(0)} MB/s  ${(ms * 1e6 / lines).toFixed(0)} ns/line  ` +
      `x${(ms / floorMs).toFixed(1)} floor`,
  );
}
