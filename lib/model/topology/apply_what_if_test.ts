import assert from "node:assert/strict";
import {
  applyWhatIf,
  calcMapTypeAndDist,
  PciTree,
  type Topology,
  validateTopology,
  withDmaMask,
  withIommuDomain,
  withPgsizeBitmap,
} from "./mod.ts";

async function load(name: string): Promise<Topology> {
  const r = validateTopology(
    JSON.parse(await Deno.readTextFile(new URL(`../../../traces/${name}`, import.meta.url))),
  );
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.topology;
}

const path = (t: Topology) => {
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
  assert.equal(path(t), "BUS_ADDR");
  assert.equal(path(r.topology), "THRU_HOST_BRIDGE");
  assert.deepEqual([r.name, r.applied], ["redirect", ["0000:02:01.0 ACS redirect on"]]);
});

Deno.test("applyWhatIf: a device moved onto the root port leaves the switch (host-bridge path)", async () => {
  const t = await load("switch-acs-off.topology.json");
  const r = applyWhatIf(t, {
    changes: [{ moveDevice: { device: "0000:04:00.0", parent: "0000:00:01.0" } }],
  });
  assert.ok(r.ok);
  assert.notEqual(path(r.topology), "BUS_ADDR");
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
