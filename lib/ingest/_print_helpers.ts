// The value decoders of the kernel's TP_printk helpers (include/trace/stages): a direction
// printed by __print_symbolic, DMA attributes by __print_flags (parsed once per distinct text and
// stored as bits and text), arrays by __print_array.

import { grown } from "./_grown.ts";
import {
  ascii,
  CH_0,
  CH_COMMA,
  CH_LBRACE,
  CH_LOWER_X,
  CH_RBRACE,
  equalsAt,
  parseAutoNumber,
  viewOf,
} from "./_scan.ts";
import type { EventBatch } from "./event_batch.ts";
import type { LineContext } from "./_payload.ts";
import { DMA_ATTR_BITS, DMA_DIRECTIONS } from "./schemas.ts";
import { HEX2, HEX_VALUE } from "./u64.ts";

/** Value of a `dir=` word: symbolic name, hex, or (raw) decimal; NaN when none fits. */
const DIRECTION_WORDS = DMA_DIRECTIONS.map(ascii);

export function parseDir(s: Uint8Array, a: number, e: number): number {
  for (let d = 0; d < DIRECTION_WORDS.length; ++d) {
    if (equalsAt(s, a, e, DIRECTION_WORDS[d]!)) return d;
  }
  return parseAutoNumber(s, a, e);
}

/** Bits of an `attrs=` text (`SKIP_CPU_SYNC|MMIO`, leftover `0x..`); -1 - bits when a name is unknown. */
export function parseAttrs(text: string): number {
  let bits = 0;
  let unknown = false;
  for (const name of text.split("|")) {
    if (name === "") continue;
    const bit = DMA_ATTR_BITS[name];
    if (bit !== undefined) bits |= bit;
    else if (/^0x[0-9a-fA-F]+$/.test(name)) bits |= Number.parseInt(name, 16);
    else unknown = true;
  }
  return unknown ? -1 - bits : bits;
}

/** An `attrs=` text's bits and string id into row `r` (text form). */
export function storeAttrs(
  ctx: LineContext,
  bitsCol: Int32Array,
  textCol: Int32Array,
  r: number,
  s: Uint8Array,
  a: number,
  e: number,
): void {
  // The empty text (no attribute) without a lookup.
  if (a === e && ctx.emptyAttrs >= 0) {
    bitsCol[r] = 0;
    textCol[r] = ctx.emptyAttrs;
    return;
  }
  // A trace holds a handful of distinct attrs texts: parse each once, by its string id.
  const id = ctx.b.strings.internBytes(s, a, e);
  if (a === e) ctx.emptyAttrs = id;
  let bits = ctx.attrBits.get(id);
  if (bits === undefined) {
    bits = parseAttrs(ctx.b.strings.get(id));
    ctx.attrBits.set(id, bits);
  }
  if (bits < 0) {
    bits = -1 - bits;
    ctx.log.add("unknown_attr_name");
  }
  bitsCol[r] = bits;
  textCol[r] = id;
}

/**
 * Store the `{0x..,0x..}` array that is exactly `s[a, e)`; false when malformed (nothing
 * kept then).
 */
export function parseArray(
  b: EventBatch,
  s: Uint8Array,
  a: number,
  e: number,
  start: Int32Array,
  len: Int32Array,
  r: number,
): boolean {
  const at = b.poolLen;
  if (parseArrayAt(b, s, a, e, start, len, r) === e) return true;
  b.poolLen = at;
  return false;
}

/**
 * Store the `{0x..,0x..}` array that starts at `a` (before `bound`) into the batch's u64 pool
 * and `start[r]`, `len[r]`, in one pass over its bytes: each element an optional `0x`, then
 * 1 to 16 significant hex digits. Returns one past its `}` (the caller checks what follows), or
 * -1 when malformed (nothing kept then).
 */
export function parseArrayAt(
  b: EventBatch,
  s: Uint8Array,
  a: number,
  bound: number,
  start: Int32Array,
  len: Int32Array,
  r: number,
): number {
  if (a + 1 >= bound || s[a]! !== CH_LBRACE) return -1;
  const at = b.poolLen;
  let p = a + 1;
  if (s[p]! === CH_RBRACE) {
    start[r] = at;
    len[r] = 0;
    return p + 1;
  }
  const v = viewOf(s);
  let pool = b.pool;
  let k = 0;
  for (;;) {
    if (p + 1 < bound && s[p]! === CH_0 && (s[p + 1]! | 32) === CH_LOWER_X) p += 2; // 0x, 0X
    // The value as two 32-bit words shifted two digits at a time (a pair read as one 16-bit
    // word: half the steps), then a last odd digit; a 17th significant digit (one shifted out
    // of the high word) makes it too wide.
    let lo = 0;
    let hi = 0;
    let over = 0;
    const first = p;
    for (; p + 1 < bound; p += 2) {
      const d = HEX2[v.getUint16(p, false)]!;
      if (d < 0) break;
      over |= hi >>> 24;
      hi = (hi << 8) | (lo >>> 24);
      lo = (lo << 8) | d;
    }
    if (p < bound) {
      const d = HEX_VALUE[s[p]!]!;
      if (d >= 0) {
        over |= hi >>> 28;
        hi = (hi << 4) | (lo >>> 28);
        lo = (lo << 4) | d;
        ++p;
      }
    }
    if (p === first || over !== 0 || p >= bound) break;
    const i = at + k++;
    if (2 * i + 2 > pool.length) pool = b.pool = grown(pool, 2 * i + 2);
    pool[2 * i] = lo;
    pool[2 * i + 1] = hi;
    const c = s[p]!;
    if (c === CH_RBRACE) {
      b.poolLen = at + k;
      start[r] = at;
      len[r] = k;
      return p + 1;
    }
    if (c !== CH_COMMA) break;
    ++p;
  }
  b.poolLen = at;
  return -1;
}
