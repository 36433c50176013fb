// Character constants and small scanners shared by the line parsers (STYLE 26). The parsers
// work on the bytes of the read buffer, not on decoded strings: a Uint8Array element costs
// 0.4 ns to read here against 1.0 ns for String.prototype.charCodeAt (bench/RESULTS.md), and
// only the strings that get interned are ever decoded. Structure is ASCII; UTF-8 bytes of
// task names and strings pass through untouched until decoded.

export const CH_SPACE = 32;
export const CH_TAB = 9;
export const CH_NL = 10;
export const CH_CR = 13;
export const CH_HASH = 35;
export const CH_DASH = 45;
export const CH_DOT = 46;
export const CH_COLON = 58;
export const CH_EQ = 61;
export const CH_LBRACKET = 91;
export const CH_RBRACKET = 93;
export const CH_LPAREN = 40;
export const CH_RPAREN = 41;
export const CH_LBRACE = 123;
export const CH_RBRACE = 125;
export const CH_COMMA = 44;
export const CH_QUOTE = 34;
export const CH_PIPE = 124;
export const CH_SLASH = 47;
export const CH_PLUS = 43;
export const CH_LT = 60;
export const CH_0 = 48;
export const CH_9 = 57;
export const CH_LOWER_A = 97;
export const CH_LOWER_F = 102;
export const CH_UPPER_A = 65;
export const CH_UPPER_F = 70;
export const CH_LOWER_X = 120;
export const CH_UPPER_X = 88;

export function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

export function isSpace(c: number): boolean {
  return c === CH_SPACE || c === CH_TAB;
}

/** First index at or after `p` that is not a space (or `end`). */
export function skipSpaces(s: Uint8Array, p: number, end: number): number {
  for (; p < end; ++p) {
    const c = s[p]!;
    if (c !== CH_SPACE && c !== CH_TAB) break;
  }
  return p;
}

/** First index at or after `p` that is a space (or `end`). */
export function toSpace(s: Uint8Array, p: number, end: number): number {
  // The test written out: the callers are large enough that V8 stops inlining into them.
  for (; p < end; ++p) {
    const c = s[p]!;
    if (c === CH_SPACE || c === CH_TAB) break;
  }
  return p;
}

/** Unsigned decimal `s[start, end)` as a number, or -1 when not all digits or empty. */
export function parseUint(s: Uint8Array, start: number, end: number): number {
  if (start >= end) return -1;
  let v = 0;
  for (let p = start; p < end; ++p) {
    const c = s[p]!;
    if (c < CH_0 || c > CH_9) return -1;
    v = v * 10 + (c - CH_0);
  }
  return v;
}

/** Signed decimal `s[start, end)`, or NaN. */
export function parseInt10(s: Uint8Array, start: number, end: number): number {
  if (start < end && s[start]! === CH_DASH) {
    const v = parseUint(s, start + 1, end);
    return v < 0 ? NaN : -v;
  }
  const v = parseUint(s, start, end);
  return v < 0 ? NaN : v;
}

