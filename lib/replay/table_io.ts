/**
 * Writing replay tables out in the Arrow IPC stream format, chunk by chunk, so a table of any
 * length streams to its file with one chunk in memory (CSV: csv_encoder.ts).
 *
 * @module
 */

import {
  dictionary,
  Endianness,
  field,
  float64,
  int32,
  type Schema,
  utf8,
  Version,
} from "@uwdata/flechette";
// flechette's IPC message encoder, below its public tableToIPC: it takes a batch's buffers as
// they are, where tableToIPC wants Column objects built first (a chunk's columns built and
// collected again made the Arrow encoding a third of the encoder's time and most of its garbage).
// @ts-types="@uwdata/flechette/dist/types/encode/encode-ipc.d.ts"
import { encodeIPC } from "@uwdata/flechette/src/encode/encode-ipc.js";
// @ts-types="@uwdata/flechette/dist/types/encode/sink.d.ts"
import type { Sink } from "@uwdata/flechette/src/encode/sink.js";
import type { TableChunk, TableSchema } from "./table_builder.ts";
import { firstUseDictionary } from "./_first_use.ts";
import { Bytes } from "./_parquet_encoding.ts";

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

/** A record batch's field nodes and buffers, as flechette's IPC encoder takes them. */
class BatchAssembly {
  byteLength = 0;
  readonly nodes: { length: number; nullCount: number }[] = [];
  readonly regions: { offset: number; length: number }[] = [];
  readonly variadic: number[] = [];
  readonly buffers: Uint8Array[] = [];

  node(length: number, nullCount: number): void {
    this.nodes.push({ length, nullCount });
  }

  buffer(b: Int32Array | Float64Array | Uint8Array): void {
    const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    this.regions.push({ offset: this.byteLength, length: bytes.byteLength });
    this.buffers.push(bytes);
    this.byteLength += (bytes.byteLength + 7) & ~7;
  }
}

const NO_BYTES = new Uint8Array(0);
const TEXT = new TextEncoder();

/** Strings as an Arrow utf8 batch: int32 offsets, then the bytes (each padded to 8 bytes). */
function utf8Batch(values: readonly string[]): BatchAssembly {
  const k = values.length;
  const encoded = values.map((v) => TEXT.encode(v));
  const bytesLength = encoded.reduce((n, e) => n + e.length, 0);
  // As flechette's builders size them: k + 1 offsets and one byte more than the text, each
  // rounded up to 8 bytes.
  const offsets = new Int32Array((k + 2) & ~1);
  const bytes = new Uint8Array((bytesLength + 8) & ~7);
  let at = 0;
  for (let i = 0; i < k; ++i) {
    bytes.set(encoded[i]!, at);
    at += encoded[i]!.length;
    offsets[i + 1] = at;
  }
  const b = new BatchAssembly();
  b.node(k, 0);
  b.buffer(NO_BYTES);
  b.buffer(offsets);
  b.buffer(bytes);
  return b;
}

/** Float64 values with NaN as null: a validity bitmap and the values (0 where null). */
function float64Buffers(f: Float64Array, n: number) {
  let nulls = 0;
  for (let r = 0; r < n; ++r) if (f[r] !== f[r]) ++nulls;
  if (nulls === 0) return { nulls, validity: NO_BYTES, values: f.subarray(0, n) };
  const validity = new Uint8Array((((n + 7) >> 3) + 7) & ~7);
  const values = new Float64Array(n);
  for (let r = 0; r < n; ++r) {
    const v = f[r]!;
    if (v === v) {
      values[r] = v;
      validity[r >> 3]! |= 1 << (r & 7);
    }
  }
  return { nulls, validity, values };
}

/** An IPC byte sink writing into one kept, growing buffer. */
class KeptSink extends Bytes implements Sink {
  write(bytes: Uint8Array): void {
    this.set(bytes);
  }

  pad(byteCount: number): void {
    this.room(byteCount);
    this.buf.fill(0, this.at, this.at + byteCount);
    this.at += byteCount;
  }

  finish(): null {
    return null;
  }
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
  /** The schema as flechette's encoder takes it (string columns dictionaries 0, 1, ...). */
  readonly #arrowSchema: Schema;
  readonly #sink = new KeptSink();
  #started = false;
  readonly #reuse: boolean;

  /**
   * An encoder for one table.
   *
   * @param schema The table.
   * @param options `reuse`: each call's bytes are a view of the encoder's buffer, valid until
   *   its next call (no copy). Default: a copy.
   */
  constructor(schema: TableSchema, options: { reuse?: boolean } = {}) {
    this.#schema = schema;
    this.#reuse = options.reuse ?? false;
    let dictionaryId = 0;
    this.#arrowSchema = {
      version: Version.V5,
      endianness: Endianness.Little,
      fields: schema.columns.map((s) =>
        field(
          s.name,
          s.kind === "str"
            ? dictionary(utf8(), int32(), false, dictionaryId++)
            : s.kind === "i32"
            ? int32()
            : float64(),
        )
      ),
      metadata: null,
    };
  }

  /**
   * The bytes of one chunk (with the schema message first, the first time).
   *
   * @param c The chunk.
   * @returns Bytes to append to the stream.
   */
  encode(c: TableChunk): Uint8Array {
    const n = c.n;
    const record = new BatchAssembly();
    const dictionaries: { id: number; isDelta: boolean; data: BatchAssembly }[] = [];
    this.#schema.columns.forEach((s, i) => {
      if (s.kind === "str") {
        // Padded to 8 bytes, as flechette's builders pad theirs (the same bytes out).
        const codes = new Int32Array(n + (n & 1));
        const values = firstUseDictionary(c, i, codes);
        dictionaries.push({ id: dictionaries.length, isDelta: false, data: utf8Batch(values) });
        record.node(n, 0);
        record.buffer(NO_BYTES);
        record.buffer(codes);
        return;
      }
      const numbers = (c.numbers?.[i] ?? c.data[i]) as Int32Array | Float64Array;
      if (s.kind === "i32") {
        record.node(n, 0);
        record.buffer(NO_BYTES);
        record.buffer((numbers as Int32Array).subarray(0, n));
        return;
      }
      const f = float64Buffers(numbers as Float64Array, n);
      record.node(n, f.nulls);
      record.buffer(f.validity);
      record.buffer(f.values);
    });
    const sink = this.#sink;
    sink.at = 0;
    encodeIPC({
      schema: this.#started ? null : this.#arrowSchema,
      dictionaries,
      records: [record],
    }, { sink });
    this.#started = true;
    // Never the end-of-stream marker the encoder writes last.
    const end = sink.at - EOS.byteLength;
    return this.#reuse ? sink.buf.subarray(0, end) : sink.buf.slice(0, end);
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
