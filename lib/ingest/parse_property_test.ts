// Property tests (fast-check): garbage never throws, diagnostics point at the bad lines, and
// the same input split at any chunk boundaries yields the same events (STYLE 41).

import assert from "node:assert/strict";
import fc from "fast-check";
import { type FlatRow, parseAll } from "./_test_util.ts";
import { parseTrace } from "./parse_trace.ts";

const GOOD = [
  "              dd-494     [001] .....     8.588117: iova_alloc: (iommu_dma_alloc_iova+0xd4/0x120 <- alloc_iova_fast) ret=1048448",
  "              dd-494     [001] .....     8.588976: map: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 paddr=0x000000000abe0000 size=4096",
  "              dd-490     [001] .....     9.083898: dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=8/8 ents=1/1 dma_addrs={0xfff80000} sizes={0x20000} phys_addrs={0x2d15000,0x2d26000,0x2d3e000,0x2d45000,0x2d48000,0x2d47000,0x2d46000,0x2d4d000} attrs=NO_WARN",
  "          <idle>-0       [001] d.H1.     9.085260: dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x2d15000,0x2d26000} attrs=",
  "          <idle>-0       [001] d.h1.     8.626517: iova_free: (free_iova_fast+0x4/0x140) pfn=0xfff80 size=0x20",
  "            init-1       [001] .....    28.965136: dma_free: 0000:00:02.0 dir=BIDIRECTIONAL dma_addr=ffffd000 size=24 virt_addr=0000000064dd244b attrs=",
  '     dmabuf_test-555     [000] .....    16.994350: dmabuf_export: (dma_buf_export+0x4/0x2b0) exp_name="udmabuf" size=65536',
  "              dd-496     [001] .....     8.625174: dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=131072 phys_addr=29a0000 attrs=",
  "     vfio_dmabuf-582     [001] .....    29.001494: attach_device_to_domain: IOMMU: device=0000:00:02.0",
  "CPU:1 [LOST 12 EVENTS]",
];

function absolute(rows: FlatRow[], base: bigint): unknown[] {
  // Timestamps relative to the first event differ when the first line changes; compare in ns.
  return rows.map((r) => ({ ...r, ts: Number.isNaN(r.ts) ? NaN : Number(base) + r.ts }));
}

