// kernel-spec §9, row by row: what each revision gives the importer, what it costs, and the
// anomalies its addresses cause.

import assert from "node:assert/strict";
import { IommuDmaDomain } from "../model/iommu/mod.ts";
import { type DmaDevice, newDmaDevice } from "../model/dma/mod.ts";
import type { P2pdmaMapType } from "../model/topology/mod.ts";
import {
  checkRevisionMapping,
  type ExportedBuffer,
  type MapContext,
  REVISION_NAMES,
  revisionByName,
  type RevisionName,
} from "./mod.ts";

const GPU_BAR = 0x383000000000n;
const buffer = (busOffset = 0n, ranges = [{ paddr: GPU_BAR, len: 0x40000n }]): ExportedBuffer => ({
  ranges,
  provider: {
    owner: "0000:03:00.0",
    barIndex: 0,
    busOffset,
    cpuStart: GPU_BAR,
    lenBytes: 1n << 36n,
  },
});
const iommu = (type: "dma" | "dma-fq" = "dma") =>
  newDmaDevice("0000:04:00.0", new IommuDmaDomain({ type }));
const direct = () => newDmaDevice("0000:04:00.0", null);

function run(name: RevisionName, buf: ExportedBuffer, dev: DmaDevice, mapType: P2pdmaMapType) {
  const ctx: MapContext = { dev, mapType, cpu: 0, nowNs: 0 };
  const s = revisionByName(name)!;
  const m = s.map(buf, ctx);
  return { m, verdict: checkRevisionMapping(buf, ctx, m)?.code ?? null, ctx, s };
}

Deno.test("§9 switch pair under an IOMMU: v2-2022 gives an IOVA (wrong path), v1 and v8 the bus address", () => {
  const got = REVISION_NAMES.map((n) => {
    const { m, verdict } = run(n, buffer(), iommu(), "BUS_ADDR");
    return [n, m.path, m.entries[0]?.dmaAddr === GPU_BAR, m.iovaAllocs, m.pteWrites, verdict];
  });
  assert.deepEqual(got, [
    ["v2-2022", "THRU_HOST_BRIDGE", false, 1, 64, "P2P_WRONG_PATH"],
    ["v1-2024", "BUS_ADDR", true, 0, 0, null],
    ["v8-2025", "BUS_ADDR", true, 0, 0, null],
    ["rfc-2025-pfn", "PFN", true, 0, 0, null], // a CPU PFN: the importer's own page tables
  ]);
});

Deno.test("§9 bus offset without an IOMMU: v2-2022 ignores it (address mismatch), v1 and v8 add it", () => {
  const off = 0x1000_0000_0000n;
  const got = (["v2-2022", "v1-2024", "v8-2025"] as const).map((n) => {
    const { m, verdict } = run(n, buffer(off), direct(), "BUS_ADDR");
    return [n, m.entries[0]!.dmaAddr === GPU_BAR + off, verdict];
  });
  assert.deepEqual(got, [
    ["v2-2022", false, "P2P_DMA_ADDR_MISMATCH"],
    ["v1-2024", true, null],
    ["v8-2025", true, null],
  ]);
});

Deno.test("§9 host-bridge pair under an IOMMU: every revision maps an IOVA; sg entries differ", () => {
  const got = (["v2-2022", "v1-2024", "v8-2025"] as const).map((n) => {
    const { m, verdict } = run(n, buffer(), iommu(), "THRU_HOST_BRIDGE");
    return [n, m.path, m.iovaAllocs, m.pteWrites, m.sgEntries, verdict];
  });
  assert.deepEqual(got, [
    ["v2-2022", "THRU_HOST_BRIDGE", 1, 64, 4, null], // 256 KiB in 64 KiB (max segment) entries
    ["v1-2024", "THRU_HOST_BRIDGE", 1, 64, 1, null],
    ["v8-2025", "THRU_HOST_BRIDGE", 1, 64, 1, null],
  ]);
});

