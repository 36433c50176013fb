import assert from "node:assert/strict";
import { IommuDmaDomain } from "../iommu/mod.ts";
import {
  DMA_ATTR_MMIO,
  DMA_MAPPING_ERROR,
  dmaIovaDestroy,
  dmaIovaLink,
  type DmaIovaState,
  dmaIovaTryAlloc,
  dmaIovaUnlink,
  dmaMapPhys,
  dmaMapSg,
  dmaUnmapPhys,
  dmaUnmapSg,
  dmaUseIova,
  newDmaDevice,
  type P2pClassifier,
  useDmaIommu,
} from "./mod.ts";

const RAM = () => null;

Deno.test("dma-direct: the physical address; MMIO beyond the mask fails, RAM bounces", () => {
  const dev = newDmaDevice("0000:03:00.0", null, { maskBits: 32 });
  assert.equal(useDmaIommu(dev), false);
  const low = dmaMapPhys(dev, 0x8000_0000n, 0x1000n, DMA_ATTR_MMIO, 0, 0);
  assert.deepEqual([low.dmaAddr, low.backend, low.error], [0x8000_0000n, "DIRECT", ""]);
  const mmio = dmaMapPhys(dev, 0x380_0000_0000n, 0x1000n, DMA_ATTR_MMIO, 0, 0);
  assert.deepEqual([mmio.dmaAddr, mmio.error], [DMA_MAPPING_ERROR, "MASK"]);
  const ram = dmaMapPhys(dev, 0x1_0000_0000n, 0x1000n, 0, 0, 0);
  assert.equal(ram.bounced, true);
  assert.notEqual(ram.dmaAddr, DMA_MAPPING_ERROR);
  // A range that ends exactly at the mask is capable; one byte more is not.
  assert.equal(dmaMapPhys(dev, 0xffff_f000n, 0x1000n, DMA_ATTR_MMIO, 0, 0).error, "");
  assert.equal(dmaMapPhys(dev, 0xffff_f001n, 0x1000n, DMA_ATTR_MMIO, 0, 0).error, "MASK");
  assert.deepEqual(dmaUnmapPhys(dev, 0x8000_0000n, 0x1000n, 0, 0), {
    unmappedBytes: 0n,
    invalidations: 0,
  });
});

Deno.test("identity domains map directly; blocked domains fail every map", () => {
  const ident = newDmaDevice("a", new IommuDmaDomain({ type: "identity" }));
  assert.equal(dmaMapPhys(ident, 0x1234_5000n, 0x1000n, 0, 0, 0).backend, "DIRECT");
  const blocked = newDmaDevice("b", new IommuDmaDomain({ type: "blocked" }));
  const r = dmaMapPhys(blocked, 0x1234_5000n, 0x1000n, 0, 0, 0);
  assert.deepEqual([r.dmaAddr, r.error], [DMA_MAPPING_ERROR, "BLOCKED"]);
  assert.equal(
    dmaMapSg(blocked, [{ phys: 0x1000n, lengthBytes: 0x1000 }], RAM, 0, 0).errno,
    "EINVAL",
  );
});

Deno.test("strict unmap: one invalidation, the IOVA comes straight back from the rcache", () => {
  const dev = newDmaDevice("0000:00:02.0", new IommuDmaDomain({ type: "dma" }));
  const a = dmaMapPhys(dev, 0x1_0000_0000n, 4096n, 0, 0, 0);
  assert.deepEqual([a.dmaAddr, a.iovaSource, a.pteWrites], [0xfffff000n, "tree", 1]);
  const u = dmaUnmapPhys(dev, a.dmaAddr, 4096n, 0, 1000);
  assert.deepEqual(u, { unmappedBytes: 4096n, invalidations: 1 });
  const b = dmaMapPhys(dev, 0x2_0000_0000n, 4096n, 0, 0, 2000);
  assert.deepEqual([b.dmaAddr, b.iovaSource], [0xfffff000n, "rcache"]);
  assert.equal(dev.domain!.pageTable.iovaToPhys(0xfffff000n), 0x2_0000_0000n);
});

