import assert from "node:assert/strict";
import { IommuDmaDomain, type OverlapPolicy } from "../iommu/mod.ts";
import {
  dmaBufFreeSgt,
  dmaBufPhysVecToSgt,
  dmaMapPhys,
  maxSgEntSz,
  newDmaDevice,
  type PhysVec,
} from "./mod.ts";

// kernel-spec §11 tests 25–26: GPU BAR0 at CPU 0x40_0000_0000, bus 0x8000_0000.
const GPU_BAR0 = 0x40_0000_0000n;
const BUS_OFFSET = 0xffff_ffc0_8000_0000n;
const MMIO = 0x380_0000_0000n; // test 27

const iommuDev = (overlap: OverlapPolicy = "fail", type: "dma" | "dma-fq" = "dma") =>
  newDmaDevice("0000:41:00.0", new IommuDmaDomain({ type, overlap }));

Deno.test("test 25: BUS_ADDR export of two ranges gives bus addresses, no events", () => {
  const ranges: PhysVec[] = [
    { paddr: GPU_BAR0, len: 0x10000n },
    { paddr: GPU_BAR0 + 0x200000n, len: 0x3000n },
  ];
  const dev = newDmaDevice("0000:04:00.0", null);
  const sgt = dmaBufPhysVecToSgt(dev, "BUS_ADDR", BUS_OFFSET, ranges);
  assert.equal(sgt.errno, 0);
  assert.equal(sgt.path, "BUS_ADDR");
  assert.deepEqual(sgt.entries, [
    { dmaAddr: 0x8000_0000n, lengthBytes: 0x10000n },
    { dmaAddr: 0x8020_0000n, lengthBytes: 0x3000n },
  ]);
  assert.equal(sgt.sizeBytes, 0x13000n);
  assert.deepEqual(sgt.events, []);
  assert.deepEqual(dmaBufFreeSgt(dev, sgt), []);
});

Deno.test("test 26: an 8 GiB range splits at MAX_SG_ENT_SZ, per revision", () => {
  const dev = newDmaDevice("0000:04:00.0", null);
  const ranges = [{ paddr: GPU_BAR0, len: 8n << 30n }];
  const merged = dmaBufPhysVecToSgt(dev, "BUS_ADDR", BUS_OFFSET, ranges);
  const base = 0x8000_0000n;
  assert.deepEqual(merged.entries, [
    { dmaAddr: base, lengthBytes: 0xffff_f000n },
    { dmaAddr: base + 0xffff_f000n, lengthBytes: 0xffff_f000n },
    { dmaAddr: base + 0x1_ffff_e000n, lengthBytes: 0x2000n },
  ]);
  const v8 = dmaBufPhysVecToSgt(dev, "BUS_ADDR", BUS_OFFSET, ranges, { revision: "v8-2025" });
  assert.deepEqual(v8.entries.map((e) => e.lengthBytes), [0xffff_ffffn, 0xffff_ffffn, 2n]);
  assert.equal(maxSgEntSz("merged") % 4096n, 0n);
  assert.notEqual(maxSgEntSz("v8-2025") % 4096n, 0n);
});

Deno.test("test 27: one range through the host bridge: one IOVA, one map, one unmap", () => {
  const dev = iommuDev();
  const d = dev.domain!;
  const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [{ paddr: MMIO, len: 0x13000n }]);
  assert.equal(sgt.path, "IOVA");
  assert.equal(sgt.state!.addr, 0xfffe0000n);
  assert.deepEqual(sgt.entries, [{ dmaAddr: 0xfffe0000n, lengthBytes: 0x13000n }]);
  assert.deepEqual(sgt.events, [{
    event: "map",
    addr: 0xfffe0000n,
    phys: MMIO,
    sizeBytes: 77824n,
  }]);
  assert.equal(d.pageTable.stats.pteWrites, 19);
  assert.deepEqual(sgt.anomalies, []);
  const before = d.invalidation.rangeInvalidations;
  const unmap = dmaBufFreeSgt(dev, sgt);
  assert.deepEqual(unmap, [{ event: "unmap", addr: 0xfffe0000n, phys: 0n, sizeBytes: 77824n }]);
  assert.equal(d.invalidation.rangeInvalidations - before, 1);
  // Freed as 19 pages: class 5 (32-page) cache of CPU 0.
  assert.ok(d.rcaches.isCached(0xfffe0, 5));
});

Deno.test("test 27 in a DMA-FQ domain: dma_iova_destroy invalidates at once, no queue", () => {
  const dev = iommuDev("fail", "dma-fq");
  const d = dev.domain!;
  const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [{ paddr: MMIO, len: 0x13000n }]);
  dmaBufFreeSgt(dev, sgt, { nowNs: 1000 });
  assert.equal(d.invalidation.rangeInvalidations, 1);
  assert.ok(d.rcaches.isCached(0xfffe0, 5));
});

Deno.test("test 28: the second range links at offset 0 too; fail policy unwinds 16 pages", () => {
  const dev = iommuDev("fail");
  const d = dev.domain!;
  const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [
    { paddr: MMIO, len: 0x10000n },
    { paddr: MMIO + 0x100000n, len: 0x3000n },
  ]);
  assert.equal(sgt.errno, "EEXIST");
  assert.deepEqual(sgt.entries, []);
  assert.deepEqual(sgt.anomalies, ["IOVA_LINK_OVERLAP"]);
  assert.deepEqual(sgt.events.map((e) => [e.event, e.addr, e.sizeBytes]), [
    ["map", 0xfffe0000n, 0x10000n],
    ["unmap", 0xfffe0000n, 0x10000n],
  ]);
  // 32 pages were allocated; 16 are freed, into class 4, not 5.
  assert.ok(d.rcaches.isCached(0xfffe0, 4));
  assert.ok(!d.rcaches.isCached(0xfffe0, 5));
  assert.equal(dmaMapPhys(dev, 0x1000_0000n, 0x10000n, 0, 0, 0).iovaSource, "rcache");
});

