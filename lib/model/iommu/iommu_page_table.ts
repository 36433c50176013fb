/**
 * IOMMU page tables as `iommu_map()` / `iommu_unmap()` of drivers/iommu/iommu.c drive them
 * (kernel-spec §5.2, checked against the `iommu_pgsize()` copies K-IOMMUC names): a mapping is
 * split into the largest page sizes of the domain's `pgsize_bitmap` that the alignment of
 * iova and paddr allows, one leaf PTE each. Leaves are kept as ranges (an {@linkcode IovaTree}
 * over granule pfns) so overlaps, partial unmaps of large pages and `unmapped_size` come out
 * as the kernel reports them. Table pages: one per 2 MiB (leaves of 4 KiB), 1 GiB and 512 GiB
 * region while it holds something — the model's rule for "allocated and freed"; drivers free
 * tables lazily in ways that differ.
 *
 * @module
 */

import { IovaTree, NIL } from "./iova_tree.ts";

/** How a map over present PTEs ends (kernel-spec §7.2 offset-0 note). */
export type OverlapPolicy = "fail" | "overwrite" | "keep";

/** Result of {@linkcode IommuPageTable.iommuMap}. */
export interface IommuMapResult {
  /** 0, or the errno the kernel returns (`EINVAL` misaligned, `EEXIST` a present PTE). */
  readonly errno: 0 | "EINVAL" | "EEXIST";
  /** Leaf PTEs written. */
  readonly pteWrites: number;
  /** `[pageBytes, count]` runs in order, as `iommu_pgsize()` chose them. */
  readonly runs: readonly (readonly [bigint, bigint])[];
}

/** Counters of a page table (they feed costs). */
export interface PageTableStats {
  /** `iommu_map` calls that succeeded. */
  maps: number;
  /** `iommu_unmap` calls. */
  unmaps: number;
  /** Leaf PTEs written. */
  pteWrites: number;
  /** Leaf PTEs cleared. */
  pteClears: number;
  /** `iotlb_sync_map` calls (maps without the nosync variant). */
  syncMaps: number;
  /** Table pages allocated. */
  tablesAllocated: number;
  /** Table pages freed. */
  tablesFreed: number;
}

const TWO_32 = 4294967296;
const TWO_53 = 0x20000000000000n;

/** 0-based index of the highest set bit of a positive bigint (-1 for 0). */
export function fls0(x: bigint): bigint {
  if (x <= 0n) return -1n;
  if (x < TWO_53) {
    // Numbers are exact here: two 32-bit halves, no bigint arithmetic (the hot path).
    const n = Number(x);
    const hi = Math.floor(n / TWO_32);
    return BigInt(hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(n >>> 0));
  }
  let i = -1n;
  while (x > 0n) {
    x >>= 1n;
    ++i;
  }
  return i;
}

/** 0-based index of the lowest set bit of a positive bigint. */
export function ffs0(x: bigint): bigint {
  if (x > 0n && x < TWO_53) {
    const n = Number(x);
    const lo = n >>> 0;
    if (lo !== 0) return BigInt(31 - Math.clz32(lo & -lo));
    const hi = Math.floor(n / TWO_32);
    return BigInt(63 - Math.clz32(hi & -hi));
  }
  let i = 0n;
  while ((x & 1n) === 0n) {
    x >>= 1n;
    ++i;
  }
  return i;
}

/**
 * `iommu_pgsize(domain, iova, paddr, size, &count)`: the page size for the next run and how
 * many pages of it.
 *
 * @param bitmap The domain's page sizes.
 * @param iova Current IOVA.
 * @param paddr Current physical address.
 * @param size Bytes left.
 * @returns `[pageBytes, count]`.
 *
 * @example kernel-spec §11 test 14: 4K × 1, then 2M × 2, then 4K × 1
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuPgsize } from "./iommu_page_table.ts";
 * const bitmap = 0x40201000n; // 4K | 2M | 1G
 * assert.deepEqual(iommuPgsize(bitmap, 0x1ff000n, 0x3ff000n, 0x402000n), [0x1000n, 1n]);
 * assert.deepEqual(iommuPgsize(bitmap, 0x200000n, 0x400000n, 0x401000n), [0x200000n, 2n]);
 * ```
 */
export function iommuPgsize(
  bitmap: bigint,
  iova: bigint,
  paddr: bigint,
  size: bigint,
): [bigint, bigint] {
  let cand = bitmap & ((2n << fls0(size)) - 1n); // sizes <= size
  const am = iova | paddr;
  if (am !== 0n) cand &= (2n << ffs0(am)) - 1n; // sizes <= the alignment of both
  const idx = fls0(cand);
  const pgsize = 1n << idx;
  let count = size >> idx;
  const bigger = bitmap & ~((2n << idx) - 1n);
  if (bigger !== 0n) {
    const next = 1n << ffs0(bigger);
    if (((iova ^ paddr) & (next - 1n)) === 0n) {
      // Same offset inside the bigger page: stop at its boundary so the next run can use it.
      const off = next - (am & (next - 1n));
      if (off + next <= size) count = off >> idx;
    }
  }
  return [pgsize, count];
}

