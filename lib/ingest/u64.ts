/**
 * Unsigned 64-bit values without a `bigint` per event: a column of u64 is a `Uint32Array`
 * holding `lo, hi` pairs (row `i` at `[2i, 2i+1]`). IOVAs and physical addresses above 2^53
 * exist, so `number` would round them; `bigint` per value would allocate on the hot path.
 *
 * @module
 */

import {
  CH_0,
  CH_9,
  CH_LOWER_A,
  CH_LOWER_F,
  CH_LOWER_X,
  CH_UPPER_A,
  CH_UPPER_F,
  CH_UPPER_X,
  textOf,
} from "./_scan.ts";

const TWO_32 = 4294967296;

/** Value of one hex digit character, or -1. */
function hexDigit(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  if (c >= CH_LOWER_A && c <= CH_LOWER_F) return c - CH_LOWER_A + 10;
  if (c >= CH_UPPER_A && c <= CH_UPPER_F) return c - CH_UPPER_A + 10;
  return -1;
}

/**
 * Parse hex digits `s[start, end)` (ASCII bytes) (an optional `0x` prefix allowed) into `out[2i], out[2i+1]`.
 *
 * @param s The text.
 * @param start First character.
 * @param end One past the last character.
 * @param out The u64 column.
 * @param i The row.
 * @returns False when the text is empty, not hex, or wider than 64 bits.
 *
 * @example Parsing an IOVA above 2^53
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHexU64, u64At } from "./u64.ts";
 * const col = new Uint32Array(2);
 * const text = new TextEncoder().encode("0xfffffffffffff000");
 * assert.ok(parseHexU64(text, 0, text.length, col, 0));
 * assert.equal(u64At(col, 0), 0xfffffffffffff000n);
 * ```
 */
export function parseHexU64(
  s: Uint8Array,
  start: number,
  end: number,
  out: Uint32Array,
  i: number,
): boolean {
  let p = start;
  if (end - p >= 2 && s[p]! === CH_0) {
    const x = s[p + 1]!;
    if (x === CH_LOWER_X || x === CH_UPPER_X) p += 2;
  }
  if (p >= end) return false;
  while (p < end - 1 && s[p]! === CH_0) ++p; // leading zeros of %016llx
  if (end - p > 16) return false;
  const split = end - p > 8 ? end - 8 : p; // last 8 digits are the low word
  // Digit values from a table, words built with shifts (int32; the column stores them
  // unsigned): a third of the branchy per-character version's time.
  let bad = 0;
  let hi = 0;
  for (let q = p; q < split; ++q) {
    const d = HEX_VALUE[s[q]!]!;
    bad |= d;
    hi = (hi << 4) | (d & 15);
  }
  let lo = 0;
  for (let q = split; q < end; ++q) {
    const d = HEX_VALUE[s[q]!]!;
    bad |= d;
    lo = (lo << 4) | (d & 15);
  }
  if (bad < 0) return false;
  out[2 * i] = lo;
  out[2 * i + 1] = hi;
  return true;
}

/** Hex digit values by byte (-1: not a hex digit). */
export const HEX_VALUE: Int8Array = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; ++c) HEX_VALUE[c] = hexDigit(c);

/** The byte value of two hex digits, by the pair read big-endian (-1: not two hex digits). */
export const HEX2: Int16Array = new Int16Array(65536).fill(-1);
for (let c = 0; c < 65536; ++c) {
  const hi = HEX_VALUE[c >>> 8]!;
  const lo = HEX_VALUE[c & 255]!;
  if (hi >= 0 && lo >= 0) HEX2[c] = (hi << 4) | lo;
}

/**
 * Parse unsigned decimal digits `s[start, end)` into `out[2i], out[2i+1]`.
 *
 * @param s The text.
 * @param start First character.
 * @param end One past the last character.
 * @param out The u64 column.
 * @param i The row.
 * @returns False when the text is empty, not decimal, or above 2^64-1.
 */
export function parseDecU64(
  s: Uint8Array,
  start: number,
  end: number,
  out: Uint32Array,
  i: number,
): boolean {
  if (start >= end || end - start > 20) return false;
  let v = 0;
  let q = start;
  // Up to 15 digits a double is exact.
  const fastEnd = Math.min(end, start + 15);
  for (; q < fastEnd; ++q) {
    const c = s[q]!;
    if (c < CH_0 || c > CH_9) return false;
    v = v * 10 + (c - CH_0);
  }
  if (q === end) {
    out[2 * i] = v % TWO_32;
    out[2 * i + 1] = Math.floor(v / TWO_32);
    return true;
  }
  for (let r = q; r < end; ++r) {
    const c = s[r]!;
    if (c < CH_0 || c > CH_9) return false;
  }
  const big = BigInt(textOf(s, start, end)); // rare: 16 to 20 digits
  if (big > 0xffffffffffffffffn) return false;
  out[2 * i] = Number(big & 0xffffffffn);
  out[2 * i + 1] = Number(big >> 32n);
  return true;
}

/**
 * Parse a number as `-R` raw output and kprobe arguments print it: `0x` hex, else decimal.
 *
 * @param s The text.
 * @param start First character.
 * @param end One past the last character.
 * @param out The u64 column.
 * @param i The row.
 * @returns False when it is neither.
 */
