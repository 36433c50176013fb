import assert from "node:assert/strict";
import fc from "fast-check";
import {
  calcMapTypeAndDist,
  importTopologyDump,
  PciTree,
  type Topology,
  validateTopology,
} from "./mod.ts";

async function imported(path: URL | string) {
  const r = importTopologyDump(await Deno.readTextFile(path));
  const t = validateTopology(r.topology);
  if (!t.ok) throw new Error(JSON.stringify(t.errors));
  return { ...r, t: t.topology };
}

Deno.test("importTopologyDump() reads a collector dump with a switch, lspci ACS bits and VT-d caps", async () => {
  const r = await imported(new URL("./testdata/xeon-switch.dump", import.meta.url));
  assert.deepEqual(r.problems, []);
  const t = r.t;
  assert.deepEqual(t.cpu, { vendor: "intel", family: 6 });
  assert.deepEqual(t.hostBridges.map((h) => [h.id, h.vendor, h.device, h.windows.length]), [[
    "pci0000:00",
    0x8086,
    0x09a2,
    2,
  ]]);
  assert.deepEqual(t.devices.map((d) => [d.bdf, d.kind, d.parent]), [
    ["0000:00:01.0", "root_port", "pci0000:00"],
    ["0000:01:00.0", "switch_upstream", "0000:00:01.0"],
    ["0000:02:08.0", "switch_downstream", "0000:01:00.0"],
    ["0000:02:10.0", "switch_downstream", "0000:01:00.0"],
    ["0000:03:00.0", "endpoint", "0000:02:08.0"],
    ["0000:04:00.0", "endpoint", "0000:02:10.0"],
  ]);
  const gpu = t.devices[4]!;
  assert.deepEqual(gpu.bars.map((b) => [b.index, b.cpuStart, b.lenBytes, b.prefetch]), [
    [0, 0xc6000000n, 0x1000000n, false],
    [2, 0x383000000000n, 0x1000000000n, true],
    [4, 0x384000000000n, 0x2000000n, true],
  ]);
  assert.deepEqual(t.devices[2]!.acsCtrl, ["SV", "RR", "CR", "UF"]);
  assert.equal(t.devices[1]!.acsCtrl, null); // the USP has no ACS capability in lspci
  assert.deepEqual([t.iommu.present, t.iommu.defaultDomain, t.iommu.addressWidth], [
    true,
    "dma-fq",
    39,
  ]);
  assert.equal(t.iommu.pgsizeBitmap, (1n << 12n) | (1n << 21n) | (1n << 30n));
  assert.deepEqual(t.iommu.reserved, [[0xfee00000n, 0xfeefffffn]]);
  // The ACS redirect the kernel set on the DSPs sends GPU → NIC through the host bridge.
  const tree = new PciTree(t);
  const got = calcMapTypeAndDist(tree, tree.device("0000:03:00.0")!, tree.device("0000:04:00.0")!);
  assert.deepEqual([got.mapType, got.distance], ["THRU_HOST_BRIDGE", 4]);
});

Deno.test("importTopologyDump() takes bus addresses from lspci -b (a translating host bridge)", () => {
  const dump = [
    "[cpu]",
    "  CPU_implementer=0x41",
    "[device 0000:00:00.0]",
    "  path=/sys/devices/pci0000:00/0000:00:00.0",
    "  class=0x060400",
    "[device 0000:01:00.0]",
    "  path=/sys/devices/pci0000:00/0000:00:00.0/0000:01:00.0",
    "  class=0x030200",
    "  resource:",
    "    0x0000004000000000 0x00000043ffffffff 0x000000000014220c",
    "  lspci:",
    "    0000:01:00.0 3D controller [0302]: NVIDIA Corporation Device [10de:2330]",
    "    \tCapabilities: [68] Express (v2) Endpoint, MSI 00",
    "  lspci_bus:",
    "    Region 0: Memory at 80000000 (64-bit, prefetchable) [size=16G]",
  ].join("\n");
  const r = importTopologyDump(dump);
  assert.deepEqual(r.problems, []);
  const t = validateTopology(r.topology);
  assert.ok(t.ok);
  assert.equal(t.topology.cpu.vendor, "arm");
  assert.deepEqual(t.topology.devices.map((d) => d.kind), ["root_port", "endpoint"]); // root port from its class
  const bar = t.topology.devices[1]!.bars[0]!;
  assert.deepEqual([bar.cpuStart, bar.busStart], [0x4000000000n, 0x80000000n]);
  assert.ok(r.notes.some((n) => n.includes("0000:00:00.0: no PCIe capability") === false));
});

Deno.test("importTopologyDump() reads this machine's real collector output", async () => {
  const r = await imported(new URL("./testdata/firecracker-host.dump", import.meta.url));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.t.hostBridges.map((h) => [h.id, h.vendor, h.device]), [[
    "pci0000:00",
    0x8086,
    0x0d57,
  ]]);
  assert.ok(r.t.devices.length >= 4);
  assert.ok(r.t.devices.every((d) => d.kind === "rciep" && d.parent === "pci0000:00"));
  assert.equal(r.t.iommu.present, false);
  assert.ok(r.notes.some((n) => n.startsWith("DMA segment boundary is not in sysfs")));
});