/**
 * How many leaf PTEs `iommu_map(iova, paddr, size)` writes: the runs of
 * {@linkcode iommuPgsize} added up (what the replay counts per map and unmap).
 *
 * @param bitmap The domain's page sizes.
 * @param iova Start IOVA.
 * @param paddr Start physical address (for an unmap, pass the IOVA: alignment decides).
 * @param sizeBytes Bytes.
 * @returns Leaf PTEs.
 *
 * @example 2 MiB + 8 KiB at a 2 MiB-aligned IOVA: one huge page and two 4 KiB pages
 * ```ts
 * import assert from "node:assert/strict";
 * import { iommuLeafCount } from "./mod.ts";
 * assert.equal(iommuLeafCount(0x40201000n, 0x200000n, 0x400000n, 0x202000n), 3);
 * assert.equal(iommuLeafCount(0x40201000n, 0x201000n, 0x401000n, 0x4000n), 4);
 * ```
 */
export function iommuLeafCount(
  bitmap: bigint,
  iova: bigint,
  paddr: bigint,
  sizeBytes: bigint,
): number {
  const min = bitmap & -bitmap;
  let size = sizeBytes;
  if (size <= 0n || min === 0n) return 0;
  // Fast path: smaller than the second page size, every leaf is of the smallest size.
  const rest = bitmap & ~min;
  if (rest === 0n || size < (rest & -rest)) return Number((size + min - 1n) / min);
  let n = 0;
  let i = iova;
  let p = paddr;
  while (size >= min) {
    const [pg, count] = iommuPgsize(bitmap, i, p, size);
    const bytes = pg * count;
    n += Number(count);
    i += bytes;
    p += bytes;
    size -= bytes;
  }
  return size > 0n ? n + 1 : n;
}

/** Options of {@linkcode IommuPageTable}. */
export interface IommuPageTableOptions {
  /**
   * Page sizes the domain supports.
   * @default {0x40201000n} (4K | 2M | 1G, x86 second-stage tables)
   */
  pgsizeBitmap?: bigint;
  /**
   * What a map over a present PTE does.
   * @default {"fail"}
   */
  overlap?: OverlapPolicy;
}

const TABLE_SHIFTS = [21n, 30n, 39n]; // a level-1, -2, -3 table covers 2 MiB, 1 GiB, 512 GiB

/**
 * The page table of one IOMMU domain.
 *
 * @example Map 16 KiB, unmap it
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuPageTable } from "./iommu_page_table.ts";
 * const pt = new IommuPageTable();
 * assert.equal(pt.iommuMap(0xfffe0000n, 0x2d15000n, 0x4000n).pteWrites, 4);
 * assert.equal(pt.iommuUnmap(0xfffe0000n, 0x4000n), 0x4000n);
 * assert.equal(pt.stats.pteClears, 4);
 * ```
 */
export class IommuPageTable {
  /** Page sizes. */
  readonly pgsizeBitmap: bigint;
  /** The smallest page size (the granule). */
  readonly granule: bigint;
  /** Overlap policy. */
  readonly overlap: OverlapPolicy;
  /** Counters. */
  readonly stats: PageTableStats = {
    maps: 0,
    unmaps: 0,
    pteWrites: 0,
    pteClears: 0,
    syncMaps: 0,
    tablesAllocated: 0,
    tablesFreed: 0,
  };
  readonly #leaves = new IovaTree(); // keyed by granule pfn
  readonly #leafPhys = new Map<number, bigint>(); // node → physical address of the leaf
  readonly #tables = TABLE_SHIFTS.map(() => new Map<bigint, number>()); // region → children
  readonly #gshift: bigint;

  /**
   * An empty page table.
   *
   * @param options Page sizes, overlap policy.
   */
  constructor(options: IommuPageTableOptions = {}) {
    this.pgsizeBitmap = options.pgsizeBitmap ?? 0x40201000n;
    this.granule = this.pgsizeBitmap & -this.pgsizeBitmap;
    this.#gshift = ffs0(this.granule);
    this.overlap = options.overlap ?? "fail";
  }

