// A chunk's string column as a dictionary in the order its rows first use the values, the one
// shape both the Arrow and the Parquet writers put on disk.

import type { TableChunk } from "./table_builder.ts";

/**
 * Column `i` of a chunk as codes into its distinct values, numbered in order of first use.
 * A builder's chunk is renumbered from its codes (its values list may hold one no row uses, the
 * "" every column starts with); a chunk of strings is coded here.
 *
 * @param c The chunk.
 * @param i A string column.
 * @param codes Where the rows' codes go (at least `c.n` entries).
 * @returns The distinct values, in order of first use.
 */
export function firstUseDictionary(c: TableChunk, i: number, codes: Int32Array): string[] {
  const n = c.n;
  const values: string[] = [];
  const d = c.dict?.[i];
  if (d !== undefined) {
    const remap = new Int32Array(d.values.length).fill(-1);
    for (let r = 0; r < n; ++r) {
      const code = d.codes[r]!;
      let k = remap[code]!;
      if (k < 0) {
        k = remap[code] = values.length;
        values.push(d.values[code]!);
      }
      codes[r] = k;
    }
    return values;
  }
  const strs = c.data[i] as readonly string[];
  const seen = new Map<string, number>();
  for (let r = 0; r < n; ++r) {
    const s = strs[r]!;
    let k = seen.get(s);
    if (k === undefined) {
      k = values.length;
      seen.set(s, k);
      values.push(s);
    }
    codes[r] = k;
  }
  return values;
}
