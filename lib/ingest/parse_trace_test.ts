// Input forms of kernel-spec §1: the trace file (irq-info on/off, TGID), trace_pipe,
// trace-cmd report (plain, -R, -t, instances), lost-event markers, task names, gzip.

import assert from "node:assert/strict";
import * as msg from "./_messages.ts";
import { gzip, kline, parseAll } from "./_test_util.ts";
import { parseTrace } from "./parse_trace.ts";

const HEADER_IRQ = `# tracer: nop
#
# entries-in-buffer/entries-written: 2/2   #P:8
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
`;

const MAP =
  "IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 paddr=0x0000038000000000 size=77824";
const UNMAP = "IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 size=77824 unmapped_size=77824";

Deno.test("parseTrace() reads the trace file with its irq-info header", async () => {
  const text = HEADER_IRQ + kline("rdma_a", 2211, 4, "d..1.", 812, 300131, "map", MAP) + "\n" +
    kline("kworker/4:1", 98, 4, "..s1.", 812, 310004, "unmap", UNMAP) + "\n";
  const r = await parseAll(text);
  assert.deepEqual(r.header, {
    tracer: "nop",
    cpus: 8,
    entriesInBuffer: 2,
    entriesWritten: 2,
    irqInfo: true,
    tgid: false,
    format: "trace",
  });
  assert.equal(r.rows.length, 2);
  assert.deepEqual(r.rows.map((x) => [x.line, x.comm, x.pid, x.cpu, x.flags, x.ts]), [
    [13, "rdma_a", 2211, 4, "d..1.", 0],
    [14, "kworker/4:1", 98, 4, "..s1.", 9873000], // 812.310004 - 812.300131 s, in ns
  ]);
  assert.equal(r.base, 812_300_131_000n);
  assert.deepEqual(r.rows[0]!.fields, {
    iova: 0xfffe0000n,
    iova_end: 0xffff3000n,
    paddr: 0x38000000000n,
    size: 77824,
  });
  assert.deepEqual(r.diags, []);
});

Deno.test("parseTrace() reads lines without the irq-info column", async () => {
  const text = `# tracer: nop
#
#           TASK-PID     CPU#     TIMESTAMP  FUNCTION
#              | |         |         |         |
          rdma_a-2211    [004]    812.300112: unmap: ${UNMAP}
`;
  const r = await parseAll(text);
  assert.equal(r.header.irqInfo, false);
  assert.equal(r.rows[0]!.flags, null);
  assert.equal(r.rows[0]!.fields.unmapped_size, 77824);
  assert.deepEqual(r.diags, []);
});

Deno.test("parseTrace() reads the TGID column, known and unknown", async () => {
  const text = `#           TASK-PID    TGID     CPU#  |||||  TIMESTAMP  FUNCTION
          rdma_a-2211    (   2200) [004] .....   812.300112: unmap: ${UNMAP}
          rdma_b-2212    (-------) [004] .....   812.300113: unmap: ${UNMAP}
`;
  const r = await parseAll(text);
  assert.equal(r.header.tgid, true);
  assert.deepEqual(r.rows.map((x) => [x.comm, x.pid, x.tgid]), [["rdma_a", 2211, 2200], [
    "rdma_b",
    2212,
    -1,
  ]]);
});

Deno.test("parseTrace() accepts irq-flags fields of 4 to 8 characters", async () => {
  const flags = ["d..1", "d..1.", "dNh2.l", "dNh2.lb", "DNZf.lbX"];
  const text = flags.map((f, i) => kline("t", 1, 0, f, 1, i, "unmap", UNMAP)).join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((x) => x.flags), flags);
  assert.deepEqual(r.diags, []);
});

Deno.test("parseTrace() keeps task names with spaces, dashes, parentheses and <...>", async () => {
  const names = ["<...>", "<idle>", "kworker/u8:2-ev", "my task (x)", "a-b-c", "[x] y"];
  const text = names.map((n, i) => kline(n, 100 + i, 1, ".....", 5, i, "unmap", UNMAP)).join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((x) => [x.comm, x.pid]), names.map((n, i) => [n, 100 + i]));
});

Deno.test("parseTrace() reads trace_pipe text: no header, CPUs out of order", async () => {
  const text = kline("dd", 494, 1, ".....", 8, 589018, "map", MAP) + "\n" +
    kline("<idle>", 0, 0, "d.h1.", 8, 589001, "unmap", UNMAP) + "\n";
  const r = await parseAll(text);
  assert.equal(r.header.format, "trace_pipe");
  assert.equal(r.header.tracer, null);
  assert.deepEqual(r.rows.map((x) => x.ts), [0, -17000]);
});