Deno.test("parseTrace() never throws on random bytes, and diagnostics stay within the input", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }),
      fc.integer({ min: 1, max: 200 }),
      async (bytes, stride) => {
        const r = await parseAll(bytes, { stride, bufferBytes: 512 });
        for (const d of r.diags) {
          assert.ok(
            d.line >= 1 && d.line <= r.input.lines,
            `line ${d.line} of ${r.input.lines}`,
          );
        }
        assert.ok(r.rows.length <= r.input.lines);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("parseTrace() on mutated real lines: diagnostics only on mutated lines, the rest intact", async () => {
  const clean = await parseAll(GOOD.join("\n") + "\n");
  // The lost-events marker is the only diagnostic of the clean input (data loss, not an error).
  assert.deepEqual(clean.diags.map((d) => [d.line, d.code]), [[10, "lost_events"]]);
  const expected = new Set(clean.diags.map((d) => `${d.line}:${d.code}`));
  const cleanByLine = new Map(
    absolute(clean.rows, clean.base).map((r) => [(r as FlatRow).line, r]),
  );
  const mutation = fc.record({
    line: fc.integer({ min: 0, max: GOOD.length - 1 }),
    at: fc.nat(),
    kind: fc.constantFrom("delete", "insert", "replace", "truncate"),
    text: fc.string({
      minLength: 1,
      maxLength: 4,
      unit: fc.constantFrom(
        " ",
        "x",
        "0",
        ":",
        "=",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ",",
        "|",
        "-",
        ".",
        "\u00e9",
        "\t",
      ),
    }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(mutation, { maxLength: 5 }),
      fc.integer({ min: 1, max: 97 }),
      async (muts, stride) => {
        const lines = [...GOOD];
        const touched = new Set<number>();
        for (const m of muts) {
          const l = lines[m.line]!;
          const at = m.at % (l.length + 1);
          if (m.kind === "delete") lines[m.line] = l.slice(0, at) + l.slice(at + 1);
          else if (m.kind === "insert") lines[m.line] = l.slice(0, at) + m.text + l.slice(at);
          else if (m.kind === "replace") {
            lines[m.line] = l.slice(0, at) + m.text +
              l.slice(at + m.text.length);
          } else lines[m.line] = l.slice(0, at);
          if (lines[m.line] !== GOOD[m.line]) touched.add(m.line + 1);
        }
        const r = await parseAll(lines.join("\n") + "\n", { stride, bufferBytes: 1024 });
        for (const d of r.diags) {
          const ok = touched.has(d.line) || expected.has(`${d.line}:${d.code}`);
          assert.ok(ok, `diagnostic on untouched line ${d.line}: ${d.message}`);
        }
        const got = new Map(absolute(r.rows, r.base).map((x) => [(x as FlatRow).line, x]));
        for (let i = 1; i <= GOOD.length; ++i) {
          if (touched.has(i)) continue;
          assert.deepEqual(got.get(i), cleanByLine.get(i), `line ${i} changed`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("parseTrace() yields the same events and diagnostics whatever the chunk boundaries", async () => {
  const text = [...GOOD, "garbage here", ...GOOD].join("\n") + "\n";
  const whole = await parseAll(text);
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 400 }),
      fc.integer({ min: 400, max: 5000 }),
      async (stride, bufferBytes) => {
        const r = await parseAll(text, { stride, bufferBytes, byob: stride % 2 === 0 });
        assert.deepEqual(r.rows, whole.rows);
        assert.deepEqual(r.diags, whole.diags);
        assert.deepEqual(r.gaps, whole.gaps);
        assert.deepEqual(r.counts, whole.counts);
      },
    ),
    { numRuns: 60 },
  );
  for (const stride of [1, 7, 65536]) {
    for (const byob of [false, true]) {
      const r = await parseAll(text, { stride, byob });
      assert.deepEqual(r.rows, whole.rows);
      assert.deepEqual(r.diags, whole.diags);
    }
  }
});

Deno.test("parseTrace() splits batches without losing or reordering rows", async () => {
  const text = Array.from({ length: 50 }, () => GOOD.join("\n")).join("\n") + "\n";
  const one = await parseAll(text, { batchRows: 1 << 20 });
  const small = await parseAll(text, { batchRows: 7 });
  assert.deepEqual(small.rows, one.rows);
});

Deno.test("parseTrace() reads iommu:map/unmap alike on the fixed-width fast path and the generic walker", async () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  await fc.assert(
    fc.asyncProperty(
      u64,
      u64,
      u64,
      fc.integer({ min: 0, max: 2 ** 40 }),
      async (iova, end, paddr, size) => {
        const pad = (v: bigint) => "0x" + v.toString(16).padStart(16, "0");
        const bare = (v: bigint) => "0x" + v.toString(16); // not the kernel's widths: generic walker
        const pre = "              dd-494     [001] .....     8.588976: ";
        const text = [
          `${pre}map: IOMMU: iova=${pad(iova)} - ${pad(end)} paddr=${pad(paddr)} size=${size}`,
          `${pre}map: IOMMU: iova=${bare(iova)} - ${bare(end)} paddr=${bare(paddr)} size=${size}`,
          `${pre}unmap: IOMMU: iova=${pad(iova)} - ${pad(end)} size=${size} unmapped_size=${size}`,
          `${pre}unmap: IOMMU: iova=${bare(iova)} - ${
            bare(end)
          } size=${size} unmapped_size=${size}`,
        ].join("\n");
        const r = await parseAll(text);
        assert.deepEqual(r.diags, []);
        assert.deepEqual(r.rows[0]!.fields, { iova, iova_end: end, paddr, size });
        assert.deepEqual(r.rows[1]!.fields, r.rows[0]!.fields);
        assert.deepEqual(r.rows[2]!.fields, { iova, iova_end: end, size, unmapped_size: size });
        assert.deepEqual(r.rows[3]!.fields, r.rows[2]!.fields);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("parseTrace() parses a line before finding its end exactly as after (newlines, CRs and short lines mutated in)", async () => {
  // The kernel-layout route reads a line bounded by the read buffer's end, not the line's: every
  // mutated input must give what the general parser, which finds the newline first, gives. A
  // maximum line length under 4096 turns that route off.
  const unit = fc.constantFrom("\n", "\r", "\r\n", " ", "x", "0", ":", "-", "[", "]", ".", "\t");
  const mutation = fc.record({
    line: fc.integer({ min: 0, max: GOOD.length - 1 }),
    at: fc.nat(),
    kind: fc.constantFrom("insert", "replace", "truncate"),
    text: fc.string({ minLength: 1, maxLength: 3, unit }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(mutation, { maxLength: 6 }),
      fc.integer({ min: 1, max: 97 }),
      fc.boolean(),
      async (muts, stride, crlf) => {
        const lines = [...GOOD];
        for (const m of muts) {
          const l = lines[m.line]!;
          const at = m.at % (l.length + 1);
          if (m.kind === "insert") lines[m.line] = l.slice(0, at) + m.text + l.slice(at);
          else if (m.kind === "replace") {
            lines[m.line] = l.slice(0, at) + m.text + l.slice(at + m.text.length);
          } else lines[m.line] = l.slice(0, at);
        }
        const text = lines.join(crlf ? "\r\n" : "\n");
        const fast = await parseAll(text, { stride, bufferBytes: 1024 });
        const general = await parseAll(text, { stride, bufferBytes: 1024, maxLineChars: 4095 });
        assert.deepEqual(fast.rows, general.rows);
        assert.deepEqual(fast.diags, general.diags);
        assert.deepEqual(fast.counts, general.counts);
        assert.deepEqual(fast.input, general.input);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("parseTrace() ends an iommu:map/unmap line where the general parser does (CR, junk, end of input)", async () => {
  const map = GOOD[1]!;
  const unmap =
    "          <idle>-0       [001] d.h1.     8.626346: unmap: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 size=4096 unmapped_size=4096";
  for (const line of [map, unmap]) {
    for (
      const tail of ["", "\r", "\rjunk", "\r\r", " ", "x", "\r\n\r", "\n\r", "\n\n", "\r\r\n"]
    ) {
      for (const after of ["", "\n" + GOOD[0]]) {
        const text = line + tail + after;
        const fast = await parseAll(text);
        const general = await parseAll(text, { maxLineChars: 4095 });
        assert.deepEqual(fast.rows, general.rows, JSON.stringify(tail + after));
        assert.deepEqual(fast.diags, general.diags, JSON.stringify(tail + after));
      }
    }
  }
});

Deno.test("parseTrace() gives the same events with and without its fast paths (mutated dma:* and iommu lines)", async () => {
  const lines = [
    GOOD[1]!, // iommu:map
    "          <idle>-0       [001] d.h1.     8.626346: unmap: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 size=4096 unmapped_size=4096",
    GOOD[7]!, // dma_map_page
    "          <idle>-0       [001] d.h1.     8.626350: dma_unmap_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=131072 attrs=SKIP_CPU_SYNC|WEIRD",
    "              dd-496     [001] .....     8.625174: dma_map_phys: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffffffffffff0000 size=4096 phys_addr=29a0000 attrs=MMIO",
    "              dd-496     [001] .....     8.625180: dma_sync_single_for_cpu: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=4096",
    "              dd-496     [001] .....     8.625190: dma_map_resource: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=0x80000000 size=65536 phys_addr=0xf0000000 attrs=",
    GOOD[2]!, // dma_map_sg
    "              dd-490     [001] .....     9.083899: dma_map_sg: 0000:00:02.0 dir=TO_DEVICE nents=200/200 ents=2/2 [TRUNCATED] dma_addrs={0xfff80000,0xfff90000} sizes={0x20000,0x1000} phys_addrs={0x2d15000,0x2d26000} attrs=",
    GOOD[3]!, // dma_unmap_sg
    "              dd-496     [001] .....     8.625195: dma_sync_sg_for_device: 0000:00:02.0 dir=TO_DEVICE dma_addrs={0xfff80000,0xfff90000} sizes={0x1000,0x2000}",
  ];
  const unit = fc.constantFrom(
    " ",
    "x",
    "0",
    "f",
    "=",
    '"',
    "-",
    "|",
    "\t",
    "\r",
    "a",
    "attrs=",
    "dir=",
  );
  const mutation = fc.record({
    line: fc.integer({ min: 0, max: lines.length - 1 }),
    at: fc.nat(),
    kind: fc.constantFrom("delete", "insert", "replace", "truncate"),
    text: fc.string({ minLength: 1, maxLength: 3, unit }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(mutation, { maxLength: 5 }), async (muts) => {
      const ls = [...lines];
      for (const m of muts) {
        const l = ls[m.line]!;
        const at = m.at % (l.length + 1);
        if (m.kind === "delete") ls[m.line] = l.slice(0, at) + l.slice(at + 1);
        else if (m.kind === "insert") ls[m.line] = l.slice(0, at) + m.text + l.slice(at);
        else if (m.kind === "replace") {
          ls[m.line] = l.slice(0, at) + m.text + l.slice(at + m.text.length);
        } else ls[m.line] = l.slice(0, at);
      }
      const text = ls.join("\n") + "\n";
      const fast = await parseAll(text);
      const general = await parseAll(text, { fastPaths: false });
      assert.deepEqual(fast.rows, general.rows);
      assert.deepEqual(fast.diags, general.diags);
      assert.deepEqual(fast.counts, general.counts);
      assert.deepEqual(fast.counters, general.counters);
    }),
    { numRuns: 400 },
  );
});

Deno.test("parseTrace() reads odd dma:* single-mapping lines alike with and without its fast paths", async () => {
  const pre = "              dd-496     [001] .....     8.625174: ";
  const payloads = [
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=-5 phys_addr=29a0000 attrs=",
    'dma_map_page: "0000:00:02.0" dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs=',
    "dma_map_page: 0000:00:02.0 dir=0x1 dma_addr=fff80000 size=5 phys_addr=29a0000 attrs=",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=1fff80000fff80000 size=5 phys_addr=29a0000 attrs=",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE  dma_addr=fff80000 size=5 phys_addr=29a0000 attrs=",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs= ",
    "dma_map_page: 0000:00:02.0\tdir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs=",
    "dma_map_page: dev=x dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs=",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs= x=1",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE size=5 dma_addr=fff80000 phys_addr=29a0000 attrs=",
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr= size=5 phys_addr=29a0000 attrs=",
    'dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs="MMIO"',
    "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=5 phys_addr=29a0000 attrs=MMIO|NOPE",
    "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=0x0 size=0 attrs=SKIP_CPU_SYNC\r",
    "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=0x0 size=0 attrs=SKIP_CPU_SYNC\rx",
    // A CR before the "\r\n" is the last word's (the general parser keeps it in the text).
    "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=0x0 size=0 attrs=SKIP_CPU_SYNC\r\r",
    "dma_map_phys: 0000:00:02.0 dir=TO_DEVICE dma_addr=ffff0000 size=4096 phys_addr=29a0000 attrs=MM\r\r",
    "dma_sync_single_for_cpu: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fff80000 size=4096\r\r",
    "unmap: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 size=4096 unmapped_size=4096\r\r",
    "dma_map_page: ",
    "dma_map_page: 0000:00:02.0",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=1/1 ents=1/1 dma_addrs={0x1} sizes={0x1000} phys_addrs={0x2} attrs=NO_WARN",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=1/1 ents=1/1 [TRUNCATED] dma_addrs={0x1} sizes={0x1000} phys_addrs={0x2} attrs=",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=1/1 ents=1/1 [TRUNCATED]x dma_addrs={0x1} sizes={0x1000} phys_addrs={0x2} attrs=",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=1 ents=1/1 dma_addrs={0x1} sizes={0x1000} phys_addrs={0x2} attrs=",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=/1 ents=1/1 dma_addrs={0x1} sizes={0x1000} phys_addrs={0x2} attrs=",
    "dma_map_sg: 0000:00:02.0 dir=FROM_DEVICE nents=1/1 ents=1/1 dma_addrs={0x1} sizes={0x1000} phys_addrs={0x2,q} attrs=",
    "dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={} attrs=",
    "dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x1,zz} attrs=",
    "dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs=0x1 attrs=",
    "dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x1,0x2} attrs= junk",
    "dma_unmap_sg: 0000:00:02.0 dir=FROM_DEVICE phys_addrs={0x1,0x2}",
    "dma_sync_sg_for_cpu: 0000:00:02.0 dir=FROM_DEVICE dma_addrs={0x1,0x2} sizes={0x10,x}",
  ];
  for (const p of payloads) {
    for (const after of ["", "\n" + GOOD[0], "\r\n" + GOOD[0]]) {
      const text = pre + p + after;
      const fast = await parseAll(text);
      const general = await parseAll(text, { fastPaths: false });
      assert.deepEqual(fast.rows, general.rows, p);
      assert.deepEqual(fast.diags, general.diags, p);
      assert.deepEqual(fast.counters, general.counters, p);
      // A line that falls back after an array went into the pool gives that room back.
      assert.equal(await poolUsed(text, true), await poolUsed(text, false), p);
    }
  }
});

/** The u64 pool entries the batches of a parse used. */
async function poolUsed(text: string, fastPaths: boolean): Promise<number> {
  let n = 0;
  for await (const b of parseTrace(new Blob([text]).stream(), { fastPaths })) n += b.poolLen;
  return n;
}