Deno.test("§9 several ranges: v8-2025 overlaps its links (IOVA_LINK_OVERLAP); v2-2022 maps a slice each", () => {
  const ranges = [
    { paddr: GPU_BAR, len: 0x10000n },
    { paddr: GPU_BAR + 0x100000n, len: 0x10000n },
  ];
  // The merged helper links every range at offset 0 (kernel-spec §7.2): the second link lands
  // on the first's PTEs, and the map fails (EEXIST under the "fail" overlap policy).
  const v8 = run("v8-2025", buffer(0n, ranges), iommu(), "THRU_HOST_BRIDGE").m;
  assert.deepEqual([v8.errno, v8.modelAnomalies], ["EEXIST", ["IOVA_LINK_OVERLAP"]]);
  const v2 = run("v2-2022", buffer(0n, ranges), iommu(), "THRU_HOST_BRIDGE").m;
  assert.deepEqual([v2.errno, v2.iovaAllocs, v2.sgEntries, v2.pteWrites], [0, 2, 2, 32]);
  const one = run("v8-2025", buffer(0n, ranges.slice(0, 1)), iommu(), "THRU_HOST_BRIDGE").m;
  assert.deepEqual([one.errno, one.iovaAllocs, one.sgEntries, one.pteWrites], [0, 1, 1, 16]);
});

Deno.test("§9 NOT_SUPPORTED pair: v8 refuses, v1 fails the map (EREMOTEIO), v2 maps it anyway", () => {
  assert.equal(run("v8-2025", buffer(), iommu(), "NOT_SUPPORTED").m.errno, "EINVAL");
  assert.equal(run("v1-2024", buffer(), iommu(), "NOT_SUPPORTED").m.errno, "EREMOTEIO");
  const v2 = run("v2-2022", buffer(), iommu(), "NOT_SUPPORTED");
  assert.equal(v2.m.errno, 0);
  assert.equal(v2.verdict, "P2P_NOT_SUPPORTED_PATH");
  // Attach: v2 still attaches (peer2peer false), v8 attaches only importers that allow peer2peer.
  assert.deepEqual(revisionByName("v2-2022")!.attach("NOT_SUPPORTED", true), {
    errno: 0,
    peer2peer: false,
  });
  assert.deepEqual(revisionByName("v8-2025")!.attach("BUS_ADDR", false), {
    errno: "EOPNOTSUPP",
    peer2peer: false,
  });
});

Deno.test("§9 v1-2024 pays struct pages: 64 B per 4 KiB, 1.6 GB for a 100 GB BAR", () => {
  const buf = buffer();
  const big = { ...buf, provider: { ...buf.provider, lenBytes: 100n * 1000n ** 3n } };
  const { m } = run("v1-2024", big, iommu(), "BUS_ADDR");
  assert.equal(Math.round(m.structPageBytes / 1e8) / 10, 1.6);
  assert.equal(run("v8-2025", big, iommu(), "BUS_ADDR").m.structPageBytes, 0);
});

Deno.test("§9 unmap costs: strict unmaps invalidate once; lazy ones queue but v8's; bus ones cost nothing", () => {
  for (const n of ["v2-2022", "v1-2024", "v8-2025"] as const) {
    const { m, ctx, s } = run(n, buffer(), iommu(), "THRU_HOST_BRIDGE");
    assert.deepEqual(s.unmap(m, ctx), {
      pteWrites: 64,
      iotlbInvalidations: 1,
      iovaSource: "rbtree",
    }, n);
    // Lazy: dma_unmap_* queues the IOVA; v8's dma_iova_destroy still waits (kernel-spec §6.5).
    const lazy = run(n, buffer(), iommu("dma-fq"), "THRU_HOST_BRIDGE");
    const want = n === "v8-2025"
      ? { pteWrites: 64, iotlbInvalidations: 1, iovaSource: "rbtree" }
      : { pteWrites: 64, iotlbInvalidations: 0, iovaSource: "fq" };
    assert.deepEqual(lazy.s.unmap(lazy.m, lazy.ctx), want, n);
  }
  const bus = run("v8-2025", buffer(), iommu(), "BUS_ADDR");
  assert.deepEqual(bus.s.unmap(bus.m, bus.ctx), {
    pteWrites: 0,
    iotlbInvalidations: 0,
    iovaSource: "",
  });
});

Deno.test("revisions: the second map of a strict domain reuses the freed IOVA from the rcache", () => {
  const dev = iommu();
  const small = buffer(0n, [{ paddr: GPU_BAR, len: 0x4000n }]);
  const a = run("v8-2025", small, dev, "THRU_HOST_BRIDGE");
  a.s.unmap(a.m, a.ctx);
  const b = run("v8-2025", small, dev, "THRU_HOST_BRIDGE");
  assert.deepEqual([a.m.iovaSource, b.m.iovaSource, b.m.iova === a.m.iova], [
    "rbtree",
    "rcache",
    true,
  ]);
});
