// Fixed-width fast paths for the hottest formats: iommu:map and iommu:unmap print their
// addresses as 0x%016llx, so every field sits at a known offset (kernel-spec §2.3; the format
// strings are unchanged since 2013). A line that differs in any byte falls back to the
// generic walker, which diagnoses it; a fast path writes nothing unless the whole line fits.

import { ascii, CH_LOWER_X, viewOf } from "./_scan.ts";
import type { SchemaTable } from "./event_batch.ts";
import type { LineContext } from "./_payload.ts";
import { HEX2 } from "./u64.ts";

// The literals, as the little-endian words and halves DataView reads give (compared inline:
// a loop over a literal's words cost a sixth of the map line).
const le32 = (w: string) => new DataView(ascii(w).buffer).getInt32(0, true);
const le16 = (w: string) => new DataView(ascii(w).buffer).getUint16(0, true);
const HEAD0 = le32("IOMM");
const HEAD1 = le32("U: i");
const HEAD2 = le32("ova=");
const HEX_0X = le16("0x");
const MID0 = le32(" - 0"); // then "x"
const PADDR0 = le32(" pad");
const PADDR1 = le32("dr=0"); // then "x"
const SIZE0 = le32(" siz");
const SIZE1 = le16("e=");
const UNMAPPED0 = le32(" unm");
const UNMAPPED1 = le32("appe");
const UNMAPPED2 = le32("d_si");
const UNMAPPED3 = le32("ze=0"); // the "0" is not compared: the word is masked to three bytes

/** "IOMMU: iova=0x" at `p` (the caller checked `p + 14` is within `v`). */
function isMapHead(v: DataView, p: number): boolean {
  return v.getInt32(p, true) === HEAD0 && v.getInt32(p + 4, true) === HEAD1 &&
    v.getInt32(p + 8, true) === HEAD2 && v.getUint16(p + 12, true) === HEX_0X;
}

/**
 * Where a fast path's line ends: `q` is one past its last field. True when the line ends
 * there: a newline, "\r\n", or the end of what the caller gave (`bound`). A CR just before
 * `bound` is not an end: when `bound` is a line's end with its "\r\n" CR taken off, that CR is
 * the field's (the general parser keeps it in a word: "attrs=MM\r\r\n" has the text "MM\r"),
 * and at the end of the input it is rare enough to leave to the general parser.
 */
export function endsAt(s: Uint8Array, q: number, bound: number): boolean {
  if (q === bound) return true;
  const c = s[q]!;
  return c === 10 || (c === 13 && q + 1 < bound && s[q + 1]! === 10);
}

/** The value of the digits `digitsFrom` last read (a number returned beside the end would box). */
let digitsValue = 0;

/** Unsigned decimal digits from `p` up to the first non-digit (before `bound`); their end. */
function digitsFrom(s: Uint8Array, p: number, bound: number): number {
  let v = 0;
  let q = p;
  for (; q < bound; ++q) {
    const d = s[q]! - 48;
    if (d < 0 || d > 9) break;
    v = v * 10 + d;
  }
  digitsValue = v;
  return q;
}

/**
 * 16 hex digits at `p` (the caller checked `p + 16` is within the line) into `out[2i]` (low 32
 * bits) and `out[2i + 1]` (high); false when one is not a hex digit. Two digits a lookup; the
 * halves go straight to the column: a 32-bit value returned from a call would be boxed (a heap
 * number per field).
 */
function hex16To(v: DataView, p: number, out: Uint32Array, i: number): boolean {
  const h0 = HEX2[v.getUint16(p, false)]!;
  const h1 = HEX2[v.getUint16(p + 2, false)]!;
  const h2 = HEX2[v.getUint16(p + 4, false)]!;
  const h3 = HEX2[v.getUint16(p + 6, false)]!;
  const l0 = HEX2[v.getUint16(p + 8, false)]!;
  const l1 = HEX2[v.getUint16(p + 10, false)]!;
  const l2 = HEX2[v.getUint16(p + 12, false)]!;
  const l3 = HEX2[v.getUint16(p + 14, false)]!;
  if ((h0 | h1 | h2 | h3 | l0 | l1 | l2 | l3) < 0) return false;
  out[2 * i] = (l0 << 24) | (l1 << 16) | (l2 << 8) | l3;
  out[2 * i + 1] = (h0 << 24) | (h1 << 16) | (h2 << 8) | h3;
  return true;
}

const SCRATCH = new Uint32Array(6);

function copyU64(from: Uint32Array, i: number, to: Uint32Array, r: number): void {
  to[2 * r] = from[2 * i]!;
  to[2 * r + 1] = from[2 * i + 1]!;
}

/**
 * `iommu:map` text form. Columns: iova, iova_end, paddr, size. Returns one past the line's last
 * byte, or -1 to fall back (nothing written then).
 */
