// The simulated importers of kernel-spec §8.5 against the vfio-pci exporter and the DMA model.

import assert from "node:assert/strict";
import { IommuDmaDomain } from "../iommu/mod.ts";
import { type DmaDevice, newDmaDevice } from "../dma/mod.ts";
import type { P2pdmaProvider } from "../topology/mod.ts";
import {
  DmaBufCore,
  DynamicImporter,
  PfnImporter,
  PinnedImporter,
  VfioPciDevice,
  VfioPciDmaBufExporter,
} from "./mod.ts";

const PROVIDER: P2pdmaProvider = {
  owner: "0000:03:00.0",
  barIndex: 0,
  busOffset: 0n,
  cpuStart: 0x380_0000_0000n,
  lenBytes: 0x1000_0000n,
};

function setup(ranges = [{ paddr: 0x380_0000_0000n, len: 0x13000n }]) {
  const core = new DmaBufCore({ revokeGraceMs: 10 });
  const devs = new Map<string, DmaDevice>();
  const exporter = new VfioPciDmaBufExporter(ranges, PROVIDER, {
    dmaDevice: (n) => {
      if (!devs.has(n)) devs.set(n, newDmaDevice(n, new IommuDmaDomain({ type: "dma" })));
      return devs.get(n)!;
    },
    mapType: () => "THRU_HOST_BRIDGE",
  });
  const size = ranges.reduce((s, r) => s + r.len, 0n);
  const buf = core.exportBuf(exporter, size, 1);
  const vdev = new VfioPciDevice(PROVIDER.owner, core);
  vdev.buffers.add(buf);
  return { core, buf, vdev, exporter };
}

Deno.test("DynamicImporter drops its mapping on move_notify and maps again after restore", () => {
  const { core, buf, vdev, exporter } = setup();
  const imp = new DynamicImporter(core, buf, "0000:41:00.0", 2);
  assert.deepEqual(imp.use(3, 0), { errno: 0, mapped: true });
  assert.deepEqual(imp.use(4, 1), { errno: 0, mapped: false }); // still mapped
  vdev.revoke("reset", 5, 1_000_000);
  assert.equal(imp.invalidations, 1);
  assert.equal(exporter.tables.get(imp.attach)!.length, 0, "unmapped in move_notify");
  assert.deepEqual(imp.use(6, 2_000_000), { errno: "ENODEV", mapped: false });
  vdev.restore(7, 3_000_000);
  assert.deepEqual(imp.use(8, 4_000_000), { errno: 0, mapped: true });
  imp.close(9, 5_000_000);
  core.end(6_000_000);
  assert.equal(core.anomalies.length, 0);
  assert.equal(imp.maps, 2);
});

Deno.test("DynamicImporter that unmaps only at next use outlives a revoke that nobody uses after", () => {
  const { core, buf, vdev } = setup();
  const imp = new DynamicImporter(core, buf, "0000:41:00.0", 2, "next_use");
  imp.use(3, 0);
  vdev.revoke("memory_disable", 4, 1_000_000);
  core.end(2_000_000);
  assert.deepEqual(core.anomalies.map((a) => a.code), ["DMABUF_MAPPING_OUTLIVES_REVOKE"]);
});

Deno.test("DynamicImporter with next_use unmapping in time is fine", () => {
  const { core, buf, vdev } = setup();
  const imp = new DynamicImporter(core, buf, "0000:41:00.0", 2, "next_use");
  imp.use(3, 0);
  vdev.revoke("memory_disable", 4, 1_000_000);
  vdev.restore(5, 2_000_000);
  assert.deepEqual(imp.use(6, 3_000_000), { errno: 0, mapped: true }); // unmapped, then mapped
  core.end(4_000_000);
  assert.equal(core.anomalies.length, 0);
});

Deno.test("PinnedImporter keeps its mapping through a revoke, warning only", () => {
  const { core, buf, vdev } = setup();
  const imp = new PinnedImporter(core, buf, "0000:42:00.0", 2, 0);
  assert.equal(imp.errno, 0);
  vdev.revoke("reset", 3, 1000);
  assert.equal(imp.warnings, 1);
  assert.deepEqual(core.anomalies.map((a) => a.code), [
    "DMABUF_PINNED_ON_REVOCABLE",
    "DMABUF_MAPPING_OUTLIVES_REVOKE",
  ]);
});

Deno.test("PfnImporter takes PFNs with their orders and zaps them on revoke", () => {
  const { core, buf, vdev } = setup([
    { paddr: 0x380_0000_0000n, len: 0x200000n }, // 2 MiB, 2M-aligned
    { paddr: 0x380_1000_3000n, len: 0x3000n },
  ]);
  const kvm = new PfnImporter(core, buf, "kvm", 2);
  assert.deepEqual(kvm.fault(0n, 3, 0), { errno: 0, pfn: 0x3800_0000n, maxOrder: 9 });
  assert.deepEqual(kvm.fault(0x200n, 4, 0), { errno: 0, pfn: 0x3801_0003n, maxOrder: 0 });
  assert.equal(kvm.fault(0x300n, 5, 0).errno, "EINVAL"); // past the buffer
  vdev.revoke("close", 6, 1000);
  assert.equal(kvm.zaps, 1);
  assert.equal(kvm.mapped.size, 0);
  assert.equal(kvm.fault(0n, 7, 2000).errno, "ENODEV");
  core.end(3000);
  assert.equal(core.anomalies.length, 0);
});

Deno.test("a PFN importer that keeps PFNs after the revoke outlives it", () => {
  const { core, buf, vdev } = setup();
  const att = core.attach(buf, "iommufd", "dynamic", true, 2).attach; // no move_notify handler
  assert.equal(core.getPfn(att, 0n, 3, 0).errno, 0);
  vdev.revoke("reset", 4, 0);
  core.end(1000);
  assert.deepEqual(core.anomalies.map((a) => a.code), ["DMABUF_MAPPING_OUTLIVES_REVOKE"]);
});
