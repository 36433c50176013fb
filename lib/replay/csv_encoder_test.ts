import assert from "node:assert/strict";
import fc from "fast-check";
import { chunkToCsv, CsvEncoder, csvHeader } from "./csv_encoder.ts";
import type { TableChunk, TableSchema } from "./table_builder.ts";

const SCHEMA: TableSchema = {
  name: "t",
  columns: [
    { name: "x", kind: "f64", doc: "" },
    { name: "s", kind: "str", doc: "" },
    { name: "i", kind: "i32", doc: "" },
    { name: "u", kind: "str", doc: "" },
  ],
};

const text = fc.constantFrom("", "a", "b", "0x1000", "a,b", 'say "hi"', "line\nbreak", "é");

/** CSV as RFC 4180 and `String()` write it, field by field: the oracle of the byte encoder. */
function csvText(c: TableChunk): string {
  const field = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  let out = "";
  for (let r = 0; r < c.n; ++r) {
    out += c.data.map((d) => {
      const v = d[r]!;
      return typeof v === "number" ? (Number.isNaN(v) ? "" : String(v)) : field(v);
    }).join(",") + "\n";
  }
  return out;
}

Deno.test("CsvEncoder writes the UTF-8 of the CSV text, numbers as String() prints them", () => {
  const number = fc.oneof(
    fc.double(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    fc.maxSafeInteger(),
    fc.constantFrom(0, -0, 9, 10, 99, 100, 2 ** 53, -(2 ** 53), 2 ** 53 + 2, 1e21, 1e-7, NaN),
  );
  const str = fc.oneof(text, fc.string({ unit: "binary", maxLength: 12 }));
  const enc = new CsvEncoder(); // one encoder for every chunk: its buffer is reused
  fc.assert(
    fc.property(
      fc.array(fc.tuple(number, str, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), str), {
        maxLength: 40,
      }),
      fc.boolean(),
      (rows, header) => {
        const c: TableChunk = {
          schema: SCHEMA,
          n: rows.length,
          data: [
            Float64Array.from(rows, (x) => x[0]),
            rows.map((x) => x[1]),
            Int32Array.from(rows, (x) => x[2]),
            rows.map((x) => x[3]),
          ],
        };
        const want = (header ? csvHeader(SCHEMA) : "") + csvText(c);
        assert.deepEqual(enc.encode(c, header), new TextEncoder().encode(want));
        assert.equal(chunkToCsv(c), csvText(c));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("CsvEncoder grows its buffer for a chunk larger than it, and keeps every byte", () => {
  const long = "x".repeat(70000) + "é";
  const c: TableChunk = {
    schema: SCHEMA,
    n: 3,
    data: [new Float64Array([1, 2, 3]), [long, "a", long], new Int32Array([1, 2, 3]), ["", "", ""]],
  };
  const bytes = new CsvEncoder().encode(c);
  assert.equal(new TextDecoder().decode(bytes), csvText(c));
  assert.equal(bytes.byteLength, 2 * ("1,".length + 70002 + ",1,\n".length) + "2,a,2,\n".length);
});
