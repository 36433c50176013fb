import assert from "node:assert/strict";
import fc from "fast-check";
import { summarizeTrace } from "../ingest/mod.ts";
import { replayTrace } from "../replay/mod.ts";
import { withAcsRedirect } from "../model/topology/mod.ts";
import { type Scenario, synthesizeTrace, validateScenario } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);

async function shipped(name: string): Promise<Scenario> {
  const dir = new URL("traces/scenarios/", ROOT);
  const json = JSON.parse(await Deno.readTextFile(new URL(`${name}.json`, dir)));
  json.topology = JSON.parse(await Deno.readTextFile(new URL(json.topology, dir)));
  const r = validateScenario(json);
  assert.ok(r.ok);
  return r.scenario;
}

async function textOf(s: Scenario, o: Parameters<typeof synthesizeTrace>[1]) {
  const { stream, stats } = synthesizeTrace(s, o);
  return { text: await new Response(stream).text(), stats };
}

async function replay(s: Scenario, text: string) {
  return await replayTrace(new Blob([text]).stream(), { topology: s.topology });
}

const TS_REGEXP = /\[(\d{3})\] \S{5} +(\d+)\.(\d{6}): (\S+):/;

function timestamps(text: string): { cpu: number; us: number; event: string }[] {
  return text.trimEnd().split("\n").map((l) => {
    const m = TS_REGEXP.exec(l);
    assert.ok(m, `a trace line: ${l}`);
    return { cpu: Number(m[1]), us: Number(m[2]) * 1e6 + Number(m[3]), event: m[4]! };
  });
}

Deno.test("synth: the same scenario and seed give the same bytes; another seed others", async () => {
  const s = await shipped("nvme-strict");
  const a = await textOf(s, { events: 3000, seed: 5 });
  const b = await textOf(s, { events: 3000, seed: 5 });
  const c = await textOf(s, { events: 3000, seed: 6 });
  assert.equal(a.text, b.text);
  assert.notEqual(a.text, c.text);
});

Deno.test("synth nvme-strict: parses clean, replays with no anomaly, and the allocator model predicts every IOVA", async () => {
  const s = await shipped("nvme-strict");
  const { text, stats } = await textOf(s, { events: 40000, seed: 2 });
  const p = await summarizeTrace(new Blob([text]).stream());
  assert.equal(p.diagnostics.total, 0);
  assert.equal(p.events.total, stats.events);
  const e = p.events.byName;
  assert.equal((e.dma_map_sg ?? 0) + (e.dma_map_page ?? 0), stats.maps);
  // Every I/O started completes: as many unmaps as maps, an iova_free per iova_alloc.
  assert.equal(e.dma_unmap_sg, e.dma_map_sg);
  assert.equal(e.dma_unmap_page, e.dma_map_page);
  assert.equal(e.iova_free, e.iova_alloc);
  assert.equal(e.unmap, stats.maps);
  const r = await replay(s, text);
  assert.deepEqual(r.summary.anomalies.byCode, {});
  const pr = r.summary.iova.prediction;
  assert.ok(pr.checked >= stats.maps - 8 && pr.matched === pr.checked, JSON.stringify(pr));
  assert.equal(r.summary.iova.leakedPages, 0);
  // Merged in time order, as the kernel's trace file is.
  const ts = timestamps(text);
  for (let i = 1; i < ts.length; ++i) assert.ok(ts[i]!.us >= ts[i - 1]!.us, `line ${i + 1}`);
  // Strict: each unmap frees at once, in the completion interrupt.
  assert.ok(!text.includes("dNs2."));
  assert.match(
    text,
    /<idle>-0 +\[00[01]\] d\.h1\. .*: iova_free: \(free_iova_fast\+0x4\/0x140\) pfn=0x/,
  );
});

Deno.test("synth nvme-lazy: the flush queue frees in softirq, later; still no anomaly", async () => {
  const s = await shipped("nvme-lazy");
  const { text } = await textOf(s, { events: 40000, seed: 2 });
  const p = await summarizeTrace(new Blob([text]).stream());
  assert.equal(p.diagnostics.total, 0);
  const lines = text.trimEnd().split("\n");
  const frees = lines.filter((l) => l.includes(": iova_free: "));
  assert.ok(frees.length > 0 && frees.every((l) => l.includes(" dNs2. ")));
  // A freed pfn was unmapped before (no free comes ahead of its unmap).
  const unmapped = new Set<number>();
  for (const l of lines) {
    const u = /: unmap: IOMMU: iova=0x([0-9a-f]+)/.exec(l);
    if (u) unmapped.add(Number(BigInt("0x" + u[1]) >> 12n));
    const f = /: iova_free: .* pfn=0x([0-9a-f]+)/.exec(l);
    if (f) assert.ok(unmapped.has(parseInt(f[1]!, 16)), l);
  }
  const r = await replay(s, text);
  assert.deepEqual(r.summary.anomalies.byCode, {});
});

