// An EventBatch on its way between threads (parse on a worker, replay on the main thread). The
// used part of every typed array of the batch is copied into one ArrayBuffer, and the message
// holds views of it in the batch's own shape: structured clone carries the buffer once (it is
// transferred) with its views, so the receiver reads them where they arrived, and gives the
// buffer back for the next batch (memory stays at a few buffers whatever the input). The
// string tables are not sent: the receiver mirrors them from the strings each batch added.

import type { Typed } from "./_grown.ts";
import { fieldColumns } from "./_batch_builder.ts";
import type {
  ArgPool,
  CallTable,
  Column,
  EventBatch,
  ProbeTable,
  SchemaTable,
  TraceGap,
} from "./event_batch.ts";
import { SCHEMA_BY_NAME } from "./schemas.ts";
import type { StringTable } from "./string_table.ts";

/** A schema table in a wire batch: columns by field, as `SchemaTable.fieldCols`. */
export interface WireTable {
  /** Schema name. */
  name: string;
  /** Rows. */
  n: number;
  /** Batch row of each entry. */
  rows: Int32Array;
  /** Columns by field. */
  fieldCols: Column[][];
  /** Presence masks by field (null for non-`hex` fields). */
  fieldPresent: (Uint8Array | null)[];
  /** Rows that lack a field. */
  incomplete: Uint8Array;
}

/** An EventBatch without its string tables and with tables as a list: what a message holds. */
export interface WireBatch extends Omit<EventBatch, "tables" | "strings" | "eventNames" | "gaps"> {
  /** Schema tables, in the batch's map order. */
  tables: WireTable[];
  /** Lost-event markers. */
  gaps: TraceGap[];
}

/** Takes `count` entries of a typed array: measures them, or copies them out. */
type Take = <T extends Typed>(a: T, count: number) => T;

/** The batch with every typed array passed through `take` (its used entries). */
function shapeOf(b: EventBatch, take: Take): WireBatch {
  const n = b.n;
  const p: ProbeTable = b.probes;
  const c: CallTable = b.calls;
  const a: ArgPool = b.args;
  return {
    n,
    lineNo1: take(b.lineNo1, n),
    tsNs: take(b.tsNs, n),
    cpu: take(b.cpu, n),
    pid: take(b.pid, n),
    tgid: take(b.tgid, n),
    comm: take(b.comm, n),
    irqFlags: take(b.irqFlags, n),
    instance: take(b.instance, n),
    eventId: take(b.eventId, n),
    kind: take(b.kind, n),
    tableRow: take(b.tableRow, n),
    argStart: take(b.argStart, n),
    argLen: take(b.argLen, n),
    tables: [...b.tables.values()].map((t) => ({
      name: t.schema.name,
      n: t.n,
      rows: take(t.rows, t.n),
      // A hex column holds lo/hi pairs: two entries a row.
      fieldCols: t.fieldCols.map((group, i) =>
        group.map((col) => take(col, t.schema.fields[i]!.kind === "hex" ? 2 * t.n : t.n))
      ),
      fieldPresent: t.fieldPresent.map((m) => (m === undefined ? null : take(m, t.n))),
      incomplete: take(t.incomplete, t.n),
    })),
    probes: {
      n: p.n,
      rows: take(p.rows, p.n),
      func: take(p.func, p.n),
      funcOffset: take(p.funcOffset, p.n),
      caller: take(p.caller, p.n),
      callerOffset: take(p.callerOffset, p.n),
      meaning: take(p.meaning, p.n),
      durNs: take(p.durNs, p.n),
      argStart: take(p.argStart, p.n),
      argLen: take(p.argLen, p.n),
    },
    calls: {
      n: c.n,
      entryLineNo1: take(c.entryLineNo1, c.n),
      exitLineNo1: take(c.exitLineNo1, c.n),
      cpu: take(c.cpu, c.n),
      depth: take(c.depth, c.n),
      func: take(c.func, c.n),
      module: take(c.module, c.n),
      durNs: take(c.durNs, c.n),
      tsNs: take(c.tsNs, c.n),
      pid: take(c.pid, c.n),
    },
    gaps: b.gaps,
    pool: take(b.pool, 2 * b.poolLen),
    poolLen: b.poolLen,
    args: {
      n: a.n,
      key: take(a.key, a.n),
      kind: take(a.kind, a.n),
      val: take(a.val, 2 * a.n),
      str: take(a.str, a.n),
    },
    tsBaseNs: b.tsBaseNs,
    tsBaseNsNumber: b.tsBaseNsNumber,
  };
}

/** Offsets stay 8-byte aligned (Float64Array views need it). */
const align8 = (x: number): number => (x + 7) & ~7;

/**
 * Bytes a wire copy of `b` takes.
 *
 * @param b The batch.
 * @returns Its arena size.
 */
export function wireBytes(b: EventBatch): number {
  let bytes = 0;
  shapeOf(b, (a, count) => {
    bytes += align8(count * a.BYTES_PER_ELEMENT);
    return a;
  });
  return bytes;
}

/**
 * Copy `b` into `arena` (at least {@linkcode wireBytes} long): the message to post, with
 * `arena` to transfer.
 *
 * @param b The batch (unchanged).
 * @param arena The buffer its arrays go into.
 * @returns The batch as views of `arena`.
 */
export function packBatch(b: EventBatch, arena: ArrayBuffer): WireBatch {
  let off = 0;
  return shapeOf(b, (a, count) => {
    const view = new (a.constructor as new (buf: ArrayBuffer, off: number, n: number) => typeof a)(
      arena,
      off,
      count,
    );
    view.set(a.subarray(0, count) as never);
    off += align8(count * a.BYTES_PER_ELEMENT);
    return view;
  });
}

/**
 * The EventBatch a wire batch stands for, its strings in `strings` and `eventNames` (mirrors of
 * the sender's tables, brought up to date first).
 *
 * @param w The batch as received.
 * @param strings Strings of its string-id columns.
 * @param eventNames Its event names.
 * @returns The batch (its arrays are `w`'s).
 * @throws {RangeError} When a table's schema is not one this thread knows.
 */
export function unpackBatch(
  w: WireBatch,
  strings: StringTable,
  eventNames: StringTable,
): EventBatch {
  const tables = new Map<string, SchemaTable>();
  for (const t of w.tables) {
    const schema = SCHEMA_BY_NAME.get(t.name);
    if (schema === undefined) throw new RangeError(`Cannot read table "${t.name}": no such schema`);
    const cols: Record<string, Column> = {};
    const present: Record<string, Uint8Array> = {};
    schema.fields.forEach((fd, i) => {
      fieldColumns(fd).forEach((def, k) => (cols[def.name] = t.fieldCols[i]![k]!));
      const mask = t.fieldPresent[i];
      if (mask) present[fd.name] = mask;
    });
    tables.set(t.name, {
      schema,
      n: t.n,
      rows: t.rows,
      cols,
      present,
      incomplete: t.incomplete,
      fieldCols: t.fieldCols,
      fieldPresent: t.fieldPresent.map((m) => m ?? undefined),
    });
  }
  return { ...w, tables, strings, eventNames };
}
