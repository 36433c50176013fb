// tinybench suite of the IOVA allocator (issue [3/8]): ns per alloc+free pair on the rcache-hit
// path, and on the tree path (sizes above 32 pfns skip the rcache) at 1 k, 100 k and 1 M live
// ranges, beside the same run's cost of one Map get+set as a baseline.
// deno-lint-ignore-file no-console -- a benchmark prints its figures
//
//   deno run -A bench/iova_bench.ts

import { Bench } from "tinybench";
import { IovaDomain, IovaRcaches } from "../mod.ts";

const PAIRS = 10_000;
const LIMIT = 0xfffffffff; // a 48-bit space of 4 KiB pfns

function domainWith(live: number): { d: IovaDomain; rc: IovaRcaches } {
  const d = new IovaDomain(4096);
  for (let i = 0; i < live; ++i) d.allocIova(1, LIMIT, false);
  return { d, rc: new IovaRcaches(d) };
}

const bench = new Bench({ warmupIterations: 3, iterations: 20, time: 0 });
const m = new Map<number, number>();
bench.add(`baseline: Map set+delete x${PAIRS}`, () => {
  for (let i = 0; i < PAIRS; ++i) {
    m.set(i, i);
    m.delete(i);
  }
});
const hot = domainWith(1000);
hot.rc.freeIovaFast(hot.rc.allocIovaFast(8, LIMIT, true, 0, 0), 8, 0, 0);
bench.add(`rcache hit: allocIovaFast+freeIovaFast 8 pfns x${PAIRS}`, () => {
  const rc = hot.rc;
  for (let i = 0; i < PAIRS; ++i) rc.freeIovaFast(rc.allocIovaFast(8, LIMIT, true, 0, 0), 8, 0, 0);
});
for (const live of [1_000, 100_000, 1_000_000]) {
  const { rc } = domainWith(live);
  bench.add(`tree: 64-pfn alloc+free at ${live} live ranges x${PAIRS}`, () => {
    for (let i = 0; i < PAIRS; ++i) {
      rc.freeIovaFast(rc.allocIovaFast(64, LIMIT, true, 0, 0), 64, 0, 0);
    }
  });
}
await bench.run();

const minMs = (t: (typeof bench.tasks)[number]) => {
  const r = t.result;
  if (r === undefined || !("latency" in r)) {
    throw new Error(`Benchmark "${t.name}" did not complete`);
  }
  return r.latency.min;
};
const base = minMs(bench.tasks[0]!);
for (const t of bench.tasks) {
  const ms = minMs(t);
  console.log(
    `${t.name.padEnd(58)} ${(ms * 1e6 / PAIRS).toFixed(0).padStart(6)} ns/pair  x${
      (ms / base).toFixed(2)
    } baseline`,
  );
}