Deno.test("lazy unmap: PTEs go at once, the invalidation and the free wait for the flush", () => {
  const dev = newDmaDevice("0000:00:02.0", new IommuDmaDomain({ type: "dma-fq" }));
  const d = dev.domain!;
  const a = dmaMapPhys(dev, 0x1_0000_0000n, 4096n, 0, 0, 0);
  assert.deepEqual(dmaUnmapPhys(dev, a.dmaAddr, 4096n, 0, 1_000_000), {
    unmappedBytes: 4096n,
    invalidations: 0,
  });
  assert.equal(d.pageTable.iovaToPhys(a.dmaAddr), -1n);
  // Still queued: a map 1 ms later cannot reuse it.
  const b = dmaMapPhys(dev, 0x2_0000_0000n, 4096n, 0, 0, 2_000_000);
  assert.equal(b.dmaAddr, 0xffffe000n);
  d.advanceTo(12_000_000); // the 10 ms timer flushed
  assert.ok(d.rcaches.isCached(0xfffff, 0));
});

Deno.test("map_phys keeps the offset inside the granule and maps whole granules", () => {
  const dev = newDmaDevice("x", new IommuDmaDomain());
  const r = dmaMapPhys(dev, 0x2000_0800n, 0x10000n, 0, 0, 0);
  assert.equal(r.dmaAddr & 0xfffn, 0x800n);
  assert.equal(r.iovaBytes, 0x11000n);
  const u = dmaUnmapPhys(dev, r.dmaAddr, 0x10000n, 0, 0);
  assert.equal(u.unmappedBytes, 0x11000n);
});

Deno.test("map_sg pads an entry that would straddle the segment boundary", () => {
  const dev = newDmaDevice("x", new IommuDmaDomain(), { segmentBoundary: 0xffffn });
  const r = dmaMapSg(
    dev,
    [
      { phys: 0x1000_0000n, lengthBytes: 0xf000 },
      { phys: 0x1000_f000n, lengthBytes: 0x2000 },
    ],
    RAM,
    0,
    0,
  );
  assert.equal(r.errno, 0);
  assert.equal(r.iovaBytes, 0x12000n); // 0xf000 + 0x1000 pad + 0x2000
  assert.equal(r.iova, 0xfffe0000n); // 18 pages round to 32
  assert.deepEqual(r.segments.map((s) => [s.dmaAddr, s.lengthBytes]), [
    [0xfffe0000n, 0xf000],
    [0xffff0000n, 0x2000],
  ]);
  assert.equal(r.mapRuns.length, 2, "the pad breaks the physically contiguous run");
  assert.equal(dmaUnmapSg(dev, r.segments, 0, 0), 0x12000n);
});

Deno.test("map_sg: contiguous entries are one map run and one merged segment", () => {
  const dev = newDmaDevice("x", new IommuDmaDomain());
  const r = dmaMapSg(
    dev,
    [
      { phys: 0x1000_0000n, lengthBytes: 0x1000 },
      { phys: 0x1000_1000n, lengthBytes: 0x1000 },
    ],
    RAM,
    0,
    0,
  );
  assert.equal(r.mapRuns.length, 1);
  assert.deepEqual(r.segments.map((s) => [s.dmaAddr, s.lengthBytes]), [[0xffffe000n, 0x2000]]);
});

