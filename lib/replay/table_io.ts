/**
 * Writing replay tables out: CSV (RFC 4180) and the Arrow IPC stream format, chunk by chunk,
 * so a table of any length streams to its file with one chunk in memory.
 *
 * @module
 */

import {
  batchType,
  Column,
  columnFromArray,
  dictionary,
  float64,
  int32,
  tableFromColumns,
  tableToIPC,
  utf8,
} from "@uwdata/flechette";
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
  readonly #text = new TextEncoder();

  /**
   * A chunk's rows as CSV bytes.
   *
   * @param c The chunk.
   * @param header Whether the table's header line comes first.
   * @returns The bytes (the caller's: a copy, not a view of the encoder's buffer).
   */
  encode(c: TableChunk, header = false): Uint8Array {
    const cols = c.schema.columns;
    const m = cols.length;
    // Each column's kind and data, read through sites that each see one type of array.
    const kind = new Int8Array(m);
    const f64: Float64Array[] = [];
    const i32: Int32Array[] = [];
    const codes: Int32Array[] = [];
    const strs: string[][] = [];
    // A coded string column: each distinct value escaped and encoded once.
    const coded: Uint8Array[][] = [];
    let rowRoom = m + 1; // separators and the newline
    for (let i = 0; i < m; ++i) {
      const d = c.dict?.[i];
      if (d !== undefined) {
        kind[i] = CODED;
        codes[i] = d.codes;
        coded[i] = d.values.map((v) => this.#text.encode(csvField(v)));
        rowRoom += coded[i]!.reduce((n, b) => Math.max(n, b.length), 0);
        continue;
      }
      const data = c.data[i]!;
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
      for (let i = 0; i < m; ++i) {
        if (i > 0) buf[at++] = COMMA;
        switch (kind[i]) {
          case F64: {
            const v = f64[i]![r]!;
            if (v !== v) break; // NaN: null
            if (Number.isSafeInteger(v)) at = writeInt(buf, at, v);
            else {
              at = this.#ascii(String(v), at);
              buf = this.#buf;
            }
            break;
          }
          case I32:
            at = writeInt(buf, at, i32[i]![r]!);
            break;
          case CODED: {
            const b = coded[i]![codes[i]![r]!]!;
            if (b.length > 16) buf.set(b, at);
            else for (let k = 0; k < b.length; ++k) buf[at + k] = b[k]!;
            at += b.length;
            break;
          }
          default: {
            const t = csvField(strs[i]![r]!);
            this.#room(at, t.length * 3 + rowRoom);
            at = this.#ascii(t, at);
            buf = this.#buf;
          }
        }
      }
      buf[at++] = NEWLINE;
    }
    return this.#buf.slice(0, at);
  }

  /** Room for `n` more bytes after the first `at`. */
  #room(at: number, n: number): void {
    if (at + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, at));
    this.#buf = grown;
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

