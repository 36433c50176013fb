// Fills an EventBatch row by row; every column grows by doubling.

import type { FieldDef } from "./schemas.ts";
import type { EventSchema } from "./schemas.ts";
import type { StringTable } from "./string_table.ts";
import {
  type ArgPool,
  type CallTable,
  type Column,
  type EventBatch,
  INT_ABSENT,
  type ProbeTable,
  type SchemaTable,
} from "./event_batch.ts";

import { grown, type Typed } from "./_grown.ts";

function i32(cap: number, fill = -1): Int32Array {
  const a = new Int32Array(cap);
  if (fill !== 0) a.fill(fill);
  return a;
}

function f64(cap: number, fill = NaN): Float64Array {
  const a = new Float64Array(cap);
  a.fill(fill);
  return a;
}

/** One column of a field: its element type and the value of an absent entry. */
interface ColumnDef {
  name: string;
  type: "i32" | "f64" | "u64";
  fill: number;
}

/** Columns a field occupies, with their element types and fill values. */
export function fieldColumns(fd: FieldDef): ColumnDef[] {
  switch (fd.kind) {
    case "hex":
      return [{ name: fd.name, type: "u64", fill: 0 }];
    case "dec":
      return [{ name: fd.name, type: "f64", fill: NaN }];
    case "attrs":
      return [{ name: fd.name, type: "i32", fill: 0 }, {
        name: fd.name + "_text",
        type: "i32",
        fill: -1,
      }];
    case "frac":
      return [{ name: fd.name, type: "i32", fill: -1 }, {
        name: fd.name + "_full",
        type: "i32",
        fill: -1,
      }];
    case "u64s":
      return [{ name: fd.name + "_start", type: "i32", fill: -1 }, {
        name: fd.name + "_len",
        type: "i32",
        fill: -1,
      }];
    case "flag":
      return [{ name: fd.name, type: "i32", fill: 0 }];
    case "int":
      return [{ name: fd.name, type: "i32", fill: INT_ABSENT }];
    default:
      return [{ name: fd.name, type: "i32", fill: -1 }];
  }
}

function makeColumn(c: ColumnDef, cap: number): Column {
  if (c.type === "u64") return new Uint32Array(2 * cap);
  if (c.type === "f64") return f64(cap, c.fill);
  return i32(cap, c.fill);
}

/** Put the first `n` rows of a schema table back to their absent values, for reuse. */
function resetSchemaTable(t: SchemaTable): void {
  const n = t.n;
  t.schema.fields.forEach((fd, i) => {
    const defs = fieldColumns(fd);
    const cols = t.fieldCols[i]!;
    for (let k = 0; k < defs.length; ++k) {
      const d = defs[k]!;
      if (d.type === "u64") (cols[k] as Uint32Array).fill(0, 0, 2 * n);
      else (cols[k] as Int32Array | Float64Array).fill(d.fill, 0, n);
    }
    t.fieldPresent[i]?.fill(0, 0, n);
  });
  t.incomplete.fill(0, 0, n);
  t.rows.fill(-1, 0, n);
  t.n = 0;
}

/**
 * Empty a batch for reuse (its arrays keep their capacity): every used entry goes back to the
 * value a new batch holds, so a reused batch reads exactly like a fresh one.
 */