  #tableRef(level: number, iova: bigint, delta: number): void {
    const region = iova >> TABLE_SHIFTS[level]!;
    const m = this.#tables[level]!;
    const n = (m.get(region) ?? 0) + delta;
    if (n > 0) {
      if (!m.has(region)) {
        ++this.stats.tablesAllocated;
        if (level + 1 < TABLE_SHIFTS.length) this.#tableRef(level + 1, iova, 1);
      }
      m.set(region, n);
    } else if (m.has(region)) {
      m.delete(region);
      ++this.stats.tablesFreed;
      if (level + 1 < TABLE_SHIFTS.length) this.#tableRef(level + 1, iova, -1);
    }
  }

  /** The table level a leaf of `pgsize` sits in (a 4K leaf in a level-1 table, ...). */
  #levelOf(pgsize: bigint): number {
    return pgsize >= 1n << 30n ? 2 : pgsize >= 1n << 21n ? 1 : 0;
  }

  #addLeaf(iova: bigint, paddr: bigint, pgsize: bigint): void {
    const lo = Number(iova >> this.#gshift);
    const node = this.#leaves.insert(lo, lo + Number(pgsize >> this.#gshift) - 1);
    this.#leafPhys.set(node, paddr);
    this.#tableRef(this.#levelOf(pgsize), iova, 1);
    ++this.stats.pteWrites;
  }

  #removeLeaf(node: number): bigint {
    const t = this.#leaves;
    const bytes = BigInt(t.hi[node]! - t.lo[node]! + 1) << this.#gshift;
    const iova = BigInt(t.lo[node]!) << this.#gshift;
    t.remove(node);
    this.#leafPhys.delete(node);
    this.#tableRef(this.#levelOf(bytes), iova, -1);
    ++this.stats.pteClears;
    return bytes;
  }

  /** Leaves overlapping `[iova, iova + size)`, in order. */
  #overlapping(iova: bigint, size: bigint): number[] {
    const t = this.#leaves;
    const lo = Number(iova >> this.#gshift);
    const hi = Number((iova + size - 1n) >> this.#gshift);
    const out: number[] = [];
    for (let n = t.lowerBoundHi(lo); n !== NIL && t.lo[n]! <= hi; n = t.next(n)) out.push(n);
    return out;
  }

  /**
   * `iommu_map(domain, iova, paddr, size, prot)` (or `iommu_map_nosync` when `nosync`).
   *
   * @param iova IOVA, granule-aligned.
   * @param paddr Physical address, granule-aligned.
   * @param size Bytes, granule-aligned.
   * @param nosync The two-step API's variant (no `iotlb_sync_map`).
   * @returns The errno and the PTEs written.
   */
  iommuMap(iova: bigint, paddr: bigint, size: bigint, nosync = false): IommuMapResult {
    const g = this.granule - 1n;
    if (((iova | paddr | size) & g) !== 0n || size === 0n) {
      return { errno: "EINVAL", pteWrites: 0, runs: [] };
    }
    const present = this.#overlapping(iova, size);
    if (present.length > 0) {
      if (this.overlap === "fail") return { errno: "EEXIST", pteWrites: 0, runs: [] };
      if (this.overlap === "keep") return { errno: 0, pteWrites: 0, runs: [] }; // old PTEs stay, "success"
      for (const n of present) this.#removeLeaf(n);
    }
    const runs: [bigint, bigint][] = [];
    let writes = 0;
    let a = iova;
    let p = paddr;
    let left = size;
    while (left > 0n) {
      const [pg, count] = iommuPgsize(this.pgsizeBitmap, a, p, left);
      runs.push([pg, count]);
      for (let k = 0n; k < count; ++k) {
        this.#addLeaf(a, p, pg);
        a += pg;
        p += pg;
        ++writes;
      }
      left -= pg * count;
    }
    ++this.stats.maps;
    if (!nosync) ++this.stats.syncMaps;
    return { errno: 0, pteWrites: writes, runs };
  }

  /**
   * `iommu_unmap(domain, iova, size)`: clear the leaves from `iova` on until `size` is covered;
   * a large page partly inside goes whole.
   *
   * @param iova IOVA.
   * @param size Bytes.
   * @returns `unmapped_size` (0 when nothing is mapped at `iova`).
   */
  iommuUnmap(iova: bigint, size: bigint): bigint {
    ++this.stats.unmaps;
    let unmapped = 0n;
    let a = iova;
    while (unmapped < size) {
      const n = this.#leaves.find(Number(a >> this.#gshift));
      if (n === NIL) break;
      const bytes = this.#removeLeaf(n);
      unmapped += bytes;
      a += bytes;
    }
    return unmapped;
  }

  /**
   * The physical address an IOVA translates to (`iommu_iova_to_phys`), or -1n.
   *
   * @param iova An IOVA.
   * @returns Its physical address.
   */
  iovaToPhys(iova: bigint): bigint {
    const n = this.#leaves.find(Number(iova >> this.#gshift));
    if (n === NIL) return -1n;
    const base = BigInt(this.#leaves.lo[n]!) << this.#gshift;
    return this.#leafPhys.get(n)! + (iova - base);
  }

  /** Bytes mapped now. */
  get mappedBytes(): bigint {
    let total = 0n;
    const t = this.#leaves;
    for (let n = t.first(); n !== NIL; n = t.next(n)) {
      total += BigInt(t.hi[n]! - t.lo[n]! + 1) << this.#gshift;
    }
    return total;
  }
}
