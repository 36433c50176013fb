/**
 * The columnar form the ingest stage emits: one {@linkcode EventBatch} per few thousand lines,
 * with common columns for every event, one {@linkcode SchemaTable} per tracepoint format seen,
 * a probe table for kprobe/kretprobe/fprobe lines and a call table for function_graph.
 *
 * @module
 */

import type { EventSchema } from "./schemas.ts";
import type { StringTable } from "./string_table.ts";

/** What produced an event row (`EventBatch.kind`). */
export const EVENT_KIND = {
  /** A tracepoint with a known schema: its fields are in `tables`. */
  TRACEPOINT: 0,
  /** A kprobe or fprobe entry line: in `probes`. */
  PROBE_ENTRY: 1,
  /** A kretprobe or fprobe exit line: in `probes`. */
  PROBE_RETURN: 2,
  /** An event with no schema and no probe form: counted, its payload kept as args. */
  UNKNOWN: 3,
} as const;

/** How an argument of the arg pool was printed (`ArgPool.kind`). */
export const ARG_KIND = {
  /** `0x...` */
  HEX: 0,
  /** Unsigned decimal. */
  DEC: 1,
  /** Negative decimal: the value column holds its two's complement. */
  NEG: 2,
  /** A `"quoted"` string or any other word: `str` holds its id. */
  STR: 3,
} as const;

/** Value of an absent `int` field (a printed `%d` may be -1 or any negative errno). */
export const INT_ABSENT: number = -0x80000000;

/** A column type of a schema table. */
export type Column = Int32Array | Float64Array | Uint32Array;

/** The rows of one tracepoint format within a batch. */
export interface SchemaTable {
  /** The format. */
  readonly schema: EventSchema;
  /** Number of rows. */
  n: number;
  /** Row of each entry in the batch's common columns. */
  rows: Int32Array;
  /**
   * Columns by name (see `FieldKind`): `str`/`int`/`dir`/`flag`/`sym`/`gfp` are `Int32Array`
   * (-1 absent; `int` fields {@linkcode INT_ABSENT}), `dec` `Float64Array` (NaN absent), `hex` `Uint32Array` lo/hi pairs; `attrs`
   * adds `<name>_text`, `frac` adds `<name>_full`, `u64s` are `<name>_start`/`<name>_len` into
   * the batch's u64 pool.
   */
  cols: Record<string, Column>;
  /** Which `hex` rows hold a value (1) or were absent (0), by column name. */
  present: Record<string, Uint8Array>;
  /**
   * Rows (1) that lack a field their format always prints (a `missing_field` diagnostic, a
   * truncated line): counted, but the checks skip them rather than guess the value.
   */
  incomplete: Uint8Array;
  /** The same columns grouped by field, in `schema.fields` order (for the parser). */
  fieldCols: Column[][];
  /** The same presence masks by field (undefined for non-`hex` fields). */
  fieldPresent: (Uint8Array | undefined)[];
}

/** Probe (kprobe / kretprobe / fprobe) rows of a batch. */
export interface ProbeTable {
  /** Number of rows. */
  n: number;
  /** Row in the common columns. */
  rows: Int32Array;
  /** Probed function (string id). */
  func: Int32Array;
  /** Offset into the probed function (`+0x4`). */
  funcOffset: Int32Array;
  /** For returns: the caller returned to (string id), else -1. */
  caller: Int32Array;
  /** For returns: offset into the caller. */
  callerOffset: Int32Array;
  /** Index of the probe map entry that gives this probe a meaning, or -1. */
  meaning: Int32Array;
  /** For returns paired with their entry on the same pid: entry-to-return ns, else NaN. */
  durNs: Float64Array;
  /** First argument in the batch's arg pool. */
  argStart: Int32Array;
  /** Number of arguments. */
  argLen: Int32Array;
}

