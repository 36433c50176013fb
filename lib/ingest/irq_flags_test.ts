import assert from "node:assert/strict";
import { decodeIrqFlags } from "./irq_flags.ts";
import { parseAll } from "./_test_util.ts";

Deno.test("decodeIrqFlags() decodes every column of the 5.14+ field", () => {
  assert.deepEqual(decodeIrqFlags("dNh2."), {
    irqsOff: true,
    bhOff: false,
    irqsUnsupported: false,
    needResched: true,
    context: "hardirq",
    preemptDepth: 2,
    migrateDisable: 0,
  });
  assert.equal(decodeIrqFlags("D.Z.f")!.bhOff, true);
  assert.equal(decodeIrqFlags("D.Z.f")!.context, "nmi_in_hardirq");
  assert.equal(decodeIrqFlags("D.Z.f")!.migrateDisable, 15);
  assert.equal(decodeIrqFlags("X.H.")!.irqsUnsupported, true);
  assert.equal(decodeIrqFlags("X.H.")!.context, "hardirq_in_softirq");
  assert.equal(decodeIrqFlags("b.z1")!.context, "nmi");
  assert.equal(decodeIrqFlags(".L.1.l")!.needResched, true); // PREEMPT_LAZY letters
  assert.equal(decodeIrqFlags("..."), null);
});

Deno.test("kernel-spec §11 test 38: a softirq unmap line, parsed and decoded", async () => {
  const r = await parseAll(
    "     kworker/4:1-98      [004] ..s1.   812.310004: unmap: IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 size=77824 unmapped_size=77824\n",
  );
  const row = r.rows[0]!;
  assert.deepEqual([row.comm, row.pid, row.cpu, row.event], ["kworker/4:1", 98, 4, "unmap"]);
  assert.equal(r.base, 812_310_004_000n);
  assert.equal(decodeIrqFlags(row.flags!)!.context, "softirq");
  assert.equal(decodeIrqFlags(row.flags!)!.preemptDepth, 1);
  assert.equal(row.fields.iova, 0xfffe0000n);
  assert.equal(row.fields.size, 77824);
});
