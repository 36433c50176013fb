// kernel-spec §8.2 (every uAPI validation rule with its errno; §11 test 31), §8.3–8.4 (the
// exporter's ops and revoke triggers; §11 tests 32–34) on the real DMA model.

import assert from "node:assert/strict";
import { IommuDmaDomain } from "../iommu/mod.ts";
import { type DmaDevice, newDmaDevice } from "../dma/mod.ts";
import type { Bar, P2pdmaProvider, PciDevice } from "../topology/mod.ts";
import {
  DmaBufCore,
  type VfioDmaBufDevice,
  type VfioDmaBufRequest,
  vfioDmaBufV2Slice,
  vfioPciCoreFeatureDmaBuf,
  VfioPciDevice,
  VfioPciDmaBufExporter,
} from "./mod.ts";

const BAR0: Bar = {
  index: 0,
  cpuStart: 0x380_0000_0000n,
  busStart: 0x380_0000_0000n,
  lenBytes: 0x100000n,
  mem: true,
  prefetch: false,
  mmap: true,
};
const BAR4_IO: Bar = { ...BAR0, index: 4, cpuStart: 0xe000n, lenBytes: 0x100n, mem: false };
const PCI = {
  bdf: "0000:03:00.0",
  kind: "endpoint",
  bars: [BAR0, BAR4_IO],
} as unknown as PciDevice;
const PROVIDER: P2pdmaProvider = {
  owner: PCI.bdf,
  barIndex: 0,
  busOffset: 0n,
  cpuStart: BAR0.cpuStart,
  lenBytes: BAR0.lenBytes,
};
const DEV: VfioDmaBufDevice = {
  pci: PCI,
  driver: "vfio-pci",
  provider: (i) => (i === 0 ? PROVIDER : null),
};
const req = (over: Partial<VfioDmaBufRequest> = {}): VfioDmaBufRequest => ({
  regionIndex: 0,
  openFlags: 0,
  flags: 0,
  ranges: [{ offset: 0n, length: 0x13000n }],
  ...over,
});
const rule = (dev: VfioDmaBufDevice, r: VfioDmaBufRequest) => {
  const got = vfioPciCoreFeatureDmaBuf(dev, r);
  return got.errno === 0 ? [0] : [got.errno, got.rule];
};

Deno.test("test 31: region 6, nr_ranges 0, offset 0x800, past the BAR, I/O BAR, flags 1", () => {
  assert.deepEqual(rule(DEV, req({ regionIndex: 6 })), ["ENODEV", 4]);
  assert.deepEqual(rule(DEV, req({ ranges: [] })), ["EINVAL", 3]);
  assert.deepEqual(rule(DEV, req({ ranges: [{ offset: 0x800n, length: 0x1000n }] })), [
    "EINVAL",
    6,
  ]);
  assert.deepEqual(rule(DEV, req({ ranges: [{ offset: 0xff000n, length: 0x2000n }] })), [
    "EINVAL",
    11,
  ]);
  assert.deepEqual(rule(DEV, req({ regionIndex: 4 })), ["EINVAL", 9]);
  assert.deepEqual(rule(DEV, req({ flags: 1 })), ["EINVAL", 3]);
});