Deno.test("synth: --events and --bytes budgets", async () => {
  const s = await shipped("nvme-strict");
  const e = await textOf(s, { events: 5000 });
  assert.ok(e.stats.events >= 5000 && e.stats.events < 5000 + 400, String(e.stats.events));
  const b = await textOf(s, { bytes: 3_000_000 });
  assert.equal(b.stats.bytes, new TextEncoder().encode(b.text).byteLength);
  assert.ok(b.stats.bytes >= 3_000_000 && b.stats.bytes < 3_000_000 + (1 << 20) + 100_000);
});

const topology = (domain: string) => ({
  hostBridges: [{ id: "pci0000:00" }],
  devices: [
    {
      bdf: "0000:00:02.0",
      kind: "endpoint",
      parent: "pci0000:00",
      iommuDomain: domain,
      bars: [{ index: 0, cpuStart: "0x10000000", len: "0x100000", mem: true }],
    },
    { bdf: "0000:00:03.0", kind: "endpoint", parent: "pci0000:00", iommuDomain: domain },
  ],
  iommu: { present: true, defaultDomain: domain },
});

Deno.test("synth identity: dma-direct, the DMA address is the physical one, no IOMMU events", async () => {
  const v = validateScenario({
    name: "pt",
    topology: topology("identity"),
    workloads: [
      { kind: "stream", device: "0000:00:02.0", sizes: [{ bytes: 16384 }], contiguity: 0 },
      { kind: "stream", device: "0000:00:03.0", api: "page", sizes: [{ bytes: 1514 }] },
    ],
  });
  assert.ok(v.ok);
  const { text } = await textOf(v.scenario, { events: 2000 });
  assert.doesNotMatch(text, /: (map|unmap|iova_alloc|iova_free): /);
  for (
    const m of text.matchAll(
      /dma_map_page: \S+ dir=\S+ dma_addr=([0-9a-f]+) size=\d+ phys_addr=([0-9a-f]+)/g,
    )
  ) {
    assert.equal(m[1], m[2]);
  }
  for (
    const m of text.matchAll(
      /dma_map_sg: .* ents=(\d+)\/\d+ dma_addrs=\{([^}]*)\} .* phys_addrs=\{([^}]*)\}/g,
    )
  ) {
    assert.equal(m[2], m[3]); // one DMA segment per entry, at its physical address
  }
  const r = await replayTrace(new Blob([text]).stream(), { topology: v.scenario.topology });
  assert.deepEqual(r.summary.anomalies.byCode, {});
});

Deno.test("synth property: any scenario parses clean, replays with no anomaly, predicts every strict IOVA", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({
        domain: fc.constantFrom("dma", "dma-fq", "identity"),
        api: fc.constantFrom("sg", "page", "coherent"),
        sizes: fc.array(fc.integer({ min: 1, max: 128 * 4096 }), { minLength: 1, maxLength: 4 }),
        contiguity: fc.double({ min: 0, max: 1, noNaN: true }),
        queueDepth: fc.integer({ min: 1, max: 16 }),
        cpus: fc.constantFrom([0], [1], [0, 1]),
        seed: fc.integer(),
      }),
      async (c) => {
        const v = validateScenario({
          name: "p",
          topology: topology(c.domain),
          workloads: [
            {
              kind: "stream",
              device: "0000:00:02.0",
              api: c.api,
              cpus: c.cpus,
              sizes: c.sizes.map((bytes) => ({ bytes })),
              contiguity: c.contiguity,
              queueDepth: c.queueDepth,
            },
            {
              kind: "stream",
              device: "0000:00:03.0",
              api: "page",
              cpus: [1],
              sizes: [{ bytes: 1514 }],
            },
          ],
        });
        assert.ok(v.ok, JSON.stringify(!v.ok && v.errors));
        const { text, stats } = await textOf(v.scenario, { events: 1500, seed: c.seed });
        const p = await summarizeTrace(new Blob([text]).stream());
        assert.equal(p.diagnostics.total, 0);
        const r = await replayTrace(new Blob([text]).stream(), { topology: v.scenario.topology });
        assert.deepEqual(r.summary.anomalies.byCode, {});
        if (c.domain === "dma") {
          // The replay takes the space above a domain's first IOVA as allocated before the
          // trace (it does not know the trace starts at boot): an IOVA there is learned, not
          // checked. Every one checked is predicted.
          const pr = r.summary.iova.prediction;
          assert.equal(pr.matched, pr.checked);
          assert.ok(pr.checked >= stats.maps - 8, `${pr.checked} of ${stats.maps} checked`);
        }
      },
    ),
    { numRuns: Number(Deno.env.get("SYNTH_RUNS") ?? 60) },
  );
});

