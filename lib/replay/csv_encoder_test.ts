import assert from "node:assert/strict";
import fc from "fast-check";
import { chunkToCsv, CsvEncoder, csvHeader, writeMicros } from "./csv_encoder.ts";
import type { TableChunk } from "./table_builder.ts";
import { SCHEMA, text } from "./_table_test_util.ts";

/** Decimals of at most six fraction digits, as a trace's timestamps are, up to 1e10. */
const micros = fc.oneof(
  fc.integer({ min: -(10 ** 15) + 1, max: 10 ** 15 - 1 }).map((s) => s / 1e6),
  fc.integer({ min: 1, max: 10 ** 16 }).map((s) => s / 1e6),
  fc.integer({ min: -999, max: 999 }).map((s) => s / 1000),
);

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
    micros,
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

Deno.test("CsvEncoder writes a chunk's coded string columns as it writes their strings", () => {
  // A builder's chunk: each string column as codes into its distinct values (of 0 to ~48 UTF-8
  // bytes: stored a word at a time up to 16, copied beyond), the encoder reused between chunks.
  const str = fc.oneof(
    text,
    fc.string({ unit: "binary", maxLength: 12 }),
    fc.string({ unit: fc.constantFrom("a", ",", '"', "é"), maxLength: 20 }),
  );
  const enc = new CsvEncoder();
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer(), str, str), { maxLength: 40 }),
      fc.boolean(),
      (rows, header) => {
        const plain: TableChunk = {
          schema: SCHEMA,
          n: rows.length,
          data: [
            Float64Array.from(rows, (x) => x[0]),
            rows.map((x) => x[1]),
            Int32Array.from(rows, (x) => x[0]),
            rows.map((x) => x[2]),
          ],
        };
        const dictOf = (col: string[]) => {
          const values = [...new Set(["", ...col])];
          return { values, codes: Int32Array.from(col, (v) => values.indexOf(v)) };
        };
        const coded: TableChunk = {
          ...plain,
          dict: [
            undefined,
            dictOf(rows.map((x) => x[1])),
            undefined,
            dictOf(rows.map((x) => x[2])),
          ],
        };
        const want = (header ? csvHeader(SCHEMA) : "") + csvText(plain);
        assert.deepEqual(enc.encode(coded, header), new TextEncoder().encode(want));
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

Deno.test("writeMicros: property: the bytes of String(v) for a decimal of six fraction digits, nothing for another number", () => {
  const buf = new Uint8Array(64);
  const check = (v: number) => {
    buf.fill(0xff);
    const end = writeMicros(buf, 3, v);
    if (end < 0) {
      assert.ok(buf.every((b) => b === 0xff), `${v}: nothing written`);
      return end;
    }
    assert.equal(new TextDecoder().decode(buf.subarray(3, end)), String(v), `${v}`);
    assert.equal(buf[end], 0xff);
    return end;
  };
  fc.assert(fc.property(fc.oneof(micros, fc.double({ noNaN: true })), (v) => void check(v)), {
    numRuns: 3000,
  });
  // Timestamps (and their like) take this path; others fall back to String().
  for (const v of [8.500032, 0.000001, 0.1, 123.45, -2.5, 999999999.999999, 1e-6 * 7]) {
    assert.ok(check(v) > 0, `${v} written`);
  }
  for (const v of [0.1 + 0.2, 1e-7, 1e9 + 0.5, 1 / 3, 2 ** -30, 1.0000005]) {
    assert.equal(check(v), -1, `${v} left to String()`);
  }
});
