// The ops table as the recorders write it: column indices, the row helper, the cost fill, the
// summary counts, and the IOMMU work a CPU printed that is waiting for its operation.

import { type EventBatch, hexAt } from "../ingest/mod.ts";
import { type CostProfile, modeledNsOf } from "../cost/mod.ts";
import { OPS_SCHEMA } from "./replay_tables.ts";
import { TableBuilder, type TableChunk } from "./table_builder.ts";
import type { Family } from "./_op_families.ts";

// Column indices of OPS_SCHEMA (ops_recorder_test checks them against the names).
export const TS = 0;
export const CPU = 1;
export const TASK = 2;
export const LINE = 3;
export const OP = 4;
export const DEVICE = 5;
export const DMABUF = 6;
export const ATT = 7;
export const PATH = 8;
export const BYTES = 9;
export const RANGES = 10;
export const SG = 11;
export const DMA_ADDR = 12;
export const IOVA = 13;
export const SRC = 14;
export const PTE = 15;
export const IOTLB = 16;
export const MODELED = 17;
export const OBSERVED = 18;
export const REV = 19;

export const hex = (v: bigint): string => (v < 0n ? "" : `0x${v.toString(16)}`);

// Hex strings of recent addresses, direct-mapped by the low bits of the page number: IOVAs and
// DMA addresses recur (the allocator hands the same ranges out again), and a hit makes no new
// string (the ops table's addresses were a tenth of the replay's allocation).
const HEX_KEYS = new Float64Array(4096).fill(-1);
const HEX_VALUES: string[] = new Array<string>(4096).fill("");

/**
 * The hex of an address held as a number (exact below 2^53, and for any multiple of 4096 below
 * 2^64), "" for a negative one.
 */
export function hexNum(v: number): string {
  if (v < 0) return "";
  const i = Math.floor(v / 4096) % 4096;
  if (HEX_KEYS[i] === v) return HEX_VALUES[i]!;
  const s = `0x${v.toString(16)}`;
  HEX_KEYS[i] = v;
  HEX_VALUES[i] = s;
  return s;
}

/** Row `i` of a u64 column as hex, through {@linkcode hexNum} when it is exact as a number. */
export function hexOfU64(col: Uint32Array, i: number): string {
  const hi = col[2 * i + 1]!;
  return hi < 0x200000 ? hexNum(hi * 4294967296 + col[2 * i]!) : hexAt(col, i);
}

/** IOMMU work printed on one CPU and not yet given to an operation. */
export interface Work {
  /** Line, time (s) and task of the first event, line of the last. */
  line: number;
  lastLine: number;
  tsS: number;
  pid: number;
  events: number;
  pte: number;
  bytes: number;
  /** IOVA of the first event, and where the next one would follow it (-1: none): numbers,
   * exact for page-aligned IOVAs (iommu_map maps whole pages). */
  iova: number;
  next: number;
}

export function newWork(): Work {
  return {
    line: NaN,
    lastLine: NaN,
    tsS: NaN,
    pid: -1,
    events: 0,
    pte: 0,
    bytes: 0,
    iova: -1,
    next: -1,
  };
}

export function mergeWork(into: Work, w: Work): void {
  if (w.events === 0) return;
  if (into.events === 0) {
    Object.assign(into, w);
    return;
  }
  into.events += w.events;
  into.lastLine = w.lastLine;
  into.pte += w.pte;
  into.bytes += w.bytes;
}

export function resetWork(w: Work): void {
  w.line = NaN;
  w.lastLine = NaN;
  w.tsS = NaN;
  w.pid = -1;
  w.events = 0;
  w.pte = 0;
  w.bytes = 0;
  w.iova = -1;
  w.next = -1;
}

/** A row that may still take IOMMU work or a duration. */
export interface OpenRow {
  row: number;
  total: number;
  family: Family;
  line: number;
  callEntry: number;
}

/** summary.json's `ops`. */
export interface OpsStats {
  /** Rows. */
  total: number;
  /** Rows by path (`BUS_ADDR`, `THRU_HOST_BRIDGE`, `DIRECT`, `NOT_SUPPORTED`). */
  byPath: Record<string, number>;
  /** Sum of modeled_ns. */
  modeledNs: number;
  /** Rows with an observed duration. */
  observed: number;
  /** Sum of their observed_ns. */
  observedNs: number;
  /** Sum of their modeled_ns (to compare with observedNs). */
  modeledNsOfObserved: number;
}

