import assert from "node:assert/strict";
import { tableFromIPC } from "@uwdata/flechette";
import { validateTopology } from "../model/topology/mod.ts";
import {
  ArrowStreamEncoder,
  chunkRows,
  OPS_SCHEMA,
  type ReplayOptions,
  replayTrace,
  TableBuilder,
  type TableChunk,
  TableEncoder,
  WorkerTableEncoder,
} from "./mod.ts";

const l = (ts: string, w: string, flags = ".....", cpu = "000") =>
  `  dd-1 [${cpu}] ${flags}  ${ts}: ${w}`;
const map = (ts: string, iova: string, paddr: string, size: number, flags?: string) => {
  const end = (BigInt(iova) + BigInt(size)).toString(16).padStart(16, "0");
  return l(ts, `map: IOMMU: iova=${iova} - 0x${end} paddr=${paddr} size=${size}`, flags);
};
const unmap = (ts: string, iova: string, size: number, flags?: string) => {
  const end = (BigInt(iova) + BigInt(size)).toString(16).padStart(16, "0");
  return l(ts, `unmap: IOMMU: iova=${iova} - 0x${end} size=${size} unmapped_size=${size}`, flags);
};

async function tables(lines: string[], options: Omit<ReplayOptions, "tables"> = {}) {
  const chunks: TableChunk[] = [];
  const r = await replayTrace(new Blob([lines.join("\n") + "\n"]).stream(), {
    ...options,
    tables: (c) => chunks.push(c),
  });
  const rows = (name: string) =>
    chunks.filter((c) => c.schema.name === name).flatMap((c) => chunkRows(c));
  return { r, chunks, rows };
}

Deno.test("ops: the column indices the recorder writes are OPS_SCHEMA's", async () => {
  const text = await Deno.readTextFile(new URL("./_ops_table.ts", import.meta.url));
  const names = OPS_SCHEMA.columns.map((c) => c.name);
  const consts = [...text.matchAll(/^export const ([A-Z_]+) = (\d+);$/gm)];
  const expect: Record<string, string> = {
    TS: "ts_s",
    CPU: "cpu",
    TASK: "task",
    LINE: "line",
    OP: "op",
    DEVICE: "device",
    DMABUF: "dmabuf",
    ATT: "attachment",
    PATH: "path",
    BYTES: "bytes",
    RANGES: "ranges",
    SG: "sg_entries",
    DMA_ADDR: "dma_addr",
    IOVA: "iova",
    SRC: "iova_source",
    PTE: "pte_writes",
    IOTLB: "iotlb_invalidations",
    MODELED: "modeled_ns",
    OBSERVED: "observed_ns",
    REV: "revision",
  };
  assert.equal(consts.length, names.length);
  for (const [, k, i] of consts) assert.equal(names[Number(i)], expect[k!], k);
});

Deno.test("ops: an sg map takes the CPU's iommu:maps before it; an interrupt's unmap between does not", async () => {
  const { rows } = await tables([
    map("1.000001", "0x00000000fff80000", "0x0000000002d15000", 4096),
    map("1.000002", "0x00000000fff81000", "0x0000000002d20000", 8192),
    l(
      "1.000003",
      "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffff0000 size=4096 attrs=",
      "d.h1.",
    ),
    unmap("1.000004", "0x00000000ffff0000", 4096, "d.h1."),
    l(
      "1.000005",
      "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE dma_addrs={0xfff80000} sizes={0x3000} phys_addrs={0x2d15000,0x2d20000}",
    ),
  ]);
  const ops = rows("ops");
  assert.deepEqual(
    ops.map((
      o,
    ) => [
      o.op,
      o.line,
      o.iova,
      o.pte_writes,
      o.iotlb_invalidations,
      o.ranges,
      o.sg_entries,
      o.bytes,
    ]),
    [
      ["dma_unmap_page", 3, "0xffff0000", 1, 1, 0, 0, 4096],
      ["dma_map_sg", 5, "0xfff80000", 3, 0, 2, 1, 12288],
    ],
  );
  assert.equal(ops[1]!.path, "DIRECT");
  assert.equal(ops[1]!.task, "dd-1");
  assert.equal(ops[1]!.ts_s, 1.000005);
});