Deno.test("test 28 with overwrite and keep: success, but the IOVA does not reach range 0", () => {
  for (const overlap of ["overwrite", "keep"] as const) {
    const dev = iommuDev(overlap);
    const pt = dev.domain!.pageTable;
    const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [
      { paddr: MMIO, len: 0x10000n },
      { paddr: MMIO + 0x100000n, len: 0x3000n },
    ]);
    assert.equal(sgt.errno, 0, overlap);
    assert.deepEqual(sgt.anomalies, ["IOVA_LINK_OVERLAP"]);
    assert.deepEqual(sgt.entries, [{ dmaAddr: 0xfffe0000n, lengthBytes: 0x13000n }]);
    assert.equal(sgt.events.length, 2); // iommu_map reported success twice
    // The tail of the sg entry (past 0x10000) is not mapped at all.
    assert.equal(pt.iovaToPhys(0xfffe0000n + 0x10000n), -1n);
    const first = pt.iovaToPhys(0xfffe0000n);
    assert.equal(first, overlap === "keep" ? MMIO : MMIO + 0x100000n);
  }
});

Deno.test("first link fails: nothing unwound, the reservation leaks (IOVA_LEAK)", () => {
  const dev = iommuDev("fail");
  const d = dev.domain!;
  d.pageTable.iommuMap(0xfffe0000n, 0x5000_0000n, 0x1000n); // a stale PTE where the IOVA lands
  const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [{ paddr: MMIO, len: 0x13000n }]);
  assert.equal(sgt.errno, "EEXIST");
  assert.deepEqual(sgt.anomalies, ["IOVA_LEAK"]);
  assert.equal(sgt.leakedIovaBytes, 0x13000n);
  assert.deepEqual(sgt.events, []);
  assert.ok(!d.rcaches.isCached(0xfffe0, 5));
  assert.notEqual(d.iova.findIova(0xfffe0), 0, "still allocated in the tree");
});

Deno.test("test 29: host bridge without an IOMMU maps and unmaps per range with MMIO", () => {
  const dev = newDmaDevice("0000:41:00.0", null);
  const ranges = [{ paddr: MMIO, len: 0x10000n }, { paddr: MMIO + 0x100000n, len: 0x3000n }];
  const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, ranges);
  assert.equal(sgt.path, "DIRECT");
  assert.deepEqual(sgt.events.map((e) => [e.event, e.addr]), [
    ["dma_map_phys", MMIO],
    ["dma_map_phys", MMIO + 0x100000n],
  ]);
  assert.equal(sgt.entries.length, 2);
  assert.deepEqual(dmaBufFreeSgt(dev, sgt).map((e) => [e.event, e.addr, e.sizeBytes]), [
    ["dma_unmap_phys", MMIO, 0x10000n],
    ["dma_unmap_phys", MMIO + 0x100000n, 0x3000n],
  ]);
  // An identity domain takes the same path.
  const ident = newDmaDevice("x", new IommuDmaDomain({ type: "identity" }));
  assert.equal(dmaBufPhysVecToSgt(ident, "THRU_HOST_BRIDGE", 0n, ranges).path, "DIRECT");
});

Deno.test("direct unwind unmaps every table slot, empty ones as (0, 0)", () => {
  // 32-bit mask: the second range (above 4 GiB) fails dma_capable.
  const dev = newDmaDevice("0000:41:00.0", null, { maskBits: 32 });
  const sgt = dmaBufPhysVecToSgt(dev, "THRU_HOST_BRIDGE", 0n, [
    { paddr: 0xe000_0000n, len: 0x1000n },
    { paddr: MMIO, len: 0x1000n },
    { paddr: 0xe010_0000n, len: 0x1000n },
  ]);
  assert.equal(sgt.errno, "EIO");
  assert.deepEqual(sgt.events.map((e) => [e.event, e.addr, e.sizeBytes]), [
    ["dma_map_phys", 0xe000_0000n, 0x1000n],
    ["dma_unmap_phys", 0xe000_0000n, 0x1000n],
    ["dma_unmap_phys", 0n, 0n],
    ["dma_unmap_phys", 0n, 0n],
  ]);
});

Deno.test("test 30: NOT_SUPPORTED, NONE and UNKNOWN are refused with EINVAL, no events", () => {
  const dev = iommuDev();
  for (const t of ["NOT_SUPPORTED", "NONE", "UNKNOWN"] as const) {
    const sgt = dmaBufPhysVecToSgt(dev, t, 0n, [{ paddr: MMIO, len: 0x1000n }]);
    assert.equal(sgt.errno, "EINVAL");
    assert.equal(sgt.path, null);
    assert.deepEqual(sgt.events, []);
  }
  assert.equal(dev.domain!.pageTable.stats.pteWrites, 0);
});

Deno.test("an empty export has no entries: EINVAL, the reservation is not kept", () => {
  const dev = newDmaDevice("x", null);
  assert.equal(dmaBufPhysVecToSgt(dev, "BUS_ADDR", 0n, []).errno, "EINVAL");
});
