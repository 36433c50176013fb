// Fixed-width fast paths for the hottest formats: iommu:map and iommu:unmap print their
// addresses as 0x%016llx, so every field sits at a known offset (kernel-spec §2.3; the format
// strings are unchanged since 2013). A line that differs in any byte falls back to the
// generic walker, which diagnoses it; a fast path writes nothing unless the whole line fits.

import { ascii, parseUint } from "./_scan.ts";
import type { SchemaTable } from "./event_batch.ts";

/** A literal compared four bytes at a time (DataView reads compile to single loads). */
interface Literal {
  words: Int32Array;
  tail: Uint8Array;
  length: number;
}

function literal(word: string): Literal {
  const bytes = ascii(word);
  const n4 = bytes.length >> 2;
  const v = new DataView(bytes.buffer);
  const words = new Int32Array(n4);
  for (let k = 0; k < n4; ++k) words[k] = v.getInt32(4 * k, true);
  return { words, tail: bytes.subarray(4 * n4), length: bytes.length };
}

/** Whether the bytes at `p` of `v` are `lit`. */
function isAt(v: DataView, p: number, lit: Literal): boolean {
  if (p < 0 || p + lit.length > v.byteLength) return false;
  const words = lit.words;
  let q = p;
  for (let k = 0; k < words.length; ++k, q += 4) if (v.getInt32(q, true) !== words[k]) return false;
  const tail = lit.tail;
  for (let k = 0; k < tail.length; ++k) if (v.getUint8(q + k) !== tail[k]) return false;
  return true;
}

const MAP_HEAD = literal("IOMMU: iova=0x");
const MID = literal(" - 0x");
const PADDR = literal(" paddr=0x");
const SIZE = literal(" size=");
const UNMAPPED = literal(" unmapped_size=");

/** The byte value of two hex digits, by the pair read big-endian (-1: not two hex digits). */
const HEX2 = new Int16Array(65536).fill(-1);
{
  const digits = "0123456789abcdefABCDEF";
  for (const hi of digits) {
    for (const lo of digits) {
      HEX2[(hi.charCodeAt(0) << 8) | lo.charCodeAt(0)] = parseInt(hi + lo, 16);
    }
  }
}

let lastBytes: Uint8Array | undefined;
let lastView: DataView = new DataView(new ArrayBuffer(0));

/** A DataView of `s` (the last one is kept: every line of a read buffer shares it). */
function viewOf(s: Uint8Array): DataView {
  if (s !== lastBytes) {
    lastBytes = s;
    lastView = new DataView(s.buffer, s.byteOffset, s.byteLength);
  }
  return lastView;
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
 * `iommu:map` text form; false to fall back (nothing written then). Columns: iova, iova_end,
 * paddr, size.
 */
export function fastMap(t: SchemaTable, r: number, s: Uint8Array, a: number, e: number): boolean {
  // "IOMMU: iova=0x" 16 " - 0x" 16 " paddr=0x" 16 " size=" digits
  const pEnd = a + 14 + 16;
  const pPaddr = pEnd + 5 + 16;
  const pSize = pPaddr + 9 + 16;
  const v = viewOf(s);
  if (e < pSize + 7 || !isAt(v, a, MAP_HEAD) || !isAt(v, pEnd, MID)) return false;
  if (!isAt(v, pPaddr, PADDR) || !isAt(v, pSize, SIZE)) return false;
  const size = parseUint(s, pSize + 6, e);
  if (size < 0) return false;
  // Into scratch words first: nothing is written unless every digit is one.
  if (
    !hex16To(v, a + 14, SCRATCH, 0) || !hex16To(v, pEnd + 5, SCRATCH, 1) ||
    !hex16To(v, pPaddr + 9, SCRATCH, 2)
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
  const v = viewOf(s);
  if (e < pSize + 7 || !isAt(v, a, MAP_HEAD) || !isAt(v, pEnd, MID) || !isAt(v, pSize, SIZE)) {
    return false;
  }
  let q = pSize + 6;
  const sizeStart = q;
  while (q < e && s[q]! !== 32) ++q;
  if (!isAt(v, q, UNMAPPED)) return false;
  const size = parseUint(s, sizeStart, q);
  const unmapped = parseUint(s, q + 15, e);
  if (size < 0 || unmapped < 0) return false;
  if (!hex16To(v, a + 14, SCRATCH, 0) || !hex16To(v, pEnd + 5, SCRATCH, 1)) return false;
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
