// P2P DMA addresses against the path of each pair, on the sample topologies in traces/.

import assert from "node:assert/strict";
import { parseTrace } from "../ingest/mod.ts";
import { validateTopology } from "../model/topology/mod.ts";
import { P2pCheck } from "./mod.ts";

async function check(topology: string) {
  const t = validateTopology(
    JSON.parse(await Deno.readTextFile(new URL(`../../traces/${topology}`, import.meta.url))),
  );
  if (!t.ok) throw new Error(topology);
  return new P2pCheck(t.topology);
}
const codes = (c: P2pCheck) => c.anomalies.map((a) => a.code);

Deno.test("BUS_ADDR pair behind a switch (IOMMU on): phys + offset is right, an IOVA is the wrong path", async () => {
  const c = await check("switch-acs-off.topology.json");
  c.map("0000:04:00.0", 0x383000001000n, 0x383000001000n, 1); // bus offset 0: the bus address
  assert.deepEqual(codes(c), []);
  c.map("0000:04:00.0", 0x383000001000n, 0xfffff000n, 2); // v2-2022: dma_map_resource IOVA
  assert.deepEqual(codes(c), ["P2P_WRONG_PATH"]);
  assert.equal(c.byPath.BUS_ADDR, 2);
  c.map("0000:04:00.0", 0x1000_0000n, 0xfffff000n, 3); // RAM: not P2P, not checked
  assert.equal(c.byPath.BUS_ADDR, 2);
});

Deno.test("a translating host bridge without IOMMU: phys instead of phys + offset is a mismatch (test 35)", async () => {
  const c = await check("arm-bus-offset.topology.json");
  c.map("0000:04:00.0", 0x4000001000n, 0x80001000n, 1);
  assert.deepEqual(codes(c), []);
  c.map("0000:04:00.0", 0x4000001000n, 0x4000001000n, 2);
  assert.deepEqual(codes(c), ["P2P_DMA_ADDR_MISMATCH"]);
  assert.match(c.anomalies[0]!.message, /bus address is 0x80001000/);
});

Deno.test("NOT_SUPPORTED pair: a failed map is right, a DMA address is an anomaly", async () => {
  const c = await check("root-ports-not-allowlisted.topology.json");
  c.map("0000:02:00.0", 0x383000001000n, (1n << 64n) - 1n, 1);
  assert.deepEqual(codes(c), []);
  c.map("0000:02:00.0", 0x383000001000n, 0xfffff000n, 2);
  assert.deepEqual(codes(c), ["P2P_NOT_SUPPORTED_PATH"]);
  assert.equal(c.byPath.NOT_SUPPORTED, 2);
});

Deno.test("host-bridge pair (ACS redirect) under an IOMMU: an IOVA is right (the bus path is lost), the bus address wrong", async () => {
  const c = await check("switch-acs-redirect.topology.json");
  c.map("0000:04:00.0", 0x383000001000n, 0xfffff000n, 1);
  // Right, but both devices sit below the switch: ACS redirect costs the bus path (once per pair).
  assert.deepEqual(codes(c), ["P2P_HOST_BRIDGE_WHEN_BUS_PATH"]);
  assert.match(c.anomalies[0]!.message, /below 0000:01:00\.0.*--whatif-acs 0000:02:00\.0=off/);
  c.map("0000:04:00.0", 0x383000001000n, 0x383000001000n, 2);
  assert.deepEqual(codes(c), ["P2P_HOST_BRIDGE_WHEN_BUS_PATH", "P2P_WRONG_PATH"]);
  assert.equal(c.byPath.THRU_HOST_BRIDGE, 2);
});

Deno.test("feed(): dma_map_resource lines are checked with their line numbers", async () => {
  const c = await check("switch-acs-off.topology.json");
  const text = [
    "  ib-1 [000] .....  1.000001: dma_map_resource: 0000:04:00.0 dir=BIDIRECTIONAL dma_addr=fffe0000 size=77824 phys_addr=383000000000 attrs=SKIP_CPU_SYNC",
    "  ib-1 [000] .....  1.000002: dma_map_resource: 0000:04:00.0 dir=BIDIRECTIONAL dma_addr=383000000000 size=77824 phys_addr=383000000000 attrs=SKIP_CPU_SYNC",
  ].join("\n") + "\n";
  for await (const b of parseTrace(new Blob([text]).stream())) c.feed(b);
  assert.deepEqual(c.anomalies.map((a) => [a.code, a.line, a.device]), [
    ["P2P_WRONG_PATH", 1, "0000:04:00.0"],
  ]);
});
