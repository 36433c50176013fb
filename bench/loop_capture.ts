// deno-lint-ignore-file no-console -- a command-line tool
// Writes a real capture again and again, each copy's timestamps shifted past the previous one,
// to stdout until BYTES: a long trace whose mappings pair up and whose live state stays that
// of the capture (a realistic load for whole-run replay benchmarks; bench/gen_trace.ts is
// random and nothing in it pairs up).
// `deno run -A bench/loop_capture.ts CAPTURE.trace.gz BYTES`

const [path, bytesArg] = Deno.args;
if (path === undefined) {
  console.error("usage: deno run -A bench/loop_capture.ts CAPTURE.trace.gz BYTES");
  Deno.exit(2);
}
const target = Number(bytesArg ?? 1e9);
const gz = await Deno.readFile(path);
const text = await new Response(
  new Blob([gz]).stream().pipeThrough(new DecompressionStream("gzip")),
).text();
const lines = text.split("\n").filter((l) => l !== "");
const header = lines.filter((l) => l.startsWith("#"));
const body = lines.filter((l) => !l.startsWith("#"));
const TS_REGEXP = / (\d+)\.(\d{6}): /;
const times = body.map((l) => {
  const m = TS_REGEXP.exec(l);
  return m === null ? -1 : Number(m[1]) * 1e6 + Number(m[2]);
});
const valid = times.filter((t) => t >= 0);
const first = Math.min(...valid);
const span = Math.max(...valid) - first + 1000; // µs, plus 1 ms between copies
const enc = new TextEncoder();
const out = Deno.stdout.writable.getWriter();
let written = 0;
const head = header.join("\n") + "\n";
await out.write(enc.encode(head));
written += head.length;
for (let copy = 0; written < target; ++copy) {
  const shift = copy * span;
  const chunk: string[] = [];
  for (let i = 0; i < body.length; ++i) {
    const t = times[i]!;
    if (t < 0) {
      chunk.push(body[i]!);
      continue;
    }
    const u = t + shift;
    const s = `${Math.floor(u / 1e6)}.${String(u % 1e6).padStart(6, "0")}`;
    chunk.push(body[i]!.replace(TS_REGEXP, (m) => m.replace(/\d+\.\d{6}/, s)));
  }
  const piece = enc.encode(chunk.join("\n") + "\n");
  await out.write(piece);
  written += piece.byteLength;
}
await out.close();
