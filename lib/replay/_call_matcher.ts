// function_graph calls of the DMA-API functions matched to the ops rows: a call around (or
// just after, for 6.12's unmaps) its tracepoint's row times that row; the outer of nested
// calls of one operation wins; a call no tracepoint claims becomes its own row, with the IOMMU
// work printed inside it and the IOVA source its nested alloc_iova() shows.

import type { CallTable, EventBatch } from "../ingest/mod.ts";
import { FAMILY_OF_FUNC, familyOp } from "./_op_families.ts";
import { type CpuState, isUnmap } from "./_cpu_state.ts";
import {
  CPU,
  LINE,
  mergeWork,
  OBSERVED,
  type OpsTable,
  resetWork,
  SRC,
  TS,
  type Work,
} from "./_ops_table.ts";

/** What the matcher needs of the recorder. */
export interface CallContext {
  readonly t: OpsTable;
  cpu(cpu: number): CpuState;
  take(w: Work, row: number, unmap: boolean, device: string): void;
}

/** One completed call of the batch. */
export function onCall(ctx: CallContext, b: EventBatch, calls: CallTable, i: number): void {
  const func = b.strings.get(calls.func[i]!);
  const fam = FAMILY_OF_FUNC.get(func);
  if (fam === undefined) {
    // alloc_iova_fast() with a nested alloc_iova() missed the rcache (iova.c).
    if (func === "alloc_iova") ctx.cpu(calls.cpu[i]!).sawTree = true;
    else if (func === "alloc_iova_fast") {
      const s = ctx.cpu(calls.cpu[i]!);
      s.allocSource = s.sawTree ? "rbtree" : "rcache";
      s.sawTree = false;
    }
    return;
  }
  const s = ctx.cpu(calls.cpu[i]!);
  const entry = calls.entryLineNo1[i]!;
  const exit = calls.exitLineNo1[i]!;
  const durNs = calls.durNs[i]!;
  const tsS = (b.tsBaseNsNumber + calls.tsNs[i]!) / 1e9;
  const last = s.last;
  const unmap = isUnmap(fam);
  if (last !== null && ctx.t.isOpen(last) && last.family === fam) {
    const inside = last.line >= entry && last.line <= exit;
    const encloses = last.callEntry >= 0 && entry <= last.callEntry;
    const tracedBefore = last.callEntry < 0 && unmap;
    if (inside || encloses || tracedBefore) {
      ctx.t.b.setNum(OBSERVED, last.row, durNs);
      last.callEntry = entry;
      return;
    }
  }
  const work = { ...(unmap ? s.unmap : s.map) };
  resetWork(unmap ? s.unmap : s.map);
  const allocSource = unmap ? "" : s.allocSource;
  if (!unmap) s.allocSource = "";
  const p = s.call;
  if (p !== null && entry <= p.entry && p.family === fam) {
    // The outer call of the same operation (dma_map_page_attrs around iommu_dma_map_page).
    mergeWork(p.work, work);
    s.call = { ...p, durNs, entry, exit, tsS, allocSource: p.allocSource || allocSource };
    return;
  }
  if (p !== null) callRow(ctx, s);
  s.call = { family: fam, durNs, entry, exit, tsS, work, allocSource };
}

/** A call no tracepoint claimed becomes its own row. */
export function callRow(ctx: CallContext, s: CpuState): void {
  const c = s.call!;
  s.call = null;
  const o = ctx.t.b;
  const row = ctx.t.row(null, -1, familyOp(c.family));
  o.setNum(TS, row, c.tsS);
  o.setNum(CPU, row, s.cpu);
  o.setNum(LINE, row, c.entry);
  o.setNum(OBSERVED, row, c.durNs);
  ctx.take(c.work, row, isUnmap(c.family), "");
  if (c.allocSource !== "") o.setStr(SRC, row, c.allocSource);
  s.last = { row, total: o.total, family: c.family, line: c.entry, callEntry: c.entry };
  ctx.t.cost(row);
}