/** Completed function_graph calls of a batch. */
export interface CallTable {
  /** Number of calls. */
  n: number;
  /** 1-based line of the entry (`func() {`), or of the leaf line. */
  entryLineNo1: Float64Array;
  /** 1-based line of the exit (`}`), or of the leaf line. */
  exitLineNo1: Float64Array;
  /** CPU. */
  cpu: Int32Array;
  /** Nesting depth (0 = outermost). */
  depth: Int32Array;
  /** Function name (string id, without a `[module]` suffix). */
  func: Int32Array;
  /** Module of the function (`[nvme]`, string id) or -1 for built-in code. */
  module: Int32Array;
  /** Duration as printed, in ns. */
  durNs: Float64Array;
  /** Exit time (ns relative to the batch's base) when funcgraph-abstime is on, else NaN. */
  tsNs: Float64Array;
  /** Task pid when funcgraph-proc is on, else -1. */
  pid: Int32Array;
}

/** A place where the trace lost events. */
export interface TraceGap {
  /** 1-based line of the marker. */
  readonly lineNo1: number;
  /** The CPU that lost events. */
  readonly cpu: number;
  /** Events lost; -1 when the kernel did not know. */
  readonly lostEvents: number;
  /** A `CPU:N [LOST M EVENTS]` marker, or `##### CPU N buffer started ####`. */
  readonly kind: "lost" | "buffer_started";
}

/** Extra `key=value` arguments: probe arguments and fields a format does not print. */
export interface ArgPool {
  /** Number of arguments. */
  n: number;
  /** Key (string id). */
  key: Int32Array;
  /** How the value was printed (`ARG_KIND`). */
  kind: Uint8Array;
  /** Numeric value, lo/hi pairs. */
  val: Uint32Array;
  /** For `ARG_KIND.STR`: the text (string id), else -1. */
  str: Int32Array;
}

/** One batch of parsed events, columnar. Rows are in line order. */
export interface EventBatch {
  /** Number of event rows. */
  n: number;
  /** 1-based line number of each event. */
  lineNo1: Float64Array;
  /** Timestamp in ns relative to `tsBaseNs` (ticks for counter clocks). */
  tsNs: Float64Array;
  /** CPU. */
  cpu: Int32Array;
  /** Task pid. */
  pid: Int32Array;
  /** Thread group id when the TGID column is on, else -1. */
  tgid: Int32Array;
  /** Task name (string id). */
  comm: Int32Array;
  /** The irq-flags field as printed (`d.h1.`, string id), or -1 when absent. */
  irqFlags: Int32Array;
  /** trace-cmd instance name (string id), or -1 for the top buffer. */
  instance: Int32Array;
  /** Event name (id in `eventNames`). */
  eventId: Int32Array;
  /** What produced the row (`EVENT_KIND`). */
  kind: Uint8Array;
  /** Row within the schema table or the probe table; -1 for unknown events. */
  tableRow: Int32Array;
  /** Extra arguments of the row (arg pool start), for unknown events and unexpected fields. */
  argStart: Int32Array;
  /** Number of extra arguments. */
  argLen: Int32Array;
  /** Tracepoint rows by schema name. */
  tables: Map<string, SchemaTable>;
  /** Probe rows. */
  probes: ProbeTable;
  /** Completed function_graph calls. */
  calls: CallTable;
  /** Lost-event markers within this batch's lines. */
  gaps: TraceGap[];
  /** u64 array elements (`dma_addrs={...}` etc.), lo/hi pairs. */
  pool: Uint32Array;
  /** Elements used in `pool`. */
  poolLen: number;
  /** Extra arguments. */
  args: ArgPool;
  /** Strings of every string-id column (shared by all batches of one parse). */
  strings: StringTable;
  /** Event names (shared by all batches of one parse). */
  eventNames: StringTable;
  /** Absolute time of `tsNs` 0, in ns (the first event's timestamp). */
  tsBaseNs: bigint;
  /**
   * `tsBaseNs` as a number (exact below 2^53 ns, 104 days of uptime): for per-event arithmetic
   * without converting a bigint each time.
   */
  tsBaseNsNumber: number;
}