Deno.test("ops: unmap work before the event (6.12 single) and after it (sg) both join the unmap", async () => {
  const { rows } = await tables([
    map("1.000001", "0x00000000fffff000", "0x0000000002d15000", 4096),
    l(
      "1.000002",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    unmap("1.000003", "0x00000000fffff000", 4096),
    l("1.000004", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
    map("1.000005", "0x00000000ffe00000", "0x0000000040000000", 0x200000),
    l(
      "1.000006",
      "dma_map_sg: 0000:00:02.0 dir=TO_DEVICE dma_addrs={0xffe00000} sizes={0x200000} phys_addrs={0x40000000}",
    ),
    l("1.000007", "dma_unmap_sg: 0000:00:02.0 dir=TO_DEVICE phys_addrs={0x40000000}"),
    unmap("1.000008", "0x00000000ffe00000", 0x200000),
  ]);
  const ops = rows("ops");
  assert.deepEqual(
    ops.map((o) => [o.op, o.iova, o.pte_writes, o.iotlb_invalidations, o.iova_source]),
    [
      ["dma_map_page", "0xfffff000", 1, 0, "rbtree"],
      ["dma_unmap_page", "0xfffff000", 1, 1, "rcache"],
      ["dma_map_sg", "0xffe00000", 1, 0, ""], // one 2 MiB leaf; 512 pages: not predicted
      ["dma_unmap_sg", "0xffe00000", 1, 1, "rbtree"], // > 128 KiB: back to the tree
    ],
  );
  // modeled cost: base + IOVA + PTEs + invalidations, from the default profile
  assert.equal(ops[1]!.modeled_ns, 120 + 100 + 60 + 800);
});

Deno.test("ops: a DMA-FQ device's unmaps queue their IOVA instead of invalidating", async () => {
  const topo = validateTopology({
    hostBridges: [{ id: "pci0000:00" }],
    devices: [{ bdf: "0000:00:02.0", kind: "rciep", parent: "pci0000:00" }],
    iommu: { present: true, defaultDomain: "dma-fq" },
  });
  assert.ok(topo.ok);
  const { rows } = await tables([
    map("1.000001", "0x00000000fffff000", "0x0000000002d15000", 4096),
    l(
      "1.000002",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    unmap("1.000003", "0x00000000fffff000", 4096),
    l("1.000004", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
  ], { topology: topo.topology });
  const u = rows("ops")[1]!;
  assert.deepEqual([u.iova_source, u.iotlb_invalidations, u.pte_writes], ["fq", 0, 1]);
});

Deno.test("ops: IOMMU work no DMA-API operation owns becomes iommu_map/iommu_unmap rows", async () => {
  const { rows, r } = await tables([
    map("1.000001", "0x0000000000100000", "0x0000000002d15000", 4096),
    map("1.000002", "0x0000000000200000", "0x0000000002d16000", 4096), // not contiguous: a second map
    unmap("1.000003", "0x0000000000100000", 4096),
  ]);
  assert.deepEqual(rows("ops").map((o) => [o.op, o.iova, o.cpu, o.line, o.ts_s]), [
    ["iommu_map", "0x100000", 0, 1, 1.000001],
    ["iommu_map", "0x200000", 0, 2, 1.000002],
    ["iommu_unmap", "0x100000", 0, 3, 1.000003],
  ]);
  assert.equal(r.summary.ops.total, 3);
});

Deno.test("ops: function_graph calls without tracepoints give rows with observed durations", async () => {
  const { rows, r } = await tables([
    " 0)               |  iommu_dma_map_page() {",
    " 0)               |    alloc_iova_fast() {",
    " 0)   2.000 us    |      alloc_iova();",
    " 0)   3.000 us    |    }",
    " 0)               |    /* map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096 */",
    " 0)   5.500 us    |  }",
    " 0)               |  iommu_dma_unmap_page() {",
    " 0)               |    /* unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096 */",
    " 0)   4.250 us    |  }",
  ]);
  assert.deepEqual(
    rows("ops").map((o) => [o.op, o.line, o.iova_source, o.pte_writes, o.observed_ns]),
    [
      ["dma_map_page", 1, "rbtree", 1, 5500],
      ["dma_unmap_page", 7, "rcache", 1, 4250],
    ],
  );
  assert.equal(r.summary.ops.observed, 2);
  assert.equal(r.summary.ops.observedNs, 9750);
});

Deno.test("ops: a call around a tracepoint (and the outer of two nested calls) times that row only", async () => {
  const { rows } = await tables([
    "# tracer: function_graph",
    " 0)               |  dma_map_page_attrs() {",
    " 0)               |    iommu_dma_map_page() {",
    " 0)               |      /* map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096 */",
    " 0)   3.000 us    |    }",
    " 0)               |    /* dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs= */",
    " 0)   4.000 us    |  }",
  ]);
  const ops = rows("ops");
  assert.equal(ops.length, 1);
  assert.deepEqual([ops[0]!.op, ops[0]!.device, ops[0]!.observed_ns, ops[0]!.pte_writes], [
    "dma_map_page",
    "0000:00:02.0",
    4000,
    1,
  ]);
});

Deno.test("ops: a map of a peer's BAR takes the pair's path from the topology", async () => {
  const topo = validateTopology(
    JSON.parse(
      await Deno.readTextFile(
        new URL("../../traces/switch-acs-off.topology.json", import.meta.url),
      ),
    ),
  );
  assert.ok(topo.ok);
  const { rows, r } = await tables([
    l(
      "1.000001",
      "dma_map_resource: 0000:04:00.0 dir=BIDIRECTIONAL dma_addr=383000000000 size=65536 phys_addr=383000000000 attrs=",
    ),
    l(
      "1.000002",
      "dma_map_page: 0000:04:00.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
  ], { topology: topo.topology });
  assert.deepEqual(rows("ops").map((o) => o.path), ["BUS_ADDR", "DIRECT"]);
  assert.deepEqual(r.summary.ops.byPath, { BUS_ADDR: 1, DIRECT: 1 });
});

Deno.test("timeline: one sample per grid step crossed, with the state before the event", async () => {
  const { rows } = await tables([
    map("1.000001", "0x00000000fffff000", "0x0000000002d15000", 4096),
    l(
      "1.000002",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    unmap("1.003500", "0x00000000fffff000", 4096),
    l("1.003501", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
    l(
      "1.009000",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=2d15000 size=4096 phys_addr=2d15000 attrs=",
    ),
  ], { timelineStepNs: 1e6 });
  assert.deepEqual(rows("timeline").map((t) => [t.ts_s, t.line, t.iova_pages, t.live_mappings]), [
    [1, 1, 0, 0],
    [1.003, 3, 1, 1],
    [1.009, 5, 0, 0],
  ]);
});

Deno.test("attachments and dma-buf ops from the e_dmabuf capture; tables read back from Arrow", async () => {
  const file = new URL("../../../shared/captures/e_dmabuf-6.12.trace.gz", import.meta.url);
  const bytes = await Deno.readFile(file).catch(() => null);
  if (bytes === null) return;
  const { chunks, rows } = await tables(
    [new TextDecoder().decode(
      await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")))
        .arrayBuffer(),
    )].map((t) => t.trimEnd()),
  );
  const att = rows("attachments");
  assert.equal(att.length, 6);
  assert.ok(att.every((a) => a.maps === 1 && a.unmaps === 1 && a.detach_line !== null));
  const ops = rows("ops");
  assert.equal(ops.filter((o) => o.op === "dma_buf_export").length, 9);
  assert.equal(
    ops.filter((o) => o.op === "dma_buf_map_attachment" && o.observed_ns !== null).length,
    6,
  );
  for (const name of ["ops", "attachments", "timeline", "anomalies"]) {
    const cs = chunks.filter((c) => c.schema.name === name);
    const enc = new ArrowStreamEncoder(cs[0]!.schema);
    const parts = [...cs.map((c) => enc.encode(c)), enc.end()];
    const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    parts.reduce((at, p) => (all.set(p, at), at + p.byteLength), 0);
    const t = tableFromIPC(all);
    assert.equal(t.numRows, cs.reduce((n, c) => n + c.n, 0), name);
    assert.deepEqual(t.schema.fields.map((f) => f.name), cs[0]!.schema.columns.map((c) => c.name));
  }
});

Deno.test("WorkerTableEncoder gives the bytes TableEncoder gives, in order", async () => {
  const { chunks } = await tables([
    map("1.000001", "0x00000000fffff000", "0x0000000002d15000", 4096),
    l(
      "1.000002",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
  ]);
  const clone = (c: TableChunk): TableChunk => ({
    ...c,
    data: c.data.map((d) => (Array.isArray(d) ? [...d] : d.slice())),
  });
  const here = new TableEncoder();
  const want = [...chunks.map((c) => here.encode(clone(c))), ...here.end()];
  const w = new WorkerTableEncoder();
  const got = [...(await Promise.all(chunks.map((c) => w.encode(clone(c))))), ...(await w.end())];
  assert.deepEqual(
    got.map((e) => [e.table, [...e.csv], [...e.arrow]]),
    want.map((e) => [e.table, [...e.csv], [...e.arrow]]),
  );
  // The same Parquet file once put together, per table.
  const files = (es: typeof got) => {
    const m = new Map<string, number[]>();
    for (const e of es) m.set(e.table, [...(m.get(e.table) ?? []), ...e.parquet]);
    return m;
  };
  assert.deepEqual(files(got), files(want));
  for (const [, bytes] of files(got)) assert.deepEqual(bytes.slice(0, 4), [0x50, 0x41, 0x52, 0x31]);
});

Deno.test("WorkerTableEncoder answers a chunk it cannot encode with an error, then goes on", async () => {
  const { chunks } = await tables([
    map("1.000001", "0x00000000fffff000", "0x0000000002d15000", 4096),
  ]);
  const w = new WorkerTableEncoder();
  // Asked at once, while the worker's module may still be loading: still answered.
  const bad = w.encode({ schema: chunks[0]!.schema, n: 1, data: [] });
  await assert.rejects(bad, /table encoder:/);
  const good = await w.encode(chunks[0]!);
  assert.equal(good.table, chunks[0]!.schema.name);
  assert.ok(good.csv.length > 0);
  await w.end();
});

Deno.test("TableEncoder with reuse: the bytes of copies, as views of kept buffers valid until the next call", () => {
  const a = {
    name: "a",
    columns: [{ name: "x", kind: "f64" as const, doc: "" }, {
      name: "s",
      kind: "str" as const,
      doc: "",
    }],
  };
  const b = { name: "b", columns: [{ name: "i", kind: "i32" as const, doc: "" }] };
  const chunks: TableChunk[] = [];
  const ta = new TableBuilder(a, (c) => chunks.push(c), 3);
  const tb = new TableBuilder(b, (c) => chunks.push(c), 2);
  for (let r = 0; r < 10; ++r) {
    const row = ta.addRow();
    ta.setNum(0, row, r % 4 === 0 ? NaN : r + 0.25);
    ta.setStr(1, row, ["p", "q,r", ""][r % 3]!);
    if (r % 2 === 0) tb.setNum(0, tb.addRow(), -r);
  }
  ta.flush();
  tb.flush();
  assert.ok(chunks.length >= 6);
  const copies = new TableEncoder();
  const views = new TableEncoder({ reuse: true });
  const bytes = (
    e: { table: string; csv: Uint8Array; arrow: Uint8Array; parquet: Uint8Array },
  ) => [e.table, [...e.csv], [...e.arrow], [...e.parquet]];
  const buffers = new Map<string, ArrayBufferLike[]>();
  for (const c of chunks) {
    const e = views.encode(c);
    assert.deepEqual(bytes(e), bytes(copies.encode(c)));
    buffers.set(c.schema.name, [...(buffers.get(c.schema.name) ?? []), e.arrow.buffer]);
  }
  assert.deepEqual(views.end().map(bytes), copies.end().map(bytes));
  // No copy: a table's Arrow bytes are views of one buffer, chunk after chunk.
  for (const [, bs] of buffers) assert.ok(bs.length > 1 && bs.every((x) => x === bs[0]));
});

Deno.test("tablesReady holds the replay back until the sink says it is ready", async () => {
  const text = Array.from({ length: 40 }, (_, k) =>
    l(
      `1.${String(k + 1).padStart(6, "0")}`,
      `dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=${
        (0x1000 * (k + 1)).toString(16)
      } size=4096 phys_addr=2d15000 attrs=`,
    )).join("\n") + "\n";
  let calls = 0;
  let release = () => {};
  let done = false;
  const replay = replayTrace(new Blob([text]).stream(), {
    tables: () => {},
    tablesReady: () => {
      ++calls;
      return new Promise<void>((r) => (release = r));
    },
  }).then(() => (done = true));
  while (calls === 0) await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(done, false); // waiting for the sink
  while (!done) {
    release();
    await new Promise((r) => setTimeout(r, 1));
  }
  await replay;
  assert.ok(calls >= 2); // after the batch, and before the anomalies table
});

Deno.test("ops: a map's iova_source is where the model took its IOVA", async () => {
  const pair = (ts: string) => [
    map(`${ts}1`, "0x00000000fffff000", "0x0000000002d15000", 4096),
    l(
      `${ts}2`,
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    unmap(`${ts}3`, "0x00000000fffff000", 4096),
    l(`${ts}4`, "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
  ];
  const { rows } = await tables([...pair("1.00000"), ...pair("1.00001"), ...pair("1.00002")]);
  // The first from the tree, the others the IOVA the unmap put in the CPU's rcache.
  assert.deepEqual(
    rows("ops").filter((o) => o.op === "dma_map_page").map((o) => o.iova_source),
    ["rbtree", "rcache", "rcache"],
  );
});
