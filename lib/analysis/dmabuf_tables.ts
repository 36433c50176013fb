/**
 * The dma-buf side of a replay: each attachment's lifetime, and the revoke timeline (each
 * move_notify with the mappings it tore down and how long the importers took).
 *
 * @module
 */

import { type ColumnTable, escape, table } from "arquero";
import { rowsOf } from "./replay_tables.ts";

interface OpRow {
  "ts_s": number | null;
  line: number | null;
  op: string;
  dmabuf: string;
  attachment: number;
}

/**
 * The dma-buf operations of an ops table (what the revoke and attachment tables read): a small
 * table however long the trace's DMA-API work.
 *
 * @param ops The ops table.
 * @returns Its `dma_buf_*` rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { dmaBufOps } from "./mod.ts";
 * const ops = table({ op: ["dma_map_sg", "dma_buf_attach", "dma_unmap_sg"] });
 * assert.deepEqual(dmaBufOps(ops).array("op"), ["dma_buf_attach"]);
 * ```
 */
export function dmaBufOps(ops: ColumnTable): ColumnTable {
  if (ops.numRows() === 0) return ops;
  return ops.filter(escape((d: { op: string }) => d.op.startsWith("dma_buf_")));
}

/**
 * Per attachment: who imports what, since when, until when, how often it mapped.
 *
 * @param attachments The attachments table.
 * @param ops The ops table (for the attach and detach times).
 * @returns attachment, dmabuf, exporter, device, importer, peer2peer, maps, unmaps,
 *   move_notifies, path, attach_ts_s, detach_ts_s, lifetime_s (null while attached at the end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { attachmentLifetimes, rowsOf } from "./mod.ts";
 * const atts = table({ attachment: [0], dmabuf: ["0"], exporter: ["vfio_pci_core"], device: ["nic"], importer: ["dynamic"], peer2peer: [1], maps: [2], unmaps: [2], move_notifies: [1], path: ["BUS_ADDR"] });
 * const ops = table({ ts_s: [1, 3], line: [5, 9], op: ["dma_buf_attach", "dma_buf_detach"], dmabuf: ["0", "0"], attachment: [0, 0] });
 * assert.equal(rowsOf(attachmentLifetimes(atts, ops))[0]!.lifetime_s, 2);
 * ```
 */
export function attachmentLifetimes(attachments: ColumnTable, ops: ColumnTable): ColumnTable {
  const times = new Map<number, { at: number | null; dt: number | null }>();
  if (ops.numRows() > 0) {
    for (const r of rowsOf(ops) as unknown as OpRow[]) {
      if (r.op !== "dma_buf_attach" && r.op !== "dma_buf_detach") continue;
      const t = times.get(r.attachment) ?? { at: null, dt: null };
      if (r.op === "dma_buf_attach") t.at = r.ts_s;
      else t.dt = r.ts_s;
      times.set(r.attachment, t);
    }
  }
  const rows = attachments.numRows() === 0 ? [] : rowsOf(attachments);
  const cols = [
    "attachment",
    "dmabuf",
    "exporter",
    "device",
    "importer",
    "peer2peer",
    "maps",
    "unmaps",
    "move_notifies",
    "path",
  ];
  const out: Record<string, unknown[]> = Object.fromEntries(cols.map((c) => [c, []]));
  out.attach_ts_s = [];
  out.detach_ts_s = [];
  out.lifetime_s = [];
  for (const r of rows) {
    for (const c of cols) out[c]!.push(r[c] ?? null);
    const t = times.get(Number(r.attachment)) ?? { at: null, dt: null };
    out.attach_ts_s!.push(t.at);
    out.detach_ts_s!.push(t.dt);
    out.lifetime_s!.push(t.at !== null && t.dt !== null ? t.dt - t.at : null);
  }
  return table(out);
}

/**
 * The revoke timeline: each move_notify of a buffer, the unmaps of its attachments that
 * followed before the buffer's next map, and how long the last one took.
 *
 * @param ops The ops table, in trace order.
 * @returns dmabuf, line, ts_s, unmaps (the mappings torn down), last_unmap_ms (null when none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { table } from "arquero";
 * import { revokeTimeline, rowsOf } from "./mod.ts";
 * const ops = table({
 *   ts_s: [1, 2, 2.004], line: [1, 2, 3],
 *   op: ["dma_buf_map_attachment", "dma_buf_move_notify", "dma_buf_unmap_attachment"],
 *   dmabuf: ["0", "0", "0"], attachment: [0, -1, 0],
 * });
 * assert.deepEqual(rowsOf(revokeTimeline(ops)).map((r) => [r.line, r.unmaps, Math.round(Number(r.last_unmap_ms))]), [[2, 1, 4]]);
 * ```
 */
export function revokeTimeline(ops: ColumnTable): ColumnTable {
  const moves: {
    dmabuf: string;
    line: number | null;
    ts: number | null;
    unmaps: number;
    last: number | null;
  }[] = [];
  const open = new Map<string, number>(); // buffer → index of its last move_notify still tearing down
  if (ops.numRows() > 0) {
    for (const r of rowsOf(ops) as unknown as OpRow[]) {
      if (r.op === "dma_buf_move_notify") {
        moves.push({ dmabuf: r.dmabuf, line: r.line, ts: r.ts_s, unmaps: 0, last: null });
        open.set(r.dmabuf, moves.length - 1);
      } else if (r.op === "dma_buf_unmap_attachment") {
        const i = open.get(r.dmabuf);
        if (i === undefined) continue;
        const m = moves[i]!;
        ++m.unmaps;
        if (m.ts !== null && r.ts_s !== null) m.last = (r.ts_s - m.ts) * 1000;
      } else if (r.op === "dma_buf_map_attachment") open.delete(r.dmabuf);
    }
  }
  return table({
    dmabuf: moves.map((m) => m.dmabuf),
    line: moves.map((m) => m.line),
    "ts_s": moves.map((m) => m.ts),
    unmaps: moves.map((m) => m.unmaps),
    "last_unmap_ms": moves.map((m) => m.last),
  });
}
