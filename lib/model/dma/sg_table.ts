/**
 * `sg_alloc_table(table, nents)` of lib/scatterlist.c (kernel-spec §7.1): entries come in
 * chunks of `SG_MAX_SINGLE_ALLOC` (4096 / 32 = 128 on 64-bit); when more remain, a chunk's last
 * slot chains to the next and only 127 hold entries.
 *
 * @module
 */

/** `SG_MAX_SINGLE_ALLOC` on 64-bit with 4 KiB pages (`sizeof(struct scatterlist)` = 32). */
export const SG_MAX_SINGLE_ALLOC = 128;

/** An sg table's shape. */
export interface SgTableShape {
  /** `orig_nents`: CPU entries. */
  readonly origNents: number;
  /** Chunks allocated (each one page). */
  readonly chunks: number;
}

/**
 * `sg_alloc_table(nents)`.
 *
 * @param nents Entries.
 * @returns The table's shape, or null for `-EINVAL` (0 entries).
 *
 * @example kernel-spec §11 test 37: chunks for 1, 128, 129, 255, 256 entries
 * ```ts
 * import assert from "node:assert/strict";
 * import { sgAllocTable } from "./sg_table.ts";
 * assert.deepEqual([1, 128, 129, 255, 256].map((n) => sgAllocTable(n)!.chunks), [1, 1, 2, 2, 3]);
 * assert.equal(sgAllocTable(0), null);
 * ```
 */
export function sgAllocTable(nents: number): SgTableShape | null {
  if (nents <= 0) return null;
  let left = nents;
  let chunks = 0;
  while (left > 0) {
    const take = Math.min(left, SG_MAX_SINGLE_ALLOC);
    left -= take;
    ++chunks;
    if (left > 0) ++left; // the last slot became the chain link: its entry moves on
  }
  return { origNents: nents, chunks };
}
