// kernel-spec §5.2 and §11 tests 14–15: page-size selection, PTE counts, unmapped_size.

import assert from "node:assert/strict";
import fc from "fast-check";
import { IommuPageTable, iommuPgsize } from "./mod.ts";
import { ffs0, fls0 } from "./iommu_page_table.ts";

const BITMAP = 0x40201000n; // 4K | 2M | 1G

Deno.test("iommuMap() test 14: 0x402000 at iova 0x1ff000 / paddr 0x3ff000 is 4K, 2M x2, 4K", () => {
  const pt = new IommuPageTable({ pgsizeBitmap: BITMAP });
  const r = pt.iommuMap(0x1ff000n, 0x3ff000n, 0x402000n);
  assert.equal(r.errno, 0);
  assert.deepEqual(r.runs, [[0x1000n, 1n], [0x200000n, 2n], [0x1000n, 1n]]);
  assert.equal(r.pteWrites, 4);
  assert.equal(pt.iovaToPhys(0x200123n), 0x400123n);
});

Deno.test("iommuMap() test 15: iova and paddr at different offsets in 2 MiB use 4K pages only", () => {
  const pt = new IommuPageTable({ pgsizeBitmap: BITMAP });
  const r = pt.iommuMap(0x200000n, 0x300000n, 0x400000n);
  assert.deepEqual(r.runs, [[0x1000n, 1024n]]);
  assert.equal(r.pteWrites, 1024);
});

Deno.test("iommuMap() uses 1 GiB pages when both addresses allow it", () => {
  const pt = new IommuPageTable({ pgsizeBitmap: BITMAP });
  const r = pt.iommuMap(0x40000000n, 0x80000000n, 0x80200000n);
  assert.deepEqual(r.runs, [[0x40000000n, 2n], [0x200000n, 1n]]);
  assert.deepEqual(iommuPgsize(~0xfffn & ((1n << 48n) - 1n), 0x10000n, 0x30000n, 0x10000n), [
    0x10000n,
    1n,
  ]); // AMD v1: any power of two
});

Deno.test("iommuMap() refuses misaligned requests and present PTEs by policy", () => {
  const pt = new IommuPageTable();
  assert.equal(pt.iommuMap(0x1800n, 0x2000n, 0x1000n).errno, "EINVAL");
  assert.equal(pt.iommuMap(0x1000n, 0x2000n, 0x800n).errno, "EINVAL");
  assert.equal(pt.iommuMap(0x1000n, 0x2000n, 0n).errno, "EINVAL");
  assert.equal(pt.iommuMap(0x10000n, 0xa0000n, 0x2000n).errno, 0);
  assert.equal(pt.iommuMap(0x11000n, 0xb0000n, 0x2000n).errno, "EEXIST");
  const over = new IommuPageTable({ overlap: "overwrite" });
  over.iommuMap(0x10000n, 0xa0000n, 0x1000n);
  assert.equal(over.iommuMap(0x10000n, 0xb0000n, 0x1000n).errno, 0);
  assert.equal(over.iovaToPhys(0x10000n), 0xb0000n);
  const keep = new IommuPageTable({ overlap: "keep" });
  keep.iommuMap(0x10000n, 0xa0000n, 0x1000n);
  assert.equal(keep.iommuMap(0x10000n, 0xb0000n, 0x1000n).errno, 0); // "success", old PTE kept
  assert.equal(keep.iovaToPhys(0x10000n), 0xa0000n);
});

Deno.test("iommuUnmap() reports the whole large page on a partial unmap, 0 on nothing mapped", () => {
  const pt = new IommuPageTable();
  pt.iommuMap(0x200000n, 0x400000n, 0x200000n);
  assert.equal(pt.iommuUnmap(0x200000n, 0x1000n), 0x200000n);
  assert.equal(pt.iommuUnmap(0x200000n, 0x1000n), 0n);
  pt.iommuMap(0x10000n, 0x20000n, 0x3000n);
  assert.equal(pt.iommuUnmap(0x10000n, 0x3000n), 0x3000n);
  assert.equal(pt.mappedBytes, 0n);
  assert.deepEqual([pt.stats.maps, pt.stats.unmaps, pt.stats.pteWrites, pt.stats.pteClears], [
    2,
    3,
    4,
    4,
  ]);
});

Deno.test("IommuPageTable counts table pages allocated on first use and freed when empty", () => {
  const pt = new IommuPageTable();
  pt.iommuMap(0xfff80000n, 0x1000000n, 0x1000n); // one 4K leaf: L1 (2M), L2 (1G), L3 (512G) tables
  assert.equal(pt.stats.tablesAllocated, 3);
  pt.iommuMap(0xfff81000n, 0x1001000n, 0x1000n); // same tables
  assert.equal(pt.stats.tablesAllocated, 3);
  pt.iommuMap(0x200000n, 0x400000n, 0x200000n); // a 2M leaf in another 1G region's L2 table... same L3
  assert.equal(pt.stats.tablesAllocated, 4);
  pt.iommuUnmap(0xfff80000n, 0x2000n);
  assert.equal(pt.stats.tablesFreed, 2); // the L1 and L2 tables of 0xfff80000; L3 still in use
  pt.iommuUnmap(0x200000n, 0x200000n);
  assert.equal(pt.stats.tablesFreed, 4);
});

Deno.test("fls0/ffs0: the highest and lowest set bit of any 64-bit value (the number fast path agrees)", () => {
  const slowFls = (x: bigint) => {
    let i = -1n;
    while (x > 0n) {
      x >>= 1n;
      ++i;
    }
    return i;
  };
  const slowFfs = (x: bigint) => {
    let i = 0n;
    while ((x & 1n) === 0n) {
      x >>= 1n;
      ++i;
    }
    return i;
  };
  for (
    const v of [1n, 2n, 3n, 0xffffffffn, 0x100000000n, 0x1fffffffffffffn, 2n ** 53n, 2n ** 63n]
  ) {
    assert.equal(fls0(v), slowFls(v), `fls0 ${v}`);
    assert.equal(ffs0(v), slowFfs(v), `ffs0 ${v}`);
  }
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), (v) => {
      assert.equal(fls0(v), slowFls(v));
      assert.equal(ffs0(v), slowFfs(v));
    }),
    { numRuns: 3000 },
  );
});
