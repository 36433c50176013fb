import assert from "node:assert/strict";
import { parseTrace } from "../../ingest/mod.ts";
import { DmaBufTracker } from "./mod.ts";

const line = (pid: number, ts: string, what: string) =>
  `          task-${pid}     [000] .....  ${ts}: ${what}`;

async function run(lines: string[]) {
  const t = new DmaBufTracker();
  for await (const b of parseTrace(new Blob([lines.join("\n") + "\n"]).stream())) t.feed(b);
  t.end();
  return t;
}

const EXPORT = (ptr: string, name = "system", size = 4096) => [
  `dmabuf_export: (dma_buf_export+0x4/0x2b0) exp_name="${name}" size=${size}`,
  `dmabuf_export_ret: (x+0x1/0x2 <- dma_buf_export) ret=${ptr}`,
];

Deno.test("tracker: kprobe lines that break the rules raise the DMABUF_* anomalies with their lines", async () => {
  const t = await run([
    ...EXPORT("0xff01"),
    'dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=0xff01 size=4096 dev="mlx5_0" importer_ops=0xffffffffc0a1b2c0',
    "r_dmabuf_dynamic_attach: (ib_umem_dmabuf_get+0x1b4/0x330 <- dma_buf_dynamic_attach) attach=0xaa",
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbb",
    "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0",
    "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0",
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbc",
    "dmabuf_detach: (dma_buf_detach+0x4/0xd0) dmabuf=0xff01 attach=0xaa",
    "dmabuf_release: (dma_buf_release+0x4/0x90) dentry=0xdd",
  ].map((w, i) => line(7, `1.${String(i + 1).padStart(6, "0")}`, w)));
  assert.deepEqual(t.core.anomalies.map((a) => [a.code, a.line]), [
    ["DMABUF_DOUBLE_UNMAP", 8],
    ["DMABUF_DETACH_WITH_MAPPINGS", 11],
  ]);
  assert.equal(t.core.attachment(0)!.importer, "dynamic");
  assert.equal(t.stats.releases, 1);
});

Deno.test("tracker: a failed map (ERR_PTR return) is not a mapping", async () => {
  const t = await run([
    ...EXPORT("0xff01", "vfio_pci_core"),
    'dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=0xff01 size=4096 dev="mlx5_0" importer_ops=0xc0',
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xffffffffffffffed", // -ENODEV
    "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0",
  ].map((w, i) => line(7, `1.${String(i + 1).padStart(6, "0")}`, w)));
  assert.deepEqual(t.stats.maps, 0);
  assert.deepEqual(t.core.anomalies.map((a) => [a.code, a.line]), [["DMABUF_UNMAP_NOT_MAPPED", 6]]);
});

Deno.test("tracker: move_notify on a buffer whose dynamic importer never unmaps", async () => {
  const t = await run([
    ...EXPORT("0xff01", "vfio_pci_core"),
    'dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=0xff01 size=4096 dev="mlx5_0" importer_ops=0xc0',
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbb",
    "dmabuf_move_notify: (dma_buf_move_notify+0x4/0x60) dmabuf=0xff01",
  ].map((w, i) => line(7, `1.${String(i + 1).padStart(6, "0")}`, w)));
  assert.deepEqual(t.core.anomalies.map((a) => [a.code, a.line, a.related]), [
    ["DMABUF_MAPPING_OUTLIVES_REVOKE", 0, [4, 6]], // reported at the end of the trace
  ]);
});

Deno.test("tracker: 7.x dma_buf tracepoints key buffers by inode", async () => {
  const t = await run([
    "dma_buf_export: exp_name=system size=8192 ino=42",
    "dma_buf_dynamic_attach: exp_name=system size=8192 ino=42 attachment:00000000a1b2c3d4 is_dynamic=0 dev_name=vgem",
    "dma_buf_detach: exp_name=system size=8192 ino=42 attachment:00000000a1b2c3d4 is_dynamic=0 dev_name=vgem",
    "dma_buf_detach: exp_name=system size=8192 ino=42 attachment:00000000deadbeef is_dynamic=0 dev_name=vgem",
  ].map((w, i) => line(9, `2.${String(i + 1).padStart(6, "0")}`, w)));
  assert.deepEqual([t.stats.exports, t.stats.attaches, t.stats.detaches, t.stats.unknown], [
    1,
    1,
    1,
    1,
  ]);
  assert.equal(t.core.attachment(0)!.device, "vgem");
  assert.equal(t.core.anomalies.length, 0);
});

