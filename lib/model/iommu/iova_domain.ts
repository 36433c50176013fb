/**
 * The IOVA allocator of drivers/iommu/iova.c (kernel-spec §4.1–4.2, checked line by line
 * against a 7.1-rc4-based tree and NV-Kernels' pre-6.7 copy): an rbtree of allocated ranges
 * with an anchor node, a next-fit top-down search from the cached nodes with size alignment,
 * `reserve_iova`, `find_iova` and `free_iova`. The per-CPU caches in front of it are in
 * `iova_rcache.ts`. Leaves out locking, the kmem caches and the CPU-hotplug callbacks.
 *
 * pfn = IOVA >> log2(granule); ranges are inclusive `[pfnLo, pfnHi]`.
 *
 * @module
 */

import { IovaTree, NIL } from "./iova_tree.ts";

/** `IOVA_ANCHOR` (~0UL): the anchor node's pfn, above every real one. */
export const IOVA_ANCHOR_PFN: number = 2 ** 64 - 1;

/** `fls()`: 1-based index of the highest set bit, 0 for 0. */
export function fls(x: number): number {
  if (x <= 0) return 0;
  if (x < 2 ** 32) return 32 - Math.clz32(x);
  return 32 + fls(Math.floor(x / 2 ** 32));
}

/** `roundup_pow_of_two()` for positive integers. */
export function roundupPowOfTwo(x: number): number {
  return x <= 1 ? 1 : 2 ** fls(x - 1);
}

/** Options of {@linkcode IovaDomain}. */
export interface IovaDomainOptions {
  /**
   * `start_pfn`: the lowest pfn handed out (pfn 0 never is).
   * @default {1}
   */
  startPfn?: number;
}

/**
 * One IOVA domain's allocator (`struct iova_domain` without the rcaches).
 *
 * @example Top-down next-fit with size alignment (kernel-spec §11 tests 1–3)
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaDomain } from "./iova_domain.ts";
 * const d = new IovaDomain(4096);
 * const limit = 0xfffff; // a 32-bit DMA limit (0xffffffff), in 4 KiB pfns
 * assert.equal(d.allocIova(1, limit, true), 0xfffff);
 * assert.equal(d.allocIova(1, limit, true), 0xffffe);
 * assert.equal(d.allocIova(4, limit, true), 0xffff8); // 3 pages rounded to 4 by the caller, aligned to 4
 * ```
 */
export class IovaDomain {
  /** IOVA granule in bytes. */
  readonly granule: number;
  /** log2(granule). */
  readonly shift: number;
  /** `start_pfn`. */
  readonly startPfn: number;
  /** `dma_32bit_pfn`: 1 << (32 - shift). */
  readonly dma32Pfn: number;
  /** `max32_alloc_size`: no 32-bit request this large or larger can succeed. */
  max32AllocSize: number;
  /** The ranges (plus the anchor). */
  readonly tree: IovaTree = new IovaTree();
  /** The anchor's node. */
  readonly anchor: number;
  /** `cached_node`: where a search below a 64-bit limit starts (a tree node). */
  cachedNode: number;
  /** `cached32_node`: where a search below the 32-bit limit starts. */
  cached32Node: number;
  /** Nodes the last `allocIova` stepped through. */
  lastVisited = 0;

  /**
   * `init_iova_domain(iovad, granule, start_pfn)`.
   *
   * @param granule Smallest page size of the IOMMU, bytes (a power of two).
   * @param options `startPfn`.
   * @throws {RangeError} When the granule is not a power of two of at least 512.
   */
  constructor(granule: number, options: IovaDomainOptions = {}) {
    if (granule < 512 || (granule & (granule - 1)) !== 0) {
      throw new RangeError(
        `Cannot make an IOVA domain with granule "${granule}": not a power of two >= 512`,
      );
    }
    this.granule = granule;
    this.shift = Math.log2(granule);
    this.startPfn = Math.max(1, options.startPfn ?? 1);
    this.dma32Pfn = 2 ** (32 - this.shift);
    this.max32AllocSize = this.dma32Pfn;
    this.anchor = this.tree.insert(IOVA_ANCHOR_PFN, IOVA_ANCHOR_PFN);
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;
  }

