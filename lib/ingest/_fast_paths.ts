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

/** 8 hex digits at `p` (the caller checked `p + 8` is within the line) as a number, or -1. */
function hex8(s: Uint8Array, p: number): number {
  const d0 = HEX[s[p]!]!;
  const d1 = HEX[s[p + 1]!]!;
  const d2 = HEX[s[p + 2]!]!;
  const d3 = HEX[s[p + 3]!]!;
  const d4 = HEX[s[p + 4]!]!;
  const d5 = HEX[s[p + 5]!]!;
  const d6 = HEX[s[p + 6]!]!;
  const d7 = HEX[s[p + 7]!]!;
  if ((d0 | d1 | d2 | d3 | d4 | d5 | d6 | d7) < 0) return -1;
  const hi16 = ((d0 * 16 + d1) * 16 + d2) * 16 + d3;
  const lo16 = ((d4 * 16 + d5) * 16 + d6) * 16 + d7;
  return hi16 * 65536 + lo16;
}

/** Whether `s[p, p + 16)` are hex digits (the two halves are then hex8 of p and p + 8). */
function isHex16(hi: number, lo: number): boolean {
  return hi >= 0 && lo >= 0;
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
  const iovaHi = hex8(s, a + 14);
  const iovaLo = hex8(s, a + 22);
  const endHi = hex8(s, pEnd + 5);
  const endLo = hex8(s, pEnd + 13);
  const paddrHi = hex8(s, pPaddr + 9);
  const paddrLo = hex8(s, pPaddr + 17);
  if (
    size < 0 || !isHex16(iovaHi, iovaLo) || !isHex16(endHi, endLo) || !isHex16(paddrHi, paddrLo)
  ) {
    return false;
  }
  const c = t.fieldCols;
  const pr = t.fieldPresent;
  const iova = c[0]![0] as Uint32Array;
  const end = c[1]![0] as Uint32Array;
  const paddr = c[2]![0] as Uint32Array;
  iova[2 * r] = iovaLo;
  iova[2 * r + 1] = iovaHi;
  end[2 * r] = endLo;
  end[2 * r + 1] = endHi;
  paddr[2 * r] = paddrLo;
  paddr[2 * r + 1] = paddrHi;
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
  const iovaHi = hex8(s, a + 14);
  const iovaLo = hex8(s, a + 22);
  const endHi = hex8(s, pEnd + 5);
  const endLo = hex8(s, pEnd + 13);
  if (size < 0 || unmapped < 0 || !isHex16(iovaHi, iovaLo) || !isHex16(endHi, endLo)) return false;
  const c = t.fieldCols;
  const iova = c[0]![0] as Uint32Array;
  const end = c[1]![0] as Uint32Array;
  iova[2 * r] = iovaLo;
  iova[2 * r + 1] = iovaHi;
  end[2 * r] = endLo;
  end[2 * r + 1] = endHi;
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