Deno.test("tracker: vfio move and cleanup probes revoke the device's buffers (test 32 and 34 from a trace)", async () => {
  const t = await run([
    "vfio_feature_dma_buf: (vfio_pci_core_feature_dma_buf+0x0/0x3c0) vdev=0xffff888100a00000 flags=0x40000000b arg=0x7ffd0000 argsz=0x30",
    'dmabuf_export: (dma_buf_export+0x4/0x2b0) exp_name="vfio_pci_core" size=77824',
    "dmabuf_export_ret: (x+0x1/0x2 <- dma_buf_export) ret=0xff01",
    "vfio_feature_dma_buf_ret: (vfio_pci_core_feature+0x9/0x80 <- vfio_pci_core_feature_dma_buf) fd=0x5",
    'dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=0xff01 size=77824 dev="0000:41:00.0" importer_ops=0xc0',
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbb",
    "vfio_dma_buf_move: (vfio_pci_dma_buf_move+0x0/0x100) vdev=0xffff888100a00000 revoked=0x1",
    "dmabuf_move_notify: (dma_buf_move_notify+0x4/0x60) dmabuf=0xff01",
    "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0",
    "vfio_dma_buf_move: (vfio_pci_dma_buf_move+0x0/0x100) vdev=0xffff888100a00000 revoked=0x0",
    "dmabuf_move_notify: (dma_buf_move_notify+0x4/0x60) dmabuf=0xff01",
    "vfio_dma_buf_cleanup: (vfio_pci_dma_buf_cleanup+0x0/0x100) vdev=0xffff888100a00000",
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbc",
  ].map((w, i) => line(7, `1.${String(i + 1).padStart(6, "0")}`, w)));
  const b = t.core.buffer(0)!;
  assert.equal(b.state, "DEAD");
  // The map after close succeeded in the trace: the only anomaly.
  assert.deepEqual(t.core.anomalies.map((a) => [a.code, a.line, a.related]), [
    ["DMABUF_MAP_WHILE_REVOKED", 14, [13]],
  ]);
});

Deno.test("tracker: revoke triggers probed on their own (config write, reset ioctl, close)", async () => {
  const V = "vdev=0xffff888100a00000";
  const t = await run([
    `p_feat: (vfio_pci_core_feature_dma_buf+0x0/0x3c0) ${V} flags=0x4000000b arg=0x7ffd0000 argsz=0x30`,
    'dmabuf_export: (dma_buf_export+0x4/0x2b0) exp_name="vfio_pci_core" size=4096',
    "dmabuf_export_ret: (x+0x1/0x2 <- dma_buf_export) ret=0xff01",
    "r_feat: (vfio_pci_core_feature+0x9/0x80 <- vfio_pci_core_feature_dma_buf) fd=0x5",
    'dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=0xff01 size=4096 dev="mlx5_0" importer_ops=0xc0',
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbb",
    `p_cfg: (vfio_basic_config_write+0x0/0x300) ${V} pos=0x4 count=0x2 perm=0x0 offset=0x4 val=0x0`,
    "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0", // line 9
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xffffffffffffffed", // -ENODEV
    `p_cfg: (vfio_basic_config_write+0x0/0x300) ${V} pos=0x4 count=0x2 perm=0x0 offset=0x4 val=0x6`,
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0",
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbc",
    "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbc dir=0",
    "p_close: (vfio_pci_core_close_device+0x0/0x100) core_vdev=0xffff888100a00000",
    "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0", // line 17
    "dmabuf_map_ret: (x+0x1/0x2 <- dma_buf_map_attachment) sgt=0xbd",
  ].map((w, i) => line(7, `1.${String(i + 1).padStart(6, "0")}`, w)));
  assert.equal(t.core.buffer(0)!.state, "DEAD");
  assert.deepEqual(t.core.anomalies.map((a) => [a.code, a.line, a.related]), [
    ["DMABUF_MAP_WHILE_REVOKED", 17, [16]],
  ]);
  assert.equal(t.stats.maps, 3);
});

