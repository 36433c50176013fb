// Where a replay allocates: V8's sampling heap profiler over a whole replay (every object
// allocated, also those the GC collected since), summed by allocating function and its two
// callers. The bytes a consumer allocates per event are what grows V8's young generation, and
// so the replay's RSS and GC time (bench/RESULTS.md).
// deno-lint-ignore-file no-console -- a benchmark prints its figures
//
//   deno run -A bench/alloc_sites.ts TRACE [TOPOLOGY.json] [TOP]

const [trace, topology = "", top = "30"] = Deno.args;
if (trace === undefined) {
  console.error("usage: deno run -A bench/alloc_sites.ts TRACE [TOPOLOGY.json] [TOP]");
  Deno.exit(2);
}
const port = 9300 + Math.floor(Math.random() * 500);
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    `--inspect-wait=127.0.0.1:${port}`,
    "-A",
    new URL("./_alloc_target.ts", import.meta.url).pathname,
    trace,
    topology,
  ],
  stdout: "piped",
  stderr: "null",
}).spawn();

async function targets(): Promise<{ webSocketDebuggerUrl: string }[]> {
  for (let i = 0; i < 200; ++i) {
    try {
      const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
      if (list.length > 0) return list;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("Cannot reach the target's inspector");
}

const ws = new WebSocket((await targets())[0]!.webSocketDebuggerUrl);
let id = 0;
const waiting = new Map<number, (v: unknown) => void>();
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.id !== undefined) waiting.get(m.id)?.(m.result);
};
const send = (method: string, params: unknown = {}) =>
  new Promise<unknown>((res) => {
    waiting.set(++id, res);
    ws.send(JSON.stringify({ id, method, params }));
  });
await new Promise((r) => (ws.onopen = r));
await send("HeapProfiler.enable");
await send("HeapProfiler.startSampling", {
  samplingInterval: 4096,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
await send("Runtime.runIfWaitingForDebugger");
// The target prints one line when the replay is done.
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let said = "";
while (!said.includes("\n")) {
  const { value, done } = await reader.read();
  if (done) break;
  said += value;
}
interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}
const { profile } = (await send("HeapProfiler.stopSampling")) as { profile: { head: Node } };
ws.close();
child.kill("SIGKILL");
await child.status;

const bySite = new Map<string, number>();
let total = 0;
const name = (n: Node) =>
  `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").pop()}:${
    n.callFrame.lineNumber + 1
  }`;
function walk(n: Node, callers: string[]): void {
  const site = [name(n), ...callers.slice(0, 2)].join(" <- ");
  bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
  total += n.selfSize;
  for (const c of n.children) walk(c, [name(n), ...callers]);
}
walk(profile.head, []);
console.log(`${trace}: ${said.trim()}; ${(total / 2 ** 20).toFixed(0)} MB allocated (sampled)`);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${(bytes / 2 ** 20).toFixed(1).padStart(8)} MB  ${site}`);
}
