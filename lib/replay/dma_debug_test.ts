// Each dma-debug code: a sequence that triggers it and a correct twin that must not.

import assert from "node:assert/strict";
import { parseTrace } from "../ingest/mod.ts";
import { DmaDebug, type DmaDebugCode, feedDmaDebug } from "./mod.ts";
import { DMA_DEBUG_GONE_MAX } from "./dma_debug.ts";

const DEV = "0000:03:00.0";
const codes = (d: DmaDebug) => d.anomalies.map((a) => a.code);

function check(run: (d: DmaDebug) => void, want: DmaDebugCode[]) {
  const d = new DmaDebug(() => ({ maxSegmentSize: 0x10000, segmentBoundary: 0xffffn }));
  run(d);
  assert.deepEqual(codes(d), want);
  return d;
}

Deno.test("single map/unmap: size, direction, family, not mapped; the correct twin", () => {
  const m = (d: DmaDebug) => d.map("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 1);
  check((d) => (m(d), d.unmap("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 2), d.end()), []);
  check((d) => (m(d), d.unmap("single", DEV, 0x1000n, 8192n, "TO_DEVICE", 2)), [
    "DMA_UNMAP_SIZE_MISMATCH",
  ]);
  check((d) => (m(d), d.unmap("single", DEV, 0x1000n, 4096n, "FROM_DEVICE", 2)), [
    "DMA_UNMAP_DIR_MISMATCH",
  ]);
  check((d) => (m(d), d.unmap("coherent", DEV, 0x1000n, 4096n, "TO_DEVICE", 2)), [
    "DMA_UNMAP_TYPE_MISMATCH",
  ]);
  const twice = check((d) => {
    m(d);
    d.unmap("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 2);
    d.unmap("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 3);
  }, ["DMA_UNMAP_NOT_MAPPED"]);
  assert.equal(twice.anomalies[0]!.line, 3);
  // Another device's mapping at the same address does not count.
  check((d) => (m(d), d.unmap("single", "0000:04:00.0", 0x1000n, 4096n, "TO_DEVICE", 2)), []);
});

Deno.test("an unmap of a mapping made before the trace began is not an anomaly", () => {
  const d = check((d) => d.unmap("single", DEV, 0x5000n, 4096n, "TO_DEVICE", 1), []);
  assert.equal(d.preTraceUnmaps, 1);
});

Deno.test("the same address mapped twice (no IOMMU) needs two unmaps, matched by size", () => {
  check((d) => {
    d.map("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 1);
    d.map("single", DEV, 0x1000n, 512n, "TO_DEVICE", 2);
    d.unmap("single", DEV, 0x1000n, 512n, "TO_DEVICE", 3);
    d.unmap("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 4);
    d.end();
  }, []);
});

Deno.test("sg: entry count and the segment limits", () => {
  const segs = [0xfff00000n, 0x1000n]; // flat: address, length, ...
  const m = (d: DmaDebug, s: readonly (number | bigint)[] = segs) =>
    d.map("sg", DEV, 0x2000_0000n, 0x1000n, "FROM_DEVICE", 1, { nents: 2, segs: s });
  check((d) => (m(d), d.unmap("sg", DEV, 0x2000_0000n, 0n, "FROM_DEVICE", 2, { nents: 2 })), []);
  check((d) => (m(d), d.unmap("sg", DEV, 0x2000_0000n, 0n, "FROM_DEVICE", 2, { nents: 1 })), [
    "DMA_UNMAP_SG_NENTS_MISMATCH",
  ]);
  check((d) => m(d, [0xfff00000n, 0x20000n]), [
    "DMA_SG_SEGMENT_TOO_LONG",
    "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
  ]);
  check((d) => m(d, [0xfff0f000n, 0x2000n]), ["DMA_SG_SEGMENT_CROSSES_BOUNDARY"]);
  check((d) => m(d, [0xfff0e000n, 0x2000n]), []); // ends exactly at the boundary
  check((d) => m(d, [0xfff0e000, 0x1000, 0xfff0f000, 0x2000]), ["DMA_SG_SEGMENT_CROSSES_BOUNDARY"]);
});

Deno.test("addresses above 2^53 (bigints) and below (numbers) are the same values whichever form a caller gives", () => {
  const high = 0xffff_8000_0000_0000n; // a bus address with the top bits set
  // Mapped as a bigint, unmapped and synced as numbers or bigints: the same mapping.
  check((d) => {
    d.map("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 1);
    d.sync(DEV, 0x1800, 0x100, "TO_DEVICE", false, 2);
    d.unmap("single", DEV, 0x1000, 4096, "TO_DEVICE", 3);
    d.unmap("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 4); // unmapped already
  }, ["DMA_UNMAP_NOT_MAPPED"]);
  check((d) => {
    d.map("single", DEV, high, 4096n, "TO_DEVICE", 1);
    d.sync(DEV, high + 0xf00n, 0x100n, "TO_DEVICE", false, 2);
    d.sync(DEV, high + 0xf00n, 0x200n, "TO_DEVICE", false, 3); // past the end
    d.unmap("single", DEV, high, 4096, "TO_DEVICE", 4);
    d.end();
  }, ["DMA_SYNC_OUT_OF_RANGE"]);
  // A segment across a 64 KiB line near 2^64: the boundary check on bigints.
  check(
    (d) =>
      d.map("sg", DEV, 1n, 0x2000n, "TO_DEVICE", 1, { segs: [0xffff_ffff_fffe_f800n, 0x1000] }),
    [
      "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
    ],
  );
  // A segment across 2^53 (number start, bigint end) in a 64 KiB window.
  const at = 2 ** 53 - 0x800;
  check((d) => d.map("sg", DEV, 1n, 0x1000n, "TO_DEVICE", 1, { segs: [at, 0x1000] }), [
    "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
  ]);
  check((d) => d.map("sg", DEV, 1n, 0x800n, "TO_DEVICE", 1, { segs: [at, 0x800] }), []);
});

Deno.test("segment boundaries: a mask of all ones never crosses, one not 2^k - 1 is taken as the kernel's & ~mask", () => {
  const run = (segmentBoundary: bigint, segs: (number | bigint)[]) => {
    const d = new DmaDebug(() => ({ maxSegmentSize: 2 ** 40, segmentBoundary }));
    d.map("sg", DEV, 1n, 0n, "TO_DEVICE", 1, { segs });
    return codes(d);
  };
  assert.deepEqual(run(0xffff_ffff_ffff_ffffn, [0xfff0_0000, 0x20_0000]), []);
  assert.deepEqual(run(0xffff_ffffn, [0xffff_f000, 0x2000]), ["DMA_SG_SEGMENT_CROSSES_BOUNDARY"]);
  // mask 0x1_0fff: & ~mask clears bits 0-11 and 16 (windows of 0x11000 would say otherwise).
  assert.deepEqual(run(0x1_0fffn, [0x1000, 0x1000]), []);
  assert.deepEqual(run(0x1_0fffn, [0xf000, 0x2000]), ["DMA_SG_SEGMENT_CROSSES_BOUNDARY"]);
  assert.deepEqual(run(0x1_0fffn, [0x2_1000, 0x1_1000]), []);
});

Deno.test("coherent free with another CPU address", () => {
  const m = (d: DmaDebug) =>
    d.map("coherent", DEV, 0xffffd000n, 24n, "BIDIRECTIONAL", 1, { cpuAddr: 0xabc0n });
  check((d) => (m(d),
    d.unmap("coherent", DEV, 0xffffd000n, 24n, "BIDIRECTIONAL", 2, {
      cpuAddr: 0xabc0n,
    })), []);
  check((d) => (m(d),
    d.unmap("coherent", DEV, 0xffffd000n, 24n, "BIDIRECTIONAL", 2, {
      cpuAddr: 0xdef0n,
    })), ["DMA_FREE_CPU_ADDR_MISMATCH"]);
});

Deno.test("syncs: unmapped, out of range, direction, read-only for CPU, write-only for device", () => {
  const m = (d: DmaDebug, dir: "TO_DEVICE" | "FROM_DEVICE" | "BIDIRECTIONAL") =>
    d.map("single", DEV, 0x1000n, 4096n, dir, 1);
  check((d) => (m(d, "FROM_DEVICE"), d.sync(DEV, 0x1800n, 0x100n, "FROM_DEVICE", true, 2)), []);
  check((d) => (m(d, "BIDIRECTIONAL"), d.sync(DEV, 0x1000n, 4096n, "TO_DEVICE", false, 2)), []);
  check((d) => (m(d, "FROM_DEVICE"), d.sync(DEV, 0x1800n, 0x1000n, "FROM_DEVICE", true, 2)), [
    "DMA_SYNC_OUT_OF_RANGE",
  ]);
  check((d) => (m(d, "FROM_DEVICE"), d.sync(DEV, 0x1000n, 4096n, "TO_DEVICE", true, 2)), [
    "DMA_SYNC_DIR_MISMATCH",
  ]);
  check((d) => (m(d, "TO_DEVICE"), d.sync(DEV, 0x1000n, 4096n, "TO_DEVICE", true, 2)), [
    "DMA_SYNC_TO_DEVICE_FOR_CPU",
  ]);
  check((d) => (m(d, "FROM_DEVICE"), d.sync(DEV, 0x1000n, 4096n, "FROM_DEVICE", false, 2)), [
    "DMA_SYNC_FROM_DEVICE_FOR_DEVICE",
  ]);
  check((d) => {
    m(d, "FROM_DEVICE");
    d.unmap("single", DEV, 0x1000n, 4096n, "FROM_DEVICE", 2);
    d.sync(DEV, 0x1000n, 4096n, "FROM_DEVICE", true, 3);
  }, ["DMA_SYNC_NOT_MAPPED"]);
  check((d) => d.sync(DEV, 0x9000n, 4096n, "FROM_DEVICE", true, 1), []); // mapped before the trace
});

Deno.test("leaks at the end, with the map's line", () => {
  const d = check((d) => {
    d.map("single", DEV, 0x1000n, 4096n, "TO_DEVICE", 7);
    d.end(20);
  }, ["DMA_LEAK_AT_END"]);
  assert.deepEqual([d.anomalies[0]!.line, d.anomalies[0]!.related], [20, [7]]);
});

Deno.test("feed(): dma:* lines of a trace drive the checks", async () => {
  const l = (ts: string, w: string) => `          dd-497     [001] .....  ${ts}: ${w}`;
  const text = [
    l(
      "8.000001",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    l("8.000002", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=512 attrs="),
    l(
      "8.000003",
      "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=2/2 ents=1/1 dma_addrs={0xffd40000} sizes={0x2000} phys_addrs={0x2d15000,0x2d16000} attrs=",
    ),
    l("8.000004", "dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x2d15000} attrs="),
    l(
      "8.000005",
      "dma_alloc: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=ffffd000 size=24 virt_addr=0000000064dd244b flags=GFP_KERNEL attrs=",
    ),
    l(
      "8.000006",
      "dma_free: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=0 size=0 virt_addr=0000000000000000 attrs=",
    ),
  ].join("\n") + "\n";
  const d = new DmaDebug();
  for await (const b of parseTrace(new Blob([text]).stream())) feedDmaDebug(d, b);
  d.end();
  assert.deepEqual(d.anomalies.map((a) => [a.code, a.line]), [
    ["DMA_UNMAP_SIZE_MISMATCH", 2],
    ["DMA_UNMAP_SG_NENTS_MISMATCH", 4],
    ["DMA_LEAK_AT_END", 6],
  ]);
});

const DIR = new URL("../../../shared/captures/", import.meta.url);
for (const name of ["a_strict-6.12", "b_lazy-6.12", "c_pt-6.12", "e_dmabuf-6.12", "f_vfio-6.12"]) {
  const file = new URL(`${name}.trace.gz`, DIR);
  const present = await Deno.stat(file).then(() => true, () => false);
  Deno.test({
    name: `${name}: dma-debug finds nothing but the mappings live at the end`,
    ignore: !present,
    fn: async () => {
      const d = new DmaDebug();
      for await (const b of parseTrace((await Deno.open(file)).readable)) feedDmaDebug(d, b);
      d.end();
      assert.deepEqual(d.anomalies.filter((a) => a.code !== "DMA_LEAK_AT_END"), []);
      assert.ok(d.live <= 3, `${d.live} live`);
    },
  });
}

Deno.test("dma-debug remembers the latest DMA_DEBUG_GONE_MAX unmapped addresses: memory stays flat", () => {
  const d = new DmaDebug();
  const dev = "0000:00:02.0";
  const n = DMA_DEBUG_GONE_MAX + 10;
  for (let i = 0; i < n; ++i) {
    const a = BigInt(i) << 12n;
    d.map("single", dev, a, 4096n, "TO_DEVICE", 2 * i + 1);
    d.unmap("single", dev, a, 4096n, "TO_DEVICE", 2 * i + 2);
  }
  // The oldest is forgotten: unmapped again, it counts as a mapping from before the trace.
  d.unmap("single", dev, 0n, 4096n, "TO_DEVICE", 2 * n + 1);
  assert.equal(d.anomalies.length, 0);
  assert.equal(d.preTraceUnmaps, 1);
  // The newest is remembered: unmapped already.
  d.unmap("single", dev, BigInt(n - 1) << 12n, 4096n, "TO_DEVICE", 2 * n + 2);
  assert.deepEqual(d.anomalies.map((a) => a.code), ["DMA_UNMAP_NOT_MAPPED"]);
});