Deno.test("tracker: PFN importers (seed 004): get_pfn outcomes, a traced zap, an untraced (KVM) one, a late one", async () => {
  const ts = (i: number) => `1.${String(i + 1).padStart(6, "0")}`;
  const ATTACH = (ptr: string) =>
    `dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=${ptr} size=2097152 dev="0000:04:00.0" importer_ops=0xffffffffc0a01000`;
  const PFN = (att: string, ret: string) => [
    `dmabuf_get_pfn: (dma_buf_get_pfn_unlocked+0x4/0x90) attach=${att} pgoff=0x0`,
    `dmabuf_get_pfn_ret: (iopt_map_dmabuf+0x11c/0x2a0 <- dma_buf_get_pfn_unlocked) ret=${ret}`,
  ];
  const MAP =
    "map: IOMMU: iova=0x0000008000000000 - 0x0000008000200000 paddr=0x0000383000000000 size=2097152";
  const UNMAP =
    "unmap: IOMMU: iova=0x0000008000000000 - 0x0000008000200000 size=2097152 unmapped_size=2097152";
  const NOTIFY = (ptr: string) =>
    `dmabuf_move_notify: (dma_buf_move_notify+0x4/0x60) dmabuf=${ptr}`;
  // iommufd on buffer 0xff01 (pid 7): an ENODEV get_pfn, then one that maps; a reset, zapped.
  // KVM on buffer 0xff02 (pid 8): a get_pfn mapped nowhere a trace shows; its reset zaps it.
  const t = await run([
    line(7, ts(0), EXPORT("0xff01", "vfio_pci_core", 2097152)[0]!),
    line(7, ts(1), EXPORT("0xff01", "vfio_pci_core", 2097152)[1]!),
    line(7, ts(2), ATTACH("0xff01")),
    ...PFN("0xaa", "0xffffffffffffffed").map((w, i) => line(7, ts(3 + i), w)),
    ...PFN("0xaa", "0x0").map((w, i) => line(7, ts(5 + i), w)),
    line(7, ts(7), MAP),
    line(8, ts(8), EXPORT("0xff02", "vfio_pci_core", 2097152)[0]!),
    line(8, ts(9), EXPORT("0xff02", "vfio_pci_core", 2097152)[1]!),
    line(8, ts(10), ATTACH("0xff02")),
    ...PFN("0xbb", "0x0").map((w, i) => line(8, ts(11 + i), w)),
    line(7, ts(13), NOTIFY("0xff01")),
    line(7, ts(14), UNMAP),
    line(8, ts(15), NOTIFY("0xff02")),
    // Restored; the iommufd importer takes its PFN again while live: fine.
    line(7, ts(16), NOTIFY("0xff01")),
    ...PFN("0xaa", "0x0").map((w, i) => line(7, ts(17 + i), w)),
    line(7, ts(19), MAP),
  ]);
  assert.deepEqual(t.core.anomalies.map((a) => [a.code, a.line]), []);
  assert.deepEqual([t.stats.pfns, t.stats.zaps], [3, 1]);
  assert.equal(t.core.attachment(0)!.mapLines.length, 1, "mapped again after the restore");
  assert.equal(t.core.attachment(1)!.mapLines.length, 0, "KVM's zap is taken at the revoke");

  // The same iommufd importer, its zap 20 ms after the revoke; a get_pfn while revoked.
  const late = await run([
    line(7, "1.000001", EXPORT("0xff01", "vfio_pci_core", 2097152)[0]!),
    line(7, "1.000002", EXPORT("0xff01", "vfio_pci_core", 2097152)[1]!),
    line(7, "1.000003", ATTACH("0xff01")),
    ...PFN("0xaa", "0x0").map((w, i) => line(7, `1.00000${4 + i}`, w)),
    line(7, "1.000006", MAP),
    line(7, "1.000007", NOTIFY("0xff01")),
    line(7, "1.020007", UNMAP),
    ...PFN("0xaa", "0x0").map((w, i) => line(7, `1.02000${8 + i}`, w)),
  ]);
  assert.deepEqual(late.core.anomalies.map((a) => [a.code, a.line]), [
    ["DMABUF_MAPPING_OUTLIVES_REVOKE", 8],
    ["DMABUF_MAP_WHILE_REVOKED", 9],
  ]);
});
