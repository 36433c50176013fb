import assert from "node:assert/strict";
import { validateTopology } from "../model/topology/mod.ts";
import { chunkRows, replayParse, replayTrace, type TableChunk } from "./mod.ts";
import { parseTrace } from "../ingest/mod.ts";

const l = (ts: string, w: string) => `  dd-1 [000] .....  ${ts}: ${w}`;

Deno.test("replay: a 128 KiB sg segment is too long only for a topology that states 64 KiB", async () => {
  const text = l(
    "1.000001",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE dma_addrs={0xfff80000} sizes={0x20000} phys_addrs={0x2d15000}",
  ) + "\n";
  const topo = (dma: Record<string, unknown>) => {
    const r = validateTopology({
      hostBridges: [{ id: "pci0000:00" }],
      devices: [{ bdf: "0000:00:02.0", kind: "rciep", parent: "pci0000:00", dma }],
    });
    assert.ok(r.ok);
    return r.topology;
  };
  const run = async (dma: Record<string, unknown>) =>
    (await replayTrace(new Blob([text]).stream(), { topology: topo(dma) })).anomalies
      .map((a) => a.code).filter((c) => c !== "DMA_LEAK_AT_END");
  assert.deepEqual(await run({}), []); // the PCI default is a guess: NVMe raises it to 4 GiB - 1
  assert.deepEqual(await run({ maxSegmentSize: 65536 }), ["DMA_SG_SEGMENT_TOO_LONG"]);
  assert.deepEqual(await run({ maxSegmentSize: 0xffffffff }), []);
});

