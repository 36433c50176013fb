/**
 * Writing replay tables out as CSV (RFC 4180), chunk by chunk, in bytes: a table of any length
 * streams to its file with one chunk in memory.
 *
 * @module
 */

import type { TableChunk, TableSchema } from "./table_builder.ts";

const QUOTE_REGEXP = /[",\n\r]/;

function csvField(s: string): string {
  return QUOTE_REGEXP.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * A table's CSV header line.
 *
 * @param schema The table.
 * @returns `a,b,c\n`.
 */
export function csvHeader(schema: TableSchema): string {
  return schema.columns.map((c) => c.name).join(",") + "\n";
}

/**
 * A chunk's rows as CSV lines (no header; null numbers empty, strings quoted when needed).
 *
 * @param c The chunk.
 * @returns CSV text, one line per row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chunkToCsv, csvHeader } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "f64" as const, doc: "" }, { name: "s", kind: "str" as const, doc: "" }] };
 * const c = { schema, n: 2, data: [new Float64Array([1.5, NaN]), ["a,b", 'say "hi"']] };
 * assert.equal(csvHeader(schema) + chunkToCsv(c), 'x,s\n1.5,"a,b"\n,"say ""hi"""\n');
 * ```
 */
export function chunkToCsv(c: TableChunk): string {
  return new TextDecoder().decode(new CsvEncoder().encode(c));
}

const COMMA = 0x2c;
const NEWLINE = 0x0a;
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DOT = 0x2e;
/** Room for any number as `String()` prints it ("-1.2345678901234567e-308" is 24). */
const NUMBER_ROOM = 32;

/**
 * A table's CSV bytes, chunk by chunk, written byte by byte into one buffer the encoder keeps:
 * no string per field or per row (a chunk's text and then its UTF-8 copy made the table
 * encoder a third of its worker's time, and most of its heap). The bytes are those UTF-8 gives
 * of {@linkcode chunkToCsv}'s text: numbers as `String()` prints them (integers digit by digit),
 * null numbers empty, strings quoted as RFC 4180 asks.
 *
 * @example A header, then two rows
 * ```ts
 * import assert from "node:assert/strict";
 * import { CsvEncoder } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }, { name: "s", kind: "str" as const, doc: "" }] };
 * const bytes = new CsvEncoder().encode({ schema, n: 2, data: [new Int32Array([-7, 12]), ["a", "b,c"]] }, true);
 * assert.equal(new TextDecoder().decode(bytes), 'x,s\n-7,a\n12,"b,c"\n');
 * ```
 */
export class CsvEncoder {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  readonly #text = new TextEncoder();
  readonly #reuse: boolean;

  /**
   * An encoder.
   *
   * @param options `reuse`: each call's bytes are a view of the encoder's buffer, valid until
   *   its next call (no copy; for a caller that writes them out at once). Default: a copy.
   */
  constructor(options: { reuse?: boolean } = {}) {
    this.#reuse = options.reuse ?? false;
  }

  /**
   * A chunk's rows as CSV bytes.
   *
   * @param c The chunk.
   * @param header Whether the table's header line comes first.
   * @returns The bytes (the caller's copy; with `reuse`, a view valid until the next call).
   */
  encode(c: TableChunk, header = false): Uint8Array {
    const cols = c.schema.columns;
    const m = cols.length;
    // Each column's kind and data, read through sites that each see one type of array.
    const kind = new Int8Array(m);
    // (Arrays without holes: a load from a holey one cost a tenth of the encoding.)
    const f64: Float64Array[] = new Array(m).fill(NO_F64);
    const i32: Int32Array[] = new Array(m).fill(NO_I32);
    const codes: Int32Array[] = new Array(m).fill(NO_I32);
    const strs: string[][] = new Array(m).fill(NO_STRS);
    // A coded string column: each distinct value escaped and encoded once; one of at most 16
    // bytes also as four little-endian words (zero-padded), written four bytes a store.
    const coded: Uint8Array[][] = new Array(m).fill(NO_CODED);
    const codedWords: Int32Array[] = new Array(m).fill(NO_I32);
    const codedLen: Int32Array[] = new Array(m).fill(NO_I32);
    let rowRoom = m + 1; // separators and the newline
    for (let i = 0; i < m; ++i) {
      const d = c.dict?.[i];
      if (d !== undefined) {
        kind[i] = CODED;
        codes[i] = d.codes;
        const bytes = d.values.map((v) => this.#text.encode(csvField(v)));
        coded[i] = bytes;
        codedLen[i] = Int32Array.from(bytes, (b) => b.length);
        const words = new Int32Array(4 * bytes.length);
        const padded = new Uint8Array(16);
        const pv = new DataView(padded.buffer);
        bytes.forEach((b, k) => {
          if (b.length > 16) return;
          padded.fill(0);
          padded.set(b);
          for (let w = 0; w < 4; ++w) words[4 * k + w] = pv.getInt32(4 * w, true);
        });
        codedWords[i] = words;
        // (A word store may write up to three bytes past the value: the next field's room.)
        rowRoom += bytes.reduce((n, b) => Math.max(n, b.length), 0) + 4;
        continue;
      }
      // (A builder's numbers read where its strings are not made: `data` would make them.)
      const data = c.numbers?.[i] ?? c.data[i]!;
      if (data instanceof Float64Array) {
        kind[i] = F64;
        f64[i] = data;
      } else if (data instanceof Int32Array) {
        kind[i] = I32;
        i32[i] = data;
      } else {
        kind[i] = STR; // room made field by field
        strs[i] = data;
      }
      rowRoom += NUMBER_ROOM;
    }
    let at = 0;
    if (header) at = this.#ascii(csvHeader(c.schema), 0);
    for (let r = 0; r < c.n; ++r) {
      if (at + rowRoom > this.#buf.length) this.#room(at, rowRoom);
      // (Taken again after each string: the buffer may grow for it.)
      let buf = this.#buf;
      let view = this.#view;
      for (let i = 0; i < m; ++i) {
        if (i > 0) buf[at++] = COMMA;
        switch (kind[i]) {
          case F64: {
            const v = f64[i]![r]!;
            if (v !== v) break; // NaN: null
            if (Number.isSafeInteger(v)) at = writeInt(buf, at, v);
            else {
              const end = writeMicros(buf, at, v);
              if (end >= 0) at = end;
              else {
                at = this.#ascii(String(v), at);
                buf = this.#buf;
                view = this.#view;
              }
            }
            break;
          }
          case I32:
            at = writeInt(buf, at, i32[i]![r]!);
            break;
          case CODED: {
            const code = codes[i]![r]!;
            const n = codedLen[i]![code]!;
            if (n > 16) buf.set(coded[i]![code]!, at);
            else if (n > 0) {
              const w = codedWords[i]!;
              view.setInt32(at, w[4 * code]!, true);
              if (n > 4) view.setInt32(at + 4, w[4 * code + 1]!, true);
              if (n > 8) view.setInt32(at + 8, w[4 * code + 2]!, true);
              if (n > 12) view.setInt32(at + 12, w[4 * code + 3]!, true);
            }
            at += n;
            break;
          }
          default: {
            const t = csvField(strs[i]![r]!);
            this.#room(at, t.length * 3 + rowRoom);
            at = this.#ascii(t, at);
            buf = this.#buf;
            view = this.#view;
          }
        }
      }
      buf[at++] = NEWLINE;
    }
    return this.#reuse ? this.#buf.subarray(0, at) : this.#buf.slice(0, at);
  }

  /** Room for `n` more bytes after the first `at`. */
  #room(at: number, n: number): void {
    if (at + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, at));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }

  /** A string's UTF-8 bytes at `at` (room made by the caller for ASCII); the end. */
  #ascii(t: string, at: number): number {
    this.#room(at, t.length * 3);
    const buf = this.#buf;
    for (let k = 0; k < t.length; ++k) {
      const ch = t.charCodeAt(k);
      if (ch >= 0x80) return at + this.#text.encodeInto(t, buf.subarray(at)).written;
      buf[at + k] = ch;
    }
    return at + t.length;
  }
}

const NO_F64 = new Float64Array(0);
const NO_I32 = new Int32Array(0);
const NO_STRS: string[] = [];
const NO_CODED: Uint8Array[] = [];

const F64 = 0;
const I32 = 1;
const CODED = 2;
const STR = 3;

/**
 * `v`'s digits at `at` as `String()` writes them, when `v` is the double of a decimal with at
 * most six fraction digits and 15 significant ones (a trace's timestamp in seconds,
 * `8.500032`), else nothing; the end, or -1. No string is made: `String()` of each timestamp of a
 * table was a tenth of its CSV's time, and garbage. Two decimals of at most 15 significant digits
 * are never the same double, so that decimal, its trailing zeros dropped, is the shortest that
 * reads back as `v`: `String(v)`, in fixed notation from 1e-6 up.
 *
 * @param buf Room for 32 bytes at `at`.
 * @param at Where the digits go.
 * @param v A number that is not an integer.
 * @returns The end of the digits, or -1 (nothing written) for another number.
 */
export function writeMicros(buf: Uint8Array, at: number, v: number): number {
  const a = v < 0 ? -v : v;
  if (!(a < 1e9)) return -1;
  const s = Math.round(a * 1e6);
  // (The division is correctly rounded: the double nearest the decimal s / 10^6.)
  const q = s / 1e6;
  if (s === 0 || q !== a) return -1;
  // Whole seconds and micros, exact (integers below 2^53), without the floating-point
  // remainder (a library call); the micros then as an int32, whose divisions by 10 the
  // compiler makes multiplications.
  let secs = Math.floor(q);
  let rest = s - secs * 1e6;
  if (rest < 0) {
    secs -= 1;
    rest += 1e6;
  } else if (rest >= 1e6) {
    secs += 1;
    rest -= 1e6;
  }
  let frac = rest | 0;
  if (v < 0) buf[at++] = MINUS;
  at = writeInt(buf, at, secs);
  if (frac === 0) return at; // (not reached for a non-integer; kept for any caller)
  buf[at++] = DOT;
  let digits = 6;
  while (frac % 10 === 0) {
    frac = (frac / 10) | 0;
    --digits;
  }
  for (let k = at + digits - 1; k >= at; --k) {
    const d = (frac / 10) | 0;
    buf[k] = DIGIT_0 + (frac - d * 10);
    frac = d;
  }
  return at + digits;
}

/** A safe integer's digits at `at`, as `String()` writes them; the end. */
function writeInt(buf: Uint8Array, at: number, v: number): number {
  let x = v;
  if (x < 0) {
    buf[at++] = MINUS;
    x = -x;
  }
  if (x < 10) {
    buf[at] = DIGIT_0 + x; // also -0, as "0"
    return at + 1;
  }
  let digits = 2;
  for (let p = 100; p <= x; p *= 10) ++digits;
  const end = at + digits;
  let k = end;
  if (x < 2147483648) {
    // As an int32 (the value may come from a Float64Array): the divisions by 10 are then
    // integer ones, which the compiler makes multiplications, not floating-point divisions.
    let y = x | 0;
    while (y > 0) {
      const q = (y / 10) | 0;
      buf[--k] = DIGIT_0 + (y - q * 10);
      y = q;
    }
  } else {
    while (x > 0) {
      const q = Math.floor(x / 10);
      buf[--k] = DIGIT_0 + (x - q * 10);
      x = q;
    }
  }
  return end;
}