  /** `__get_cached_rbnode()`. */
  #cachedFor(limitExcl: number): number {
    return limitExcl <= this.dma32Pfn ? this.cached32Node : this.cachedNode;
  }

  /** `iova_find_limit()`: where the second pass starts (kernel-spec §4.2 findLimitNode). */
  #findLimitNode(limitExcl: number): number {
    if (limitExcl > this.dma32Pfn) return this.anchor;
    return this.tree.lowerBoundHi(limitExcl);
  }

  /**
   * `alloc_iova(iovad, size, limit_pfn, size_aligned)`: a range of `sizePfn` pages at or below
   * `limitPfn` (inclusive), searched top-down from the cached node.
   *
   * @param sizePfn Pages.
   * @param limitPfn Highest pfn the range may end at.
   * @param sizeAligned Align to `roundup_pow_of_two(sizePfn)`.
   * @returns The new range's pfnLo, or -1 when there is no room (`-ENOMEM`).
   */
  allocIova(sizePfn: number, limitPfn: number, sizeAligned: boolean): number {
    const v0 = this.tree.visited;
    const newPfn = this.#search(sizePfn, limitPfn, sizeAligned);
    if (newPfn < 0) {
      if (newPfn === -1) this.max32AllocSize = sizePfn; // on every failure, 64-bit limits too (a kernel quirk)
      this.lastVisited = this.tree.visited - v0;
      return -1;
    }
    this.#insertAllocated(newPfn, newPfn + sizePfn - 1);
    this.lastVisited = this.tree.visited - v0;
    return newPfn;
  }

  /**
   * Where `allocIova` would put a range, without changing anything (a replay compares this
   * with what the kernel printed before it commits).
   *
   * @param sizePfn Pages.
   * @param limitPfn Highest pfn the range may end at.
   * @param sizeAligned Align to `roundup_pow_of_two(sizePfn)`.
   * @returns The pfn, or -1 when the allocation would fail.
   */
  peekAllocIova(sizePfn: number, limitPfn: number, sizeAligned: boolean): number {
    const v = this.tree.visited;
    const r = this.#search(sizePfn, limitPfn, sizeAligned);
    this.tree.visited = v;
    return r < 0 ? -1 : r;
  }

  /**
   * Take `[pfnLo, pfnHi]` as an allocation the kernel made (a replay following the trace
   * where the model disagreed): inserted with the cached-node update of a tree allocation.
   *
   * @param pfnLo First pfn.
   * @param pfnHi Last pfn.
   * @returns False when the range overlaps an allocated one.
   */
  claimRange(pfnLo: number, pfnHi: number): boolean {
    const t = this.tree;
    const after = t.lowerBoundHi(pfnLo);
    if (after !== NIL && t.lo[after]! <= pfnHi) return false;
    this.#insertAllocated(pfnLo, pfnHi);
    return true;
  }

  #insertAllocated(lo: number, hi: number): void {
    const node = this.tree.insert(lo, hi);
    // __cached_rbnode_insert_update
    if (hi < this.dma32Pfn) this.cached32Node = node;
    else this.cachedNode = node;
  }

  /** The search of `__alloc_and_insert_iova_range`; -1 on no room, -2 on the max32 hint. */
  #search(sizePfn: number, limitPfn: number, sizeAligned: boolean): number {
    const t = this.tree;
    const limit = limitPfn + 1; // __alloc_and_insert_iova_range takes it exclusive
    const align = sizeAligned ? 2 ** fls(sizePfn - 1) : 1;
    if (limit <= this.dma32Pfn && sizePfn >= this.max32AllocSize) return -2;
    let curr = this.#cachedFor(limit);
    const retryPfn = t.hi[curr]!;
    let high = limit;
    let low = this.startPfn;
    let newPfn: number;
    for (;;) {
      do {
        high = Math.min(high, t.lo[curr]!);
        newPfn = high >= sizePfn ? Math.floor((high - sizePfn) / align) * align : -1;
        curr = t.prev(curr);
      } while (curr !== NIL && newPfn <= t.hi[curr]! && newPfn >= low);
      if (high >= sizePfn && newPfn >= low) return newPfn;
      if (low === this.startPfn && retryPfn < limit) {
        // Second pass: the space above the cached node, up to the limit.
        high = limit;
        low = retryPfn + 1;
        curr = this.#findLimitNode(limit);
        continue;
      }
      return -1;
    }
  }

  /**
   * `reserve_iova(iovad, pfn_lo, pfn_hi)`: mark a range as allocated (host bridge windows, MSI),
   * merging it into ranges it overlaps as the kernel does.
   *
   * @param pfnLo First pfn.
   * @param pfnHi Last pfn.
   * @returns False when the range is beyond the IOVA space.
   */
  reserveIova(pfnLo: number, pfnHi: number): boolean {
    if (pfnLo > pfnHi || pfnHi >= IOVA_ANCHOR_PFN) return false;
    const t = this.tree;
    let lo = pfnLo;
    let overlap = false;
    for (let n = t.first(); n !== NIL && n !== this.anchor; n = t.next(n)) {
      if (t.lo[n]! <= pfnHi && lo <= t.hi[n]!) {
        // __adjust_overlap_range: extend the node down; what sticks out above continues.
        if (lo < t.lo[n]!) t.lo[n] = lo;
        if (pfnHi > t.hi[n]!) lo = t.hi[n]! + 1;
        if (lo >= t.lo[n]! && pfnHi <= t.hi[n]!) return true;
        overlap = true;
      } else if (overlap) break;
    }
    t.insert(lo, pfnHi);
    return true;
  }

  /**
   * `find_iova(iovad, pfn)`: the tree node holding a pfn.
   *
   * @param pfn A pfn.
   * @returns The node (0 when none); read its range with `tree.lo[node]`, `tree.hi[node]`.
   */
  findIova(pfn: number): number {
    return this.tree.find(pfn);
  }

  /**
   * `remove_iova()`: take a node out, moving the cached nodes as
   * `__cached_rbnode_delete_update()` does.
   *
   * @param node A node from `findIova`.
   */
  removeIova(node: number): void {
    const t = this.tree;
    const lo = t.lo[node]!;
    const hi = t.hi[node]!;
    const c32 = this.cached32Node;
    if (node === c32 || (hi < this.dma32Pfn && lo >= t.lo[c32]!)) this.cached32Node = t.next(node);
    if (lo < this.dma32Pfn) this.max32AllocSize = this.dma32Pfn;
    if (lo >= t.lo[this.cachedNode]!) this.cachedNode = t.next(node);
    t.remove(node);
  }

  /**
   * `free_iova(iovad, pfn)`: free the range holding `pfn`.
   *
   * @param pfn Any pfn of the range.
   * @returns False when no range holds it.
   */
  freeIova(pfn: number): boolean {
    const n = this.tree.find(pfn);
    if (n === NIL || n === this.anchor) return false;
    this.removeIova(n);
    return true;
  }

  /** Allocated ranges (reserved ones included, the anchor not). */
  get rangeCount(): number {
    return this.tree.size - 1;
  }
}
