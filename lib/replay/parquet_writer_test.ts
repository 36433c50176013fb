// The Parquet files as two other implementations read them: parquet-wasm (the Rust parquet
// crate) for the rows and each column's encodings, DuckDB for the schema, the statistics and the
// row groups.

import assert from "node:assert/strict";
import fc from "fast-check";
import { tableFromIPC } from "@uwdata/flechette";
import { DuckDBInstance } from "@duckdb/node-api";
import { ParquetStreamWriter } from "./parquet_writer.ts";
import { TableBuilder, type TableChunk, type TableSchema } from "./table_builder.ts";

const pq = await import("parquet-wasm/node");

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

/** A whole file from its chunks. */
function file(schema: TableSchema, chunks: readonly TableChunk[]): Uint8Array {
  const w = new ParquetStreamWriter(schema);
  const parts = [...chunks.map((c) => w.write(c)), w.end()];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
  return bytes;
}

/** The file's rows as parquet-wasm reads them, each an array of values in column order. */
function rows(bytes: Uint8Array): unknown[][] {
  const t = tableFromIPC(pq.readParquet(bytes).intoIPCStream());
  return t.toArray().map((r) => Object.values(r as object).map((v) => v ?? null));
}

/** The chunks' rows as the file should give them back (NaN as null). */
function expected(chunks: readonly TableChunk[]): unknown[][] {
  return chunks.flatMap((c) =>
    Array.from({ length: c.n }, (_, r) =>
      c.data.map((d) => {
        const v = d[r]!;
        return typeof v === "number" && Number.isNaN(v) ? null : v;
      }))
  );
}

/** Each column's encodings in a row group, by name. */
async function encodings(bytes: Uint8Array, group = 0): Promise<Map<string, string[]>> {
  const f = await pq.ParquetFile.fromFile(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const cols = f.metadata().rowGroup(group).columns();
  return new Map(
    cols.map((c) => [c.columnPath().join("."), c.encodings().map((e) => pq.Encoding[e]!)]),
  );
}

/** DuckDB's answer to a query on the file (written to a temporary file). */
async function duck(bytes: Uint8Array, sql: (path: string) => string) {
  const path = await Deno.makeTempFile({ suffix: ".parquet" });
  await Deno.writeFile(path, bytes);
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql(path))).getRowObjects();
  } finally {
    c.closeSync();
    await Deno.remove(path);
  }
}

