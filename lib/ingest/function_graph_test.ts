// function_graph lines (kernel-spec §1.6): every column option, markers, nesting, pairing.

import assert from "node:assert/strict";
import { parseAll } from "./_test_util.ts";

const HEADER = `# tracer: function_graph
#
# CPU  DURATION                  FUNCTION CALLS
# |     |   |                     |   |   |   |
`;

Deno.test("parseTrace() pairs nested function_graph entries and exits per CPU", async () => {
  const text = HEADER + ` 4)               |  dma_buf_map_attachment() {
 4)               |    vfio_pci_dma_buf_map() {
 4)   2.113 us    |      pci_p2pdma_map_type();
 4) + 41.870 us   |    }
 4) + 45.002 us   |  }
 4) ! 180.310 us  |  dma_buf_move_notify();
`;
  const r = await parseAll(text);
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.calls.map((c) => [c.fn, c.depth, c.durNs, c.entry, c.exit]), [
    ["pci_p2pdma_map_type", 2, 2113, 7, 7],
    ["vfio_pci_dma_buf_map", 1, 41870, 6, 8],
    ["dma_buf_map_attachment", 0, 45002, 5, 9],
    ["dma_buf_move_notify", 0, 180310, 10, 10],
  ]);
  assert.deepEqual(r.counts, {
    "fgraph-entry:dma_buf_map_attachment": 1,
    "fgraph-entry:vfio_pci_dma_buf_map": 1,
    "fgraph-leaf:pci_p2pdma_map_type": 1,
    "fgraph-leaf:dma_buf_move_notify": 1,
    "fgraph-exit": 2,
  });
});

Deno.test("parseTrace() reads every duration marker", async () => {
  const text = HEADER + [
    " 0)   0.993 us    |  a();",
    " 0) + 15.488 us   |  b();",
    " 0) ! 350.648 us  |  c();",
    " 0) # 1234.567 us |  d();",
    " 0) * 12345.67 us |  e();",
    " 0) @ 123456.7 us |  f();",
    " 0) $ 1234567 us  |  g();",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.calls.map((c) => c.durNs), [
    993,
    15488,
    350648,
    1234567,
    12345670,
    123456700,
    1234567000,
  ]);
});

Deno.test("parseTrace() reads abstime and proc columns, tails and module functions", async () => {
  const text = HEADER + [
    "  812.300112 |   4)   rdma_a-2211   |               |  nvme_irq [nvme]() {",
    "  812.300115 |   4)   rdma_a-2211   |   1.000 us    |    nvme_complete_batch_req [nvme_core]();",
    "  812.300120 |   4)   rdma_a-2211   |   8.000 us    |  } /* nvme_irq [nvme] */",
    "  812.300130 |   4)   rdma_a-2211   |   1.500 us    |  } /* orphan = 0x0 */",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.calls.map((c) => [c.fn, c.module, c.pid, c.ts, c.durNs]), [
    ["nvme_complete_batch_req", "nvme_core", 2211, 3000, 1000],
    ["nvme_irq", "nvme", 2211, 8000, 8000],
    ["orphan", null, 2211, 18000, 1500], // an exit whose entry is before the trace began
  ]);
  assert.equal(r.counters.unbalanced_return, 1);
});

Deno.test("parseTrace() reads events printed inside the graph and skips separators", async () => {
  const text = HEADER + [
    " 0)               |  __iommu_map() {",
    " 0)               |    /* map: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 paddr=0x0000000002817000 size=4096 */",
    " 0) ! 350.648 us  |  }",
    " ------------------------------------------",
    " 0)     dd-450     =>    <idle>-0   ",
    " ------------------------------------------",
    "",
    " 1)   ==========> |",
    " 1)               |  irq_enter_rcu();",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.calls.map((c) => [c.fn, c.cpu]), [["__iommu_map", 0], ["irq_enter_rcu", 1]]);
  assert.equal(r.rows.length, 1);
  assert.equal(r.rows[0]!.event, "map");
  assert.equal(r.rows[0]!.cpu, 0);
  assert.equal(r.rows[0]!.fields.iova, 0xfff80000n);
  assert.ok(Number.isNaN(r.rows[0]!.ts)); // no abstime column: no timestamp
  assert.equal(r.counts["fgraph-comment:map"], 1);
  assert.equal(r.counts["map"], undefined);
});

Deno.test("parseTrace() diagnoses a malformed function_graph line and goes on", async () => {
  const text = HEADER + " 0) + abc us      |  a();\n 0)   1.000 us    |  b();\n";
  const r = await parseAll(text);
  assert.deepEqual(r.diags.map((d) => [d.line, d.code]), [[5, "bad_function_graph"]]);
  assert.deepEqual(r.calls.map((c) => c.fn), ["b"]);
});

Deno.test("parseTrace() reads function_graph with the CPU column off", async () => {
  const text = HEADER.replace("# CPU  DURATION", "#     DURATION") + [
    "               |  dma_buf_map_attachment() {",
    "   2.113 us    |    pci_p2pdma_map_type();",
    " + 45.002 us   |  }",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.calls.map((c) => [c.fn, c.cpu, c.durNs]), [
    ["pci_p2pdma_map_type", -1, 2113],
    ["dma_buf_map_attachment", -1, 45002],
  ]);
});