Deno.test("parseTrace() reads trace-cmd report: cpus= line, %-5d pids, padded event names", async () => {
  const text = `cpus=8
          rdma_a-2211  [004]   812.300112: dma_map_phys:         0000:41:00.0 dir=BIDIRECTIONAL dma_addr=fffe0000 size=77824 phys_addr=38000000000 attrs=MMIO
          rdma_a-2211  [004]   812.300131: map:                  ${MAP}
`;
  const r = await parseAll(text);
  assert.equal(r.header.format, "trace-cmd");
  assert.equal(r.header.cpus, 8);
  assert.deepEqual(r.rows.map((x) => x.event), ["dma_map_phys", "map"]);
  assert.equal(r.rows[0]!.fields.device, "0000:41:00.0");
  assert.equal(r.rows[0]!.fields.dma_addr, 0xfffe0000n);
  assert.equal(r.rows[0]!.fields.attrs, 1 << 10);
  assert.deepEqual(r.diags, []);
});

Deno.test("parseTrace() reads trace-cmd -t nanosecond timestamps and -l latency flags", async () => {
  const text = `cpus=2
          rdma_a-2211  [004] d..1.  812.300112345: unmap: ${UNMAP}
          rdma_a-2211  [004] d..1.  812.300112999: unmap: ${UNMAP}
`;
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((x) => x.ts), [0, 654]);
  assert.equal(r.base, 812_300_112_345n);
});

Deno.test("parseTrace() reads trace-cmd -R raw fields by the format's field names", async () => {
  const text = `cpus=2
          rdma_a-2211  [004]   812.300112: dma_map_phys:         device=0000:41:00.0 phys_addr=3848290697216 dma_addr=4294836224 size=0x13000 dir=0 attrs=0x400
          rdma_a-2211  [004]   812.300113: dma_unmap_phys:       device=0000:41:00.0 addr=4294836224 size=77824 dir=2 attrs=0
          rdma_a-2211  [004]   812.300114: map:                  iova=4294836224 paddr=3848290697216 size=77824
`;
  const r = await parseAll(text);
  assert.deepEqual(r.rows[0]!.fields, {
    device: "0000:41:00.0",
    dir: 0,
    dma_addr: 4294836224n,
    size: 0x13000,
    phys_addr: 3848290697216n,
    attrs: 0x400,
    attrs_text: "0x400",
  });
  assert.equal(r.rows[1]!.fields.dma_addr, 4294836224n);
  assert.equal(r.rows[1]!.fields.dir, 2);
  assert.deepEqual(r.rows[2]!.fields, { iova: 4294836224n, paddr: 3848290697216n, size: 77824 });
  assert.deepEqual(r.diags, []);
});

Deno.test("parseTrace() reads trace-cmd instance names before the task", async () => {
  const text = `cpus=2
    pipe:           dd-494   [001]     8.588683: unmap: ${UNMAP}
                    dd-494   [001]     8.588684: unmap: ${UNMAP}
`;
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((x) => [x.instance, x.comm]), [["pipe", "dd"], [null, "dd"]]);
});

Deno.test("parseTrace() reads counter-clock timestamps as ticks", async () => {
  const text = `            dd-1     [000] ..... 1234567890123: unmap: ${UNMAP}
            dd-1     [000] ..... 1234567890200: unmap: ${UNMAP}
`;
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((x) => x.ts), [0, 77]);
});

Deno.test("parseTrace() records lost-event markers with and without a count", async () => {
  const text = kline("dd", 1, 3, ".....", 1, 0, "unmap", UNMAP) + "\nCPU:3 [LOST 1742 EVENTS]\n" +
    kline("dd", 1, 3, ".....", 1, 5, "unmap", UNMAP) +
    "\nCPU:1 [LOST EVENTS]\n##### CPU 2 buffer started ####\n";
  const r = await parseAll(text);
  assert.deepEqual(r.gaps, [
    { lineNo1: 2, cpu: 3, lostEvents: 1742, kind: "lost" },
    { lineNo1: 4, cpu: 1, lostEvents: -1, kind: "lost" },
    { lineNo1: 5, cpu: 2, lostEvents: -1, kind: "buffer_started" },
  ]);
  assert.equal(r.counters.lost_events, 1742);
  assert.equal(r.counters.lost_event_markers, 2);
  assert.equal(r.byCode.lost_events, 2);
  assert.equal(r.byCode.buffer_started, 1);
  assert.deepEqual(r.diags.map((d) => [d.line, d.code, d.message]), [
    [2, "lost_events", msg.lostEvents(3, 1742)],
    [4, "lost_events", msg.lostEvents(1, -1)],
    [5, "buffer_started", msg.bufferStarted(2)],
  ]);
  assert.equal(r.rows.length, 2);
});

Deno.test("parseTrace() detects gzip by its magic bytes", async () => {
  const text = HEADER_IRQ + kline("dd", 1, 0, ".....", 1, 0, "unmap", UNMAP) + "\n";
  const z = await gzip(text);
  assert.equal((await parseAll(z, { stride: 7, byob: true })).rows.length, 1);
  const r = await parseAll(z, { stride: 7 });
  assert.equal(r.input.rawBytes, z.length);
  assert.equal(r.input.gzip, true);
  assert.equal(r.rows.length, 1);
  assert.equal(r.input.bytes, new TextEncoder().encode(text).length);
});

