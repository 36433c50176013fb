// Every event of kernel-spec §2 and shared/kernel-formats/ (6.1, 6.12, 6.18, 7.3), with
// payloads written as each format's TP_printk prints them; each case also runs re-chunked.

import assert from "node:assert/strict";
import { kline, parseAll } from "./_test_util.ts";
import { DMA_ATTR_BITS, EVENT_SCHEMAS } from "./schemas.ts";

interface Case {
  event: string;
  payload: string;
  fields: Record<string, unknown>;
}

const GFP = "GFP_KERNEL|__GFP_ZERO";
const ATTR = DMA_ATTR_BITS;

const CASES: Case[] = [
  // dma: 6.18+ / 7.x single mappings
  {
    event: "dma_map_phys",
    payload:
      "0000:41:00.0 dir=BIDIRECTIONAL dma_addr=fffe0000 size=77824 phys_addr=38000000000 attrs=MMIO",
    fields: {
      device: "0000:41:00.0",
      dir: 0,
      dma_addr: 0xfffe0000n,
      size: 77824,
      phys_addr: 0x38000000000n,
      attrs: ATTR.MMIO,
      attrs_text: "MMIO",
    },
  },
  {
    event: "dma_map_phys",
    payload:
      "0000:41:00.0 dir=TO_DEVICE dma_addr=ffffffffffffffff size=4096 phys_addr=1000 attrs=SKIP_CPU_SYNC|MMIO",
    fields: {
      device: "0000:41:00.0",
      dir: 1,
      dma_addr: 0xffffffffffffffffn, // DMA_MAPPING_ERROR: above 2^53, kept exactly
      size: 4096,
      phys_addr: 0x1000n,
      attrs: ATTR.SKIP_CPU_SYNC! | ATTR.MMIO!,
      attrs_text: "SKIP_CPU_SYNC|MMIO",
    },
  },
  {
    event: "dma_unmap_phys",
    payload: "0000:41:00.0 dir=FROM_DEVICE dma_addr=fffe0000 size=77824 attrs=",
    fields: {
      device: "0000:41:00.0",
      dir: 2,
      dma_addr: 0xfffe0000n,
      size: 77824,
      attrs: 0,
      attrs_text: "",
    },
  },
  // dma: 6.12 generation
  {
    event: "dma_map_page",
    payload: "0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=131072 phys_addr=29a0000 attrs=",
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      dma_addr: 0xfff80000n,
      size: 131072,
      phys_addr: 0x29a0000n,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_unmap_page",
    payload: "0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=131072 attrs=",
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      dma_addr: 0xfff80000n,
      size: 131072,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_map_resource",
    payload:
      "0000:03:00.0 dir=BIDIRECTIONAL dma_addr=383000000000 size=65536 phys_addr=383000000000 attrs=",
    fields: {
      device: "0000:03:00.0",
      dir: 0,
      dma_addr: 0x383000000000n,
      size: 65536,
      phys_addr: 0x383000000000n,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_unmap_resource",
    payload: "0000:03:00.0 dir=BIDIRECTIONAL dma_addr=383000000000 size=65536 attrs=",
    fields: {
      device: "0000:03:00.0",
      dir: 0,
      dma_addr: 0x383000000000n,
      size: 65536,
      attrs: 0,
      attrs_text: "",
    },
  },
  // dma: coherent allocations (with and without dir=)
  {
    event: "dma_alloc",
    payload:
      `0000:00:02.0 dir=BIDIRECTIONAL dma_addr=53b91000 size=4096 virt_addr=000000009e571be2 flags=GFP_ATOMIC attrs=`,
    fields: {
      device: "0000:00:02.0",
      dir: 0,
      dma_addr: 0x53b91000n,
      size: 4096,
      virt_addr: 0x9e571be2n,
      flags: "GFP_ATOMIC",
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_alloc",
    payload:
      `0000:00:02.0 dma_addr=53b91000 size=4096 virt_addr=000000009e571be2 flags=${GFP} attrs=`,
    fields: {
      device: "0000:00:02.0",
      dma_addr: 0x53b91000n,
      size: 4096,
      virt_addr: 0x9e571be2n,
      flags: GFP,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_alloc_pages",
    payload:
      `0000:00:02.0 dir=TO_DEVICE dma_addr=fffe0000 size=8192 virt_addr=00000000deadbeef flags=none attrs=`,
    fields: {
      device: "0000:00:02.0",
      dir: 1,
      dma_addr: 0xfffe0000n,
      size: 8192,
      virt_addr: 0xdeadbeefn,
      flags: "none",
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_alloc_sgt_err",
    payload:
      `0000:00:02.0 dir=TO_DEVICE dma_addr=0 size=8192 virt_addr=0000000000000000 flags=GFP_KERNEL attrs=NO_WARN`,
    fields: {
      device: "0000:00:02.0",
      dir: 1,
      dma_addr: 0n,
      size: 8192,
      virt_addr: 0n,
      flags: "GFP_KERNEL",
      attrs: ATTR.NO_WARN,
      attrs_text: "NO_WARN",
    },
  },
  {
    event: "dma_alloc_sgt",
    payload:
      `0000:00:02.0 dir=FROM_DEVICE dma_addr=fffc0000 size=16384 phys_addrs={0x1000,0x5000} flags=GFP_KERNEL attrs=`,
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      dma_addr: 0xfffc0000n,
      size: 16384,
      phys_addrs: [0x1000n, 0x5000n],
      flags: "GFP_KERNEL",
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_free",
    payload:
      "0000:00:02.0 dir=BIDIRECTIONAL dma_addr=ffffd000 size=24 virt_addr=0000000064dd244b attrs=",
    fields: {
      device: "0000:00:02.0",
      dir: 0,
      dma_addr: 0xffffd000n,
      size: 24,
      virt_addr: 0x64dd244bn,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_free_pages",
    payload:
      "0000:00:02.0 dir=TO_DEVICE dma_addr=fffe0000 size=8192 virt_addr=00000000deadbeef attrs=",
    fields: {
      device: "0000:00:02.0",
      dir: 1,
      dma_addr: 0xfffe0000n,
      size: 8192,
      virt_addr: 0xdeadbeefn,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_free_sgt",
    payload: "0000:00:02.0 dir=FROM_DEVICE dma_addr=fffc0000 size=16384 phys_addrs={0x1000,0x5000}",
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      dma_addr: 0xfffc0000n,
      size: 16384,
      phys_addrs: [0x1000n, 0x5000n],
    },
  },
  // dma: scatter-gather, new format (nents=/ents=, [TRUNCATED]) and old (no counts)
  {
    event: "dma_map_sg",
    payload:
      "0000:00:02.0 dir=FROM_DEVICE nents=8/8 ents=1/1 dma_addrs={0xfff80000} sizes={0x20000} phys_addrs={0x2d15000,0x2d26000,0x2d3e000,0x2d45000,0x2d48000,0x2d47000,0x2d46000,0x2d4d000} attrs=NO_WARN",
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      nents: [8, 8],
      ents: [1, 1],
      truncated: 0,
      dma_addrs: [0xfff80000n],
      sizes: [0x20000n],
      phys_addrs: [
        0x2d15000n,
        0x2d26000n,
        0x2d3e000n,
        0x2d45000n,
        0x2d48000n,
        0x2d47000n,
        0x2d46000n,
        0x2d4d000n,
      ],
      attrs: ATTR.NO_WARN,
      attrs_text: "NO_WARN",
    },
  },
  {
    event: "dma_map_sg",
    payload: `0000:41:00.0 dir=TO_DEVICE nents=128/300 ents=128/130 [TRUNCATED] dma_addrs={${
      Array.from({ length: 128 }, (_, i) => "0x" + (0x100000 + i * 0x1000).toString(16)).join(",")
    }} sizes={${Array(128).fill("0x1000").join(",")}} phys_addrs={${
      Array.from({ length: 128 }, (_, i) => "0x" + (0x200000 + i * 0x1000).toString(16)).join(",")
    }} attrs=`,
    fields: {
      device: "0000:41:00.0",
      dir: 1,
      nents: [128, 300],
      ents: [128, 130],
      truncated: 1,
      dma_addrs: Array.from({ length: 128 }, (_, i) => BigInt(0x100000 + i * 0x1000)),
      sizes: Array(128).fill(0x1000n),
      phys_addrs: Array.from({ length: 128 }, (_, i) => BigInt(0x200000 + i * 0x1000)),
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_map_sg",
    payload:
      "0000:41:00.0 dir=TO_DEVICE dma_addrs={0xfff80000} sizes={0x1000} phys_addrs={0x5000} attrs=",
    fields: {
      device: "0000:41:00.0",
      dir: 1,
      nents: [-1, -1],
      ents: [-1, -1],
      truncated: 0,
      dma_addrs: [0xfff80000n],
      sizes: [0x1000n],
      phys_addrs: [0x5000n],
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_map_sg_err",
    payload: "0000:41:00.0 dir=TO_DEVICE dma_addrs={0x5000,0x9000} err=-12 attrs=",
    fields: {
      device: "0000:41:00.0",
      dir: 1,
      phys_addrs: [0x5000n, 0x9000n],
      err: -12,
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_unmap_sg",
    payload: "0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x2d15000,0x2d26000} attrs=",
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      phys_addrs: [0x2d15000n, 0x2d26000n],
      attrs: 0,
      attrs_text: "",
    },
  },
  {
    event: "dma_sync_single_for_cpu",
    payload: "0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=4096",
    fields: { device: "0000:00:02.0", dir: 2, dma_addr: 0xfff80000n, size: 4096 },
  },
  {
    event: "dma_sync_single_for_device",
    payload: "0000:00:02.0 dir=TO_DEVICE dma_addr=fff80000 size=4096",
    fields: { device: "0000:00:02.0", dir: 1, dma_addr: 0xfff80000n, size: 4096 },
  },
  {
    event: "dma_sync_sg_for_cpu",
    payload: "0000:00:02.0 dir=FROM_DEVICE dma_addrs={0xfff80000,0xfff90000} sizes={0x1000,0x2000}",
    fields: {
      device: "0000:00:02.0",
      dir: 2,
      dma_addrs: [0xfff80000n, 0xfff90000n],
      sizes: [0x1000n, 0x2000n],
    },
  },
  {
    event: "dma_sync_sg_for_device",
    payload: "0000:00:02.0 dir=0x7 dma_addrs={} sizes={}",
    fields: { device: "0000:00:02.0", dir: 7, dma_addrs: [], sizes: [] }, // unknown dir values print as hex
  },
  // iommu:
  {
    event: "add_device_to_group",
    payload: "IOMMU: groupID=2 device=0000:00:02.0",
    fields: { group_id: 2, device: "0000:00:02.0" },
  },
  {
    event: "remove_device_from_group",
    payload: "IOMMU: groupID=2 device=0000:00:02.0",
    fields: { group_id: 2, device: "0000:00:02.0" },
  },
  {
    event: "attach_device_to_domain",
    payload: "IOMMU: device=0000:00:02.0",
    fields: { device: "0000:00:02.0" },
  },
  {
    event: "detach_device_from_domain",
    payload: "IOMMU: device=0000:00:02.0",
    fields: { device: "0000:00:02.0" },
  },
  {
    event: "map",
    payload:
      "IOMMU: iova=0x00fffffffffff000 - 0x0100000000000000 paddr=0x0000038000000000 size=4096",
    fields: {
      iova: 0xfffffffffff000n,
      iova_end: 0x100000000000000n,
      paddr: 0x38000000000n,
      size: 4096,
    },
  },
  // The old map/unmap formats, before the " - end" range was printed.
  {
    event: "map",
    payload: "IOMMU: iova=0x00000000fffe0000 paddr=0x0000038000000000 size=77824",
    fields: { iova: 0xfffe0000n, paddr: 0x38000000000n, size: 77824 },
  },
  {
    event: "unmap",
    payload: "IOMMU: iova=0x00000000fffe0000 size=77824 unmapped_size=77824",
    fields: { iova: 0xfffe0000n, size: 77824, unmapped_size: 77824 },
  },
  {
    event: "unmap",
    payload: "IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 size=77824 unmapped_size=77824",
    fields: { iova: 0xfffe0000n, iova_end: 0xffff3000n, size: 77824, unmapped_size: 77824 },
  },
  {
    event: "io_page_fault",
    payload: "IOMMU:vfio-pci 0000:03:00.0 iova=0x00000000fffe1000 flags=0x0020",
    fields: { driver: "vfio-pci", device: "0000:03:00.0", iova: 0xfffe1000n, flags: 0x20n },
  },
  // dma_buf: (7.x)
  {
    event: "dma_buf_export",
    payload: "exp_name=vfio-pci size=16777216 ino=1234",
    fields: { exp_name: "vfio-pci", size: 16777216, ino: 1234 },
  },
  {
    event: "dma_buf_fd",
    payload: "exp_name=vfio-pci size=4096 ino=77 fd=5",
    fields: { exp_name: "vfio-pci", size: 4096, ino: 77, fd: 5 },
  },
  {
    event: "dma_buf_get",
    payload: "exp_name=udmabuf size=4096 ino=78 fd=-1",
    fields: { exp_name: "udmabuf", size: 4096, ino: 78, fd: -1 },
  },
  {
    event: "dma_buf_mmap",
    payload: "exp_name=system size=4096 ino=79",
    fields: { exp_name: "system", size: 4096, ino: 79 },
  },
  {
    event: "dma_buf_mmap_internal",
    payload: "exp_name=system size=4096 ino=79",
    fields: { exp_name: "system", size: 4096, ino: 79 },
  },
  {
    event: "dma_buf_put",
    payload: "exp_name=system size=4096 ino=79",
    fields: { exp_name: "system", size: 4096, ino: 79 },
  },
  {
    event: "dma_buf_dynamic_attach",
    payload:
      "exp_name=vfio-pci size=16777216 ino=1234 attachment:00000000a1b2c3d4 is_dynamic=1 dev_name=0000:41:00.0",
    fields: {
      exp_name: "vfio-pci",
      size: 16777216,
      ino: 1234,
      attach: 0xa1b2c3d4n,
      is_dynamic: 1,
      dev_name: "0000:41:00.0",
    },
  },
  {
    event: "dma_buf_detach",
    payload:
      "exp_name=vfio-pci size=16777216 ino=1234 attachment:00000000a1b2c3d4 is_dynamic=0 dev_name=0000:41:00.0",
    fields: {
      exp_name: "vfio-pci",
      size: 16777216,
      ino: 1234,
      attach: 0xa1b2c3d4n,
      is_dynamic: 0,
      dev_name: "0000:41:00.0",
    },
  },
  // swiotlb:
  {
    event: "swiotlb_bounced",
    payload: "dev_name: 0000:00:02.0 dma_mask=ffffffff dev_addr=1fff0000 size=4096 NORMAL",
    fields: {
      dev_name: "0000:00:02.0",
      dma_mask: 0xffffffffn,
      dev_addr: 0x1fff0000n,
      size: 4096,
      force: 0,
    },
  },
  {
    event: "swiotlb_bounced",
    payload: "dev_name: 0000:00:02.0 dma_mask=ffffffffffffffff dev_addr=1fff0000 size=512 FORCE",
    fields: {
      dev_name: "0000:00:02.0",
      dma_mask: 0xffffffffffffffffn,
      dev_addr: 0x1fff0000n,
      size: 512,
      force: 1,
    },
  },
];

Deno.test("EVENT_SCHEMAS has a test case for every schema", () => {
  const tested = new Set(CASES.map((c) => c.event));
  assert.deepEqual(EVENT_SCHEMAS.map((s) => s.name).filter((n) => !tested.has(n)), []);
});

for (const stride of [1 << 20, 1, 7, 65536]) {
  Deno.test(`parseTrace() parses every tracepoint format (stride ${stride})`, async () => {
    const text = CASES.map((c, i) =>
      kline("task", 100, i % 4, "d..1.", 10, i, c.event, c.payload)
    ).join("\n") + "\n";
    const r = await parseAll(text, { stride, bufferBytes: 8192 });
    assert.deepEqual(r.diags, []);
    assert.equal(r.rows.length, CASES.length);
    r.rows.forEach((row, i) => {
      assert.equal(row.event, CASES[i]!.event);
      assert.equal(row.line, i + 1);
      assert.deepEqual(row.fields, CASES[i]!.fields, `line ${i + 1}: ${CASES[i]!.event}`);
    });
  });
}

Deno.test("parseTrace() reports a malformed value with its column and keeps the line", async () => {
  const line = kline(
    "t",
    1,
    0,
    ".....",
    1,
    0,
    "dma_map_phys",
    "0000:41:00.0 dir=SIDEWAYS dma_addr=xyz size=4096 phys_addr=1000 attrs=",
  );
  const r = await parseAll(line + "\n");
  assert.deepEqual(r.diags.map((d) => [d.line, d.code, d.column]), [
    [1, "bad_field_value", line.indexOf("SIDEWAYS") + 1],
    [1, "bad_field_value", line.indexOf("xyz") + 1],
  ]);
  assert.equal(r.rows[0]!.fields.size, 4096);
});

Deno.test("parseTrace() reports a missing required field and an unexpected word", async () => {
  const text = [
    kline("t", 1, 0, ".....", 1, 0, "unmap", "IOMMU: iova=0x1000 - 0x2000 size=4096"),
    kline(
      "t",
      1,
      0,
      ".....",
      1,
      1,
      "attach_device_to_domain",
      "IOMMU: device=0000:00:02.0 surprise",
    ),
    kline(
      "t",
      1,
      0,
      ".....",
      1,
      2,
      "dma_map_phys",
      "0000:41:00.0 dir=NONE dma_addr=0 size=1 phys_addr=0 attrs=MMIO|BOGUS extra=7",
    ),
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.diags.map((d) => [d.line, d.code]), [[1, "missing_field"], [
    2,
    "unexpected_token",
  ]]);
  assert.equal(r.counters.unknown_attr_name, 1);
  assert.equal(r.counters.unexpected_field, 1);
  assert.deepEqual(r.rows[2]!.fields.args, { extra: 7n });
  assert.equal(r.rows[2]!.fields.attrs, ATTR.MMIO);
});

Deno.test("parseTrace() falls back from the fast path on a bad digit and reports it", async () => {
  const line = kline(
    "t",
    1,
    0,
    ".....",
    1,
    0,
    "map",
    "IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 paddr=0x000000000000g000 size=4096",
  );
  const r = await parseAll(line + "\n");
  assert.deepEqual(r.diags.map((d) => [d.code, d.column]), [[
    "bad_field_value",
    line.indexOf("0x000000000000g") + 1,
  ]]);
  assert.deepEqual(r.rows[0]!.fields, { iova: 0xfffe0000n, iova_end: 0xffff3000n, size: 4096 });
});