Deno.test("ParquetStreamWriter: the rows read back, strings dictionary-encoded, numbers plain, NaN null", async () => {
  const bytes = file(SCHEMA, [chunk(1), chunk(2)]);
  assert.deepEqual(rows(bytes), [
    ["0000:03:00.0", 1, 0],
    ["0000:04:00.0", null, 1],
    ["0000:03:00.0", 4096, 1],
    ["0000:03:00.0", 2, 0],
    ["0000:04:00.0", null, 1],
    ["0000:03:00.0", 4096, 2],
  ]);
  for (const g of [0, 1]) {
    const enc = await encodings(bytes, g);
    assert.ok(enc.get("device")!.includes("RLE_DICTIONARY"), String(enc.get("device")));
    for (const c of ["bytes", "cpu"]) {
      assert.ok(!enc.get(c)!.includes("RLE_DICTIONARY"), `${c}: ${enc.get(c)}`);
      assert.ok(enc.get(c)!.includes("PLAIN"), `${c}: ${enc.get(c)}`);
    }
  }
  const f = await pq.ParquetFile.fromFile(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const meta = f.metadata();
  assert.equal(meta.numRowGroups(), 2);
  assert.equal(meta.fileMetadata().numRows(), 6);
  assert.equal(meta.fileMetadata().createdBy(), "dmareplay");
  for (const c of meta.rowGroup(0).columns()) assert.equal(pq.Compression[c.compression()], "ZSTD");
});

Deno.test("ParquetStreamWriter: DuckDB finds the schema, one row group per chunk and their statistics", async () => {
  const bytes = file(SCHEMA, [chunk(1), chunk(-2)]);
  const schema = await duck(
    bytes,
    (p) =>
      `select name, type, repetition_type, logical_type from parquet_schema('${p}') where name <> 'schema'`,
  );
  assert.deepEqual(schema.map((r) => [r.name, r.type, r.repetition_type, String(r.logical_type)]), [
    ["device", "BYTE_ARRAY", "REQUIRED", "StringType()"],
    ["bytes", "DOUBLE", "OPTIONAL", "null"],
    ["cpu", "INT32", "REQUIRED", "null"],
  ]);
  const stats = await duck(
    bytes,
    (p) =>
      `select row_group_id, path_in_schema, stats_min_value, stats_max_value, stats_null_count, num_values
       from parquet_metadata('${p}') order by row_group_id, column_id`,
  );
  assert.deepEqual(
    stats.map((r) => [
      Number(r.row_group_id),
      r.path_in_schema,
      r.stats_min_value,
      r.stats_max_value,
      Number(r.stats_null_count),
      Number(r.num_values),
    ]),
    [
      [0, "device", "0000:03:00.0", "0000:04:00.0", 0, 3],
      [0, "bytes", "1.0", "4096.0", 1, 3],
      [0, "cpu", "0", "1", 0, 3],
      [1, "device", "0000:03:00.0", "0000:04:00.0", 0, 3],
      [1, "bytes", "-2.0", "4096.0", 1, 3],
      [1, "cpu", "-2", "1", 0, 3],
    ],
  );
  // The statistics are used: a filter on cpu skips row group 0 and still finds the row.
  const [hit] = await duck(
    bytes,
    (p) => `select count(*) as n, sum(bytes) as b from read_parquet('${p}') where cpu < 0`,
  );
  assert.deepEqual([Number(hit!.n), Number(hit!.b)], [1, 4096]);
});

Deno.test("ParquetStreamWriter: a table of no rows is a valid file of no rows, with its schema", async () => {
  for (const chunks of [[], [{ ...chunk(0), n: 0 }]]) {
    const bytes = file(SCHEMA, chunks);
    assert.deepEqual(rows(bytes), []);
    const [r] = await duck(bytes, (p) => `select count(*) as n from read_parquet('${p}')`);
    assert.equal(Number(r!.n), 0);
    const names = await duck(bytes, (p) => `select name from parquet_schema('${p}')`);
    assert.deepEqual(names.map((x) => x.name), ["schema", "device", "bytes", "cpu"]);
  }
});

Deno.test("ParquetStreamWriter: a builder's chunks (codes, a dictionary holding an unused value) read back as their strings", () => {
  const chunks: TableChunk[] = [];
  const b = new TableBuilder(SCHEMA, (c) => chunks.push(c), 4);
  const devices = ["a", "", 'é,"x"\n', "a", "b", "a", "𝄞", "b", "a"];
  devices.forEach((d, i) => {
    const r = b.addRow();
    b.setStr(0, r, d);
    if (i % 3 !== 0) b.setNum(1, r, i * 0.5);
    b.setNum(2, r, -i);
  });
  b.flush();
  assert.equal(chunks.length, 3);
  assert.deepEqual(rows(file(SCHEMA, chunks)), expected(chunks));
  assert.deepEqual(
    rows(file(SCHEMA, chunks)).map((r) => r[0]),
    devices,
  );
});

Deno.test("ParquetStreamWriter: many distinct strings (wide indices), long runs and all-null columns read back", () => {
  const n = 20000;
  const distinct = Array.from({ length: n }, (_, r) => `v${(r * 7919) % 5003}`);
  const c: TableChunk = {
    schema: SCHEMA,
    n,
    data: [
      distinct,
      new Float64Array(n).fill(NaN),
      Int32Array.from({ length: n }, (_, r) => (r < 10000 ? 5 : r % 3)),
    ],
  };
  assert.deepEqual(rows(file(SCHEMA, [c])), expected([c]));
});

Deno.test("ParquetStreamWriter: property: any chunks read back as their rows", () => {
  const kinds = fc.constantFrom("f64" as const, "i32" as const, "str" as const);
  const value = (kind: "f64" | "i32" | "str") =>
    kind === "f64"
      ? fc.oneof(fc.double({ noNaN: true }), fc.constant(NaN), fc.constantFrom(0, -0, 4096))
      : kind === "i32"
      ? fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
      : fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("", "0000:03:00.0"));
  const arb = fc.array(kinds, { minLength: 1, maxLength: 4 }).chain((ks) =>
    fc.tuple(
      fc.constant(ks),
      // Rows each repeated 1-12 times: runs for the RLE runs of levels and indices.
      fc.array(
        fc.array(fc.tuple(fc.tuple(...ks.map(value)), fc.integer({ min: 1, max: 12 })), {
          maxLength: 12,
        }).map((rs) => rs.flatMap(([r, k]) => Array(k).fill(r) as (typeof r)[])),
        { minLength: 0, maxLength: 3 },
      ),
    )
  );
  fc.assert(
    fc.property(arb, ([ks, chunkRows]) => {
      const schema: TableSchema = {
        name: "p",
        columns: ks.map((kind, i) => ({ name: `c${i}`, kind, doc: "" })),
      };
      const chunks: TableChunk[] = chunkRows.map((rs) => ({
        schema,
        n: rs.length,
        data: ks.map((kind, i) => {
          const col = rs.map((r) => r[i]!);
          return kind === "f64"
            ? Float64Array.from(col as number[])
            : kind === "i32"
            ? Int32Array.from(col as number[])
            : (col as string[]);
        }),
      }));
      const got = rows(file(schema, chunks));
      const want = expected(chunks);
      assert.equal(got.length, want.length);
      got.forEach((r, i) =>
        r.forEach((v, j) =>
          assert.ok(Object.is(v, want[i]![j]), `row ${i} column ${j}: ${String(v)}`)
        )
      );
    }),
    { numRuns: 60 },
  );
});