Deno.test("parseTrace() keeps the events before a gzip truncation and says so", async () => {
  const lines: string[] = [];
  for (let i = 0; i < 5000; ++i) lines.push(kline("dd", 1, 0, ".....", 1, i, "unmap", UNMAP));
  const z = await gzip(lines.join("\n") + "\n");
  const cut = z.slice(0, Math.floor(z.length * 0.6));
  const r = await parseAll(cut);
  assert.equal(r.byCode.gzip_truncated, 1);
  assert.ok(r.rows.length > 100 && r.rows.length < 5000, `kept ${r.rows.length}`);
  // The kept events are the trace's first ones, in order.
  r.rows.forEach((row, i) => assert.equal(row.line, i + 1));
});

Deno.test("parseTrace() diagnoses bad lines with their line numbers and goes on", async () => {
  const text = [
    kline("dd", 1, 0, ".....", 1, 0, "unmap", UNMAP),
    "this is not a trace line",
    "          dd-1     [000] ..... 12.x45: unmap: " + UNMAP,
    kline("dd", 1, 0, ".....", 1, 2, "unmap", UNMAP),
  ].join("\n");
  const r = await parseAll(text);
  assert.equal(r.rows.length, 2);
  assert.deepEqual(r.diags.map((d) => [d.line, d.code]), [[2, "bad_line"], [3, "bad_timestamp"]]);
  assert.equal(r.diags[0]!.message, msg.badLine("this is not a trace line"));
});

Deno.test("parseTrace() cuts lines over the limit and bounds memory", async () => {
  const long = kline("dd", 1, 0, ".....", 1, 0, "unmap", UNMAP) + " x=" + "a".repeat(200);
  const text = [
    kline("dd", 1, 0, ".....", 1, 0, "unmap", UNMAP),
    long,
    "z".repeat(5000),
    kline("dd", 1, 0, ".....", 1, 1, "unmap", UNMAP),
  ].join("\n");
  // A 1 KiB buffer makes the 5000-byte line overlong for the reader itself.
  for (const byob of [false, true]) {
    for (const stride of [1, 100, 1 << 20]) {
      const r = await parseAll(text, { maxLineChars: 150, bufferBytes: 1024, byob, stride });
      const codes = r.diags.map((d) => [d.line, d.code]);
      assert.deepEqual(codes, [[2, "line_too_long"], [3, "line_too_long"]]);
      assert.deepEqual(r.rows.map((x) => x.line), [1, 4]);
      assert.equal(r.input.bytes, new TextEncoder().encode(text).length);
    }
  }
});

Deno.test("parseTrace() counts unknown events by name and keeps their fields", async () => {
  const text =
    kline("dd", 1, 0, ".....", 1, 0, "sched_switch", "prev_comm=dd prev_pid=1 next_pid=0") + "\n";
  const r = await parseAll(text);
  assert.deepEqual(r.unknown, { sched_switch: 1 });
  assert.equal(r.counters.unknown_event, 1);
  assert.deepEqual(r.rows[0]!.fields.args, { prev_comm: "dd", prev_pid: 1n, next_pid: 0n });
  assert.deepEqual(r.diags, []);
});

Deno.test("parseTrace() tells apart event names of one length and last byte, line by line", async () => {
  // dma_map_page and the unknown dma_xap_page share the event-name cache's slot (12 bytes,
  // last "e"); names of other lengths ("map", a 48-byte one) sit beside them.
  const long = "x".repeat(47) + "e";
  const names = ["dma_map_page", "dma_xap_page", "dma_map_page", "map", long, "dma_xap_page"];
  const payload = "0000:00:02.0 dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=2000 attrs=";
  const text = names.map((n, i) => kline("dd", 1, 0, ".....", 1, i, n, payload) + "\n").join("");
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((row) => row.event), names);
  assert.deepEqual(r.unknown, { dma_xap_page: 2, [long]: 1 });
  assert.equal(r.rows[2]!.fields.dma_addr, 0x1000n);
});

Deno.test("parseTrace() can only be iterated once", async () => {
  const p = parseTrace(new Blob(["x\n"]).stream());
  for await (const _ of p) { /* drain */ }
  assert.throws(() => p[Symbol.asyncIterator](), TypeError);
});

Deno.test("parseTrace() keeps UTF-8 task names, padded by bytes as the kernel does", async () => {
  // "%16s" pads to 16 bytes: "café" is 5 bytes, so 11 spaces; a char-padded line works too.
  const byBytes = " ".repeat(11) + "café-77      [002] .....     1.000000: unmap: " + UNMAP;
  const byChars = kline("café", 77, 2, ".....", 1, 1, "unmap", UNMAP);
  const r = await parseAll(byBytes + "\n" + byChars + "\n");
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.rows.map((x) => [x.comm, x.pid, x.cpu]), [["café", 77, 2], ["café", 77, 2]]);
});
