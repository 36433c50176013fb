// kernel-spec §4 and §11 tests 1–11 (the IOVA parts), with the common setup: granule 4 KiB,
// startPfn 1, dma32Pfn 0x100000, no reserved ranges, a PCI device with a 64-bit mask,
// aperture end 2^48 - 1, pci_32bit_workaround on, rcache 6.7+, everything on CPU 0.

import assert from "node:assert/strict";
import {
  iommuDmaAllocIova,
  IovaDomain,
  IovaRcaches,
  iovaSizeClass,
  newDeviceIovaState,
  roundupPowOfTwo,
} from "./mod.ts";

const MASK64 = (1n << 64n) - 1n;

function setup(onlineCpus = 1) {
  const domain = new IovaDomain(4096);
  const rc = new IovaRcaches(domain, { onlineCpus });
  const dev = newDeviceIovaState(true, false);
  const map = (bytes: number, cpu = 0, nowNs = 0) =>
    iommuDmaAllocIova(rc, BigInt(bytes), MASK64, dev, { cpu, nowNs });
  return { domain, rc, dev, map };
}

Deno.test("spec tests 1–3: 4 KiB, 4 KiB, 12 KiB below 4 GiB, top-down with alignment", () => {
  const { map, domain } = setup();
  assert.equal(map(4096), 0xfffff000n);
  assert.equal(map(4096), 0xffffe000n);
  // 12 KiB: 3 pages rounded to 4, aligned to 4 → pfns 0xffff8–0xffffb; 0xffffc–d stay a hole.
  assert.equal(map(16384), 0xffff8000n);
  assert.equal(domain.rangeCount, 3);
});

Deno.test("spec test 4: an unmapped 4 KiB IOVA comes back from CPU 0's rcache, no tree walk", () => {
  const { map, rc, domain } = setup();
  const a = map(4096);
  map(4096);
  map(16384);
  rc.freeIovaFast(Number(a >> 12n), 1, 0, 0);
  const visited = domain.tree.visited;
  assert.equal(map(4096), 0xfffff000n);
  assert.equal(rc.lastSource, "rcache");
  assert.equal(domain.tree.visited, visited); // the tree was not touched
});

Deno.test("spec test 5: on CPU 1 the same map walks the tree, next-fit below the cached node", () => {
  const { map, rc } = setup(2);
  const a = map(4096);
  map(4096);
  map(16384);
  rc.freeIovaFast(Number(a >> 12n), 1, 0, 0);
  assert.equal(map(4096, 1), 0xffff7000n);
  assert.equal(rc.lastSource, "tree");
});

Deno.test("spec tests 6–8: 17 pages align to 32, 64 to 64, 65 to 128 and skip the rcache on free", () => {
  assert.equal(setup().rc.allocIovaFast(17, 0xfffff, true, 0, 0), 0xfffe0);
  assert.equal(setup().map(256 * 1024), 0xfffc0000n);
  const s = setup();
  const iova = s.map(260 * 1024);
  assert.equal(iova, 0xfff80000n);
  assert.equal(iovaSizeClass(65), 7);
  s.rc.freeIovaFast(Number(iova >> 12n), 65, 0, 0);
  assert.equal(s.rc.stats.treeFrees, 1);
  assert.equal(s.domain.rangeCount, 0); // back in the tree at once
});

Deno.test("spec test 9: a full 32-bit space clears the workaround for good", () => {
  const { map, domain, dev, rc } = setup();
  assert.ok(domain.reserveIova(1, 0xfffff));
  assert.equal(map(4096), 0xfffffffff000n);
  assert.equal(domain.max32AllocSize, 1);
  assert.equal(dev.pci32bitWorkaround, false);
  const misses = rc.stats.misses;
  assert.equal(map(4096), 0xffffffffe000n);
  assert.equal(rc.stats.misses, misses + 1); // one tree allocation: no 32-bit try any more
});

Deno.test("spec test 10: 255 frees of 1-page IOVAs on CPU 0 leave loaded 1, prev 127, depot 1", () => {
  const { rc, domain } = setup();
  const pfns: number[] = [];
  for (let i = 0; i < 255; ++i) pfns.push(domain.allocIova(1, 0xfffff, true));
  for (let i = 0; i < 254; ++i) rc.freeIovaFast(pfns[i]!, 1, 0, 0);
  assert.equal(rc.stats.depotPushes, 0);
  rc.freeIovaFast(pfns[254]!, 1, 0, 0);
  const c = rc.cached(0);
  assert.deepEqual(c.perCpu.get(0), { loaded: 1, prev: 127 });
  assert.deepEqual([c.depotMagazines, c.depotPfns, rc.stats.depotPushes], [1, 127, 1]);
  assert.equal(domain.rangeCount, 255); // cached pfns stay allocated in the tree
  const snap = rc.snapshot(0);
  assert.deepEqual(snap.cpus.get(0)!.loaded, [pfns[254]]);
  // The first 127 frees filled a magazine that became prev; the next 127 went to the depot.
  assert.deepEqual(snap.cpus.get(0)!.prev, pfns.slice(0, 127));
  assert.deepEqual(snap.depot, [pfns.slice(127, 254)]);
  assert.deepEqual(rc.snapshot(3), { cpus: new Map(), depot: [] });
});

