// The IOVAs of the shared captures predicted from dma:* and iommu:* events alone (no kprobes,
// as most users capture), streaming (kernel-spec §4.4, §5.3; issue [3/8] targets: >= 99 % in
// strict mode; in lazy mode what the flush-queue model gets). Under emulation the flush timer
// runs late (the capture's first flush comes 20 ms after the first unmap, not 10-12 ms), so the
// replay runs the flush when the trace shows it ran.

import assert from "node:assert/strict";
import { parseTrace } from "../ingest/mod.ts";
import { validateTopology } from "../model/topology/mod.ts";
import { IovaReplay } from "./mod.ts";

const DIR = new URL("../../../shared/captures/", import.meta.url);

const CASES: [string, number][] = [
  ["a_strict-6.12", 0.99],
  ["b_lazy_cmon-6.12", 0.99],
  ["b_lazy-6.12", 0.97],
];
for (const [name, atLeast] of CASES) {
  const file = new URL(`${name}.trace.gz`, DIR);
  const present = await Deno.stat(file).then(() => true, () => false);
  Deno.test({
    name: `IOVAs of capture ${name} predicted from dma:* and iommu:* events alone (>= ${
      atLeast * 100
    } %)`,
    ignore: !present,
    fn: async () => {
      const json = await Deno.readTextFile(
        new URL(`../../traces/captures/${name}.topology.json`, import.meta.url),
      );
      const t = validateTopology(JSON.parse(json));
      assert.ok(t.ok);
      const r = new IovaReplay(t.topology);
      for await (const b of parseTrace((await Deno.open(file)).readable)) r.feed(b);
      r.end();
      const s = r.summary();
      // deno-lint-ignore no-console -- SHOW_PREDICTION=1 prints the figures bench/RESULTS.md records
      if (Deno.env.get("SHOW_PREDICTION")) console.error(name, JSON.stringify(s));
      assert.ok(s.prediction.checked > 5000, JSON.stringify(s));
      assert.ok(s.prediction.matched / s.prediction.checked >= atLeast, JSON.stringify(s));
      assert.equal(s.leakedPages, 0);
      assert.equal(s.devices, 2);
    },
  });
}

Deno.test("IovaReplay: an unmap in an interrupt between the maps and the dma:* event comes after the allocation", async () => {
  const l = (cpu: number, ts: string, w: string) => `  dd-1 [00${cpu}] .....  ${ts}: ${w}`;
  const text = [
    l(
      0,
      "1.000001",
      "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096",
    ),
    l(
      0,
      "1.000002",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    ),
    l(
      0,
      "1.000003",
      "map: IOMMU: iova=0x00000000ffffe000 - 0x00000000fffff000 paddr=0x0000000002d16000 size=4096",
    ),
    l(
      0,
      "1.000004",
      "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    ),
    l(
      0,
      "1.000005",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffffe000 size=4096 phys_addr=2d16000 attrs=",
    ),
    l(
      0,
      "1.000006",
      "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d17000 size=4096",
    ),
    l(
      0,
      "1.000007",
      "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d17000 attrs=",
    ),
  ].join("\n") + "\n";
  const r = new IovaReplay();
  for await (const b of parseTrace(new Blob([text]).stream())) r.feed(b);
  r.end();
  const s = r.summary();
  assert.deepEqual(s.prediction, {
    checked: 3,
    matched: 3,
    firstMismatchLine: -1,
    explained: { lazyFlushTiming: 0, interruptOrder: 0, warmUp: 0 },
    unexplained: 0,
  });
  assert.deepEqual([s.peakPages, s.leakedPages], [2, 2]);
  assert.deepEqual(
    r.leaks().map((x) => [x.iova, x.pages, x.line]).sort((a, b) => a[2]! > b[2]! ? 1 : -1),
    [
      [0xffffen << 12n, 1, 3],
      [0xfffffn << 12n, 1, 6],
    ],
  );
});
