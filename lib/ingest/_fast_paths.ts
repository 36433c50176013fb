// Fixed-width fast paths for the hottest formats: iommu:map and iommu:unmap print their
// addresses as 0x%016llx, so every field sits at a known offset (kernel-spec §2.3; the format
// strings are unchanged since 2013). A line that differs in any byte falls back to the
// generic walker, which diagnoses it; a fast path writes nothing unless the whole line fits.

import { ascii, parseUint, startsWithAt } from "./_scan.ts";
import type { SchemaTable } from "./event_batch.ts";

const MAP_HEAD = ascii("IOMMU: iova=0x");
const MID = ascii(" - 0x");
const PADDR = ascii(" paddr=0x");
const SIZE = ascii(" size=");
const UNMAPPED = ascii(" unmapped_size=");

/** Hex digit values by byte (-1: not a hex digit). */
const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 10; ++c) HEX[48 + c] = c;
for (let c = 0; c < 6; ++c) {
  HEX[97 + c] = 10 + c;
  HEX[65 + c] = 10 + c;
}

/**
 * 16 hex digits at `p` (the caller checked `p + 16` is within the line) into `out[2i]` (low 32
 * bits) and `out[2i + 1]` (high); false when one is not a hex digit. The halves go straight to
 * the column: a 32-bit value returned from a call would be boxed (a heap number per field).
 */
function hex16To(s: Uint8Array, p: number, out: Uint32Array, i: number): boolean {
  let hi = 0;
  let lo = 0;
  let bad = 0;
  for (let k = 0; k < 8; ++k) {
    const d = HEX[s[p + k]!]!;
    bad |= d;
    hi = (hi << 4) | (d & 15);
  }
  for (let k = 8; k < 16; ++k) {
    const d = HEX[s[p + k]!]!;
    bad |= d;
    lo = (lo << 4) | (d & 15);
  }
  if (bad < 0) return false;
  out[2 * i] = lo;
  out[2 * i + 1] = hi;
  return true;
}

const SCRATCH = new Uint32Array(6);

function copyU64(from: Uint32Array, i: number, to: Uint32Array, r: number): void {
  to[2 * r] = from[2 * i]!;
  to[2 * r + 1] = from[2 * i + 1]!;
}

/**
 * `iommu:map` text form; false to fall back (nothing written then). Columns: iova, iova_end,
 * paddr, size.
 */
export function fastMap(t: SchemaTable, r: number, s: Uint8Array, a: number, e: number): boolean {
  // "IOMMU: iova=0x" 16 " - 0x" 16 " paddr=0x" 16 " size=" digits
  const pEnd = a + 14 + 16;
  const pPaddr = pEnd + 5 + 16;
  const pSize = pPaddr + 9 + 16;
  if (e < pSize + 7 || !startsWithAt(s, a, MAP_HEAD) || !startsWithAt(s, pEnd, MID)) return false;
  if (!startsWithAt(s, pPaddr, PADDR) || !startsWithAt(s, pSize, SIZE)) return false;
  const size = parseUint(s, pSize + 6, e);
  if (size < 0) return false;
  // Into scratch words first: nothing is written unless every digit is one.
  if (
    !hex16To(s, a + 14, SCRATCH, 0) || !hex16To(s, pEnd + 5, SCRATCH, 1) ||
    !hex16To(s, pPaddr + 9, SCRATCH, 2)
  ) return false;
  const c = t.fieldCols;
  const pr = t.fieldPresent;
  copyU64(SCRATCH, 0, c[0]![0] as Uint32Array, r);
  copyU64(SCRATCH, 1, c[1]![0] as Uint32Array, r);
  copyU64(SCRATCH, 2, c[2]![0] as Uint32Array, r);
  (c[3]![0] as Float64Array)[r] = size;
  pr[0]![r] = 1;
  pr[1]![r] = 1;
  pr[2]![r] = 1;
  return true;
}

/**
 * `iommu:unmap` text form; false to fall back (nothing written then). Columns: iova,
 * iova_end, size, unmapped_size.
 */
export function fastUnmap(t: SchemaTable, r: number, s: Uint8Array, a: number, e: number): boolean {
  // "IOMMU: iova=0x" 16 " - 0x" 16 " size=" digits " unmapped_size=" digits
  const pEnd = a + 14 + 16;
  const pSize = pEnd + 5 + 16;
  if (
    e < pSize + 7 || !startsWithAt(s, a, MAP_HEAD) || !startsWithAt(s, pEnd, MID) ||
    !startsWithAt(s, pSize, SIZE)
  ) {
    return false;
  }
  let q = pSize + 6;
  const sizeStart = q;
  while (q < e && s[q]! !== 32) ++q;
  if (!startsWithAt(s, q, UNMAPPED)) return false;
  const size = parseUint(s, sizeStart, q);
  const unmapped = parseUint(s, q + 15, e);
  if (size < 0 || unmapped < 0) return false;
  if (!hex16To(s, a + 14, SCRATCH, 0) || !hex16To(s, pEnd + 5, SCRATCH, 1)) return false;
  const c = t.fieldCols;
  copyU64(SCRATCH, 0, c[0]![0] as Uint32Array, r);
  copyU64(SCRATCH, 1, c[1]![0] as Uint32Array, r);
  (c[2]![0] as Float64Array)[r] = size;
  (c[3]![0] as Float64Array)[r] = unmapped;
  t.fieldPresent[0]![r] = 1;
  t.fieldPresent[1]![r] = 1;
  return true;
}

/** A fixed-width parser of one format: fills row `r` of `t` from `s[a, e)`, or returns false. */
export type FastPath = (t: SchemaTable, r: number, s: Uint8Array, a: number, e: number) => boolean;

/** Fast paths by schema name. */
export const FAST_PATHS: ReadonlyMap<string, FastPath> = new Map([
  ["map", fastMap],
  ["unmap", fastUnmap],
]);
