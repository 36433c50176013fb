// The value decoders of the kernel's TP_printk helpers (include/trace/stages): a direction
// printed by __print_symbolic, DMA attributes by __print_flags, arrays by __print_array.

import { reservePool } from "./_batch_builder.ts";
import {
  ascii,
  CH_COMMA,
  CH_LBRACE,
  CH_RBRACE,
  charIn,
  equalsAt,
  parseAutoNumber,
} from "./_scan.ts";
import type { EventBatch } from "./event_batch.ts";
import { DMA_ATTR_BITS, DMA_DIRECTIONS } from "./schemas.ts";
import { parseHexU64 } from "./u64.ts";

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

/** Store a `{0x..,0x..}` array; false when malformed. */
export function parseArray(
  b: EventBatch,
  s: Uint8Array,
  a: number,
  e: number,
  start: Int32Array,
  len: Int32Array,
  r: number,
): boolean {
  if (e - a < 2 || s[a]! !== CH_LBRACE || s[e - 1]! !== CH_RBRACE) return false;
  const inner = a + 1;
  const innerEnd = e - 1;
  if (inner === innerEnd) {
    start[r] = b.poolLen;
    len[r] = 0;
    return true;
  }
  let count = 1;
  for (let p = inner; p < innerEnd; ++p) if (s[p]! === CH_COMMA) ++count;
  const at = reservePool(b, count);
  let p = inner;
  for (let k = 0; k < count; ++k) {
    let q = charIn(s, CH_COMMA, p, innerEnd);
    if (q < 0) q = innerEnd;
    if (!parseHexU64(s, p, q, b.pool, at + k)) {
      b.poolLen = at;
      return false;
    }
    p = q + 1;
  }
  start[r] = at;
  len[r] = count;
  return true;
}