export function resetBatch(b: EventBatch, tsBaseNs: bigint): void {
  const n = b.n;
  b.lineNo1.fill(NaN, 0, n);
  b.tsNs.fill(NaN, 0, n);
  b.cpu.fill(-1, 0, n);
  b.pid.fill(-1, 0, n);
  b.tgid.fill(-1, 0, n);
  b.comm.fill(-1, 0, n);
  b.irqFlags.fill(-1, 0, n);
  b.instance.fill(-1, 0, n);
  b.eventId.fill(-1, 0, n);
  b.kind.fill(0, 0, n);
  b.tableRow.fill(-1, 0, n);
  b.argStart.fill(0, 0, n);
  b.argLen.fill(0, 0, n);
  b.n = 0;
  for (const t of b.tables.values()) resetSchemaTable(t);
  const p = b.probes;
  const pn = p.n;
  p.rows.fill(-1, 0, pn);
  p.func.fill(-1, 0, pn);
  p.funcOffset.fill(0, 0, pn);
  p.caller.fill(-1, 0, pn);
  p.callerOffset.fill(0, 0, pn);
  p.meaning.fill(-1, 0, pn);
  p.durNs.fill(NaN, 0, pn);
  p.argStart.fill(0, 0, pn);
  p.argLen.fill(0, 0, pn);
  p.n = 0;
  const c = b.calls;
  const cn = c.n;
  c.entryLineNo1.fill(NaN, 0, cn);
  c.exitLineNo1.fill(NaN, 0, cn);
  c.cpu.fill(-1, 0, cn);
  c.depth.fill(-1, 0, cn);
  c.func.fill(-1, 0, cn);
  c.module.fill(-1, 0, cn);
  c.durNs.fill(NaN, 0, cn);
  c.tsNs.fill(NaN, 0, cn);
  c.pid.fill(-1, 0, cn);
  c.n = 0;
  const a = b.args;
  a.key.fill(-1, 0, a.n);
  a.kind.fill(0, 0, a.n);
  a.val.fill(0, 0, 2 * a.n);
  a.str.fill(-1, 0, a.n);
  a.n = 0;
  b.pool.fill(0, 0, 2 * b.poolLen);
  b.poolLen = 0;
  b.gaps = [];
  b.tsBaseNs = tsBaseNs;
  b.tsBaseNsNumber = Number(tsBaseNs);
}

function newSchemaTable(schema: EventSchema, cap: number): SchemaTable {
  const cols: Record<string, Column> = {};
  const present: Record<string, Uint8Array> = {};
  const fieldCols: Column[][] = [];
  const fieldPresent: (Uint8Array | undefined)[] = [];
  for (const fd of schema.fields) {
    const group: Column[] = [];
    for (const c of fieldColumns(fd)) {
      const col = makeColumn(c, cap);
      cols[c.name] = col;
      group.push(col);
    }
    fieldCols.push(group);
    const mask = fd.kind === "hex" ? new Uint8Array(cap) : undefined;
    if (mask !== undefined) present[fd.name] = mask;
    fieldPresent.push(mask);
  }
  return {
    schema,
    n: 0,
    rows: i32(cap),
    cols,
    present,
    fieldCols,
    fieldPresent,
    incomplete: new Uint8Array(cap),
  };
}

/** Make room for one more row in a schema table; returns the row index. */
export function addSchemaRow(t: SchemaTable, commonRow: number): number {
  const r = t.n;
  if (r >= t.rows.length) {
    const cap = t.rows.length * 2;
    const fresh = newSchemaTable(t.schema, cap);
    fresh.rows.set(t.rows);
    for (const k in t.cols) {
      const old = t.cols[k]!;
      const nu = fresh.cols[k]!;
      (nu as Typed).set(old as never);
    }
    for (const k in t.present) fresh.present[k]!.set(t.present[k]!);
    fresh.incomplete.set(t.incomplete);
    t.incomplete = fresh.incomplete;
    t.rows = fresh.rows;
    t.cols = fresh.cols;
    t.present = fresh.present;
    t.fieldCols = fresh.fieldCols;
    t.fieldPresent = fresh.fieldPresent;
  }
  t.rows[r] = commonRow;
  t.n = r + 1;
  return r;
}

function newProbes(cap: number): ProbeTable {
  return {
    n: 0,
    rows: i32(cap),
    func: i32(cap),
    funcOffset: i32(cap, 0),
    caller: i32(cap),
    callerOffset: i32(cap, 0),
    meaning: i32(cap),
    durNs: f64(cap),
    argStart: i32(cap, 0),
    argLen: i32(cap, 0),
  };
}

function newCalls(cap: number): CallTable {
  return {
    n: 0,
    entryLineNo1: f64(cap),
    exitLineNo1: f64(cap),
    cpu: i32(cap),
    depth: i32(cap),
    func: i32(cap),
    module: i32(cap),
    durNs: f64(cap),
    tsNs: f64(cap),
    pid: i32(cap),
  };
}