Deno.test("replay without a topology: iommu:* and dma:* alone still give the fault after unmap", async () => {
  const text = [
    l(
      "1.000001",
      "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096",
    ),
    l(
      "1.000002",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    l("1.000003", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
    l(
      "1.000004",
      "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    ),
    l("1.000006", "io_page_fault: IOMMU:nvme 0000:00:02.0 iova=0x00000000fffff000 flags=0x0020"),
  ].join("\n") + "\n";
  const r = await replayTrace(new Blob([text]).stream());
  assert.deepEqual(r.anomalies.map((a) => [a.code, a.line]), [["IOMMU_FAULT_AFTER_UNMAP", 5]]);
  const inf = r.summary.topology.inferred!;
  assert.equal(r.summary.topology.given, false);
  assert.deepEqual([inf.devices, inf.iommu, inf.invalidation], [["0000:00:02.0"], true, "unknown"]);
  assert.ok(inf.missing.some((m) => m.includes("P2P paths")));
  assert.ok(inf.notes.some((n) => n.includes("1 io_page_fault")));
});

Deno.test("topology inference: strict vs lazy from IOVA reuse in the shared captures", async () => {
  const want: Record<string, [boolean, string]> = {
    "a_strict-6.12": [true, "strict"],
    "b_lazy-6.12": [true, "lazy"],
    "b_lazy_cmon-6.12": [true, "strict"], // caching mode forces strict (captures/README.md)
    "c_pt-6.12": [false, "unknown"], // passthrough: no translation
  };
  for (const [name, [iommu, inv]] of Object.entries(want)) {
    const url = new URL(`../../../shared/captures/${name}.trace.gz`, import.meta.url);
    const f = await Deno.open(url).catch(() => null);
    if (f === null) continue;
    const r = await replayTrace(f.readable);
    const i = r.summary.topology.inferred!;
    assert.deepEqual([i.iommu, i.invalidation], [iommu, inv], name);
  }
});

Deno.test("replay: lost events between a map and its unmap downgrade a leak and a not-mapped unmap", async () => {
  const text = [
    l(
      "1.000001",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    l("1.000002", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
    "CPU:0 [LOST 1742 EVENTS]",
    l("1.000004", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
    l(
      "1.000005",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffffe000 size=4096 phys_addr=2d16000 attrs=",
    ),
    l(
      "1.000006",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=1000 attrs=",
    ),
  ].join("\n") + "\n";
  const r = await replayTrace(new Blob([text]).stream());
  // The second unmap's map may be among the lost events: a warning. The leaks of maps made after
  // the gap stand: nothing lost can explain them.
  assert.deepEqual(r.warnings.map((a) => [a.code, a.line]), [["DMA_UNMAP_NOT_MAPPED", 4]]);
  assert.deepEqual(r.anomalies.map((a) => a.code), ["DMA_LEAK_AT_END", "DMA_LEAK_AT_END"]);
  assert.deepEqual(r.summary.anomalies.downgraded, {
    total: 1,
    byCode: { DMA_UNMAP_NOT_MAPPED: 1 },
  });
  assert.deepEqual(r.summary.gaps, { markers: 1, byCpu: { 0: 1 } });
  // The anomalies table comes in chunks of tableChunkRows rows: anomalies, then warnings.
  for (const rows of [1, 2, 16384]) {
    const chunks: TableChunk[] = [];
    await replayTrace(new Blob([text]).stream(), {
      tables: (c) => void (c.schema.name === "anomalies" && chunks.push(c)),
      tableChunkRows: rows,
    });
    assert.deepEqual(chunks.map((c) => c.n), rows === 1 ? [1, 1, 1] : rows === 2 ? [2, 1] : [3]);
    assert.deepEqual(chunks.flatMap(chunkRows).map((x) => [x.code, x.line, x.severity]), [
      ["DMA_LEAK_AT_END", 6, "anomaly"],
      ["DMA_LEAK_AT_END", 6, "anomaly"],
      ["DMA_UNMAP_NOT_MAPPED", 4, "warning"],
    ]);
  }
  // keepAnomalies bounds the lists returned, not the summary's counts or the table.
  const chunks: TableChunk[] = [];
  const kept = await replayTrace(new Blob([text]).stream(), {
    keepAnomalies: 1,
    tables: (c) => void (c.schema.name === "anomalies" && chunks.push(c)),
  });
  assert.deepEqual(kept.anomalies.map((a) => [a.code, a.line]), [["DMA_LEAK_AT_END", 6]]);
  assert.deepEqual(kept.warnings.map((a) => a.line), [4]);
  assert.deepEqual(kept.summary, r.summary);
  assert.equal(kept.summary.anomalies.first.length, 2);
  assert.deepEqual(chunks.map((c) => c.n), [3]);
});

Deno.test("replay: trace_pipe rows behind across CPUs are merged back by timestamp first", async () => {
  const on = (cpu: number, ts: string, w: string) => `  dd-1 [00${cpu}] .....  ${ts}: ${w}`;
  // CPU 1's unmap (t=3) printed before CPU 0's map (t=1): in file order the map would leak.
  const text = [
    on(
      1,
      "1.000003",
      "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs=",
    ),
    on(
      0,
      "1.000001",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
  ].join("\n") + "\n";
  const r = await replayTrace(new Blob([text]).stream());
  assert.deepEqual(r.anomalies, []);
  assert.equal(r.summary.ordering.rowsReordered, 2);
  assert.equal(r.summary.dma.preTraceUnmaps, 0);
});

Deno.test("replay: the data path of P2P mappings from the cost profile, with its sources", async () => {
  const topo = validateTopology(
    JSON.parse(
      await Deno.readTextFile(
        new URL("../../traces/switch-acs-redirect.topology.json", import.meta.url),
      ),
    ),
  );
  assert.ok(topo.ok);
  const text = await Deno.readFile(
    new URL("../../traces/golden/vfio-p2p-6.18.trace", import.meta.url),
  );
  const r = await replayTrace(new Blob([text]).stream(), { topology: topo.topology });
  assert.deepEqual(r.summary.dataPath.p2pMappings, { THRU_HOST_BRIDGE: 1 });
  assert.equal(r.summary.dataPath.latencyFactor.THRU_HOST_BRIDGE, 1.3);
  assert.match(r.summary.dataPath.sources.THRU_HOST_BRIDGE!, /unverified/);
});

Deno.test("replay: an iommu:map cut off by the end of the trace (its dma:* event never came) is no anomaly", async () => {
  const map = l(
    "1.000001",
    "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096",
  );
  const cut = await replayTrace(new Blob([map + "\n"]).stream());
  assert.deepEqual(cut.anomalies.map((a) => a.code), []);
  // The same map with the trace going on after it on that CPU: no DMA-API operation owned it.
  const more = map + "\n" +
    l("1.000009", "add_device_to_group: IOMMU: groupID=5 device=0000:00:02.0") + "\n";
  const r = await replayTrace(new Blob([more]).stream());
  assert.deepEqual(r.anomalies.map((a) => [a.code, a.line]), [["IOMMU_MAP_WITHOUT_DMA_OWNER", 1]]);
});

Deno.test("IOVA replay: the exporter's IOMMU work inside a dma-buf map or unmap is no DMA-API allocation", async () => {
  const p = (pid: number, ts: string, w: string) => `  app-${pid} [001] .....  ${ts}: ${w}`;
  const MAP_PAGE = (dma: string) =>
    `dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=${dma} size=4096 phys_addr=2d15000 attrs=`;
  const text = [
    p(7, "1.000001", "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0"),
    // The exporter's link, inside the map call: not the next dma_map_page's IOVA.
    p(
      7,
      "1.000002",
      "map: IOMMU: iova=0x00000000fe000000 - 0x00000000fe001000 paddr=0x0000383000200000 size=4096",
    ),
    p(7, "1.000003", "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbb"),
    p(
      7,
      "1.000004",
      "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096",
    ),
    p(7, "1.000005", MAP_PAGE("fffff000")),
    p(
      7,
      "1.000006",
      "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0",
    ),
    p(
      7,
      "1.000007",
      "unmap: IOMMU: iova=0x00000000fe000000 - 0x00000000fe001000 size=4096 unmapped_size=4096",
    ),
    p(
      7,
      "1.000008",
      "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    ),
    p(
      7,
      "1.000009",
      "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs=",
    ),
  ].join("\n") + "\n";
  const r = await replayTrace(new Blob([text]).stream());
  const codes = r.anomalies.map((a) => a.code);
  assert.ok(!codes.includes("IOMMU_IOVA_MISMATCH"), codes.join());
  assert.equal(r.summary.iova.leakedPages, 0);
  // One allocation, the dma_map_page's own page, predicted (the exporter's page taken as part
  // of it would make it a two-page allocation at the exporter's IOVA: a warm-up mismatch).
  assert.deepEqual(
    [r.summary.iova.prediction.checked, r.summary.iova.prediction.matched],
    [1, 1],
  );
  assert.equal(r.summary.iova.peakPages, 1);
});

Deno.test("replay: the anomalies table comes in chunks of 2048 rows at most, whatever the others'", async () => {
  // 2100 maps never unmapped: 2100 leaks at the end.
  const text = Array.from(
    { length: 2100 },
    (_, i) =>
      `  dd-1 [000] .....  1.${
        String(i).padStart(6, "0")
      }: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=${
        (0x100000 + i * 0x1000).toString(16)
      } size=4096 phys_addr=${(0x100000 + i * 0x1000).toString(16)} attrs=`,
  ).join("\n") + "\n";
  for (const [chunkRows, sizes] of [[undefined, [2048, 52]], [1000, [1000, 1000, 100]]] as const) {
    const chunks: TableChunk[] = [];
    const r = await replayTrace(new Blob([text]).stream(), {
      tables: (c) => void (c.schema.name === "anomalies" && chunks.push(c)),
      ...(chunkRows !== undefined ? { tableChunkRows: chunkRows } : {}),
    });
    assert.equal(r.summary.anomalies.byCode.DMA_LEAK_AT_END, 2100);
    assert.deepEqual(chunks.map((c) => c.n), sizes);
  }
});

Deno.test("IOVA replay: a dma_unmap_sg names the domain of the iommu:unmap after it, when two hold the IOVA", async () => {
  const l = (ts: string, w: string) => `  dd-1 [000] .....  ${ts}: ${w}`;
  const map = (ts: string) =>
    l(
      ts,
      "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000001000000 size=4096",
    );
  const sg = (ts: string, op: string, dev: string, phys: string) =>
    l(
      ts,
      op === "map"
        ? `dma_map_sg: ${dev} dir=TO_DEVICE nents=1/1 ents=1/1 dma_addrs={0xfffff000} sizes={0x1000} phys_addrs={${phys}} attrs=`
        : `dma_unmap_sg: ${dev} dir=TO_DEVICE nents=1 phys_addrs={${phys}} attrs=`,
    );
  const A = "0000:00:02.0";
  const B = "0000:00:03.0";
  const text = [
    map("1.000001"),
    sg("1.000002", "map", A, "0x1000000"),
    map("1.000003"),
    sg("1.000004", "map", B, "0x2000000"),
    // Both domains hold 0xfffff000: the sg list's own IOVA says it is A's.
    sg("1.000005", "unmap", A, "0x1000000"),
    l(
      "1.000006",
      "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    ),
    // A's freed IOVA comes back from A's rcache.
    map("1.000007"),
    sg("1.000008", "map", A, "0x3000000"),
  ].join("\n") + "\n";
  const r = await replayTrace(new Blob([text]).stream());
  assert.deepEqual(
    [r.summary.iova.prediction.checked, r.summary.iova.prediction.matched],
    [3, 3],
  );
  assert.equal(r.summary.iova.leakedPages, 2); // B's, and A's second
});

Deno.test("replayParse of a parse made first gives replayTrace's summary, anomalies and tables", async () => {
  const path = new URL("../../traces/captures/b_lazy-6.12", import.meta.url).pathname;
  const t = validateTopology(JSON.parse(await Deno.readTextFile(`${path}.topology.json`)));
  assert.ok(t.ok);
  const open = async () => (await Deno.open(`${path}.trace.gz`)).readable;
  const run = async (viaParse: boolean) => {
    const chunks: TableChunk[] = [];
    const options = { topology: t.topology, tables: (c: TableChunk) => void chunks.push(c) };
    const r = viaParse
      ? await replayParse(parseTrace(await open()), options)
      : await replayTrace(await open(), options);
    return { r, rows: chunks.flatMap((c) => chunkRows(c).map((x) => [c.schema.name, x])) };
  };
  const a = await run(false);
  const b = await run(true);
  assert.ok(a.rows.length > 100);
  assert.deepEqual(b.r.summary, a.r.summary);
  assert.deepEqual(b.r.anomalies, a.r.anomalies);
  assert.deepEqual(b.rows, a.rows);
});

for (const capture of ["a_strict-6.12", "e_dmabuf-6.12"]) {
  Deno.test(`replay with the parse on a worker: ${capture} gives the same summary, anomalies and tables`, async () => {
    const dir = new URL("../../traces/captures/", import.meta.url).pathname;
    const t = validateTopology(
      JSON.parse(await Deno.readTextFile(`${dir}${capture}.topology.json`)),
    );
    assert.ok(t.ok);
    // The dma-buf capture's trace is the shipped one beside the captures' topologies.
    const trace = capture === "e_dmabuf-6.12"
      ? new URL("../../traces/dmabuf-6.12.trace", import.meta.url).pathname
      : `${dir}${capture}.trace.gz`;
    const run = async (parseOnWorker: boolean) => {
      const chunks: TableChunk[] = [];
      const r = await replayTrace((await Deno.open(trace)).readable, {
        topology: t.topology,
        parseOnWorker,
        tables: (c: TableChunk) => void chunks.push(c),
      });
      return { r, rows: chunks.flatMap((c) => chunkRows(c).map((x) => [c.schema.name, x])) };
    };
    const here = await run(false);
    const there = await run(true);
    assert.ok(here.rows.length > 50 && here.r.summary.events.total > 50);
    assert.deepEqual(there.r.summary, here.r.summary);
    assert.deepEqual(there.r.anomalies, here.r.anomalies);
    assert.deepEqual(there.rows, here.rows);
  });
}
