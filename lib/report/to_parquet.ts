/**
 * A replay table's Arrow IPC stream as a Parquet file (zstd), through parquet-wasm (the Rust
 * arrow and parquet crates compiled to WebAssembly: a maintained writer that reads our streams,
 * replacement dictionaries included), so studies go on in DuckDB, Polars or Spark.
 *
 * @module
 */

import * as pq from "parquet-wasm/node";

/**
 * Convert an Arrow IPC stream to Parquet.
 *
 * @param arrow The stream's bytes (a table's `.arrow` file).
 * @returns The Parquet file's bytes.
 *
 * @example A one-column table
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArrowStreamEncoder } from "../replay/mod.ts";
 * import { arrowToParquet } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }] };
 * const e = new ArrowStreamEncoder(schema);
 * const a = e.encode({ schema, n: 2, data: [new Int32Array([1, 2])] });
 * const z = e.end();
 * const bytes = new Uint8Array(a.byteLength + z.byteLength);
 * bytes.set(a);
 * bytes.set(z, a.byteLength);
 * const pqBytes = arrowToParquet(bytes);
 * assert.equal(new TextDecoder().decode(pqBytes.subarray(0, 4)), "PAR1");
 * ```
 */
export function arrowToParquet(arrow: Uint8Array): Uint8Array {
  const table = pq.Table.fromIPCStream(arrow);
  const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.ZSTD).build();
  return pq.writeParquet(table, props);
}
