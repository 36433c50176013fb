import assert from "node:assert/strict";
import { parseTrace } from "../ingest/mod.ts";
import { IommuFaults } from "./mod.ts";

const l = (ts: string, w: string) => `          <idle>-0       [000] dNh2.   ${ts}: ${w}`;

async function run(lines: string[]) {
  const f = new IommuFaults();
  for await (const b of parseTrace(new Blob([lines.join("\n") + "\n"]).stream())) f.feed(b);
  return f;
}

const MAP =
  "map: IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 paddr=0x0000038000000000 size=77824";
const UNMAP =
  "unmap: IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 size=77824 unmapped_size=77824";
const FAULT = "io_page_fault: IOMMU:vfio-pci 0000:03:00.0 iova=0x00000000fffe1000 flags=0x0020";

Deno.test("an io_page_fault after the unmap of its IOVA, from iommu:* events alone", async () => {
  const f = await run([l("1.000001", MAP), l("1.000002", UNMAP), l("1.000003", FAULT)]);
  assert.deepEqual(f.anomalies.map((a) => [a.code, a.line, a.related, a.device, a.iova]), [
    ["IOMMU_FAULT_AFTER_UNMAP", 3, [2, 1], "0000:03:00.0", 0xfffe1000n],
  ]);
});

Deno.test("twins: a fault in a live mapping, at an IOVA never mapped, or after a re-map", async () => {
  const live = await run([l("1.000001", MAP), l("1.000002", FAULT)]);
  const never = await run([l("1.000001", FAULT)]);
  const remapped = await run([
    l("1.000001", MAP),
    l("1.000002", UNMAP),
    l("1.000003", MAP),
    l("1.000004", FAULT),
  ]);
  for (const f of [live, never, remapped]) assert.equal(f.anomalies.length, 0);
  assert.deepEqual([live.stats.faults, never.stats.faults, remapped.stats.faults], [1, 1, 1]);
});

Deno.test("a partial unmap leaves the rest mapped (vfio type1 unmaps page by page)", () => {
  const f = new IommuFaults();
  f.map(0n, 0x2000n, 1);
  f.unmap(0n, 0x1000n, 2);
  f.fault("0000:00:02.0", 0x1800n, 3); // still mapped
  f.fault("0000:00:02.0", 0x800n, 4); // unmapped
  assert.deepEqual(f.anomalies.map((a) => [a.line, a.related]), [[4, [2, 1]]]);
  f.unmap(0x1000n, 0x1000n, 5);
  f.fault("0000:00:02.0", 0x1800n, 6);
  assert.deepEqual(f.anomalies.map((a) => a.line), [4, 6]);
});

Deno.test("an unmap in the middle of a mapping splits it", () => {
  const f = new IommuFaults();
  f.map(0x10000n, 0x3000n, 1);
  f.unmap(0x11000n, 0x1000n, 2);
  f.fault("d", 0x10800n, 3);
  f.fault("d", 0x12800n, 4);
  f.fault("d", 0x11800n, 5);
  assert.deepEqual(f.anomalies.map((a) => a.line), [5]);
});