Deno.test("uAPI rules 1, 2, 5, 7, 8, 10, 12 and the order they are checked in", () => {
  assert.deepEqual(rule({ ...DEV, driver: "other" }, req({ regionIndex: 9 })), ["EOPNOTSUPP", 1]);
  assert.deepEqual(rule(DEV, req({ featureFlags: "SET" })), ["EINVAL", 2]);
  assert.deepEqual(rule(DEV, req({ argszShort: true })), ["EINVAL", 2]);
  assert.deepEqual(rule(DEV, req({ nrRanges: 0x1000_0000 })), ["EOVERFLOW", 5]);
  assert.deepEqual(rule(DEV, req({ nrRanges: 3 })), ["EFAULT", 5]);
  const half = 1n << 63n;
  assert.deepEqual(
    rule(DEV, req({ ranges: [{ offset: 0n, length: half }, { offset: 0n, length: half }] })),
    ["EINVAL", 7],
  );
  assert.deepEqual(rule(DEV, req({ ranges: [{ offset: 0n, length: half }] })), ["EINVAL", 8]);
  const high: VfioDmaBufDevice = {
    ...DEV,
    pci: { ...PCI, bars: [{ ...BAR0, cpuStart: 0xffff_ffff_ffff_0000n }] } as PciDevice,
  };
  assert.deepEqual(rule(high, req()), ["EOVERFLOW", 10]);
  assert.deepEqual(rule({ ...DEV, registered: false }, req()), ["ENODEV", 12]);
  // Order: the region check (4) comes before the range checks (6).
  assert.deepEqual(rule(DEV, req({ regionIndex: 7, ranges: [{ offset: 1n, length: 1n }] })), [
    "ENODEV",
    4,
  ]);
  // Zero-length range.
  assert.deepEqual(rule(DEV, req({ ranges: [{ offset: 0n, length: 0n }] })), ["EINVAL", 6]);
});

Deno.test("a valid request: phys ranges, size, overlapping ranges allowed, revoked when memory is off", () => {
  const got = vfioPciCoreFeatureDmaBuf(
    DEV,
    req({ ranges: [{ offset: 0n, length: 0x10000n }, { offset: 0x8000n, length: 0x3000n }] }),
  );
  assert.equal(got.errno, 0);
  if (got.errno !== 0) return;
  assert.deepEqual(got.phys, [
    { paddr: 0x380_0000_0000n, len: 0x10000n },
    { paddr: 0x380_0000_8000n, len: 0x3000n },
  ]);
  assert.equal(got.sizeBytes, 0x13000n);
  assert.equal(got.revoked, false);
  const off = vfioPciCoreFeatureDmaBuf({ ...DEV, memoryEnabled: false }, req());
  assert.equal(off.errno === 0 && off.revoked, true);
  const d3 = vfioPciCoreFeatureDmaBuf({ ...DEV, inD3: true }, req());
  assert.equal(d3.errno === 0 && d3.revoked, true);
});

Deno.test("nvgrace-gpu exports its device memory, not the BAR (get_dmabuf_phys)", () => {
  const mem = { cpuStart: 0x4000_0000_0000n, lenBytes: 1n << 36n };
  const got = vfioPciCoreFeatureDmaBuf(
    { ...DEV, driver: "nvgrace-gpu", deviceMemory: (i) => (i === 0 ? mem : null) },
    req({ ranges: [{ offset: 0x2_0000_0000n, length: 0x1000n }] }), // past the 1 MiB BAR
  );
  assert.equal(got.errno, 0);
  assert.equal(got.errno === 0 && got.phys[0]!.paddr, 0x4002_0000_0000n);
});

Deno.test("v2-2022 uAPI: 0/0 is the whole BAR; slices must fit and be page aligned", () => {
  assert.deepEqual(vfioDmaBufV2Slice(DEV, { regionIndex: 0, offset: 0n, length: 0n }).phys, {
    paddr: BAR0.cpuStart,
    len: BAR0.lenBytes,
  });
  const bad: [bigint, bigint][] = [[0x100000n, 0x1000n], [0xff000n, 0x2000n], [0x800n, 0x1000n]];
  for (const [offset, length] of bad) {
    assert.equal(vfioDmaBufV2Slice(DEV, { regionIndex: 0, offset, length }).errno, "EINVAL");
  }
  assert.equal(vfioDmaBufV2Slice(DEV, { regionIndex: 6, offset: 0n, length: 0n }).errno, "EINVAL");
});

