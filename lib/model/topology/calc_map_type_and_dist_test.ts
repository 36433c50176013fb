// kernel-spec §3 and its case list (§11 tests 16–24), on topology P:
//   host bridge 0000:00:00.0 = 8086:2020; root ports 00:01.0 and 00:02.0; switch USP 01:00.0
//   below 00:01.0 with DSPs 02:00.0 and 02:01.0; GPU 03:00.0 below 02:00.0; NIC 04:00.0 below
//   02:01.0; NVMe 05:00.0 below 00:02.0; CPU Intel; no ACS redirect unless stated.

import assert from "node:assert/strict";
import {
  calcMapTypeAndDist,
  P2pdmaMapTypes,
  P2pdmaProviders,
  PciTree,
  type Topology,
  validateTopology,
  withAcsRedirect,
} from "./mod.ts";

interface POptions {
  hostDevice?: string;
  cpu?: { vendor: string; family: number };
  acs?: Record<string, string[]>;
}

function topologyP(o: POptions = {}): Topology {
  const acs = (bdf: string) => (o.acs?.[bdf] !== undefined ? { acsCtrl: o.acs[bdf] } : {});
  const dev = (bdf: string, kind: string, parent: string, extra: Record<string, unknown> = {}) => ({
    bdf,
    kind,
    parent,
    ...acs(bdf),
    ...extra,
  });
  const r = validateTopology({
    cpu: o.cpu ?? { vendor: "intel", family: 6 },
    hostBridges: [{ id: "pci0000:00", vendor: "0x8086", device: o.hostDevice ?? "0x2020" }],
    devices: [
      dev("0000:00:01.0", "root_port", "pci0000:00"),
      dev("0000:00:02.0", "root_port", "pci0000:00"),
      dev("0000:01:00.0", "switch_upstream", "0000:00:01.0"),
      dev("0000:02:00.0", "switch_downstream", "0000:01:00.0"),
      dev("0000:02:01.0", "switch_downstream", "0000:01:00.0"),
      dev("0000:03:00.0", "endpoint", "0000:02:00.0", {
        name: "gpu",
        bars: [{ index: 0, cpuStart: "0x4000000000", busStart: "0x80000000", len: "0x400000000" }],
      }),
      dev("0000:04:00.0", "endpoint", "0000:02:01.0", { name: "nic" }),
      dev("0000:05:00.0", "endpoint", "0000:00:02.0", { name: "nvme" }),
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

function calc(t: Topology, provider: string, client: string) {
  const tree = new PciTree(t);
  return calcMapTypeAndDist(tree, tree.device(provider)!, tree.device(client)!);
}

const GPU = "0000:03:00.0";
const NIC = "0000:04:00.0";
const NVME = "0000:05:00.0";

Deno.test("calcMapTypeAndDist() test 16: GPU → NIC under one switch is BUS_ADDR at distance 4", () => {
  const got = calc(topologyP(), GPU, NIC);
  assert.deepEqual([got.mapType, got.distance, got.commonUpstream], [
    "BUS_ADDR",
    4,
    "0000:01:00.0",
  ]);
  assert.deepEqual(got.acsRedirect, []);
});

Deno.test("calcMapTypeAndDist() test 17: ACS RR on the GPU's DSP forces THRU_HOST_BRIDGE, distance 4", () => {
  const got = calc(topologyP({ acs: { "0000:02:00.0": ["SV", "RR"] } }), GPU, NIC);
  assert.deepEqual([got.mapType, got.distance], ["THRU_HOST_BRIDGE", 4]);
  assert.deepEqual(got.acsRedirect, ["0000:02:00.0"]);
  assert.match(got.reason, /ACS redirect \(0000:02:00.0\).*8086:2020.*allowlist/);
});

Deno.test("calcMapTypeAndDist() counts ACS redirect on the client side and at the common bridge", () => {
  // Client side: the NIC's DSP; the common upstream bridge itself is counted on the provider side.
  for (
    const [port, bits] of [["0000:02:01.0", ["CR"]], ["0000:01:00.0", ["EC"]], [NIC, ["RR"]], [
      GPU,
      ["CR"],
    ]] as const
  ) {
    const got = calc(topologyP({ acs: { [port]: [...bits] } }), GPU, NIC);
    assert.equal(got.mapType, "THRU_HOST_BRIDGE", port);
    assert.deepEqual(got.acsRedirect, [port]);
  }
  // SV, TB, UF and DT do not redirect; a port above the common bridge is not on the path.
  for (
    const [port, bits] of [["0000:02:00.0", ["SV", "TB", "UF", "DT"]], ["0000:00:01.0", [
      "RR",
      "CR",
    ]]] as const
  ) {
    assert.equal(
      calc(topologyP({ acs: { [port]: [...bits] } }), GPU, NIC).mapType,
      "BUS_ADDR",
      port,
    );
  }
});

Deno.test("calcMapTypeAndDist() test 18: GPU → NVMe on another root port is THRU_HOST_BRIDGE, distance 6", () => {
  const got = calc(topologyP(), GPU, NVME);
  assert.deepEqual([got.mapType, got.distance, got.commonUpstream], ["THRU_HOST_BRIDGE", 6, null]);
});

Deno.test("calcMapTypeAndDist() test 19: a host bridge not in the allowlist gives NOT_SUPPORTED", () => {
  const t = topologyP({ hostDevice: "0x1234" });
  const got = calc(t, GPU, NVME);
  assert.equal(got.mapType, "NOT_SUPPORTED");
  assert.equal(
    got.reason,
    "no common upstream bridge: the path goes through the root complex; host bridge pci0000:00 (8086:1234) is not in the P2PDMA allowlist",
  );
  const tree = new PciTree(t);
  const providers = new P2pdmaProviders();
  providers.pcimP2pdmaInit(tree.device(GPU)!);
  const types = new P2pdmaMapTypes(tree, providers);
  const provider = providers.pcimP2pdmaProvider(tree.device(GPU)!, 0)!;
  assert.equal(types.pciP2pdmaDistanceMany(provider, [tree.device(NVME)!]), -1); // pci_p2pdma_distance
  assert.equal(types.pciP2pdmaDistanceMany(provider, [tree.device(NIC)!]), 4);
  assert.equal(
    types.pciP2pdmaDistanceMany(provider, [tree.device(NIC)!, tree.device(NVME)!], true),
    -1,
  );
  assert.equal(types.pciP2pdmaDistanceMany(provider, []), -1);
});

Deno.test("calcMapTypeAndDist() test 20: an AMD Zen CPU allows every host-bridge path", () => {
  for (const family of [0x17, 0x19]) {
    const got = calc(
      topologyP({ hostDevice: "0x1234", cpu: { vendor: "amd", family } }),
      GPU,
      NVME,
    );
    assert.equal(got.mapType, "THRU_HOST_BRIDGE");
    assert.match(got.reason, /AMD Zen/);
  }
  assert.equal(
    calc(topologyP({ hostDevice: "0x1234", cpu: { vendor: "amd", family: 0x16 } }), GPU, NVME)
      .mapType,
    "NOT_SUPPORTED",
  );
});

function twoHostBridges(device: string, allowlisted?: boolean): Topology {
  const r = validateTopology({
    hostBridges: [
      {
        id: "pci0000:00",
        vendor: "0x8086",
        device,
        ...(allowlisted === undefined ? {} : { allowlisted }),
      },
      { id: "pci0000:80", vendor: "0x8086", device },
    ],
    devices: [
      { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
      { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0" },
      { bdf: "0000:80:01.0", kind: "root_port", parent: "pci0000:80" },
      { bdf: "0000:81:00.0", kind: "endpoint", parent: "0000:80:01.0" },
    ],
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

Deno.test("calcMapTypeAndDist() test 21: same-host-bridge allowlist entries across two host bridges", () => {
  const a = calc(twoHostBridges("0x3c00"), "0000:01:00.0", "0000:81:00.0");
  assert.equal(a.mapType, "NOT_SUPPORTED");
  assert.match(a.reason, /allows P2P only between devices below it/);
  assert.equal(a.distance, 4); // (1 + 1) + (1 + 1)
  assert.equal(
    calc(twoHostBridges("0x2020"), "0000:01:00.0", "0000:81:00.0").mapType,
    "THRU_HOST_BRIDGE",
  );
  // Below one 8086:3c00 host bridge the same entry allows it.
  assert.equal(calc(topologyP({ hostDevice: "0x3c00" }), GPU, NVME).mapType, "THRU_HOST_BRIDGE");
  // An override wins over the ids; both bridges must be allowed.
  assert.equal(
    calc(twoHostBridges("0x1234", true), "0000:01:00.0", "0000:81:00.0").mapType,
    "NOT_SUPPORTED",
  );
  assert.equal(
    calc(twoHostBridges("0x1234", true), "0000:81:00.0", "0000:01:00.0").mapType,
    "NOT_SUPPORTED",
  );
});

Deno.test("P2pdmaMapTypes test 22: a cached answer survives a later ACS change", () => {
  const t = topologyP();
  const tree = new PciTree(t);
  const providers = new P2pdmaProviders();
  providers.pcimP2pdmaInit(tree.device(GPU)!);
  const types = new P2pdmaMapTypes(tree, providers);
  const provider = providers.pcimP2pdmaProvider(tree.device(GPU)!, 0)!;
  assert.equal(types.pciP2pdmaMapType(provider, tree.device(NIC)!).mapType, "BUS_ADDR");
  // The same question on a topology with ACS RR, through the same cache: still BUS_ADDR.
  const changed = withAcsRedirect(t, "0000:02:00.0", true);
  assert.ok(changed.ok);
  const stale = types.pciP2pdmaMapType(provider, new PciTree(changed.topology).device(NIC)!);
  assert.deepEqual([stale.mapType, stale.cached], ["BUS_ADDR", true]);
  assert.deepEqual([types.hits, types.misses], [1, 1]);
  // A fresh cache (a what-if run) sees the change.
  const tree2 = new PciTree(changed.topology);
  const providers2 = new P2pdmaProviders();
  providers2.pcimP2pdmaInit(tree2.device(GPU)!);
  const fresh = new P2pdmaMapTypes(tree2, providers2).pciP2pdmaMapType(
    providers2.pcimP2pdmaProvider(tree2.device(GPU)!, 0)!,
    tree2.device(NIC)!,
  );
  assert.equal(fresh.mapType, "THRU_HOST_BRIDGE");
});

Deno.test("calcMapTypeAndDist() test 23: provider and client the same function is BUS_ADDR at 0", () => {
  const got = calc(topologyP(), GPU, GPU);
  assert.deepEqual([got.mapType, got.distance], ["BUS_ADDR", 0]);
});

Deno.test("calcMapTypeAndDist() gives distance 2 between two functions of one device", () => {
  const r = validateTopology({
    hostBridges: [{ id: "pci0000:00", vendor: "0x8086", device: "0x2020" }],
    devices: [
      { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
      { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0" },
      { bdf: "0000:01:00.1", kind: "endpoint", parent: "0000:00:01.0" },
    ],
  });
  assert.ok(r.ok);
  const tree = new PciTree(r.topology);
  const got = calcMapTypeAndDist(tree, tree.device("0000:01:00.0")!, tree.device("0000:01:00.1")!);
  assert.deepEqual([got.mapType, got.distance, got.commonUpstream], [
    "BUS_ADDR",
    2,
    "0000:00:01.0",
  ]);
});

Deno.test("P2pdmaMapTypes test 24: a platform (non-PCI) client is NOT_SUPPORTED; distance_many walks up", () => {
  const r = validateTopology({
    hostBridges: [{ id: "pci0000:00", vendor: "0x8086", device: "0x2020" }],
    devices: [
      { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
      {
        bdf: "0000:01:00.0",
        kind: "endpoint",
        parent: "0000:00:01.0",
        bars: [{ index: 0, cpuStart: "0x80000000", len: "0x1000" }],
      },
      { bdf: "0000:01:00.1", kind: "endpoint", parent: "0000:00:01.0" },
      { bdf: "mlx5_0", kind: "platform", parent: "0000:01:00.1" },
      { bdf: "soc-dma", kind: "platform" },
    ],
  });
  assert.ok(r.ok);
  const tree = new PciTree(r.topology);
  const providers = new P2pdmaProviders();
  const owner = tree.device("0000:01:00.0")!;
  providers.pcimP2pdmaInit(owner);
  const types = new P2pdmaMapTypes(tree, providers);
  const provider = providers.pcimP2pdmaProvider(owner, 0)!;
  const got = types.pciP2pdmaMapType(provider, tree.device("mlx5_0")!);
  assert.deepEqual([got.mapType, got.reason], [
    "NOT_SUPPORTED",
    "client mlx5_0 is not a PCI function",
  ]);
  assert.equal(types.pciP2pdmaDistanceMany(provider, [tree.device("mlx5_0")!]), 2); // its PCI parent
  assert.equal(types.pciP2pdmaDistanceMany(provider, [tree.device("soc-dma")!]), -1);
  // A removed provider device has no p2pdma state any more.
  providers.remove(owner);
  assert.match(
    types.pciP2pdmaMapType(provider, tree.device("0000:01:00.1")!).reason,
    /no p2pdma state/,
  );
});

Deno.test("calcMapTypeAndDist() uses the root bus's first function when the host bridge has no ids", () => {
  const mk = (first: Record<string, unknown>) => {
    const r = validateTopology({
      hostBridges: [{ id: "pci0000:00" }],
      devices: [
        first,
        {
          bdf: "0000:00:01.0",
          kind: "root_port",
          parent: "pci0000:00",
          vendor: "0x8086",
          device: "0x2030",
        },
        { bdf: "0000:00:02.0", kind: "root_port", parent: "pci0000:00" },
        { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0" },
        { bdf: "0000:02:00.0", kind: "endpoint", parent: "0000:00:02.0" },
      ],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.topology;
  };
  // 00.0 is 8086:2020 (allowed) → it decides.
  const allowed = calc(
    mk({
      bdf: "0000:00:00.0",
      kind: "rciep",
      parent: "pci0000:00",
      vendor: "0x8086",
      device: "0x2020",
    }),
    "0000:01:00.0",
    "0000:02:00.0",
  );
  assert.equal(allowed.mapType, "THRU_HOST_BRIDGE");
  // The first function is 00.0 but not in the list → NOT_SUPPORTED even though 00:01.0 is.
  const denied = calc(
    mk({
      bdf: "0000:00:00.0",
      kind: "rciep",
      parent: "pci0000:00",
      vendor: "0x8086",
      device: "0x1111",
    }),
    "0000:01:00.0",
    "0000:02:00.0",
  );
  assert.equal(denied.mapType, "NOT_SUPPORTED");
  // Without a 00.0, the first function is the root port 00:01.0 (8086:2030, allowed).
  const rp = calc(
    mk({ bdf: "0000:00:03.0", kind: "rciep", parent: "pci0000:00" }),
    "0000:01:00.0",
    "0000:02:00.0",
  );
  assert.equal(rp.mapType, "THRU_HOST_BRIDGE");
});

Deno.test("P2pdmaMapTypes forgets a device's cache when it is removed and probed again", () => {
  const t = topologyP();
  const tree = new PciTree(t);
  const providers = new P2pdmaProviders();
  const gpu = tree.device(GPU)!;
  providers.pcimP2pdmaInit(gpu);
  const types = new P2pdmaMapTypes(tree, providers);
  const p1 = providers.pcimP2pdmaProvider(gpu, 0)!;
  types.pciP2pdmaMapType(p1, tree.device(NIC)!);
  assert.equal(types.pciP2pdmaMapType(p1, tree.device(NIC)!).cached, true);
  providers.remove(gpu);
  providers.pcimP2pdmaInit(gpu);
  const p2 = providers.pcimP2pdmaProvider(gpu, 0)!;
  assert.equal(types.pciP2pdmaMapType(p2, tree.device(NIC)!).cached, false);
  assert.deepEqual([types.hits, types.misses], [1, 2]);
});