Deno.test("map_sg P2P: bus entries skip the IOVA and take the first entry's length", () => {
  const BAR = 0x40_0000_0000n;
  const classify: P2pClassifier = (phys) =>
    phys >= BAR ? { mapType: "BUS_ADDR", busOffset: 0xffff_ffc0_8000_0000n } : null;
  const dev = newDmaDevice("x", new IommuDmaDomain());
  const r = dmaMapSg(
    dev,
    [
      { phys: 0x1000_0000n, lengthBytes: 0x1000 },
      { phys: BAR, lengthBytes: 0x4000 },
    ],
    classify,
    0,
    0,
  );
  assert.equal(r.errno, 0);
  assert.equal(r.iovaBytes, 0x1000n);
  assert.deepEqual(r.segments.map((s) => [s.dmaAddr, s.lengthBytes, s.bus]), [
    [0xfffff000n, 0x1000, false],
    [0x8000_0000n, 0x1000, true], // sic: kernel-spec §6.4 quirk
  ]);
  assert.equal(r.busLengthQuirk, true);
  assert.equal(dmaUnmapSg(dev, r.segments, 0, 0), 0x1000n);
  // dma-direct: bus entries get bus addresses, host-bridge entries their physical address.
  const direct = newDmaDevice("y", null);
  const d = dmaMapSg(direct, [{ phys: BAR + 0x1000n, lengthBytes: 0x1000 }], classify, 0, 0);
  assert.equal(d.segments[0]!.dmaAddr, 0x8000_1000n);
  // Uniform lengths: the quirk is invisible.
  const u = dmaMapSg(
    newDmaDevice("z", new IommuDmaDomain()),
    [
      { phys: 0x1000_0000n, lengthBytes: 0x1000 },
      { phys: BAR, lengthBytes: 0x1000 },
    ],
    classify,
    0,
    0,
  );
  assert.equal(u.busLengthQuirk, false);
});

Deno.test("map_sg refuses an unsupported P2P entry with EREMOTEIO and maps nothing", () => {
  const dev = newDmaDevice("x", new IommuDmaDomain());
  const classify: P2pClassifier = (p) =>
    p === 0x5000n ? { mapType: "NOT_SUPPORTED", busOffset: 0n } : null;
  const r = dmaMapSg(
    dev,
    [
      { phys: 0x1000n, lengthBytes: 0x1000 },
      { phys: 0x5000n, lengthBytes: 0x1000 },
    ],
    classify,
    0,
    0,
  );
  assert.equal(r.errno, "EREMOTEIO");
  assert.equal(dev.domain!.pageTable.stats.pteWrites, 0);
  assert.equal(dmaMapSg(dev, [], RAM, 0, 0).errno, "EINVAL");
});

Deno.test("two-step API: unlink keeps the reservation, destroy frees what was linked", () => {
  const dev = newDmaDevice("x", new IommuDmaDomain());
  const d = dev.domain!;
  const st: DmaIovaState = { addr: 0n, size: 0n };
  assert.equal(dmaIovaTryAlloc(dev, st, 0n, 0x4000n, 0, 0), true);
  assert.equal(dmaUseIova(st), true);
  assert.equal(st.addr, 0xffffc000n);
  const l = dmaIovaLink(dev, st, 0x5000_0000n, 0x1000n, 0x2000n);
  assert.deepEqual([l.errno, l.map?.iova, l.pteWrites], [0, 0xffffd000n, 2]);
  // A range that is not granule aligned can only be linked at offset 0.
  assert.equal(dmaIovaLink(dev, st, 0x6000_0800n, 0x3000n, 0x800n).errno, "EIO");
  assert.equal(dmaIovaUnlink(dev, st, 0x1000n, 0x2000n), 0x2000n);
  assert.notEqual(d.iova.findIova(0xffffc), 0, "unlink keeps the IOVA");
  assert.equal(dmaIovaLink(dev, st, 0x7000_0000n, 0n, 0x4000n).errno, 0);
  assert.equal(dmaIovaDestroy(dev, st, 0x4000n, 0, 0), 0x4000n);
  assert.equal(st.size, 0n);
  assert.ok(d.rcaches.isCached(0xffffc, 2));
  // No IOMMU: try_alloc declines and the caller falls back to dma_map_phys.
  const direct = newDmaDevice("y", null);
  assert.equal(dmaIovaTryAlloc(direct, st, 0n, 0x1000n, 0, 0), false);
});
