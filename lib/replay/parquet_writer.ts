/**
 * Replay tables as Parquet files (zstd; dictionary pages for the string columns only: on the
 * numbers they cost twice the time and made the ops file a third larger than plain pages do, as
 * bench/RESULTS.md measures), through parquet-wasm (the Rust arrow and parquet
 * crates compiled to WebAssembly: a maintained writer that reads our Arrow streams, replacement
 * dictionaries included), so studies go on in DuckDB, Polars or Spark: a whole stream at once
 * ({@linkcode arrowToParquet}), or chunk by chunk in row groups of 16 384 rows
 * ({@linkcode ParquetStreamWriter}: memory holds a row group, not the table).
 *
 * @module
 */

import { tableFromIPC, Type } from "@uwdata/flechette";
import type { TableSchema } from "./table_builder.ts";

/** parquet-wasm's module (loaded on first use: its WebAssembly is large). */
export type ParquetModule = typeof import("parquet-wasm/node");

let loaded: Promise<ParquetModule> | null = null;

/**
 * Load parquet-wasm (once).
 *
 * @returns The module.
 */
export function loadParquet(): Promise<ParquetModule> {
  return loaded ??= import("parquet-wasm/node");
}

/**
 * Convert an Arrow IPC stream to Parquet.
 *
 * @param arrow The stream's bytes (a table's `.arrow` file).
 * @returns The Parquet file's bytes.
 *
 * @example A one-column table
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArrowStreamEncoder, arrowToParquet } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }] };
 * const e = new ArrowStreamEncoder(schema);
 * const a = e.encode({ schema, n: 2, data: [new Int32Array([1, 2])] });
 * const z = e.end();
 * const bytes = new Uint8Array(a.byteLength + z.byteLength);
 * bytes.set(a);
 * bytes.set(z, a.byteLength);
 * const pqBytes = await arrowToParquet(bytes);
 * assert.equal(new TextDecoder().decode(pqBytes.subarray(0, 4)), "PAR1");
 * ```
 */
export async function arrowToParquet(arrow: Uint8Array): Promise<Uint8Array> {
  const pq = await loadParquet();
  const strings = tableFromIPC(arrow).schema.fields
    .filter((f) => f.type.typeId === Type.Utf8 || f.type.typeId === Type.Dictionary)
    .map((f) => f.name);
  return pq.writeParquet(pq.Table.fromIPCStream(arrow), properties(pq, strings));
}

/** The string columns of a table (those given dictionary pages). */
function stringColumns(schema: TableSchema): string[] {
  return schema.columns.filter((c) => c.kind === "str").map((c) => c.name);
}

/**
 * ZSTD, row groups of 16 384 rows (65 536 held 28 MB of WebAssembly memory, which never shrinks,
 * on a replay's tables, against 12 MB; the files are 3 % larger), dictionary pages for `dictionaryColumns` only (the builder's
 * own type, inferred).
 */
function properties(pq: ParquetModule, dictionaryColumns: readonly string[]) {
  // Each call consumes the builder it is called on and returns the next one.
  let b = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.ZSTD)
    .setMaxRowGroupSize(16384).setDictionaryEnabled(false);
  for (const c of dictionaryColumns) b = b.setColumnDictionaryEnabled(c, true);
  return b.build();
}

/**
 * One Parquet file written as its table's chunks come: each chunk (a complete Arrow IPC
 * stream: schema, dictionaries, one batch) goes in; the file's bytes come out as row groups
 * fill.
 *
 * @example Two chunks, one file
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArrowStreamEncoder, loadParquet, ParquetStreamWriter } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }] };
 * const e = new ArrowStreamEncoder(schema);
 * const w = new ParquetStreamWriter(await loadParquet(), schema);
 * e.encode({ schema, n: 1, data: [new Int32Array([1])] });
 * w.push(e.lastStream);
 * e.encode({ schema, n: 1, data: [new Int32Array([2])] });
 * w.push(e.lastStream);
 * const parts = [...w.take(), ...(await w.end())];
 * assert.equal(new TextDecoder().decode(parts[0]!.subarray(0, 4)), "PAR1");
 * ```
 */
export class ParquetStreamWriter {
  readonly #pq: ParquetModule;
  readonly #strings: readonly string[];
  #ctl: ReadableStreamDefaultController<unknown> | null = null;
  #reading: Promise<void> | null = null;
  #empty: Uint8Array | null = null;
  readonly #out: Uint8Array[] = [];

  /**
   * A writer of one file.
   *
   * @param pq parquet-wasm, from {@linkcode loadParquet}.
   * @param schema The table.
   */
  constructor(pq: ParquetModule, schema: TableSchema) {
    this.#pq = pq;
    this.#strings = stringColumns(schema);
  }

  /**
   * Add a chunk.
   *
   * @param stream The chunk as a complete Arrow IPC stream.
   */
  push(stream: Uint8Array): void {
    const pq = this.#pq;
    const table = pq.Table.fromIPCStream(stream);
    const batches = table.recordBatches();
    // The batches share the table's (reference-counted) arrays: free the table now rather than
    // when the worker's small heap next collects, which let WebAssembly memory (which never
    // shrinks) grow to 67 MB holding dead tables.
    table.free();
    if (batches.every((b) => b.numRows === 0)) {
      for (const b of batches) b.free();
      // An empty batch trips the streaming writer; an empty table is written whole at the end.
      this.#empty ??= stream.slice(); // a copy: the caller may hand its buffer on
      return;
    }
    if (this.#ctl === null) {
      const input = new ReadableStream({ start: (c) => void (this.#ctl = c) });
      for (const b of batches) this.#ctl!.enqueue(b);
      // The writer reads the first batch (the schema) before it resolves.
      this.#reading = pq.transformParquetStream(input, properties(pq, this.#strings)).then(
        async (out) => {
          for await (const part of out as unknown as AsyncIterable<Uint8Array>) {
            this.#out.push(part);
          }
        },
      );
      return;
    }
    for (const b of batches) this.#ctl.enqueue(b);
  }

  /**
   * The file's bytes produced so far (and not taken yet).
   *
   * @returns The parts, in order.
   */
  take(): Uint8Array[] {
    return this.#out.splice(0, this.#out.length);
  }

  /**
   * Close the file.
   *
   * @returns Its last bytes (a file of no rows when only empty chunks came, nothing when none).
   */
  async end(): Promise<Uint8Array[]> {
    if (this.#ctl === null) return this.#empty === null ? [] : [await arrowToParquet(this.#empty)];
    this.#ctl.close();
    await this.#reading;
    return this.take();
  }
}
