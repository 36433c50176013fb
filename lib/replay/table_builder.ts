/**
 * Columnar output tables of the replay (ops, attachments, timeline): rows go into typed
 * columns of a fixed-size chunk, and each full chunk is handed to a sink (written out as CSV
 * and Arrow by the command line, or kept by a caller that wants the whole table). Memory holds
 * one chunk, whatever the trace's length.
 *
 * @module
 */

/** How a column is stored: float64 (NaN for null), int32, or strings. */
export type ColumnKind = "f64" | "i32" | "str";

/** One column of a table. */
export interface ColumnSpec {
  /** Column name (snake_case, as in the CSV header). */
  readonly name: string;
  /** Storage. */
  readonly kind: ColumnKind;
  /** What it holds, with its unit. */
  readonly doc: string;
}

/** A table's name and columns. */
export interface TableSchema {
  /** `ops`, `attachments`, `timeline`, `anomalies`. */
  readonly name: string;
  /** The columns in order. */
  readonly columns: readonly ColumnSpec[];
}

/** Column data of a chunk, by kind. */
export type ColumnData = Float64Array | Int32Array | string[];

/** Typed arrays of handed-out chunks, given back for new chunks, by `table:rows`. */
const POOL = new Map<string, (Float64Array | Int32Array)[][]>();

/**
 * Give a chunk's typed arrays back once its consumer is done with them (the table encoder
 * worker returns them): the table's next chunks take them instead of new ones. At most four
 * chunks' worth are kept per table.
 *
 * @param table The table's name.
 * @param arrays The chunk's typed arrays, in column order (a string column's codes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recycleChunkArrays, TableBuilder, type TableChunk } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "f64" as const, doc: "" }] };
 * const chunks: TableChunk[] = [];
 * const b = new TableBuilder(schema, (c) => chunks.push(c), 2);
 * b.setNum(0, b.addRow(), 1);
 * b.flush(); // chunk 0 out; chunk 1's arrays are made now
 * const first = chunks[0]!.data[0] as Float64Array;
 * recycleChunkArrays("t", [first]); // its consumer is done with chunk 0
 * b.setNum(0, b.addRow(), 2);
 * b.flush(); // chunk 1 out; chunk 2 takes chunk 0's arrays, reset
 * b.setNum(0, b.addRow(), 3);
 * b.flush();
 * assert.equal(chunks[2]!.data[0], first);
 * assert.deepEqual([...first], [3, NaN]);
 * ```
 */
export function recycleChunkArrays(table: string, arrays: (Float64Array | Int32Array)[]): void {
  if (arrays.length === 0) return;
  const key = `${table}:${arrays[0]!.length}`;
  const list = POOL.get(key) ?? [];
  if (list.length < 4) list.push(arrays);
  POOL.set(key, list);
}

/**
 * A chunk's typed arrays in column order (a string column's codes), as
 * {@linkcode recycleChunkArrays} takes them; a builder's chunk is read without making its
 * strings.
 *
 * @param c The chunk.
 * @returns Its number columns and the codes of its coded string columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chunkArrays } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }, { name: "s", kind: "str" as const, doc: "" }] };
 * const x = new Int32Array([1]);
 * assert.deepEqual(chunkArrays({ schema, n: 1, data: [x, ["a"]] }), [x]);
 * ```
 */
export function chunkArrays(c: TableChunk): (Float64Array | Int32Array)[] {
  const out: (Float64Array | Int32Array)[] = [];
  for (let i = 0; i < c.schema.columns.length; ++i) {
    const a = c.dict?.[i]?.codes ?? (c.numbers !== undefined ? c.numbers[i] : c.data[i]);
    if (a !== undefined && !Array.isArray(a)) out.push(a as Float64Array | Int32Array);
  }
  return out;
}

/** A string column of a chunk as codes into the chunk's distinct values. */
export interface ChunkDictionary {
  /** Per row, the index of its value in `values`. */
  readonly codes: Int32Array;
  /** The chunk's distinct values, in order of first appearance (`""` first). */
  readonly values: readonly string[];
}