export function fastMap(
  _ctx: LineContext,
  t: SchemaTable,
  r: number,
  s: Uint8Array,
  a: number,
  bound: number,
): number {
  // "IOMMU: iova=0x" 16 " - 0x" 16 " paddr=0x" 16 " size=" digits
  const pEnd = a + 14 + 16;
  const pPaddr = pEnd + 5 + 16;
  const pSize = pPaddr + 9 + 16;
  if (bound < pSize + 7) return -1;
  const v = viewOf(s);
  if (!isMapHead(v, a) || v.getInt32(pEnd, true) !== MID0 || s[pEnd + 4]! !== CH_LOWER_X) return -1;
  if (v.getInt32(pPaddr, true) !== PADDR0 || v.getInt32(pPaddr + 4, true) !== PADDR1) return -1;
  if (s[pPaddr + 8]! !== CH_LOWER_X) return -1;
  if (v.getInt32(pSize, true) !== SIZE0 || v.getUint16(pSize + 4, true) !== SIZE1) return -1;
  const q = digitsFrom(s, pSize + 6, bound);
  const size = digitsValue;
  if (q === pSize + 6 || !endsAt(s, q, bound)) return -1;
  // Into scratch words first: nothing is written unless every digit is one.
  if (
    !hex16To(v, a + 14, SCRATCH, 0) || !hex16To(v, pEnd + 5, SCRATCH, 1) ||
    !hex16To(v, pPaddr + 9, SCRATCH, 2)
  ) return -1;
  const c = t.fieldCols;
  const pr = t.fieldPresent;
  copyU64(SCRATCH, 0, c[0]![0] as Uint32Array, r);
  copyU64(SCRATCH, 1, c[1]![0] as Uint32Array, r);
  copyU64(SCRATCH, 2, c[2]![0] as Uint32Array, r);
  (c[3]![0] as Float64Array)[r] = size;
  pr[0]![r] = 1;
  pr[1]![r] = 1;
  pr[2]![r] = 1;
  return q;
}

/**
 * `iommu:unmap` text form. Columns: iova, iova_end, size, unmapped_size. Returns one past the
 * line's last byte, or -1 to fall back (nothing written then).
 */
export function fastUnmap(
  _ctx: LineContext,
  t: SchemaTable,
  r: number,
  s: Uint8Array,
  a: number,
  bound: number,
): number {
  // "IOMMU: iova=0x" 16 " - 0x" 16 " size=" digits " unmapped_size=" digits
  const pEnd = a + 14 + 16;
  const pSize = pEnd + 5 + 16;
  if (bound < pSize + 6 + 17) return -1;
  const v = viewOf(s);
  if (!isMapHead(v, a) || v.getInt32(pEnd, true) !== MID0 || s[pEnd + 4]! !== CH_LOWER_X) return -1;
  if (v.getInt32(pSize, true) !== SIZE0 || v.getUint16(pSize + 4, true) !== SIZE1) return -1;
  const q = digitsFrom(s, pSize + 6, bound);
  const size = digitsValue;
  if (q === pSize + 6 || q + 16 > bound) return -1;
  if (
    v.getInt32(q, true) !== UNMAPPED0 || v.getInt32(q + 4, true) !== UNMAPPED1 ||
    v.getInt32(q + 8, true) !== UNMAPPED2 ||
    (v.getInt32(q + 12, true) & 0xffffff) !== (UNMAPPED3 & 0xffffff)
  ) return -1;
  const q2 = digitsFrom(s, q + 15, bound);
  const unmapped = digitsValue;
  if (q2 === q + 15 || !endsAt(s, q2, bound)) return -1;
  if (!hex16To(v, a + 14, SCRATCH, 0) || !hex16To(v, pEnd + 5, SCRATCH, 1)) return -1;
  const c = t.fieldCols;
  copyU64(SCRATCH, 0, c[0]![0] as Uint32Array, r);
  copyU64(SCRATCH, 1, c[1]![0] as Uint32Array, r);
  (c[2]![0] as Float64Array)[r] = size;
  (c[3]![0] as Float64Array)[r] = unmapped;
  t.fieldPresent[0]![r] = 1;
  t.fieldPresent[1]![r] = 1;
  return q2;
}

/**
 * A fixed-width parser of one format: fills row `r` of `t` from the payload at `a` and returns
 * one past the line's last byte (a newline, "\r\n" or `bound` follows), or -1 (nothing written).
 * It finds the line's end itself, so the caller need not look for it first.
 */
export type FastPath = (
  ctx: LineContext,
  t: SchemaTable,
  r: number,
  s: Uint8Array,
  a: number,
  bound: number,
) => number;

/** Fast paths by schema name. */
export const FAST_PATHS: ReadonlyMap<string, FastPath> = new Map([
  ["map", fastMap],
  ["unmap", fastUnmap],
]);
