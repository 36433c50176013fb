import assert from "node:assert/strict";
import fc from "fast-check";
import { tableFromIPC } from "@uwdata/flechette";
import { ArrowStreamEncoder, chunkToCsv } from "./table_io.ts";
import { TableBuilder, type TableChunk, type TableSchema } from "./table_builder.ts";

const SCHEMA: TableSchema = {
  name: "t",
  columns: [
    { name: "x", kind: "f64", doc: "" },
    { name: "s", kind: "str", doc: "" },
    { name: "i", kind: "i32", doc: "" },
    { name: "u", kind: "str", doc: "" },
  ],
};

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

const text = fc.constantFrom("", "a", "b", "0x1000", "a,b", 'say "hi"', "line\nbreak", "é");

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