const F64 = 0;
const I32 = 1;
const CODED = 2;
const STR = 3;

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
    while (x > 0) {
      const q = (x / 10) | 0;
      buf[--k] = DIGIT_0 + (x - q * 10);
      x = q;
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

/**
 * Column `i` of a chunk as strings (from its codes when the chunk carries them).
 *
 * @param c The chunk.
 * @param i A string column.
 * @returns At least `c.n` strings.
 */
export function chunkStrings(c: TableChunk, i: number): readonly string[] {
  const d = c.dict?.[i];
  if (d === undefined) return c.data[i] as string[];
  const out = new Array<string>(c.n);
  for (let r = 0; r < c.n; ++r) out[r] = d.values[d.codes[r]!]!;
  return out;
}

/**
 * A dictionary-encoded utf8 column from codes and values, as flechette's builder would make it
 * from the strings (values in order of first appearance), without hashing a string per row.
 */
function dictionaryColumn(codes: Int32Array, values: readonly string[], n: number): Column<string> {
  const type = dictionary(utf8(), int32());
  const Batch = batchType(type);
  const batch = new Batch({
    length: n,
    nullCount: 0,
    type,
    validity: new Uint8Array(0),
    values: codes,
  }) as InstanceType<typeof Batch> & { setDictionary(c: Column<string>): void };
  batch.setDictionary(columnFromArray(values as string[], type.dictionary) as Column<string>);
  return new Column([batch]) as Column<string>;
}

/**
 * A chunk's dictionary values in the order the rows first use them (a chunk's values list may
 * hold one no row uses, the "" every column starts with), as codes into that list.
 */
function firstUseOrder(d: { codes: Int32Array; values: readonly string[] }, n: number) {
  const remap = new Int32Array(d.values.length).fill(-1);
  const values: string[] = [];
  // Padded to 8 bytes, as flechette's builders pad theirs (the same bytes out).
  const codes = new Int32Array(n + (n & 1));
  for (let r = 0; r < n; ++r) {
    const c = d.codes[r]!;
    let k = remap[c]!;
    if (k < 0) {
      k = remap[c] = values.length;
      values.push(d.values[c]!);
    }
    codes[r] = k;
  }
  return { codes, values };
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/**
 * Encodes a table's chunks as one Arrow IPC stream: the schema once, then per chunk its
 * dictionary batches and its record batch, the end-of-stream marker at
 * {@linkcode ArrowStreamEncoder.end}. String columns are dictionary-encoded (five times faster
 * to build than plain utf8, and most are a few distinct values); each chunk's dictionaries
 * replace the previous ones, as the IPC stream format allows. Null numbers are Arrow nulls.
 *
 * @example Two chunks read back as one table
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableFromIPC } from "@uwdata/flechette";
 * import { ArrowStreamEncoder } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }] };
 * const e = new ArrowStreamEncoder(schema);
 * const parts = [
 *   e.encode({ schema, n: 2, data: [new Int32Array([1, 2])] }),
 *   e.encode({ schema, n: 1, data: [new Int32Array([3])] }),
 *   e.end(),
 * ];
 * const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
 * parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
 * assert.deepEqual(tableFromIPC(bytes).getChild("x")!.toArray(), new Int32Array([1, 2, 3]));
 * ```
 */
export class ArrowStreamEncoder {
  readonly #schema: TableSchema;
  #started = false;

  /**
   * An encoder for one table.
   *
   * @param schema The table.
   */
  constructor(schema: TableSchema) {
    this.#schema = schema;
  }

  /**
   * The bytes of one chunk (with the schema message first, the first time).
   *
   * @param c The chunk.
   * @returns Bytes to append to the stream.
   */
  encode(c: TableChunk): Uint8Array {
    const columns: [string, Column<unknown>][] = this.#schema.columns.map((s, i) => {
      const d = c.data[i]!;
      if (s.kind === "str") {
        const coded = c.dict?.[i];
        if (coded !== undefined) {
          const o = firstUseOrder(coded, c.n);
          return [s.name, dictionaryColumn(o.codes, o.values, c.n)];
        }
        return [
          s.name,
          columnFromArray((d as string[]).slice(0, c.n), dictionary(utf8(), int32())),
        ];
      }
      if (s.kind === "i32") {
        return [s.name, columnFromArray((d as Int32Array).subarray(0, c.n), int32())];
      }
      const f = (d as Float64Array).subarray(0, c.n);
      const values = f.some(Number.isNaN) ? Array.from(f, (v) => (Number.isNaN(v) ? null : v)) : f;
      return [s.name, columnFromArray(values, float64())];
    });
    const t = tableFromColumns(columns);
    const bytes = tableToIPC(t, { format: "stream" })!;
    // [schema message][record batch][EOS]: keep the schema only the first time, never the EOS.
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const schemaBytes = dv.getUint32(0, true) === 0xffffffff ? 8 + dv.getInt32(4, true) : 0;
    const from = this.#started ? schemaBytes : 0;
    this.#started = true;
    return bytes.subarray(from, bytes.byteLength - EOS.byteLength);
  }

  /**
   * The end of the stream (with the schema first when no chunk came: an empty table).
   *
   * @returns The last bytes.
   */
  end(): Uint8Array {
    if (this.#started) return EOS;
    const empty = this.encode({
      schema: this.#schema,
      n: 0,
      data: this.#schema.columns.map((s) =>
        s.kind === "str" ? [] : s.kind === "i32" ? new Int32Array(0) : new Float64Array(0)
      ),
    });
    const out = new Uint8Array(empty.byteLength + EOS.byteLength);
    out.set(empty);
    out.set(EOS, empty.byteLength);
    return out;
  }
}