/** Hex `s[start, end)` (optional 0x) as a number (exact below 2^53), or -1. */
export function parseHexNumber(s: Uint8Array, start: number, end: number): number {
  let p = start;
  if (end - p > 2 && s[p]! === CH_0 && (s[p + 1]! | 32) === CH_LOWER_X) p += 2;
  if (p >= end) return -1;
  let v = 0;
  for (; p < end; ++p) {
    const c = s[p]! | 0;
    let d: number;
    if (c >= CH_0 && c <= CH_9) d = c - CH_0;
    else if ((c | 32) >= 97 && (c | 32) <= 102) d = (c | 32) - 87;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}

/** `0x` hex or decimal, as a number; NaN when neither. */
export function parseAutoNumber(s: Uint8Array, start: number, end: number): number {
  if (end - start > 2 && s[start]! === CH_0 && (s[start + 1]! | 32) === CH_LOWER_X) {
    const v = parseHexNumber(s, start, end);
    return v < 0 ? NaN : v;
  }
  return parseInt10(s, start, end);
}

/** The bytes of an ASCII word, for comparing in place (make these once, at module level). */
export function ascii(word: string): Uint8Array {
  return new TextEncoder().encode(word);
}

/** Whether the bytes at `p` start with `word`. */
export function startsWithAt(s: Uint8Array, p: number, word: Uint8Array): boolean {
  const n = word.length;
  if (p < 0 || p + n > s.length) return false;
  for (let k = 0; k < n; ++k) if (s[p + k] !== word[k]) return false;
  return true;
}

/** Whether `s[start, end)` equals `word`. */
export function equalsAt(s: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  return end - start === word.length && startsWithAt(s, start, word);
}

const UTF8 = new TextDecoder("utf-8");

/** `s[start, end)` decoded as UTF-8 (invalid bytes become U+FFFD). */
export function textOf(s: Uint8Array, start: number, end: number): string {
  return UTF8.decode(s.subarray(start, end));
}

let lastBytes: Uint8Array | undefined;
let lastView: DataView = new DataView(new ArrayBuffer(0));

/** A DataView of `s` (the last one is kept: every line of a read buffer shares it). */
export function viewOf(s: Uint8Array): DataView {
  if (s !== lastBytes) {
    lastBytes = s;
    lastView = new DataView(s.buffer, s.byteOffset, s.byteLength);
  }
  return lastView;
}

/**
 * One past the word at `p`: the first space, tab, newline or CR at or after it, or `end` (for
 * parsers that read a line before its end is known).
 */
export function wordEnd(s: Uint8Array, p: number, end: number): number {
  for (; p < end; ++p) {
    const c = s[p]!;
    // One comparison for the bytes of a word (all above the space), four for the others.
    if (c <= CH_SPACE && (c === CH_SPACE || c === CH_NL || c === CH_CR || c === CH_TAB)) break;
  }
  return p;
}

/**
 * Index of the first newline in `s[p, n)`, or `n`; `v` views `s`. Eight bytes a step (a byte
 * of a 32-bit word is zero when (x - 0x01..) & ~x sets its top bit): twice the speed of
 * `Uint8Array.prototype.indexOf` on lines of 100-200 bytes, whose per-call cost dominates.
 */
export function newlineIn(v: DataView, s: Uint8Array, p: number, n: number): number {
  while (p + 8 <= n) {
    const x = v.getInt32(p, true) ^ 0x0a0a0a0a;
    const y = v.getInt32(p + 4, true) ^ 0x0a0a0a0a;
    if ((((x - 0x01010101) & ~x) | ((y - 0x01010101) & ~y)) & 0x80808080) break;
    p += 8;
  }
  while (p < n && s[p] !== 10) ++p;
  return p;
}

// Bounded searches. indexOf has no end: on a 1 MiB piece a search for a byte the line lacks
// runs to the end of the piece, so every in-line search goes here.

/** Index of char code `c` in `s[a, e)`, or -1. */
export function charIn(s: Uint8Array, c: number, a: number, e: number): number {
  for (let p = a; p < e; ++p) if (s[p]! === c) return p;
  return -1;
}

/** Last index of char code `c` in `s[a, e)`, or -1. */
export function lastCharIn(s: Uint8Array, c: number, a: number, e: number): number {
  for (let p = e - 1; p >= a; --p) if (s[p]! === c) return p;
  return -1;
}

/** Index of `needle` starting within `s[a, e)` and ending by `e`, or -1. */
export function strIn(s: Uint8Array, needle: Uint8Array, a: number, e: number): number {
  const c0 = needle[0];
  const last = e - needle.length;
  for (let p = a; p <= last; ++p) {
    if (s[p]! === c0 && startsWithAt(s, p, needle)) return p;
  }
  return -1;
}

/** Last index of `needle` within `s[a, e)`, or -1. */
export function lastStrIn(s: Uint8Array, needle: Uint8Array, a: number, e: number): number {
  const c0 = needle[0];
  for (let p = e - needle.length; p >= a; --p) {
    if (s[p]! === c0 && startsWithAt(s, p, needle)) return p;
  }
  return -1;
}
