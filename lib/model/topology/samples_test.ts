// One test per sample topology of traces/ (each file's "_comment" says what it shows): map
// type, distance, bus address for a physical address, and the reason when NOT_SUPPORTED.

import assert from "node:assert/strict";
import {
  calcMapTypeAndDist,
  P2pdmaMapTypes,
  P2pdmaProviders,
  pciP2pdmaBusAddrMap,
  PciTree,
  type Topology,
  validateTopology,
} from "./mod.ts";

async function load(name: string): Promise<Topology> {
  const json = JSON.parse(
    await Deno.readTextFile(new URL(`../../../traces/${name}`, import.meta.url)),
  );
  const r = validateTopology(json);
  if (!r.ok) throw new Error(`${name}: ${JSON.stringify(r.errors)}`);
  return r.topology;
}

function ask(t: Topology, provider: string, bar: number, client: string) {
  const tree = new PciTree(t);
  const providers = new P2pdmaProviders();
  for (const d of t.devices) providers.pcimP2pdmaInit(d);
  const p = providers.pcimP2pdmaProvider(tree.device(provider)!, bar)!;
  const types = new P2pdmaMapTypes(tree, providers);
  const got = types.pciP2pdmaMapType(p, tree.device(client)!);
  const calc = calcMapTypeAndDist(tree, tree.device(provider)!, tree.device(client)!);
  return {
    ...got,
    distance: types.pciP2pdmaDistanceMany(p, [tree.device(client)!]),
    hops: calc.distance,
    provider: p,
  };
}

Deno.test("traces/switch-acs-off: GPU → NIC is BUS_ADDR at 4 hops, dma = phys", async () => {
  const a = ask(await load("switch-acs-off.topology.json"), "0000:03:00.0", 0, "0000:04:00.0");
  assert.deepEqual([a.mapType, a.distance], ["BUS_ADDR", 4]);
  assert.equal(pciP2pdmaBusAddrMap(a.provider, 0x383000001000n), 0x383000001000n);
});

Deno.test("traces/switch-acs-redirect: the same pair goes THRU_HOST_BRIDGE", async () => {
  const a = ask(await load("switch-acs-redirect.topology.json"), "0000:03:00.0", 0, "0000:04:00.0");
  assert.deepEqual([a.mapType, a.distance], ["THRU_HOST_BRIDGE", 4]);
  assert.match(a.reason, /ACS redirect \(0000:02:00.0, 0000:02:01.0\)/);
});

Deno.test("traces/root-ports-allowlisted: GPU → NVMe CMB across root ports is THRU_HOST_BRIDGE", async () => {
  const t = await load("root-ports-allowlisted.topology.json");
  const a = ask(t, "0000:02:00.0", 2, "0000:01:00.0");
  assert.deepEqual([a.mapType, a.distance], ["THRU_HOST_BRIDGE", 4]);
  assert.match(a.reason, /8086:2020.*is in the P2PDMA allowlist/);
});

Deno.test("traces/root-ports-not-allowlisted: the same pair is NOT_SUPPORTED, with the reason", async () => {
  const a = ask(
    await load("root-ports-not-allowlisted.topology.json"),
    "0000:02:00.0",
    2,
    "0000:01:00.0",
  );
  assert.deepEqual([a.mapType, a.distance, a.hops], ["NOT_SUPPORTED", -1, 4]);
  assert.equal(
    a.reason,
    "no common upstream bridge: the path goes through the root complex; host bridge pci0000:00 (8086:9b43) is not in the P2PDMA allowlist",
  );
});

Deno.test("traces/arm-bus-offset: BUS_ADDR with the bus offset applied (kernel-spec §11 setup of 25–26)", async () => {
  const a = ask(await load("arm-bus-offset.topology.json"), "0000:03:00.0", 0, "0000:04:00.0");
  assert.deepEqual([a.mapType, a.distance], ["BUS_ADDR", 4]);
  assert.equal(a.provider.busOffset, 0xffff_ffc0_8000_0000n);
  assert.equal(pciP2pdmaBusAddrMap(a.provider, 0x40_0000_0000n), 0x8000_0000n);
  assert.equal(pciP2pdmaBusAddrMap(a.provider, 0x40_0020_0000n), 0x8020_0000n);
});

Deno.test("traces/captures: the QEMU guests' NVMe CMB to the e1000e is THRU_HOST_BRIDGE-or-not by the 8086:29c0 host bridge", async () => {
  for (
    const name of ["a_strict", "b_lazy", "b_lazy_cmon", "c_pt", "d_fgraph", "e_dmabuf", "f_vfio"]
  ) {
    const t = await load(`captures/${name}-6.12.topology.json`);
    const nvme = t.devices.find((d) => d.name === "nvme")!;
    const cmb = nvme.bars.find((b) => b.prefetch)!;
    const a = ask(t, nvme.bdf, cmb.index, "0000:00:03.0");
    // Both on the root bus (RCiEPs): no common bridge; q35's 8086:29c0 is not allowlisted.
    assert.deepEqual([a.mapType, a.hops], ["NOT_SUPPORTED", 2], name);
    assert.match(a.reason, /8086:29c0\) is not in the P2PDMA allowlist/);
  }
});
