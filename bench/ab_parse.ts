// A/B of the parse in one process: the trace is read into memory once, and each checkout's
// `parseTrace` parses it in turn, N turns each (after two warm-up turns), the bytes handed over
// in 1 MiB chunks as a file's readable would. No process start, no disk, and the checkouts share
// the machine's drifts turn by turn: a change of a few per cent of the parse shows through a
// machine whose speed moves by tens of per cent between minutes.
// deno-lint-ignore-file no-console no-explicit-any -- a benchmark prints its figures, and loads
// other checkouts' modules whose types are their own
//
//   deno run -A bench/ab_parse.ts N TRACE "LABEL|CHECKOUT" ...
//
// CHECKOUT is a directory with lib/ (a `git worktree` of another commit, or "."). Memory: the
// whole trace is held: give it a slice (100 MB) of a trace.

const [count, trace, ...specs] = Deno.args;
const n = Number(count);
if (!(n > 0) || trace === undefined || specs.length === 0) {
  console.error('usage: deno run -A bench/ab_parse.ts N TRACE "LABEL|DIR" ...');
  Deno.exit(2);
}
const data = await Deno.readFile(trace);
const CHUNK = 1 << 20;

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    type: "bytes",
    pull(c) {
      if (off >= bytes.length) {
        c.close();
        c.byobRequest?.respond(0); // a pending BYOB read ends with the stream
        return;
      }
      const end = Math.min(off + CHUNK, bytes.length);
      c.enqueue(bytes.slice(off, end));
      off = end;
    },
  });
}

const variants = await Promise.all(specs.map(async (s) => {
  const [label = "", dir = "."] = s.split("|");
  const url = new URL(`${dir}/lib/ingest/mod.ts`, `file://${Deno.cwd()}/`);
  return { label, m: await import(url.href) as any, ms: [] as number[], out: "" };
}));

let lines = 0;
for (let turn = -2; turn < n; ++turn) {
  for (const v of variants) {
    const t0 = performance.now();
    const parse = v.m.parseTrace(streamOf(data));
    let rows = 0;
    for await (const b of parse) rows += b.n;
    const ms = performance.now() - t0;
    if (turn < 0) continue;
    v.ms.push(ms);
    lines = parse.input.lines;
    // What each variant found, to see that they did the same work.
    v.out = `${rows} rows, ${parse.log.total()} diagnostics`;
  }
}

console.log(`${trace}: ${data.length} bytes, ${lines} lines`);
console.log("| variant | ms median (least-most) | ns a line | output |");
console.log("| --- | --- | --- | --- |");
for (const v of variants) {
  const s = [...v.ms].sort((a, b) => a - b);
  const med = s[s.length >> 1]!;
  const f = (x: number) => x.toFixed(0);
  console.log(
    `| ${v.label} | ${f(med)} (${f(s[0]!)}-${f(s[s.length - 1]!)}) | ${
      f(med * 1e6 / lines)
    } | ${v.out} |`,
  );
}