Deno.test("synth nvme-cmb-p2p: the NIC maps the CMB by bus address; with ACS redirect on, through the IOMMU", async () => {
  const s = await shipped("nvme-cmb-p2p");
  const { text } = await textOf(s, { events: 30000, seed: 3 });
  assert.equal((await summarizeTrace(new Blob([text]).stream())).diagnostics.total, 0);
  const r = await replay(s, text);
  assert.deepEqual(r.summary.anomalies.byCode, {});
  assert.ok((r.summary.ops.byPath.BUS_ADDR ?? 0) > 0);
  assert.equal(r.summary.ops.byPath.THRU_HOST_BRIDGE ?? 0, 0);
  // A bus-address map: the DMA address is the CMB's bus address, and no IOMMU work precedes it.
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.includes("dma_map_sg: 0000:04:00.0"));
  assert.match(lines[i]!, /dma_addrs=\{0x3840[0-9a-f]+\}.* phys_addrs=\{0x3840/);
  // The same workload on the machine with ACS redirect on at the switch ports.
  const on = withAcsRedirect(s.topology, "0000:02:00.0", true);
  assert.ok(on.ok);
  const on2 = withAcsRedirect(on.topology, "0000:02:01.0", true);
  assert.ok(on2.ok);
  const acs = { ...s, topology: on2.topology };
  const b = await textOf(acs, { events: 30000, seed: 3 });
  const rb = await replay(acs, b.text);
  // Right for that machine; the replay notes once that the pair sits below one switch.
  assert.deepEqual(rb.summary.anomalies.byCode, { P2P_HOST_BRIDGE_WHEN_BUS_PATH: 1 });
  assert.ok((rb.summary.ops.byPath.THRU_HOST_BRIDGE ?? 0) > 0);
  assert.equal(rb.summary.ops.byPath.BUS_ADDR ?? 0, 0);
  // The bus-address trace replayed against the ACS-on machine: the kernel took a path that
  // machine would not.
  const wrong = await replay(acs, text);
  assert.ok((wrong.summary.anomalies.byCode.P2P_WRONG_PATH ?? 0) > 0);
});

Deno.test("synth rdma-gpu-dmabuf: vfio-pci dma-bufs imported by the NIC, revoked by resets and mapped again; no anomaly", async () => {
  const s = await shipped("rdma-gpu-dmabuf");
  const { text } = await textOf(s, { events: 60000, seed: 8 });
  const p = await summarizeTrace(new Blob([text]).stream());
  assert.equal(p.diagnostics.total, 0);
  assert.ok((p.events.byName.dmabuf_move_notify ?? 0) >= 4, "resets happened");
  const r = await replay(s, text);
  assert.deepEqual(r.summary.anomalies.byCode, {});
  const d = r.summary.dmaBuf;
  assert.ok(d.exports > 8 && d.exports === d.attaches && d.attaches === d.detaches);
  assert.equal(d.releases, d.exports);
  assert.equal(d.unmaps, d.maps);
  // The merged revision maps a switch pair by bus address.
  assert.equal(r.summary.ops.byPath.BUS_ADDR, d.maps);
  // After each revoke the importer unmaps at once (within the grace), before any map.
  const lines = text.trimEnd().split("\n");
  const revokes = lines.flatMap((l, i) => l.includes(": dmabuf_move_notify: ") ? [i] : []);
  assert.ok(revokes.length % 2 === 0 || revokes.length > 0);
});

