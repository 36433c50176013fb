/**
 * Replay tables as Parquet files, chunk by chunk, so studies go on in DuckDB, Polars or Spark:
 * each chunk one row group, each column one data page (numbers PLAIN, with min/max/null-count
 * statistics; strings dictionary-encoded, the chunk's distinct values in a dictionary page),
 * every page ZSTD-compressed, the footer at the end. Memory holds one row group's pages in
 * buffers the writer keeps, and a few dozen bytes of footer per row group.
 *
 * Written from the Parquet format's specification (parquet-format's Encodings.md and
 * parquet.thrift) rather than through a library: parquet-wasm (the Rust writer compiled to
 * WebAssembly) held 12 MB of linear memory that never shrinks plus its module, about a sixth of a
 * replay's peak RSS, and a pure-JS writer (hyparquet-writer) took the same again in its heap with
 * an array per column; our tables need three types, flat columns and one page per column.
 *
 * @module
 */

import { zstdPage } from "./_zstd_pages.ts";
import { Bytes, MAX_RLE_BITS, writeRleHybrid } from "./_parquet_encoding.ts";
import { T_BINARY, T_I32, T_STRUCT, ThriftWriter } from "./_thrift_compact.ts";
import type { TableChunk, TableSchema } from "./table_builder.ts";
import { firstUseDictionary } from "./_first_use.ts";

// parquet.thrift enums.
const TYPE_INT32 = 1;
const TYPE_DOUBLE = 5;
const TYPE_BYTE_ARRAY = 6;
const REQUIRED = 0;
const OPTIONAL = 1;
const CONVERTED_UTF8 = 0;
const ENC_PLAIN = 0;
const ENC_RLE = 3;
const ENC_RLE_DICTIONARY = 8;
const CODEC_ZSTD = 6;
const PAGE_DATA = 0;
const PAGE_DICTIONARY = 2;

const MAGIC = new Uint8Array([0x50, 0x41, 0x52, 0x31]); // "PAR1"
/** Widest dictionary index written. */
const MAX_INDEX_BITS = MAX_RLE_BITS;
const TEXT = new TextEncoder();

/** What the footer says of one column chunk. */
interface ColumnChunkInfo {
  readonly type: number;
  readonly encodings: readonly number[];
  readonly name: string;
  readonly numValues: number;
  readonly uncompressedBytes: number;
  readonly compressedBytes: number;
  readonly dataPageOffset: number;
  readonly dictionaryPageOffset: number; // -1: none
  readonly nullCount: number;
  readonly min: Uint8Array | null;
  readonly max: Uint8Array | null;
}

/** Byte-wise (unsigned) order of UTF-8 strings, as Parquet orders BYTE_ARRAY statistics. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ++i) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * One Parquet file written as its table's chunks come: {@linkcode ParquetStreamWriter.write}
 * gives each chunk's row group (the file's magic first), {@linkcode ParquetStreamWriter.end} the
 * footer. Null numbers (NaN) are Parquet nulls (the number columns are OPTIONAL, the string and
 * int32 columns REQUIRED); strings are UTF8 byte arrays.
 *
 * @example Two chunks, one file
 * ```ts
 * import assert from "node:assert/strict";
 * import { ParquetStreamWriter } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }] };
 * const w = new ParquetStreamWriter(schema);
 * const parts = [
 *   w.write({ schema, n: 1, data: [new Int32Array([1])] }),
 *   w.write({ schema, n: 1, data: [new Int32Array([2])] }),
 *   w.end(),
 * ];
 * const text = (b: Uint8Array) => new TextDecoder().decode(b);
 * assert.equal(text(parts[0]!.subarray(0, 4)), "PAR1");
 * assert.equal(text(parts[2]!.subarray(-4)), "PAR1");
 * ```
 */