/** A run of rows of one table. */
export interface TableChunk {
  /** The table. */
  readonly schema: TableSchema;
  /** Rows. */
  readonly n: number;
  /** One array per column (in schema order), each with at least `n` entries. */
  readonly data: readonly ColumnData[];
  /**
   * The string columns again as codes and distinct values (undefined for other columns), when
   * the chunk came from a {@linkcode TableBuilder}: encoders use them instead of the strings
   * (one escape or hash per distinct value, and integers to hand to a worker).
   */
  readonly dict?: readonly (ChunkDictionary | undefined)[];
  /**
   * The number columns (undefined for string columns), when the chunk came from a
   * {@linkcode TableBuilder}: read them here to leave `data`'s strings unbuilt (a builder's chunk
   * makes them on the first read of `data`, for consumers that want strings).
   */
  readonly numbers?: readonly (Float64Array | Int32Array | undefined)[];
}

/** A builder's chunk: strings made from the codes on the first read of `data`. */
class BuiltChunk implements TableChunk {
  readonly schema: TableSchema;
  readonly n: number;
  readonly dict: readonly (ChunkDictionary | undefined)[];
  readonly numbers: readonly (Float64Array | Int32Array | undefined)[];
  readonly #rows: number;
  #data: ColumnData[] | undefined;

  constructor(
    schema: TableSchema,
    n: number,
    rows: number,
    numbers: (Float64Array | Int32Array | undefined)[],
    dict: (ChunkDictionary | undefined)[],
  ) {
    this.schema = schema;
    this.n = n;
    this.#rows = rows;
    this.numbers = numbers;
    this.dict = dict;
  }

  get data(): readonly ColumnData[] {
    return this.#data ??= this.schema.columns.map((_, i): ColumnData => {
      const d = this.dict[i];
      if (d === undefined) return this.numbers[i]!;
      // Rows past n stay "", as in a chunk of strings.
      const out = new Array<string>(this.#rows).fill("");
      for (let r = 0; r < this.n; ++r) out[r] = d.values[d.codes[r]!]!;
      return out;
    });
  }
}

/**
 * Builds a table chunk by chunk.
 *
 * @example Two rows, one chunk
 * ```ts
 * import assert from "node:assert/strict";
 * import { TableBuilder, type TableChunk } from "./mod.ts";
 * const chunks: TableChunk[] = [];
 * const b = new TableBuilder(
 *   { name: "t", columns: [{ name: "x", kind: "f64", doc: "" }, { name: "s", kind: "str", doc: "" }] },
 *   (c) => chunks.push(c),
 * );
 * for (const [x, s] of [[1, "a"], [2, "b"]] as const) {
 *   const r = b.addRow();
 *   b.setNum(0, r, x);
 *   b.setStr(1, r, s);
 * }
 * b.flush();
 * assert.equal(chunks[0]!.n, 2);
 * assert.deepEqual(chunks[0]!.data[1]!.slice(0, 2), ["a", "b"]);
 * ```
 */
export class TableBuilder {
  /** The table. */
  readonly schema: TableSchema;
  readonly #sink: (c: TableChunk) => void;
  readonly #rows: number;
  // Numbers in typed arrays; strings as codes into the chunk's distinct values, with the last
  // string set in each column remembered (most columns repeat one value row after row, so most
  // sets compare one reference and look nothing up).
  #data: (Float64Array | Int32Array | undefined)[] = [];
  #codes: (Int32Array | undefined)[] = [];
  #values: string[][] = [];
  #index: Map<string, number>[] = [];
  readonly #lastStr: string[];
  readonly #lastCode: Int32Array;
  #n = 0;
  #total = 0;

  /**
   * A builder handing chunks of `chunkRows` rows to `sink`.
   *
   * @param schema The table.
   * @param sink Takes each full chunk (and the last one at {@linkcode flush}).
   * @param chunkRows Rows per chunk.
   */
  constructor(schema: TableSchema, sink: (c: TableChunk) => void, chunkRows = 16384) {
    this.schema = schema;
    this.#sink = sink;
    this.#rows = chunkRows;
    this.#lastStr = schema.columns.map(() => "");
    this.#lastCode = new Int32Array(schema.columns.length);
    this.#fresh();
  }