function newArgs(cap: number): ArgPool {
  return {
    n: 0,
    key: i32(cap),
    kind: new Uint8Array(cap),
    val: new Uint32Array(2 * cap),
    str: i32(cap),
  };
}

/** A new, empty batch. */
export function newBatch(
  cap: number,
  strings: StringTable,
  eventNames: StringTable,
  tsBaseNs: bigint,
): EventBatch {
  return {
    n: 0,
    lineNo1: f64(cap),
    tsNs: f64(cap),
    cpu: i32(cap),
    pid: i32(cap),
    tgid: i32(cap),
    comm: i32(cap),
    irqFlags: i32(cap),
    instance: i32(cap),
    eventId: i32(cap),
    kind: new Uint8Array(cap),
    tableRow: i32(cap),
    argStart: i32(cap, 0),
    argLen: i32(cap, 0),
    tables: new Map(),
    probes: newProbes(64),
    calls: newCalls(64),
    gaps: [],
    pool: new Uint32Array(2 * 1024),
    poolLen: 0,
    args: newArgs(256),
    strings,
    eventNames,
    tsBaseNs,
    tsBaseNsNumber: Number(tsBaseNs),
  };
}

/** The batch's table for a schema, made on first use. */
export function tableFor(b: EventBatch, schema: EventSchema): SchemaTable {
  let t = b.tables.get(schema.name);
  if (t === undefined) {
    t = newSchemaTable(schema, 256);
    b.tables.set(schema.name, t);
  }
  return t;
}

/** Make room for one more probe row; returns its index. */
export function addProbeRow(b: EventBatch, commonRow: number): number {
  const p = b.probes;
  const r = p.n;
  if (r >= p.rows.length) {
    const need = r + 1;
    p.rows = grown(p.rows, need);
    p.func = grown(p.func, need);
    p.funcOffset = grown(p.funcOffset, need);
    p.caller = grown(p.caller, need);
    p.callerOffset = grown(p.callerOffset, need);
    p.meaning = grown(p.meaning, need);
    p.durNs = grown(p.durNs, need);
    p.argStart = grown(p.argStart, need);
    p.argLen = grown(p.argLen, need);
    p.durNs.fill(NaN, r);
  }
  p.rows[r] = commonRow;
  p.n = r + 1;
  return r;
}

/** Make room for one more call row; returns its index. */
export function addCallRow(b: EventBatch): number {
  const c = b.calls;
  const r = c.n;
  if (r >= c.cpu.length) {
    const need = r + 1;
    c.entryLineNo1 = grown(c.entryLineNo1, need);
    c.exitLineNo1 = grown(c.exitLineNo1, need);
    c.cpu = grown(c.cpu, need);
    c.depth = grown(c.depth, need);
    c.func = grown(c.func, need);
    c.module = grown(c.module, need);
    c.durNs = grown(c.durNs, need);
    c.tsNs = grown(c.tsNs, need);
    c.pid = grown(c.pid, need);
    c.tsNs.fill(NaN, r);
    c.module.fill(-1, r);
    c.pid.fill(-1, r);
  }
  c.n = r + 1;
  return r;
}

/** Make room for one more arg; returns its index. */
export function addArg(b: EventBatch): number {
  const a = b.args;
  const r = a.n;
  if (r >= a.key.length) {
    const need = r + 1;
    a.key = grown(a.key, need);
    a.kind = grown(a.kind, need);
    a.val = grown(a.val, 2 * need);
    a.str = grown(a.str, need);
    a.str.fill(-1, r);
  }
  a.n = r + 1;
  return r;
}

/** A required field whose word was there but whose value did not parse (bad_field_value). */
export function valueAbsent(t: SchemaTable, fd: FieldDef, fi: number, r: number): boolean {
  const col = t.fieldCols[fi]![0]!;
  switch (fd.kind) {
    case "hex":
      return t.fieldPresent[fi]![r] === 0;
    case "dec":
      return Number.isNaN(col[r]!);
    case "int":
      return col[r] === INT_ABSENT;
    case "u64s":
    case "str":
    case "sym":
    case "dir":
      return col[r] === -1;
    default:
      return false;
  }
}