export function parseAutoU64(
  s: Uint8Array,
  start: number,
  end: number,
  out: Uint32Array,
  i: number,
): boolean {
  if (end - start > 2 && s[start]! === CH_0) {
    const x = s[start + 1]!;
    if (x === CH_LOWER_X || x === CH_UPPER_X) return parseHexU64(s, start, end, out, i);
  }
  return parseDecU64(s, start, end, out, i);
}

/**
 * Row `i` of a u64 column as a `bigint`.
 *
 * @param col The u64 column (`lo, hi` pairs).
 * @param i The row.
 * @returns The value.
 */
export function u64At(col: Uint32Array, i: number): bigint {
  const lo = col[2 * i] ?? 0;
  const hi = col[2 * i + 1] ?? 0;
  // Below 2^53 the number is exact: one bigint instead of four (the replay's hot path).
  if (hi < 0x200000) return BigInt(hi * 4294967296 + lo);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * A u64 held exactly and in one form for each value: a `number` up to 2^53 - 1 (no `bigint`
 * allocated for the addresses and sizes of a trace, nearly all below it), a `bigint` above. So
 * `===`, `<` and Map keys compare values, whichever form.
 */
export type U64 = number | bigint;

const MAX_EXACT = Number.MAX_SAFE_INTEGER;
const MAX_EXACT_BIG = BigInt(MAX_EXACT);

/**
 * Row `i` of a u64 column as a {@linkcode U64}.
 *
 * @param col The u64 column (`lo, hi` pairs).
 * @param i The row.
 * @returns The value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { u64ExactAt } from "./mod.ts";
 * const col = new Uint32Array([0x1000, 0, 0xffffffff, 0xffffffff]);
 * assert.equal(u64ExactAt(col, 0), 0x1000);
 * assert.equal(u64ExactAt(col, 1), 0xffffffffffffffffn);
 * ```
 */
export function u64ExactAt(col: Uint32Array, i: number): U64 {
  const lo = col[2 * i] ?? 0;
  const hi = col[2 * i + 1] ?? 0;
  if (hi < 0x200000) return hi * TWO_32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * The {@linkcode U64} of a non-negative integer.
 *
 * @param v The value (a `number` above 2^53 is taken as the integer it holds).
 * @returns The value in its one form.
 */
export function u64Exact(v: number | bigint): U64 {
  if (typeof v === "number") return v <= MAX_EXACT ? v : BigInt(v);
  return v <= MAX_EXACT_BIG ? Number(v) : v;
}

/**
 * `a + b`, exactly.
 *
 * @param a A value.
 * @param b A value (may be negative: `u64Sum(end, -1)`).
 * @returns The sum as a {@linkcode U64}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { u64Sum } from "./mod.ts";
 * assert.equal(u64Sum(0x1000, 0x1000), 0x2000);
 * assert.equal(u64Sum(2 ** 53 - 1, 1), 2n ** 53n);
 * assert.equal(u64Sum(2n ** 53n, -1), 2 ** 53 - 1);
 * ```
 */
export function u64Sum(a: U64, b: U64): U64 {
  if (typeof a === "number" && typeof b === "number") {
    const s = a + b;
    // An exact sum up to 2^53 - 1 stays so; a larger one rounds to 2^53 or above.
    if (s <= MAX_EXACT) return s;
  }
  return u64Exact(BigInt(a) + BigInt(b));
}

/**
 * The page frame number (address >> 12) of row `i` of a u64 column, exact for every 64-bit
 * address (a number below 2^52), without a `bigint`.
 *
 * @param col The u64 column.
 * @param i The row.
 * @returns The pfn.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pfnAt } from "./mod.ts";
 * assert.equal(pfnAt(new Uint32Array([0xfffe1234, 0xffffffff]), 0), 0xfffffffffffe1);
 * ```
 */
export function pfnAt(col: Uint32Array, i: number): number {
  return (col[2 * i + 1] ?? 0) * 0x100000 + ((col[2 * i] ?? 0) >>> 12);
}

/**
 * Row `i` of a u64 column as a `number` (exact below 2^53; use for sizes and counts).
 *
 * @param col The u64 column.
 * @param i The row.
 * @returns The value, rounded above 2^53.
 */
export function u64AsNumber(col: Uint32Array, i: number): number {
  return (col[2 * i + 1] ?? 0) * TWO_32 + (col[2 * i] ?? 0);
}

/**
 * A u64 written as the kernel's `0x%llx`.
 *
 * @param v The value.
 * @returns Lower-case hex with `0x`.
 */
export function hex(v: bigint): string {
  return "0x" + v.toString(16);
}

/**
 * Row `i` of a u64 column written as `0x%llx`, without a `bigint`.
 *
 * @param col The u64 column (`lo, hi` pairs).
 * @param i The row.
 * @returns Lower-case hex with `0x`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hexAt } from "./mod.ts";
 * assert.equal(hexAt(new Uint32Array([0x1000, 0, 0xf, 0xffffffff]), 0), "0x1000");
 * assert.equal(hexAt(new Uint32Array([0x1000, 0, 0xf, 0xffffffff]), 1), "0xffffffff0000000f");
 * ```
 */
export function hexAt(col: Uint32Array, i: number): string {
  const lo = col[2 * i] ?? 0;
  const hi = col[2 * i + 1] ?? 0;
  if (hi === 0) return "0x" + lo.toString(16);
  return "0x" + hi.toString(16) + lo.toString(16).padStart(8, "0");
}