  #fresh(): void {
    // Typed arrays a consumer gave back (recycleChunkArrays) are used again: a chunk's arrays
    // that the encoder worker frees at its own pace made the native heap grow for minutes.
    const again = POOL.get(`${this.schema.name}:${this.#rows}`)?.pop();
    const rows = this.#rows;
    this.schema.columns.forEach((c, i) => {
      const old = again?.[i];
      if (c.kind === "str") {
        this.#data[i] = undefined;
        this.#codes[i] = old instanceof Int32Array && old.length === rows
          ? old.fill(0)
          : new Int32Array(rows);
        this.#values[i] = [""];
        this.#index[i] = new Map([["", 0]]);
        this.#lastStr[i] = "";
        this.#lastCode[i] = 0;
      } else if (c.kind === "f64") {
        this.#data[i] = old instanceof Float64Array && old.length === rows
          ? old.fill(NaN)
          : new Float64Array(rows).fill(NaN);
      } else {
        this.#data[i] = old instanceof Int32Array && old.length === rows
          ? old.fill(0)
          : new Int32Array(rows);
      }
    });
  }

  /** Rows added so far (all chunks). */
  get total(): number {
    return this.#total;
  }

  /**
   * Start a row (numbers NaN or 0, strings "" until set); a full chunk goes to the sink first.
   *
   * @returns The row's index within the current chunk.
   */
  addRow(): number {
    if (this.#n === this.#rows) this.flush();
    ++this.#total;
    return this.#n++;
  }

  /**
   * Whether a row index still belongs to the current chunk (not yet handed over).
   *
   * @param row A row index from {@linkcode addRow}.
   * @param total {@linkcode total} right after that row was added.
   * @returns True while the row can still be changed.
   */
  isOpen(row: number, total: number): boolean {
    return total > this.#total - this.#n && row < this.#n;
  }

  /**
   * Set a number (f64 or i32 column).
   *
   * @param col Column index.
   * @param row Row within the chunk.
   * @param v The value.
   */
  setNum(col: number, row: number, v: number): void {
    (this.#data[col] as Float64Array | Int32Array)[row] = v;
  }

  /**
   * A number already set.
   *
   * @param col Column index.
   * @param row Row within the chunk.
   * @returns The value.
   */
  getNum(col: number, row: number): number {
    return (this.#data[col] as Float64Array | Int32Array)[row]!;
  }

  /**
   * Set a string.
   *
   * @param col Column index.
   * @param row Row within the chunk.
   * @param v The value.
   */
  setStr(col: number, row: number, v: string): void {
    let code: number;
    if (v === this.#lastStr[col]) code = this.#lastCode[col]!;
    else {
      const index = this.#index[col]!;
      const known = index.get(v);
      if (known === undefined) {
        const values = this.#values[col]!;
        code = values.length;
        values.push(v);
        index.set(v, code);
      } else code = known;
      this.#lastStr[col] = v;
      this.#lastCode[col] = code;
    }
    this.#codes[col]![row] = code;
  }

  /**
   * A string already set.
   *
   * @param col Column index.
   * @param row Row within the chunk.
   * @returns The value.
   */
  getStr(col: number, row: number): string {
    return this.#values[col]![this.#codes[col]![row]!]!;
  }

  /** Hand the rows so far to the sink (nothing when there are none) and start a new chunk. */
  flush(): void {
    if (this.#n === 0) return;
    const n = this.#n;
    const dict = this.schema.columns.map((c, i): ChunkDictionary | undefined =>
      c.kind === "str" ? { codes: this.#codes[i]!, values: this.#values[i]! } : undefined
    );
    this.#sink(new BuiltChunk(this.schema, n, this.#rows, [...this.#data], dict));
    this.#data = [];
    this.#codes = [];
    this.#values = [];
    this.#index = [];
    this.#fresh();
    this.#n = 0;
  }
}

/**
 * A chunk's rows as objects (for tests and small tables; the hot path never does this).
 *
 * @param c The chunk.
 * @returns One object per row, NaN as null.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chunkRows } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "f64" as const, doc: "" }] };
 * assert.deepEqual(chunkRows({ schema, n: 2, data: [new Float64Array([1, NaN])] }), [{ x: 1 }, { x: null }]);
 * ```
 */
export function chunkRows(c: TableChunk): Record<string, number | string | null>[] {
  const out: Record<string, number | string | null>[] = [];
  for (let r = 0; r < c.n; ++r) {
    const o: Record<string, number | string | null> = {};
    c.schema.columns.forEach((s, i) => {
      const v = c.data[i]![r]!;
      o[s.name] = typeof v === "number" && Number.isNaN(v) ? null : v;
    });
    out.push(o);
  }
  return out;
}