function exported() {
  const core = new DmaBufCore({ revokeGraceMs: 10 });
  const devs = new Map<string, DmaDevice>();
  const exporter = new VfioPciDmaBufExporter(
    [{ paddr: 0x380_0000_0000n, len: 0x13000n }],
    PROVIDER,
    {
      dmaDevice: (n) => {
        if (!devs.has(n)) devs.set(n, newDmaDevice(n, new IommuDmaDomain({ type: "dma" })));
        return devs.get(n)!;
      },
      mapType: () => "THRU_HOST_BRIDGE",
    },
  );
  const vdev = new VfioPciDevice(PCI.bdf, core);
  const buf = core.exportBuf(exporter, 0x13000n, 1);
  vdev.buffers.add(buf);
  const att = core.attach(buf, "0000:41:00.0", "dynamic", true, 2).attach;
  return { core, exporter, vdev, buf, att, nic: () => devs.get("0000:41:00.0")! };
}

Deno.test("test 32: reset revokes, the dynamic importer unmaps, re-map fails, restore re-maps from the rcache", () => {
  const { core, exporter, vdev, buf, att, nic } = exported();
  assert.equal(core.map(att, 3, 0).errno, 0);
  assert.equal(exporter.built[0]!.sgt.entries[0]!.dmaAddr, 0xfffe0000n); // test 27
  vdev.revoke("reset", 4, 1_000_000);
  assert.equal(core.buffer(buf)!.state, "REVOKED");
  core.unmap(att, 5, 2_000_000); // the importer's move_notify handler
  assert.ok(nic().domain!.rcaches.isCached(0xfffe0, 5), "IOVA back in CPU 0's rcache");
  assert.equal(core.map(att, 6, 3_000_000).errno, "ENODEV");
  vdev.restore(7, 4_000_000);
  assert.equal(core.buffer(buf)!.state, "LIVE");
  assert.equal(core.map(att, 8, 5_000_000).errno, 0);
  const again = exporter.built.at(-1)!.sgt;
  assert.equal(again.entries[0]!.dmaAddr, 0xfffe0000n);
  assert.equal(nic().domain!.rcaches.stats.hits, 1);
  core.end(100_000_000);
  assert.equal(core.anomalies.length, 0);
});

Deno.test("test 33: a pinned importer keeps its mapping when memory decoding goes off", () => {
  const { core, vdev, buf } = exported();
  const pinned = core.attach(buf, "0000:42:00.0", "pinned", true, 10).attach;
  core.pin(pinned, 11);
  core.map(pinned, 12, 0);
  vdev.revoke("memory_disable", 13, 1000);
  assert.equal(vdev.memoryEnabled, false);
  assert.deepEqual(core.anomalies.map((a) => [a.code, a.line]), [
    ["DMABUF_PINNED_ON_REVOCABLE", 11],
    ["DMABUF_MAPPING_OUTLIVES_REVOKE", 13],
  ]);
});

Deno.test("test 34: after close the buffer is DEAD: a later memory enable does not restore it", () => {
  const { core, vdev, buf, att } = exported();
  vdev.revoke("close", 3, 0);
  vdev.restore(4, 1000, true);
  assert.equal(core.buffer(buf)!.state, "DEAD");
  assert.equal(vdev.buffers.size, 0);
  assert.equal(core.map(att, 5, 2000).errno, "ENODEV");
  core.map(att, 6, 3000, 0); // a trace that shows the map succeed
  assert.deepEqual(core.anomalies.map((a) => a.code), ["DMABUF_MAP_WHILE_REVOKED"]);
});

Deno.test("the exporter refuses importers without peer2peer, and attaches to a revoked buffer", () => {
  const { core, vdev, buf } = exported();
  assert.equal(core.attach(buf, "x", "dynamic", false, 3).errno, "EOPNOTSUPP");
  vdev.revoke("d3", 4, 0);
  assert.equal(core.attach(buf, "y", "dynamic", true, 5).errno, "ENODEV");
});

Deno.test("unmap frees the table through dma_buf_free_sgt: one unmap of the whole IOVA", () => {
  const { core, exporter, att, nic } = exported();
  core.map(att, 3, 0);
  const d = nic().domain!;
  assert.equal(d.pageTable.stats.pteWrites, 19);
  core.unmap(att, 4, 0);
  assert.equal(d.invalidation.rangeInvalidations, 1);
  assert.equal(exporter.tables.get(att)!.length, 0);
});
