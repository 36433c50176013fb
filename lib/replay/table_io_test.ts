import assert from "node:assert/strict";
import fc from "fast-check";
import {
  columnFromArray,
  dictionary,
  float64,
  int32,
  tableFromColumns,
  tableFromIPC,
  tableToIPC,
  Type,
  utf8,
} from "@uwdata/flechette";
import { ArrowStreamEncoder } from "./table_io.ts";
import { chunkToCsv } from "./csv_encoder.ts";
import { TableBuilder, type TableChunk, type TableSchema } from "./table_builder.ts";
import { SCHEMA, text } from "./_table_test_util.ts";

/** The chunks a builder makes of `rows` (each string set once or twice, the last one wins). */
function build(rows: [number, string, string, string | null][], chunkRows: number): TableChunk[] {
  const chunks: TableChunk[] = [];
  const b = new TableBuilder(SCHEMA, (c) => chunks.push(c), chunkRows);
  for (const [x, s, u, again] of rows) {
    const r = b.addRow();
    b.setNum(0, r, x);
    b.setStr(1, r, s);
    b.setNum(2, r, x | 0);
    if (u !== "") b.setStr(3, r, u);
    if (again !== null) b.setStr(1, r, again);
    assert.equal(b.getStr(1, r), again ?? s);
  }
  b.flush();
  return chunks;
}

/** The same chunk with its strings only (as a chunk from elsewhere than a builder comes). */
const plain = (c: TableChunk): TableChunk => ({ schema: c.schema, n: c.n, data: c.data });

Deno.test("TableBuilder codes its string columns, and CSV and Arrow from the codes equal those from the strings", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.double({ noNaN: false }), text, text, fc.option(text)), {
        maxLength: 60,
      }),
      fc.integer({ min: 1, max: 17 }),
      (rows, chunkRows) => {
        const chunks = build(rows, chunkRows);
        assert.equal(chunks.reduce((n, c) => n + c.n, 0), rows.length);
        const coded = new ArrowStreamEncoder(SCHEMA);
        const strings = new ArrowStreamEncoder(SCHEMA);
        let k = 0;
        for (const c of chunks) {
          for (const col of [1, 3]) {
            const d = c.dict![col]!;
            for (let r = 0; r < c.n; ++r) {
              const [, s, u, again] = rows[k + r]!;
              const want = col === 1 ? again ?? s : u;
              assert.equal(d.values[d.codes[r]!], want);
              assert.equal((c.data[col] as string[])[r], want);
            }
          }
          k += c.n;
          assert.equal(chunkToCsv(c), chunkToCsv(plain(c)));
          assert.deepEqual(coded.encode(c), strings.encode(plain(c)));
        }
        assert.deepEqual(coded.end(), strings.end());
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("ArrowStreamEncoder writes coded string columns that read back as their strings", () => {
  const chunks = build([[1, "a", "x", null], [2, "b", "", "c"], [3, "a", "x", null]], 2);
  const e = new ArrowStreamEncoder(SCHEMA);
  const parts = [...chunks.map((c) => e.encode(c)), e.end()];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
  const t = tableFromIPC(bytes);
  assert.deepEqual(t.getChild("s")!.toArray(), ["a", "c", "a"]);
  assert.deepEqual(t.getChild("u")!.toArray(), ["x", "", "x"]);
});

/**
 * The Arrow stream of chunks as flechette's public API writes it (columns built from the values,
 * strings dictionary-encoded in order of first use, NaN as null): the oracle of the encoder,
 * which hands flechette's message encoder the buffers directly.
 */
function flechetteStream(schema: TableSchema, chunks: readonly TableChunk[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (
    const c of chunks.length > 0 ? chunks : [{ schema, n: 0, data: schema.columns.map(() => []) }]
  ) {
    const t = tableFromColumns(schema.columns.map((s, i) => {
      const d = Array.from({ length: c.n }, (_, r) => c.data[i]![r]!);
      const values = s.kind === "f64" ? d.map((v) => (Number.isNaN(v) ? null : v)) : d;
      const type = s.kind === "str"
        ? dictionary(utf8(), int32())
        : s.kind === "i32"
        ? int32()
        : float64();
      return [s.name, columnFromArray(values, type)];
    }));
    const bytes = tableToIPC(t, { format: "stream" })!;
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const from = parts.length === 0 ? 0 : 8 + dv.getInt32(4, true); // the schema once
    parts.push(bytes.subarray(from, bytes.byteLength - 8)); // no end-of-stream marker
  }
  parts.push(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
  return concatBytes(parts);
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
  return bytes;
}

Deno.test("ArrowStreamEncoder: property: the bytes flechette's public API writes, rows read back (NaN null, odd lengths, no chunk)", () => {
  const row = fc.tuple(
    fc.oneof(fc.double(), fc.constant(NaN)),
    text,
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.string({ unit: "binary", maxLength: 12 }),
  );
  fc.assert(
    fc.property(
      fc.array(fc.array(row, { minLength: 1, maxLength: 25 }), { maxLength: 4 }),
      fc.boolean(),
      (chunkRows, viaBuilder) => {
        let chunks: TableChunk[];
        if (viaBuilder) {
          chunks = [];
          const b = new TableBuilder(SCHEMA, (c) => chunks.push(c), 1000);
          for (const rows of chunkRows) {
            for (const [x, s, i, u] of rows) {
              const r = b.addRow();
              b.setNum(0, r, x);
              b.setStr(1, r, s);
              b.setNum(2, r, i);
              b.setStr(3, r, u);
            }
            b.flush();
          }
        } else {
          chunks = chunkRows.map((rows) => ({
            schema: SCHEMA,
            n: rows.length,
            data: [
              Float64Array.from(rows, (r) => r[0]),
              rows.map((r) => r[1]),
              Int32Array.from(rows, (r) => r[2]),
              rows.map((r) => r[3]),
            ],
          }));
        }
        const e = new ArrowStreamEncoder(SCHEMA);
        const bytes = concatBytes([...chunks.map((c) => e.encode(c)), e.end()]);
        // (With no chunk, flechette writes the schema alone, its dictionaries without ids; ours
        // are a batch of no rows and empty dictionaries.)
        if (chunks.length > 0) assert.deepEqual(bytes, flechetteStream(SCHEMA, chunks));
        const t = tableFromIPC(bytes);
        assert.deepEqual(t.schema.fields.map((f) => [f.name, f.type.typeId]), [
          ["x", Type.Float],
          ["s", Type.Dictionary],
          ["i", Type.Int],
          ["u", Type.Dictionary],
        ]);
        const got = t.toArray().map((r) => Object.values(r as object));
        // flechette's reader decodes each value with a default TextDecoder, which drops one
        // leading U+FEFF (the bytes hold it: they equal flechette's own above).
        const read = (v: string) => v.replace(/^\uFEFF/, "");
        const want = chunkRows.flat().map((
          [x, s, i, u],
        ) => [Number.isNaN(x) ? null : x, read(s), i, read(u)]);
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 200 },
  );
});
