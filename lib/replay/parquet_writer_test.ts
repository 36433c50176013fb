import assert from "node:assert/strict";
import { tableFromIPC } from "@uwdata/flechette";
import { ArrowStreamEncoder } from "./table_io.ts";
import { arrowToParquet, loadParquet, ParquetStreamWriter } from "./parquet_writer.ts";
import type { TableChunk, TableSchema } from "./table_builder.ts";

const SCHEMA: TableSchema = {
  name: "t",
  columns: [
    { name: "device", kind: "str", doc: "" },
    { name: "bytes", kind: "f64", doc: "" },
    { name: "cpu", kind: "i32", doc: "" },
  ],
};
const chunk = (k: number): TableChunk => ({
  schema: SCHEMA,
  n: 3,
  data: [
    ["0000:03:00.0", "0000:04:00.0", "0000:03:00.0"],
    new Float64Array([k, NaN, 4096]),
    new Int32Array([0, 1, k]),
  ],
});

/** Each column's encodings in the file's first row group, by name. */
async function encodings(bytes: Uint8Array): Promise<Map<string, string[]>> {
  const pq = await loadParquet();
  const file = await pq.ParquetFile.fromFile(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const cols = file.metadata().rowGroup(0).columns();
  return new Map(
    cols.map((c) => [c.columnPath().join("."), c.encodings().map((e) => pq.Encoding[e]!)]),
  );
}

/** The Parquet file's rows, read back. */
async function rows(bytes: Uint8Array): Promise<unknown[]> {
  const pq = await loadParquet();
  return tableFromIPC(pq.readParquet(bytes).intoIPCStream()).toArray().map((r) => ({ ...r }));
}

Deno.test("ParquetStreamWriter gives the string columns dictionary pages and the numbers plain ones", async () => {
  const e = new ArrowStreamEncoder(SCHEMA);
  const w = new ParquetStreamWriter(await loadParquet(), SCHEMA);
  for (const k of [1, 2]) {
    e.encode(chunk(k));
    w.push(e.lastStream);
  }
  const parts = [...w.take(), ...(await w.end())];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
  const enc = await encodings(bytes);
  assert.ok(enc.get("device")!.includes("RLE_DICTIONARY"), String(enc.get("device")));
  for (const c of ["bytes", "cpu"]) {
    assert.ok(!enc.get(c)!.includes("RLE_DICTIONARY"), `${c}: ${enc.get(c)}`);
    assert.ok(enc.get(c)!.includes("PLAIN"), `${c}: ${enc.get(c)}`);
  }
  assert.deepEqual((await rows(bytes)).map((r) => Object.values(r as object)), [
    ["0000:03:00.0", 1, 0],
    ["0000:04:00.0", null, 1],
    ["0000:03:00.0", 4096, 1],
    ["0000:03:00.0", 2, 0],
    ["0000:04:00.0", null, 1],
    ["0000:03:00.0", 4096, 2],
  ]);
});

Deno.test("arrowToParquet finds the string columns in the stream's schema: the same pages", async () => {
  const e = new ArrowStreamEncoder(SCHEMA);
  e.encode(chunk(5));
  const enc = await encodings(await arrowToParquet(e.lastStream));
  assert.ok(enc.get("device")!.includes("RLE_DICTIONARY"));
  assert.ok(!enc.get("bytes")!.includes("RLE_DICTIONARY"));
  assert.ok(!enc.get("cpu")!.includes("RLE_DICTIONARY"));
});