Deno.test("spec test 10, pre-6.7: magazines of 128, first depot push at free 257", () => {
  const domain = new IovaDomain(4096);
  const rc = new IovaRcaches(domain, { version: "pre-6.7" });
  const pfns: number[] = [];
  for (let i = 0; i < 257; ++i) pfns.push(domain.allocIova(1, 0xfffff, true));
  for (let i = 0; i < 256; ++i) rc.freeIovaFast(pfns[i]!, 1, 0, 0);
  assert.equal(rc.stats.depotPushes, 0);
  rc.freeIovaFast(pfns[256]!, 1, 0, 0);
  assert.equal(rc.stats.depotPushes, 1);
});

Deno.test("spec test 11: the depot trim keeps one magazine per online CPU, 100 ms after a push", () => {
  const { rc, domain } = setup(1);
  const pfns: number[] = [];
  for (let i = 0; i < 127 * 4; ++i) pfns.push(domain.allocIova(1, 0xfffff, true));
  for (let i = 0; i < 255; ++i) rc.freeIovaFast(pfns[i]!, 1, 0, 0); // depot 1 at t=0
  rc.advanceTo(100_000_000);
  assert.equal(rc.cached(0).depotMagazines, 1); // 1 <= 1 CPU: nothing freed
  for (let i = 255; i < 255 + 127; ++i) rc.freeIovaFast(pfns[i]!, 1, 0, 150_000_000); // depot 2 at 150 ms
  rc.advanceTo(249_999_999);
  assert.equal(rc.cached(0).depotMagazines, 2);
  rc.advanceTo(250_000_000);
  assert.equal(rc.cached(0).depotMagazines, 1);
  assert.equal(rc.stats.trimmedPfns, 127);
  assert.equal(domain.rangeCount, 127 * 4 - 127);
});

Deno.test("allocIovaFast() flushes every cache and retries once when the tree is full", () => {
  const domain = new IovaDomain(4096);
  const rc = new IovaRcaches(domain);
  domain.reserveIova(1, 0xffff0 - 1); // leave 16 pfns at the top of the 32-bit space
  const a = rc.allocIovaFast(16, 0xfffff, true, 0, 0);
  assert.equal(a, 0xffff0);
  rc.freeIovaFast(a, 16, 3, 0); // cached on CPU 3, invisible to CPU 0
  assert.equal(rc.allocIovaFast(16, 0xfffff, false, 0, 0), 0); // no flush allowed: fails
  assert.equal(rc.allocIovaFast(16, 0xfffff, true, 0, 0), 0xffff0);
  assert.equal(rc.lastSource, "tree_after_flush");
  assert.equal(rc.stats.flushes, 1);
});

Deno.test("allocIova() takes the second pass above the cached node, and respects max32AllocSize", () => {
  const d = new IovaDomain(4096);
  const a = d.allocIova(1, 0xfffff, true); // 0xfffff
  const b = d.allocIova(1, 0xfffff, true); // 0xffffe
  d.allocIova(1, 0xfffff, true); // 0xffffd: cached32 here
  d.freeIova(a); // a free above the cached node moves the cache up
  assert.equal(d.allocIova(1, 0xfffff, true), a);
  d.freeIova(b);
  // Fill below, so that only the hole at b remains; the walk then needs the second pass.
  d.reserveIova(1, 0xffffc);
  assert.equal(d.allocIova(1, 0xfffff, true), b);
  assert.equal(d.allocIova(1, 0xfffff, true), -1);
  assert.equal(d.max32AllocSize, 1);
  assert.equal(d.allocIova(2, 0xfffff, true), -1); // size >= max32AllocSize: fails at once
  d.freeIova(b);
  assert.equal(d.max32AllocSize, d.dma32Pfn); // a 32-bit free resets the hint
});

Deno.test("reserveIova() merges overlapping reservations as reserve_iova does", () => {
  const d = new IovaDomain(4096);
  d.reserveIova(0x100, 0x1ff);
  d.reserveIova(0x180, 0x2ff); // overlaps: the node keeps [0x100, 0x1ff], [0x200, 0x2ff] is added
  d.reserveIova(0x0f0, 0x120); // extends the first node down
  const t = d.tree;
  const ranges: [number, number][] = [];
  for (let n = t.first(); n !== d.anchor; n = t.next(n)) ranges.push([t.lo[n]!, t.hi[n]!]);
  assert.deepEqual(ranges, [[0x0f0, 0x1ff], [0x200, 0x2ff]]);
  assert.equal(d.reserveIova(0x150, 0x160), true); // inside: nothing new
  assert.equal(d.rangeCount, 2);
});

Deno.test("roundupPowOfTwo() and iovaSizeClass() match the kernel's order_base_2", () => {
  assert.deepEqual([1, 2, 3, 5, 17, 20, 32, 33].map(roundupPowOfTwo), [1, 2, 4, 8, 32, 32, 32, 64]);
  assert.deepEqual([1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33].map(iovaSizeClass), [
    0,
    1,
    2,
    2,
    3,
    3,
    4,
    4,
    5,
    5,
    6,
  ]);
});