/** The ops builder with its row, cost and count helpers. */
export class OpsTable {
  readonly b: TableBuilder;
  readonly stats: OpsStats = {
    total: 0,
    byPath: {},
    modeledNs: 0,
    observed: 0,
    observedNs: 0,
    modeledNsOfObserved: 0,
  };
  readonly #cost: CostProfile;
  readonly #revision: string;
  readonly #sink: (c: TableChunk) => void;
  readonly #tasks = new Map<number, string>();

  constructor(sink: (c: TableChunk) => void, cost: CostProfile, revision: string, rows: number) {
    this.#sink = sink;
    this.#cost = cost;
    this.#revision = revision;
    this.b = new TableBuilder(OPS_SCHEMA, (c) => this.#count(c), rows);
  }

  #count(c: TableChunk): void {
    const st = this.stats;
    // The chunk's codes when it has them: its strings are then never built on this path.
    const coded = c.dict?.[PATH];
    const path = coded === undefined ? c.data[PATH] as string[] : undefined;
    const mod = (c.numbers?.[MODELED] ?? c.data[MODELED]) as Float64Array;
    const obs = (c.numbers?.[OBSERVED] ?? c.data[OBSERVED]) as Float64Array;
    st.total += c.n;
    for (let i = 0; i < c.n; ++i) {
      const p = coded === undefined ? path![i]! : coded.values[coded.codes[i]!]!;
      if (p !== "") st.byPath[p] = (st.byPath[p] ?? 0) + 1;
      if (!Number.isNaN(mod[i]!)) st.modeledNs += mod[i]!;
      if (!Number.isNaN(obs[i]!)) {
        ++st.observed;
        st.observedNs += obs[i]!;
        if (!Number.isNaN(mod[i]!)) st.modeledNsOfObserved += mod[i]!;
      }
    }
    this.#sink(c);
  }

  /** `comm-pid`, one string per task (not one per row). */
  #task(b: EventBatch, r: number): string {
    const key = b.comm[r]! * 4194304 + b.pid[r]!; // pids < 2^22
    let t = this.#tasks.get(key);
    if (t === undefined) {
      if (this.#tasks.size > 65536) this.#tasks.clear();
      t = `${b.strings.get(b.comm[r]!)}-${b.pid[r]}`;
      this.#tasks.set(key, t);
    }
    return t;
  }

  /** A new row for batch row `r` (-1: no event of its own). */
  row(b: EventBatch | null, r: number, op: string): number {
    const o = this.b;
    const row = o.addRow();
    if (b !== null && r >= 0) {
      o.setNum(TS, row, (b.tsBaseNsNumber + b.tsNs[r]!) / 1e9);
      o.setNum(CPU, row, b.cpu[r]!);
      o.setStr(TASK, row, this.#task(b, r));
      o.setNum(LINE, row, b.lineNo1[r]!);
    } else o.setNum(CPU, row, -1);
    o.setStr(OP, row, op);
    o.setNum(ATT, row, -1);
    o.setStr(REV, row, this.#revision);
    return row;
  }

  /** Fill `modeled_ns` from the row's features. */
  cost(row: number): void {
    const o = this.b;
    o.setNum(
      MODELED,
      row,
      modeledNsOf(
        this.#cost,
        o.getStr(OP, row),
        o.getStr(SRC, row),
        o.getNum(PTE, row),
        o.getNum(IOTLB, row),
        o.getNum(SG, row),
      ),
    );
  }

  isOpen(o: OpenRow | null): o is OpenRow {
    return o !== null && this.b.isOpen(o.row, o.total);
  }

  open(row: number, family: Family, line: number): OpenRow {
    return { row, total: this.b.total, family, line, callEntry: -1 };
  }
}

/**
 * Give IOMMU work to a row: its PTEs, its first IOVA, and for an unmap the invalidations
 * (strict) or the flush queue (lazy) and where the IOVA went.
 */
export function applyWork(t: OpsTable, w: Work, row: number, unmap: boolean, lazy: boolean): void {
  const o = t.b;
  o.setNum(PTE, row, o.getNum(PTE, row) + w.pte);
  if (o.getStr(IOVA, row) === "") o.setStr(IOVA, row, hexNum(w.iova));
  if (unmap) {
    if (!lazy) o.setNum(IOTLB, row, o.getNum(IOTLB, row) + w.events);
    if (o.getStr(SRC, row) === "") {
      o.setStr(SRC, row, lazy ? "fq" : w.bytes <= 32 * 4096 ? "rcache" : "rbtree");
    }
  }
  resetWork(w);
}