Deno.test("synth vm-iommufd-pfn: iommufd takes GPU BAR PFNs for a VM, maps them into its IOAS, zaps at each reset; no anomaly", async () => {
  const s = await shipped("vm-iommufd-pfn");
  const { text } = await textOf(s, { events: 20000, seed: 4 });
  const p = await summarizeTrace(new Blob([text]).stream());
  assert.equal(p.diagnostics.total, 0);
  const e = p.events.byName;
  assert.equal(e.attach_device_to_domain, 2);
  assert.equal(e.dmabuf_map ?? 0, 0, "a PFN importer maps no sg table");
  // Each get_pfn's run is mapped into the VM's address space, after the 4 GiB of guest RAM.
  assert.equal(e.map, e.dmabuf_get_pfn! + 4);
  assert.equal(e.dmabuf_get_pfn_ret, e.dmabuf_get_pfn);
  assert.ok((e.dmabuf_move_notify ?? 0) >= 4, "resets happened");
  for (const revision of ["v8-2025", "rfc-2025-pfn"] as const) {
    const r = await replayTrace(new Blob([text]).stream(), { topology: s.topology, revision });
    assert.deepEqual(r.summary.anomalies.byCode, {}, revision);
    const d = r.summary.dmaBuf;
    assert.ok(d.exports > 8 && d.exports === d.attaches && d.attaches === d.detaches);
    // Every PFN taken is zapped again: by the importer's unmaps, at a reset or before detach.
    assert.equal(d.pfns, e.dmabuf_get_pfn);
    assert.equal(d.zaps, d.pfns);
    assert.equal(d.maps, 0);
  }
  // A zap the importer forgets is found: drop one reset's unmaps.
  const lines = text.split("\n");
  const at = lines.findIndex((l, i) =>
    l.includes(": dmabuf_move_notify: ") && lines[i + 1]?.includes(": unmap: ")
  );
  assert.ok(at > 0);
  lines.splice(at + 1, 1);
  const r = await replayTrace(new Blob([lines.join("\n")]).stream(), { topology: s.topology });
  assert.ok((r.summary.anomalies.byCode.DMABUF_MAPPING_OUTLIVES_REVOKE ?? 0) >= 1);
});

Deno.test("validateScenario: dma-buf workloads, each problem at its pointer", () => {
  const topo = {
    hostBridges: [{ id: "pci0000:00" }],
    devices: [
      {
        bdf: "0000:03:00.0",
        kind: "endpoint",
        parent: "pci0000:00",
        bars: [{ index: 0, cpuStart: "0x4000000000", len: "0x400000", mem: true }],
      },
      { bdf: "0000:04:00.0", kind: "endpoint", parent: "pci0000:00" },
    ],
    iommu: { present: true },
  };
  const ok = validateScenario({
    name: "d",
    topology: topo,
    dmabufs: [{ exporter: { device: "0000:03:00.0", bar: 0 }, importer: "0000:04:00.0" }],
  });
  assert.ok(
    ok.ok && ok.scenario.dmabufs[0]!.bytes === 2097152 && ok.scenario.workloads.length === 0,
  );
  const bad = validateScenario({
    name: "d",
    topology: topo,
    dmabufs: [{
      exporter: { device: "0000:03:00.0", bar: 2 },
      importer: "0000:09:00.0",
      bytes: 5000,
      flr: { everyUs: [0, 1] },
    }, { exporter: { device: "0000:03:00.0", bar: 0 }, importer: "0000:04:00.0", buffers: 3 }],
  });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map((e) => e.pointer), [
    "/dmabufs/0/bytes",
    "/dmabufs/0/exporter/bar",
    "/dmabufs/0/importer",
    "/dmabufs/0/flr/everyUs",
    "/dmabufs/1/bytes",
  ]);
});

Deno.test("synth anomalies-p2p: the P2P and IOVA-link codes anomalies.json's machine cannot show, found exactly at their lines", async () => {
  const s = await shipped("anomalies-p2p");
  for (const seed of [1, 9]) {
    const { text, stats } = await textOf(s, { events: 20000, seed });
    const r = await replay(s, text);
    const key = (a: { code: string; line: number }) => `${a.line} ${a.code}`;
    assert.deepEqual(r.anomalies.map(key).sort(), stats.injected.map(key).sort(), `seed ${seed}`);
    assert.deepEqual([...new Set(stats.injected.map((x) => x.code))].sort(), [
      "IOMMU_IOVA_LINK_OVERLAP",
      "P2P_DMA_ADDR_MISMATCH",
      "P2P_HOST_BRIDGE_WHEN_BUS_PATH",
      "P2P_NOT_SUPPORTED_PATH",
      "P2P_RANGE_OUT_OF_BAR",
    ]);
    for (
      const code of ["P2P_NOT_SUPPORTED_PATH", "P2P_RANGE_OUT_OF_BAR", "P2P_DMA_ADDR_MISMATCH"]
    ) {
      assert.equal(stats.injected.filter((x) => x.code === code).length, 2, code);
    }
  }
});
