// What one Deno worker costs in resident memory with nothing loaded: this process's VmRSS before
// and after starting a worker of an empty module (bench/RESULTS.md, seventh pass: why the CLI
// encodes its tables on the replay's thread).
// deno-lint-ignore-file no-console -- a benchmark prints its figures
//
//   deno run -A --v8-flags=--max-semi-space-size=2 bench/worker_rss.ts

const rssMb = () =>
  Number(Deno.readTextFileSync("/proc/self/status").match(/VmRSS:\s+(\d+)/)![1]) / 1024;
const empty = URL.createObjectURL(
  new Blob(["self.onmessage = () => self.postMessage(0);"], { type: "text/javascript" }),
);
await new Promise((r) => setTimeout(r, 200));
const before = rssMb();
const w = new Worker(empty, { type: "module" });
await new Promise((res) => {
  w.onmessage = res;
  w.postMessage(0);
});
await new Promise((r) => setTimeout(r, 300));
const after = rssMb();
w.terminate();
console.log(
  `RSS ${before.toFixed(1)} MB before a worker, ${after.toFixed(1)} MB with one: +${
    (after - before).toFixed(1)
  } MB`,
);
