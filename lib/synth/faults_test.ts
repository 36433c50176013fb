import assert from "node:assert/strict";
import { replayTrace } from "../replay/mod.ts";
import {
  DMABUF_FAULT_CODES,
  DMABUF_RESET_FAULTS,
  SYNTH_FAULT_CODES,
  synthesizeTrace,
  type SynthFaultCode,
  validateScenario,
} from "./mod.ts";

const topology = {
  hostBridges: [{ id: "pci0000:00", windows: [["0x380000000000", "0x3fffffffffff"]] }],
  devices: [
    { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
    { bdf: "0000:01:00.0", kind: "switch_upstream", parent: "0000:00:01.0" },
    { bdf: "0000:02:00.0", kind: "switch_downstream", parent: "0000:01:00.0", acsCtrl: [] },
    { bdf: "0000:02:01.0", kind: "switch_downstream", parent: "0000:01:00.0", acsCtrl: [] },
    {
      bdf: "0000:03:00.0",
      kind: "endpoint",
      parent: "0000:02:00.0",
      name: "nvme",
      bars: [
        { index: 2, cpuStart: "0x384004000000", len: "0x4000000", mem: true, prefetch: true },
        // A BAR the host bridge translates (its bus address differs: an offset platform's).
        {
          index: 4,
          cpuStart: "0x384010000000",
          busStart: "0x10000000",
          len: "0x1000000",
          mem: true,
          prefetch: true,
        },
      ],
      dma: { maxSegmentSize: 65536 },
    },
    { bdf: "0000:04:00.0", kind: "endpoint", parent: "0000:02:01.0", name: "mlx5_core" },
    // Behind another root port of a host bridge that is not on the P2P allowlist: the kernel
    // refuses its P2P with the NVMe (NOT_SUPPORTED).
    { bdf: "0000:00:02.0", kind: "root_port", parent: "pci0000:00" },
    { bdf: "0000:05:00.0", kind: "endpoint", parent: "0000:00:02.0", name: "gpu" },
  ],
  iommu: { present: true, defaultDomain: "dma" },
};

/** A workload each fault fits. */
function workloadFor(code: SynthFaultCode) {
  const base = { kind: "stream", device: "0000:03:00.0", cpus: [0, 1], queueDepth: 2 };
  switch (code) {
    case "DMA_UNMAP_SIZE_MISMATCH":
      return { ...base, api: "page", sizes: [{ bytes: 1514 }, { bytes: 4096 }] };
    case "IOMMU_IOVA_MISMATCH":
      return { ...base, api: "page", sizes: [{ bytes: 4096 }, { bytes: 16384 }] };
    case "DMA_SG_SEGMENT_TOO_LONG":
    case "DMA_SG_SEGMENT_CROSSES_BOUNDARY":
      return { ...base, sizes: [{ bytes: 4096 }, { bytes: 131072 }] };
    case "DMA_UNMAP_TYPE_MISMATCH":
    case "DMA_FREE_CPU_ADDR_MISMATCH":
      return { ...base, api: "coherent", sizes: [{ bytes: 4096 }, { bytes: 16384 }] };
    case "DMA_SYNC_TO_DEVICE_FOR_CPU":
      return { ...base, dir: "TO_DEVICE", sizes: [{ bytes: 8192 }] };
    case "P2P_WRONG_PATH":
      return {
        ...base,
        device: "0000:04:00.0",
        dir: "TO_DEVICE",
        sizes: [{ bytes: 4096 }, { bytes: 65536 }],
        peer: { device: "0000:03:00.0", bar: 2 },
      };
    case "P2P_NOT_SUPPORTED_PATH":
      return {
        ...base,
        device: "0000:05:00.0",
        dir: "TO_DEVICE",
        sizes: [{ bytes: 4096 }, { bytes: 65536 }],
        peer: { device: "0000:03:00.0", bar: 2 },
      };
    case "P2P_DMA_ADDR_MISMATCH":
      return {
        ...base,
        device: "0000:04:00.0",
        dir: "TO_DEVICE",
        sizes: [{ bytes: 4096 }, { bytes: 65536 }],
        peer: { device: "0000:03:00.0", bar: 4 },
      };
    default:
      return { ...base, sizes: [{ bytes: 4096 }, { bytes: 65536 }] };
  }
}

for (const code of SYNTH_FAULT_CODES) {
  Deno.test(`synth injects ${code} at known lines; the replay finds exactly those`, async () => {
    const v = validateScenario({
      name: code,
      topology,
      workloads: [
        workloadFor(code),
        // Other work on the machine: RAM I/O by the NIC.
        {
          kind: "stream",
          device: "0000:04:00.0",
          api: "page",
          cpus: [1],
          sizes: [{ bytes: 1514 }],
        },
      ],
      // (A replay takes a domain's first 32 allocations as warm-up.)
      faults: code === "IOMMU_IOVA_MISMATCH"
        ? [{ code, workload: 0, after: 40 }, { code, workload: 0, after: 90 }]
        : [{ code, workload: 0, after: 5 }, { code, workload: 0, after: 40 }],
    });
    assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
    const { stream, stats } = synthesizeTrace(v.scenario, { events: 4000, seed: 11 });
    const text = await new Response(stream).text();
    const r = await replayTrace(new Blob([text]).stream(), { topology: v.scenario.topology });
    const found = r.anomalies.map((a) => ({ code: a.code, line: a.line }))
      .sort((a, b) => a.line - b.line || (a.code < b.code ? -1 : 1));
    const want = [...stats.injected].sort((a, b) => a.line - b.line || (a.code < b.code ? -1 : 1));
    // Twice; a map of the driver's own shows at its map and its unmap.
    const each = code === "IOMMU_MAP_WITHOUT_DMA_OWNER" ? 2 : 1;
    assert.ok(want.filter((x) => x.code === code).length === 2 * each, JSON.stringify(want));
    assert.deepEqual(
      found,
      want,
      text.split("\n").filter((_, i) => want.some((w) => Math.abs(w.line - 1 - i) < 3)).join("\n"),
    );
  });
}

Deno.test("validateScenario: a fault must fit its workload", () => {
  const r = validateScenario({
    name: "f",
    topology,
    workloads: [{ kind: "stream", device: "0000:03:00.0", api: "sg", sizes: [{ bytes: 4096 }] }],
    faults: [
      { code: "DMA_UNMAP_SIZE_MISMATCH" },
      { code: "DMA_UNMAP_SG_NENTS_MISMATCH" },
      { code: "P2P_WRONG_PATH" },
      { code: "P2P_NOT_SUPPORTED_PATH" },
      { code: "P2P_DMA_ADDR_MISMATCH" },
      { code: "DMA_NONSENSE" },
      { code: "DMA_LEAK_AT_END", workload: 3, after: 0 },
    ],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => `${e.pointer}: ${e.message}`), [
    '/faults/0/code: DMA_UNMAP_SIZE_MISMATCH needs a workload with api "page" (dma-debug checks no sg size); workload 0 is not one',
    '/faults/1/code: DMA_UNMAP_SG_NENTS_MISMATCH needs a workload with api "sg" and a size above one page; workload 0 is not one',
    "/faults/2/code: P2P_WRONG_PATH needs a peer-to-peer workload on a translated device; workload 0 is not one",
    "/faults/3/code: P2P_NOT_SUPPORTED_PATH needs a peer-to-peer workload on a pair the kernel refuses (NOT_SUPPORTED); workload 0 is not one",
    "/faults/4/code: P2P_DMA_ADDR_MISMATCH needs a peer-to-peer workload on a bus-address pair whose BAR has a bus offset; workload 0 is not one",
    `/faults/5/code: expected an injectable anomaly code: one of ${
      SYNTH_FAULT_CODES.map((c) => `"${c}"`).join(", ")
    }`,
    "/faults/6/workload: expected a workload index: an integer from 0 to 0",
    "/faults/6/after: expected which map (1-based): an integer from 1 to 9007199254740991",
  ]);
});

const SG_ONLY = new Set([
  "DMABUF_UNMAP_NOT_MAPPED",
  "DMABUF_DOUBLE_UNMAP",
  "IOMMU_IOVA_LINK_OVERLAP",
  "P2P_RANGE_OUT_OF_BAR",
]);
/** A GPU and a NIC below one switch whose ACS redirect sends their P2P through the host bridge. */
const acsRedirect = JSON.parse(
  await Deno.readTextFile(
    new URL("../../traces/switch-acs-redirect.topology.json", import.meta.url),
  ),
);
for (
  const [code, api] of [
    ...DMABUF_FAULT_CODES.map((c) => [c, "sg"] as const),
    ...DMABUF_FAULT_CODES.filter((c) => !SG_ONLY.has(c)).map((c) => [c, "pfn"] as const),
  ]
) {
  Deno.test(`synth injects ${code} into a dma-buf workload (${api} importer); the replay finds exactly those`, async () => {
    const reset = DMABUF_RESET_FAULTS.has(code);
    // A second range linked over the first needs a pair through the host bridge.
    const link = code === "IOMMU_IOVA_LINK_OVERLAP";
    const v = validateScenario({
      name: code,
      topology: link ? acsRedirect : topology,
      dmabufs: [{
        exporter: { device: "0000:03:00.0", bar: link ? 0 : 2 },
        importer: "0000:04:00.0",
        importerApi: api,
        bytes: 65536,
        buffers: 4,
        mapsPerBuffer: [3, 6],
        holdUs: [100, 1000],
        // Resets only where the fault needs them (a reset's unmaps would skip a buffer's).
        ...(reset ? { flr: { everyUs: [2000, 4000], resetUs: [300, 600] } } : {}),
        faults: [{ code, after: 2 }, { code, after: 5 }],
      }],
    });
    assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
    const { stream, stats } = synthesizeTrace(v.scenario, { events: 3000, seed: 5 });
    const text = await new Response(stream).text();
    const r = await replayTrace(new Blob([text]).stream(), { topology: v.scenario.topology });
    const key = (a: { code: string; line: number }) => `${a.line} ${a.code}`;
    const found = r.anomalies.map(key).sort();
    const want = stats.injected.map(key).sort();
    // Two buffers; a two-range buffer overlaps at every one of its maps.
    const n = stats.injected.filter((x) => x.code === code).length;
    assert.ok(link ? n >= 6 : n === 2, JSON.stringify(want));
    // A map after the release comes with the release of an attached buffer; a host-bridge pair
    // below one switch is reported at its first map.
    const also = code === "DMABUF_OP_AFTER_RELEASE"
      ? ["DMABUF_RELEASE_WITH_ATTACHMENTS"]
      : link
      ? ["P2P_HOST_BRIDGE_WHEN_BUS_PATH"]
      : [];
    assert.deepEqual(
      [...new Set(stats.injected.map((x) => x.code))].sort(),
      [code, ...also].sort(),
    );
    assert.deepEqual(found, want);
  });
}

Deno.test("a pfn importer refuses the faults it cannot show; its IOVAs must sit above guest RAM", () => {
  const r = validateScenario({
    name: "bad",
    topology,
    dmabufs: [{
      exporter: { device: "0000:03:00.0", bar: 2 },
      importer: "0000:04:00.0",
      importerApi: "pfn",
      ioasIova: 4096,
      guestRamBytes: 1 << 30,
      faults: [{ code: "DMABUF_DOUBLE_UNMAP" }],
    }, {
      exporter: { device: "0000:03:00.0", bar: 2 },
      importer: "0000:04:00.0",
      importerApi: "dma",
      guestRamBytes: 12345,
    }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => `${e.pointer}: ${e.message}`), [
    "/dmabufs/0/ioasIova: expected the buffers above the guest RAM",
    '/dmabufs/0/faults/0/code: DMABUF_DOUBLE_UNMAP needs dma_buf_unmap_attachment: a "pfn" importer never calls it',
    '/dmabufs/1/importerApi: expected the importer\'s API: one of "sg", "pfn"',
    "/dmabufs/1/guestRamBytes: expected a multiple of 1 GiB (1073741824)",
  ]);
});

Deno.test("a pair ACS redirect sends through the host bridge below one switch: the synthesizer expects P2P_HOST_BRIDGE_WHEN_BUS_PATH at its first map, and the replay reports it there", async () => {
  const topo = JSON.parse(
    await Deno.readTextFile(
      new URL("../../traces/switch-acs-redirect.topology.json", import.meta.url),
    ),
  );
  for (
    const [name, extra] of [
      ["stream", {
        workloads: [{
          kind: "stream",
          device: "0000:04:00.0",
          dir: "TO_DEVICE",
          cpus: [0],
          sizes: [{ bytes: 4096 }, { bytes: 65536 }],
          peer: { device: "0000:03:00.0", bar: 0 },
        }],
      }],
      ["dma-buf", {
        dmabufs: [{
          exporter: { device: "0000:03:00.0", bar: 0 },
          importer: "0000:04:00.0",
          bytes: 65536,
          buffers: 3,
          mapsPerBuffer: [2, 4],
          holdUs: [100, 500],
        }],
      }],
    ] as const
  ) {
    const v = validateScenario({ name, topology: topo, ...extra });
    assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
    const { stream, stats } = synthesizeTrace(v.scenario, { events: 2000, seed: 3 });
    const text = await new Response(stream).text();
    const r = await replayTrace(new Blob([text]).stream(), { topology: v.scenario.topology });
    const key = (a: { code: string; line: number }) => `${a.line} ${a.code}`;
    assert.deepEqual(stats.injected.map(key), [
      `${stats.injected[0]?.line} P2P_HOST_BRIDGE_WHEN_BUS_PATH`,
    ], name);
    assert.deepEqual(r.anomalies.map(key).sort(), stats.injected.map(key).sort(), name);
  }
});

Deno.test("IOMMU_IOVA_LINK_OVERLAP needs a translated sg importer on a host-bridge pair", () => {
  const r = validateScenario({
    name: "bad",
    topology, // ACS off below the switch: a bus-address pair, no IOVA to link
    dmabufs: [{
      exporter: { device: "0000:03:00.0", bar: 2 },
      importer: "0000:04:00.0",
      faults: [{ code: "IOMMU_IOVA_LINK_OVERLAP" }],
    }],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => e.pointer), ["/dmabufs/0/faults/0/code"]);
  assert.match(r.errors[0]!.message, /through the host bridge/);
});

Deno.test("IOMMU_IOVA_MISMATCH needs a strict page workload past the warm-up", () => {
  const r = validateScenario({
    name: "bad",
    topology,
    workloads: [
      { kind: "stream", device: "0000:03:00.0", api: "page", sizes: [{ bytes: 4096 }] },
      { kind: "stream", device: "0000:03:00.0", api: "sg", sizes: [{ bytes: 4096 }] },
    ],
    faults: [
      { code: "IOMMU_IOVA_MISMATCH", workload: 0, after: 10 },
      { code: "IOMMU_IOVA_MISMATCH", workload: 1, after: 50 },
    ],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map((e) => `${e.pointer}: ${e.message}`), [
    "/faults/0/after: expected a map after the 32nd: a replay takes a domain's first 32 allocations as warm-up",
    '/faults/1/code: IOMMU_IOVA_MISMATCH needs a workload with api "page" on RAM whose device a strict IOMMU domain translates; workload 1 is not one',
  ]);
});

Deno.test("every anomaly code of the replay can be injected (or, for two, comes with another or with the machine)", async () => {
  const { ANOMALY_CODES } = await import("../replay/mod.ts");
  const injectable = new Set<string>([
    ...SYNTH_FAULT_CODES,
    ...DMABUF_FAULT_CODES,
    "IOMMU_IOVA_LEAK_AT_END", // with DMA_LEAK_AT_END on a translated device
    "P2P_HOST_BRIDGE_WHEN_BUS_PATH", // a pair ACS redirect sends through the host bridge
  ]);
  assert.deepEqual(Object.keys(ANOMALY_CODES).filter((c) => !injectable.has(c)), []);
});
