// kernel-spec §5.3 and §11 tests 12–13.

import assert from "node:assert/strict";
import { FlushQueue } from "./mod.ts";

Deno.test("FlushQueue test 13: 256 unmaps within 5 ms: a full-ring flush frees 255, the timer the last", () => {
  const freed: number[] = [];
  const fq = new FlushQueue((pfn) => freed.push(pfn));
  for (let i = 0; i < 256; ++i) fq.queueIova(0x1000 + i, 1, 0, i * 19_000); // 256 within ~5 ms
  assert.equal(fq.stats.fullFlushes, 1);
  assert.equal(freed.length, 255);
  assert.equal(fq.pending, 1);
  fq.advanceTo(10_000_000); // the timer armed by the first unmap at t=0
  assert.deepEqual([fq.stats.flushAlls, fq.stats.timerFlushes, freed.length], [2, 1, 256]);
  assert.deepEqual(freed.slice(0, 3), [0x1000, 0x1001, 0x1002]); // oldest first
});

Deno.test("FlushQueue arms the timer once: later unmaps do not push it back", () => {
  const freed: number[] = [];
  const fq = new FlushQueue((pfn) => freed.push(pfn));
  fq.queueIova(1, 1, 0, 0);
  fq.queueIova(2, 1, 0, 9_000_000);
  fq.advanceTo(10_000_000);
  assert.deepEqual(freed, [1, 2]);
  fq.queueIova(3, 1, 1, 10_500_000); // re-armed at 10.5 ms → fires at 20.5 ms
  fq.advanceTo(20_499_999);
  assert.equal(freed.length, 2);
  fq.advanceTo(20_500_000);
  assert.deepEqual(freed, [1, 2, 3]);
});

Deno.test("FlushQueue drains every CPU's ring into the CPU that armed the timer", () => {
  const to: [number, number][] = [];
  const fq = new FlushQueue((pfn, _pages, cpu) => to.push([pfn, cpu]));
  fq.queueIova(10, 1, 3, 0);
  fq.queueIova(20, 1, 5, 1_000);
  fq.advanceTo(10_000_000);
  assert.deepEqual(to, [[10, 3], [20, 3]]);
});

Deno.test("FlushQueue rounds the timeout to ticks (HZ=250: 12 ms) and has a single-queue variant", () => {
  assert.equal(new FlushQueue(() => {}, { hz: 250 }).timeoutNs, 12_000_000);
  assert.equal(new FlushQueue(() => {}, { hz: 1000 }).timeoutNs, 10_000_000);
  const single = new FlushQueue(() => {}, { single: true });
  assert.deepEqual([single.capacity, single.timeoutNs], [32767, 1_000_000_000]);
  // One ring for all CPUs: 32767 entries from two CPUs fill it.
  for (let i = 0; i < 32768; ++i) single.queueIova(i + 1, 1, i & 1, 0);
  assert.equal(single.stats.fullFlushes, 1);
});

Deno.test("FlushQueue drains the rings in CPU order, whichever CPU queued first", () => {
  const to: number[] = [];
  const fq = new FlushQueue((pfn) => to.push(pfn));
  fq.queueIova(50, 1, 5, 0); // CPU 5's ring exists first
  fq.queueIova(10, 1, 1, 1_000);
  fq.queueIova(51, 1, 5, 2_000);
  fq.advanceTo(10_000_000);
  assert.deepEqual(to, [10, 50, 51]); // for_each_possible_cpu: CPU 1 before CPU 5
});

Deno.test("FlushQueue.flushThrough frees up to the handed-out pfn, into the taking CPU", () => {
  const to: [number, number][] = [];
  const fq = new FlushQueue((pfn, _pages, cpu) => to.push([pfn, cpu]), { timer: "evidence" });
  fq.queueIova(1, 1, 0, 0);
  fq.queueIova(2, 1, 1, 1_000);
  fq.queueIova(3, 1, 1, 2_000);
  fq.advanceTo(50_000_000); // evidence mode: time alone never flushes
  assert.equal(fq.pending, 3);
  assert.equal(fq.flushThrough(9, 3_000, 1), false); // not queued
  assert.equal(fq.flushThrough(2, 3_000, 1), true);
  assert.deepEqual(to, [[1, 1], [2, 1]]);
  assert.equal(fq.isQueued(3), true);
});
