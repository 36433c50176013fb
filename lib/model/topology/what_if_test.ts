import assert from "node:assert/strict";
import {
  applyWhatIf,
  calcMapTypeAndDist,
  PciTree,
  type Topology,
  validateTopology,
  withAcsRedirect,
  withDeviceMoved,
  withDmaMask,
  withHostBridgeAllowlisted,
  withIommuDomain,
  withKernelAcs,
  withPgsizeBitmap,
} from "./mod.ts";

async function load(name: string): Promise<Topology> {
  const r = validateTopology(
    JSON.parse(await Deno.readTextFile(new URL(`../../../traces/${name}`, import.meta.url))),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

function path(t: Topology, a: string, b: string): string {
  const tree = new PciTree(t);
  return calcMapTypeAndDist(tree, tree.device(a)!, tree.device(b)!).mapType;
}

Deno.test("withAcsRedirect() turns a BUS_ADDR pair into THRU_HOST_BRIDGE and back", async () => {
  const t = await load("switch-acs-off.topology.json");
  assert.equal(path(t, "0000:03:00.0", "0000:04:00.0"), "BUS_ADDR");
  const on = withAcsRedirect(t, "0000:02:01.0", true);
  assert.ok(on.ok);
  assert.deepEqual(on.topology.devices.find((d) => d.bdf === "0000:02:01.0")!.acsCtrl, [
    "RR",
    "CR",
  ]);
  assert.equal(path(on.topology, "0000:03:00.0", "0000:04:00.0"), "THRU_HOST_BRIDGE");
  const off = withAcsRedirect(on.topology, "0000:02:01.0", false);
  assert.ok(off.ok);
  assert.deepEqual(off.topology.devices.find((d) => d.bdf === "0000:02:01.0")!.acsCtrl, []);
  assert.equal(path(off.topology, "0000:03:00.0", "0000:04:00.0"), "BUS_ADDR");
  assert.equal(withAcsRedirect(t, "0000:99:00.0", true).ok, false);
});

Deno.test("withKernelAcs() sets SV/RR/CR/UF where there is an ACS capability, as with an IOMMU on", async () => {
  const t = await load("switch-acs-off.topology.json");
  const r = withKernelAcs(t);
  assert.ok(r.ok);
  assert.deepEqual(r.topology.devices.find((d) => d.bdf === "0000:02:00.0")!.acsCtrl, [
    "SV",
    "RR",
    "CR",
    "UF",
  ]);
  assert.equal(r.topology.devices.find((d) => d.bdf === "0000:01:00.0")!.acsCtrl, null); // no capability: untouched
  assert.equal(path(r.topology, "0000:03:00.0", "0000:04:00.0"), "THRU_HOST_BRIDGE");
});

Deno.test("withDeviceMoved() moves a NIC behind the GPU's switch port, or off the switch", async () => {
  const t = await load("root-ports-allowlisted.topology.json");
  assert.equal(path(t, "0000:01:00.0", "0000:02:00.0"), "THRU_HOST_BRIDGE");
  // Onto the GPU's root port: the two share the port (no ACS on endpoints) → BUS_ADDR.
  const moved = withDeviceMoved(t, "0000:02:00.0", "0000:00:01.0");
  assert.ok(moved.ok);
  assert.equal(path(moved.topology, "0000:01:00.0", "0000:02:00.0"), "THRU_HOST_BRIDGE"); // RP 00:01.0 has RR
  const noAcs = withAcsRedirect(moved.topology, "0000:00:01.0", false);
  assert.ok(noAcs.ok);
  assert.equal(path(noAcs.topology, "0000:01:00.0", "0000:02:00.0"), "BUS_ADDR");
  // Onto the root bus: it becomes an RCiEP.
  const root = withDeviceMoved(t, "0000:02:00.0", "pci0000:00");
  assert.ok(root.ok);
  assert.equal(root.topology.devices.find((d) => d.bdf === "0000:02:00.0")!.kind, "rciep");
  // Below an endpoint: refused, with the rule that breaks.
  const bad = withDeviceMoved(t, "0000:02:00.0", "0000:01:00.0");
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.match(bad.errors[0]!.message, /"0000:01:00.0" is a endpoint/);
});

Deno.test("withHostBridgeAllowlisted() overrides the allowlist both ways", async () => {
  const denied = await load("root-ports-not-allowlisted.topology.json");
  assert.equal(path(denied, "0000:01:00.0", "0000:02:00.0"), "NOT_SUPPORTED");
  const allowed = withHostBridgeAllowlisted(denied, "pci0000:00", true);
  assert.ok(allowed.ok);
  assert.equal(path(allowed.topology, "0000:01:00.0", "0000:02:00.0"), "THRU_HOST_BRIDGE");
  const back = withHostBridgeAllowlisted(allowed.topology, "pci0000:00", null);
  assert.ok(back.ok);
  assert.equal(path(back.topology, "0000:01:00.0", "0000:02:00.0"), "NOT_SUPPORTED");
  assert.equal(withHostBridgeAllowlisted(denied, "pci0001:00", true).ok, false);
});

const gpuNicPath = (t: Topology) => {
  const tree = new PciTree(t);
  return calcMapTypeAndDist(tree, tree.device("0000:03:00.0")!, tree.device("0000:04:00.0")!)
    .mapType;
};

Deno.test("applyWhatIf: ACS redirect on the NIC's port sends the pair through the host bridge", async () => {
  const t = await load("switch-acs-off.topology.json");
  const r = applyWhatIf(t, {
    name: "redirect",
    changes: [{ acsRedirect: { port: "0000:02:01.0", on: true } }],
  });
  assert.ok(r.ok);
  assert.equal(gpuNicPath(t), "BUS_ADDR");
  assert.equal(gpuNicPath(r.topology), "THRU_HOST_BRIDGE");
  assert.deepEqual([r.name, r.applied], ["redirect", ["0000:02:01.0 ACS redirect on"]]);
});

Deno.test("applyWhatIf: a device moved onto the root port leaves the switch (host-bridge path)", async () => {
  const t = await load("switch-acs-off.topology.json");
  const r = applyWhatIf(t, {
    changes: [{ moveDevice: { device: "0000:04:00.0", parent: "0000:00:01.0" } }],
  });
  assert.ok(r.ok);
  assert.notEqual(gpuNicPath(r.topology), "BUS_ADDR");
});

Deno.test("withIommuDomain / withDmaMask / withPgsizeBitmap change just that, re-validated", async () => {
  const t = await load("switch-acs-off.topology.json");
  const lazy = withIommuDomain(t, "dma-fq", null);
  assert.ok(lazy.ok);
  assert.equal(lazy.topology.iommu.defaultDomain, "dma-fq");
  const one = withIommuDomain(t, "identity", "0000:04:00.0");
  assert.ok(one.ok);
  assert.deepEqual(one.topology.devices.map((d) => d.iommuDomain).filter((x) => x), ["identity"]);
  const m = withDmaMask(t, "0000:04:00.0", 32);
  assert.ok(m.ok);
  assert.equal(m.topology.devices.find((d) => d.bdf === "0000:04:00.0")!.dma.maskBits, 32);
  // The device's stated max segment size survives the round trip.
  assert.equal(
    m.topology.devices.find((d) => d.bdf === "0000:04:00.0")!.dma.maxSegmentSize,
    2 ** 31,
  );
  const p = withPgsizeBitmap(t, 0x1000n);
  assert.ok(p.ok);
  assert.equal(p.topology.iommu.pgsizeBitmap, 0x1000n);
  assert.ok(!withDmaMask(t, "0000:09:00.0", 32).ok);
});

Deno.test("applyWhatIf: every malformed change is refused with its pointer", async () => {
  const t = await load("switch-acs-off.topology.json");
  const bad = (changes: unknown[]) => {
    const r = applyWhatIf(t, { changes });
    assert.ok(!r.ok);
    return r.errors[0]!.pointer;
  };
  assert.equal(bad([{ iommu: { domain: "fast" } }]), "/changes/0/iommu/domain");
  assert.equal(
    bad([{ kernelAcs: true }, { acsRedirect: { port: "0000:02:01.0" } }]),
    "/changes/1/acsRedirect",
  );
  assert.equal(bad([{ dmaMask: { device: "0000:04:00.0", bits: 65 } }]), "/changes/0/dmaMask");
  assert.equal(bad([{ pgsizeBitmap: ["3K"] }]), "/changes/0/pgsizeBitmap");
  assert.equal(bad([{ teleport: {} }]), "/changes/0");
  assert.equal(
    bad([{ moveDevice: { device: "0000:09:00.0", parent: "0000:00:01.0" } }]),
    "/changes/0",
  );
  const r = applyWhatIf(t, { name: "x" });
  assert.ok(!r.ok);
  assert.equal(r.errors[0]!.pointer, "/changes");
  assert.ok(!applyWhatIf(t, []).ok);
});