const CAPTURES = new URL("../../../../shared/captures/", import.meta.url);
const capturesPresent = await Deno.stat(CAPTURES).then(() => true, () => false);

function memBars(t: Topology) {
  return t.devices.map((d) =>
    d.bars.filter((b) => b.mem).map((b) => `${b.cpuStart}+${b.lenBytes}${b.prefetch ? "p" : ""}`)
      .sort()
  );
}

for (
  const name of ["a_strict", "b_lazy", "b_lazy_cmon", "c_pt", "d_fgraph", "e_dmabuf", "f_vfio"]
) {
  Deno.test({
    name:
      `importTopologyDump() imports the sysfs dump of capture ${name}-6.12 like its topology.json`,
    ignore: !capturesPresent,
    fn: async () => {
      const r = await imported(new URL(`${name}-6.12.json`, CAPTURES));
      assert.deepEqual(r.problems, []);
      const theirs = validateTopology(
        JSON.parse(await Deno.readTextFile(new URL(`${name}-6.12.topology.json`, CAPTURES))),
      );
      assert.ok(theirs.ok);
      const a = r.t;
      const b = theirs.topology;
      assert.deepEqual(a.hostBridges, b.hostBridges);
      assert.deepEqual(
        a.devices.map((d) => [d.bdf, d.kind, d.parent, d.vendor, d.device, d.name]),
        b.devices.map((d) => [d.bdf, d.kind, d.parent, d.vendor, d.device, d.name]),
      );
      // Ours leaves out the expansion ROMs the capture's topology.json lists as BARs (the VGA
      // shadow ROM at 0xc0000 and the e1000e's at 0xfeb40000): a ROM has no p2pdma provider.
      const roms = new Set(["786432+131072", "4273209344+262144p"]);
      assert.deepEqual(memBars(a), memBars(b).map((bars) => bars.filter((x) => !roms.has(x))));
      assert.deepEqual(
        a.devices.map((d) => [d.dma.maskBits, d.iommuDomain]),
        b.devices.map((d) => [d.dma.maskBits, d.iommuDomain]),
      );
      assert.deepEqual([
        a.iommu.present,
        a.iommu.defaultDomain,
        a.iommu.addressWidth,
        a.iommu.pgsizeBitmap,
      ], [b.iommu.present, b.iommu.defaultDomain, b.iommu.addressWidth, b.iommu.pgsizeBitmap]);
      assert.ok(a.iommu.reserved.some(([s, e]) => s === 0xfee00000n && e === 0xfeefffffn));
      // The NVMe CMB is BAR 2 (config space 0x18 holds 0xfd00000c, 64-bit prefetchable); the
      // capture's topology.json numbered the compacted resource list instead.
      const nvme = a.devices.find((d) => d.name === "nvme" || d.name === "vfio-pci")!;
      assert.deepEqual(nvme.bars.map((x) => x.index), [0, 2]);
    },
  });
}

Deno.test("importTopologyDump() never throws on garbage, and reports malformed JSON", () => {
  fc.assert(
    fc.property(
      fc.string({
        maxLength: 400,
        unit: fc.constantFrom(
          "[",
          "]",
          "device ",
          " ",
          "=",
          "\n",
          "0x",
          "1",
          "resource:",
          "    ",
          "a",
          "{",
          "}",
        ),
      }),
      (text) => {
        const r = importTopologyDump(text);
        assert.ok(Array.isArray(r.notes) && Array.isArray(r.problems));
      },
    ),
    { numRuns: 300 },
  );
  assert.match(importTopologyDump("{ not json").problems[0]!, /does not parse/);
  assert.match(importTopologyDump('{"a": 1}').problems[0]!, /pci_devices/);
  const bad = importTopologyDump("[device 0000:00:02.0]\n  resource:\n    nonsense\n");
  assert.match(bad.problems[0]!, /line 3: expected a resource line/);
});

Deno.test("importTopologyDump() takes a driver's DMA max segment size from its block queue", async () => {
  const text = await Deno.readTextFile(new URL("./testdata/xeon-switch.dump", import.meta.url));
  // The collector prints max_segment_size for a function with a block device (NVMe: 4 GiB - 1).
  const withQueue = text.replace(
    "  driver=mlx5_core",
    "  driver=mlx5_core\n  max_segment_size=4294967295",
  );
  const r = importTopologyDump(withQueue);
  const t = validateTopology(r.topology);
  if (!t.ok) throw new Error(JSON.stringify(t.errors));
  const limits = t.topology.devices.map((d) => d.dma.maxSegmentSize);
  assert.ok(limits.includes(4294967295));
  assert.equal(limits.filter((v) => v !== 65536).length, 1); // the others keep the PCI default
});