export class ParquetStreamWriter {
  readonly #schema: TableSchema;
  /** Bytes of the file so far (the next row group's offset). */
  #offset = 0;
  #rows = 0;
  /** Each row group's RowGroup struct, encoded when written. */
  readonly #rowGroups: Uint8Array[] = [];
  // Buffers reused by every row group: one page's body, the row group's bytes, Thrift.
  readonly #page = new Bytes();
  readonly #out = new Bytes();
  readonly #thrift = new ThriftWriter();
  #f64 = new Float64Array(0);
  #i32 = new Int32Array(0);
  #levels = new Uint8Array(0);
  readonly #stat = new DataView(new ArrayBuffer(8));
  readonly #reuse: boolean;

  /**
   * A writer of one file.
   *
   * @param schema The table.
   * @param options `reuse`: each call's bytes are a view of the writer's buffer, valid until its
   *   next call (no copy). Default: a copy.
   */
  constructor(schema: TableSchema, options: { reuse?: boolean } = {}) {
    this.#schema = schema;
    this.#reuse = options.reuse ?? false;
  }

  /**
   * A chunk as one row group.
   *
   * @param c The chunk.
   * @returns The bytes to append to the file (the magic before the first row group; nothing
   *   for a chunk of no rows).
   * @throws {RangeError} When a string column has more than 2^24 distinct values in one chunk.
   */
  write(c: TableChunk): Uint8Array {
    const out = this.#out;
    out.at = 0;
    if (this.#offset === 0) out.set(MAGIC);
    if (c.n === 0) return this.#take();
    const n = c.n;
    if (this.#f64.length < n) {
      this.#f64 = new Float64Array(n);
      this.#i32 = new Int32Array(n);
      this.#levels = new Uint8Array(n);
    }
    const columns: ColumnChunkInfo[] = [];
    const start = this.#offset + out.at;
    this.#schema.columns.forEach((s, i) => {
      const numbers = c.numbers?.[i];
      if (s.kind === "str") columns.push(this.#strings(c, i, s.name));
      else if (s.kind === "i32") {
        columns.push(this.#int32s((numbers ?? c.data[i]) as Int32Array, n, s.name));
      } else columns.push(this.#doubles((numbers ?? c.data[i]) as Float64Array, n, s.name));
    });
    this.#rowGroups.push(this.#rowGroup(columns, n, start));
    this.#rows += n;
    return this.#take();
  }

  /**
   * Close the file.
   *
   * @returns Its last bytes: the footer (after the magic when no rows came: a file of no rows).
   */
  end(): Uint8Array {
    const out = this.#out;
    out.at = 0;
    if (this.#offset === 0) out.set(MAGIC);
    const w = this.#thrift;
    w.reset();
    w.begin(); // FileMetaData
    w.i32(1, 1); // version
    const cols = this.#schema.columns;
    w.list(2, T_STRUCT, cols.length + 1);
    w.begin(); // the root SchemaElement
    w.string(4, "schema");
    w.i32(5, cols.length);
    w.end();
    for (const s of cols) {
      w.begin();
      w.i32(1, s.kind === "str" ? TYPE_BYTE_ARRAY : s.kind === "i32" ? TYPE_INT32 : TYPE_DOUBLE);
      w.i32(3, s.kind === "f64" ? OPTIONAL : REQUIRED);
      w.string(4, s.name);
      if (s.kind === "str") {
        w.i32(6, CONVERTED_UTF8);
        w.struct(10); // LogicalType
        w.struct(1); // STRING
        w.end();
        w.end();
      }
      w.end();
    }
    w.i64(3, this.#rows);
    w.list(4, T_STRUCT, this.#rowGroups.length);
    for (const g of this.#rowGroups) w.raw(g);
    w.string(6, "dmareplay");
    w.list(7, T_STRUCT, cols.length); // column orders: each type's own order (the statistics')
    for (let i = 0; i < cols.length; ++i) {
      w.begin();
      w.struct(1); // TYPE_ORDER
      w.end();
      w.end();
    }
    w.end();
    const footer = w.view();
    out.set(footer);
    out.u32(footer.length);
    out.set(MAGIC);
    return this.#take();
  }

  /** The row group's bytes, copied out of the kept buffer (or a view of it, with `reuse`). */
  #take(): Uint8Array {
    const bytes = this.#reuse ? this.#out.view() : this.#out.view().slice();
    this.#offset += bytes.length;
    return bytes;
  }

  /** An int32 column: PLAIN values. */
  #int32s(v: Int32Array, n: number, name: string): ColumnChunkInfo {
    let min = v[0]!;
    let max = min;
    for (let r = 1; r < n; ++r) {
      const x = v[r]!;
      if (x < min) min = x;
      else if (x > max) max = x;
    }
    const page = this.#page;
    page.at = 0;
    page.set(new Uint8Array(v.buffer, v.byteOffset, n * 4));
    const at = this.#offset + this.#out.at;
    const [u, z] = this.#dataPage(n, ENC_PLAIN);
    const stat = this.#stat;
    stat.setInt32(0, min, true);
    const minBytes = new Uint8Array(stat.buffer.slice(0, 4));
    stat.setInt32(0, max, true);
    const maxBytes = new Uint8Array(stat.buffer.slice(0, 4));
    return {
      type: TYPE_INT32,
      encodings: [ENC_PLAIN],
      name,
      numValues: n,
      uncompressedBytes: u,
      compressedBytes: z,
      dataPageOffset: at,
      dictionaryPageOffset: -1,
      nullCount: 0,
      min: minBytes,
      max: maxBytes,
    };
  }

  /** A float64 column: definition levels (NaN is null), then the PLAIN values. */
  #doubles(v: Float64Array, n: number, name: string): ColumnChunkInfo {
    const levels = this.#levels;
    const values = this.#f64;
    let k = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let r = 0; r < n; ++r) {
      const x = v[r]!;
      if (x !== x) {
        levels[r] = 0;
        continue;
      }
      levels[r] = 1;
      values[k++] = x;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    const page = this.#page;
    page.at = 0;
    page.u32(0);
    writeRleHybrid(page, levels, n, 1);
    page.setU32(0, page.at - 4); // the levels' length, before them
    page.set(new Uint8Array(values.buffer, 0, k * 8));
    const at = this.#offset + this.#out.at;
    const [u, z] = this.#dataPage(n, ENC_PLAIN);
    let minBytes: Uint8Array | null = null;
    let maxBytes: Uint8Array | null = null;
    if (k > 0) {
      // Zeros are written as -0 for a min and +0 for a max, as the format asks.
      this.#stat.setFloat64(0, min === 0 ? -0 : min, true);
      minBytes = new Uint8Array(this.#stat.buffer.slice(0));
      this.#stat.setFloat64(0, max === 0 ? 0 : max, true);
      maxBytes = new Uint8Array(this.#stat.buffer.slice(0));
    }
    return {
      type: TYPE_DOUBLE,
      encodings: [ENC_RLE, ENC_PLAIN],
      name,
      numValues: n,
      uncompressedBytes: u,
      compressedBytes: z,
      dataPageOffset: at,
      dictionaryPageOffset: -1,
      nullCount: n - k,
      min: minBytes,
      max: maxBytes,
    };
  }

  /**
   * A string column: the chunk's distinct values (in order of first use) in a PLAIN dictionary
   * page, then the rows' indices into it (RLE_DICTIONARY).
   */
  #strings(c: TableChunk, i: number, name: string): ColumnChunkInfo {
    const n = c.n;
    const indices = this.#i32;
    const values = firstUseDictionary(c, i, indices);
    if (values.length > 1 << MAX_INDEX_BITS) {
      throw new RangeError(
        `Cannot write Parquet column "${name}": ${values.length} distinct strings in one chunk (at most ${
          1 << MAX_INDEX_BITS
        })`,
      );
    }
    const page = this.#page;
    page.at = 0;
    let min: Uint8Array | null = null;
    let max: Uint8Array | null = null;
    for (const s of values) {
      const bytes = TEXT.encode(s);
      page.u32(bytes.length);
      page.set(bytes);
      if (min === null || compareBytes(bytes, min) < 0) min = bytes;
      if (max === null || compareBytes(bytes, max) > 0) max = bytes;
    }
    const dictAt = this.#offset + this.#out.at;
    const [du, dz] = this.#dictionaryPage(values.length);
    const width = values.length <= 1 ? 1 : 32 - Math.clz32(values.length - 1);
    page.at = 0;
    page.room(1);
    page.buf[page.at++] = width;
    writeRleHybrid(page, indices, n, width);
    const at = this.#offset + this.#out.at;
    const [u, z] = this.#dataPage(n, ENC_RLE_DICTIONARY);
    return {
      type: TYPE_BYTE_ARRAY,
      encodings: [ENC_PLAIN, ENC_RLE, ENC_RLE_DICTIONARY],
      name,
      numValues: n,
      uncompressedBytes: du + u,
      compressedBytes: dz + z,
      dataPageOffset: at,
      dictionaryPageOffset: dictAt,
      nullCount: 0,
      min,
      max,
    };
  }

  /** The page body now in #page as a data page; its sizes with the header (raw, compressed). */
  #dataPage(numValues: number, encoding: number): [number, number] {
    const body = this.#page.view();
    const packed = zstdPage(body);
    const w = this.#thrift;
    w.reset();
    w.begin(); // PageHeader
    w.i32(1, PAGE_DATA);
    w.i32(2, body.length);
    w.i32(3, packed.length);
    w.struct(5); // DataPageHeader
    w.i32(1, numValues);
    w.i32(2, encoding);
    w.i32(3, ENC_RLE); // definition levels
    w.i32(4, ENC_RLE); // repetition levels (none: flat columns)
    w.end();
    w.end();
    return this.#appendPage(body.length, packed);
  }

  /** The values now in #page as a dictionary page. */
  #dictionaryPage(numValues: number): [number, number] {
    const body = this.#page.view();
    const packed = zstdPage(body);
    const w = this.#thrift;
    w.reset();
    w.begin();
    w.i32(1, PAGE_DICTIONARY);
    w.i32(2, body.length);
    w.i32(3, packed.length);
    w.struct(7); // DictionaryPageHeader
    w.i32(1, numValues);
    w.i32(2, ENC_PLAIN);
    w.end();
    w.end();
    return this.#appendPage(body.length, packed);
  }

  /** Append the header in #thrift and the compressed body; the page's two sizes. */
  #appendPage(bodyBytes: number, packed: Uint8Array): [number, number] {
    const header = this.#thrift.view();
    this.#out.set(header);
    this.#out.set(packed);
    return [header.length + bodyBytes, header.length + packed.length];
  }

  /** A RowGroup struct of the footer. */
  #rowGroup(columns: readonly ColumnChunkInfo[], n: number, start: number): Uint8Array {
    const w = this.#thrift;
    w.reset();
    w.begin();
    w.list(1, T_STRUCT, columns.length);
    let raw = 0;
    let packed = 0;
    for (const c of columns) {
      raw += c.uncompressedBytes;
      packed += c.compressedBytes;
      w.begin(); // ColumnChunk
      w.i64(2, c.dictionaryPageOffset >= 0 ? c.dictionaryPageOffset : c.dataPageOffset);
      w.struct(3); // ColumnMetaData
      w.i32(1, c.type);
      w.list(2, T_I32, c.encodings.length);
      for (const e of c.encodings) w.rawI32(e);
      w.list(3, T_BINARY, 1);
      w.rawBinary(TEXT.encode(c.name));
      w.i32(4, CODEC_ZSTD);
      w.i64(5, c.numValues);
      w.i64(6, c.uncompressedBytes);
      w.i64(7, c.compressedBytes);
      w.i64(9, c.dataPageOffset);
      if (c.dictionaryPageOffset >= 0) w.i64(11, c.dictionaryPageOffset);
      w.struct(12); // Statistics
      w.i64(3, c.nullCount);
      if (c.max !== null) w.binary(5, c.max);
      if (c.min !== null) w.binary(6, c.min);
      w.end();
      w.end();
      w.end();
    }
    w.i64(2, raw);
    w.i64(3, n);
    w.i64(5, start);
    w.i64(6, packed);
    w.end();
    return w.view().slice();
  }
}
