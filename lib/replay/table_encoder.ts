/**
 * Table chunks to the bytes of their files (CSV with its header first, Arrow IPC stream,
 * Parquet), for every table of a replay, on this thread ({@linkcode TableEncoder}, as the CLI
 * does) or on a worker ({@linkcode WorkerTableEncoder}: the encoding, a fifth to a quarter of a
 * replay's time, then runs on a second core while the replay goes on; a replay took 10-20 % less
 * time, and its peak RSS 18 MB more, a Deno worker's own cost with nothing loaded).
 *
 * @module
 */

import { ArrowStreamEncoder } from "./table_io.ts";
import { CsvEncoder } from "./csv_encoder.ts";
import { ParquetStreamWriter } from "./parquet_writer.ts";
import { chunkArrays, recycleChunkArrays, type TableChunk } from "./table_builder.ts";

/** One chunk's bytes, to append to its table's files. */
export interface EncodedChunk {
  /** The table (`ops`, `timeline`, ...). */
  readonly table: string;
  /** CSV bytes (the header line first, for the table's first chunk). */
  readonly csv: Uint8Array;
  /** Arrow IPC stream bytes. */
  readonly arrow: Uint8Array;
  /** Parquet bytes (the chunk's row group; the magic first, the footer at the end). */
  readonly parquet: Uint8Array;
}

/**
 * Encodes the chunks of several tables, each table's in order.
 *
 * @example Two chunks of one table, then the end
 * ```ts
 * import assert from "node:assert/strict";
 * import { TableEncoder } from "./mod.ts";
 * const schema = { name: "t", columns: [{ name: "x", kind: "i32" as const, doc: "" }] };
 * const e = new TableEncoder();
 * const a = e.encode({ schema, n: 1, data: [new Int32Array([7])] });
 * const b = e.encode({ schema, n: 1, data: [new Int32Array([8])] });
 * assert.equal(new TextDecoder().decode(a.csv) + new TextDecoder().decode(b.csv), "x\n7\n8\n");
 * const end = e.end();
 * assert.deepEqual(end.map((x) => [x.table, x.csv.byteLength, x.arrow.byteLength]), [["t", 0, 8]]);
 * const pq = new Uint8Array([...a.parquet, ...b.parquet, ...end[0]!.parquet]);
 * assert.equal(new TextDecoder().decode(pq.subarray(0, 4)), "PAR1"); // one Parquet file
 * assert.equal(new TextDecoder().decode(pq.subarray(-4)), "PAR1");
 * ```
 */
export class TableEncoder {
  readonly #arrow = new Map<string, ArrowStreamEncoder>();
  readonly #parquet = new Map<string, ParquetStreamWriter>();
  readonly #csv: CsvEncoder;
  readonly #reuse: boolean;

  /**
   * An encoder.
   *
   * @param options `reuse`: the bytes of each call are views of the encoders' buffers, valid
   *   until the next call (no copies: for a caller that writes them out at once; a replay's 1 GB
   *   of trace makes 300-340 MB of them). Default: copies.
   */
  constructor(options: { reuse?: boolean } = {}) {
    this.#reuse = options.reuse ?? false;
    this.#csv = new CsvEncoder({ reuse: this.#reuse });
  }

  /**
   * One chunk's bytes.
   *
   * @param c The chunk.
   * @returns Its CSV, Arrow and Parquet bytes.
   */
  encode(c: TableChunk): EncodedChunk {
    let a = this.#arrow.get(c.schema.name);
    let p = this.#parquet.get(c.schema.name);
    const header = a === undefined || p === undefined;
    if (a === undefined || p === undefined) {
      a = new ArrowStreamEncoder(c.schema, { reuse: this.#reuse });
      p = new ParquetStreamWriter(c.schema, { reuse: this.#reuse });
      this.#arrow.set(c.schema.name, a);
      this.#parquet.set(c.schema.name, p);
    }
    return {
      table: c.schema.name,
      csv: this.#csv.encode(c, header),
      arrow: a.encode(c),
      parquet: p.write(c),
    };
  }

  /**
   * The last bytes of every table seen (the Arrow end-of-stream marker, the Parquet file's
   * last row group and footer).
   *
   * @returns One entry per table.
   */
  end(): EncodedChunk[] {
    const out: EncodedChunk[] = [];
    for (const [table, a] of this.#arrow) {
      out.push({
        table,
        csv: new Uint8Array(0),
        arrow: a.end(),
        parquet: this.#parquet.get(table)!.end(),
      });
    }
    return out;
  }
}

/**
 * A {@linkcode TableEncoder} on a worker: chunks are handed over (their typed arrays
 * transferred, so the caller must not touch them again) and come back encoded, in order.
 */
export class WorkerTableEncoder {
  readonly #w: Worker;
  readonly #waiting: { res: (m: EncodedChunk[]) => void; rej: (e: Error) => void }[] = [];

  /** Start the worker. */
  constructor() {
    this.#w = new Worker(new URL("./_table_encoder_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#w.onmessage = (
      e: MessageEvent<
        { out: EncodedChunk[]; back: (Float64Array | Int32Array)[] } | { error: string }
      >,
    ) => {
      const w = this.#waiting.shift()!;
      if ("error" in e.data) return w.rej(new Error(`table encoder: ${e.data.error}`));
      const table = e.data.out[0]?.table;
      if (table !== undefined) recycleChunkArrays(table, e.data.back);
      w.res(e.data.out);
    };
    // A worker that dies fails every request still waiting, instead of leaving it unanswered.
    this.#w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      for (const w of this.#waiting.splice(0)) w.rej(new Error(`table encoder: ${e.message}`));
    };
  }

  /**
   * Encode a chunk on the worker.
   *
   * @param c The chunk (its typed arrays move to the worker).
   * @returns Its bytes.
   */
  async encode(c: TableChunk): Promise<EncodedChunk> {
    // String columns travel as their codes and distinct values (typed arrays move, a few
    // strings are copied) instead of one string per row.
    const numbers = c.numbers;
    const wire: TableChunk = c.dict === undefined ? c : {
      schema: c.schema,
      n: c.n,
      data: numbers === undefined
        ? c.data.map((d, i) => (c.dict![i] === undefined ? d : []))
        : numbers.map((d) => d ?? []),
      dict: c.dict,
    };
    const transfer = chunkArrays(wire).map((a) => a.buffer as ArrayBuffer);
    const done = new Promise<EncodedChunk[]>((res, rej) => this.#waiting.push({ res, rej }));
    this.#w.postMessage({ kind: "chunk", chunk: wire }, transfer);
    return (await done)[0]!;
  }

  /**
   * The last bytes of every table; the worker then stops.
   *
   * @returns One entry per table.
   */
  async end(): Promise<EncodedChunk[]> {
    const done = new Promise<EncodedChunk[]>((res, rej) => this.#waiting.push({ res, rej }));
    this.#w.postMessage({ kind: "end" });
    try {
      return await done;
    } finally {
      this.#w.terminate();
    }
  }
}
