// The dma-buf side of the ops table: a row per dma-buf operation the core reports (applied in
// trace-line order with the batch's events), the revision's model of each map and unmap, the
// IOMMU work a task prints inside its map or unmap (v8's IOVA path has no dma:* event), the
// kretprobe durations, the live counts for the timeline, and the attachments table.

import type { EventBatch } from "../ingest/mod.ts";
import type { PhysVec } from "../model/dma/mod.ts";
import type { DmaBufCore, DmaBufOpEvent } from "../model/dmabuf/mod.ts";
import type { RevisionReplay } from "./revision_replay.ts";
import { ATTACHMENTS_SCHEMA } from "./replay_tables.ts";
import { TableBuilder, type TableChunk } from "./table_builder.ts";
import {
  ATT,
  BYTES,
  DEVICE,
  DMA_ADDR,
  DMABUF,
  hex,
  IOTLB,
  IOVA,
  LINE,
  OBSERVED,
  OP,
  type OpenRow,
  type OpsTable,
  PATH,
  PTE,
  RANGES,
  resetWork,
  SG,
  SRC,
  type Work,
} from "./_ops_table.ts";

const DMABUF_OP_OF_FUNC: ReadonlyMap<string, string> = new Map([
  ["dma_buf_export", "dma_buf_export"],
  ["dma_buf_attach", "dma_buf_attach"],
  ["dma_buf_dynamic_attach", "dma_buf_attach"],
  ["dma_buf_map_attachment", "dma_buf_map_attachment"],
  ["dma_buf_map_attachment_unlocked", "dma_buf_map_attachment"],
  ["dma_buf_unmap_attachment", "dma_buf_unmap_attachment"],
  ["dma_buf_unmap_attachment_unlocked", "dma_buf_unmap_attachment"],
  ["dma_buf_detach", "dma_buf_detach"],
  ["dma_buf_move_notify", "dma_buf_move_notify"],
]);

/** A task's map or unmap in progress: IOMMU work it prints is its own. */
interface TaskOp {
  open: OpenRow;
  unmap: boolean;
  /** The revision modeled the operation: the trace's own IOMMU work is not added. */
  modeled: boolean;
  /** The buffer's CPU ranges, when known (for P2P_RANGE_OUT_OF_BAR). */
  ranges: readonly PhysVec[] | null;
  device: string;
  buf: number;
}

/** An anomaly of the dma-buf side. */
export interface DmaBufOpsAnomaly {
  readonly code: "P2P_RANGE_OUT_OF_BAR";
  readonly line: number;
  readonly related: readonly number[];
  readonly device: string;
  readonly message: string;
}

export class DmaBufOps {
  readonly anomalies: DmaBufOpsAnomaly[] = [];
  /** Live attachments and attachment mappings (timeline). */
  attachments = 0;
  mappings = 0;
  readonly #t: OpsTable;
  readonly #rev: RevisionReplay | null;
  readonly #revision: string;
  readonly #queue: DmaBufOpEvent[] = [];
  readonly #lastRow = new Map<number, OpenRow>();
  readonly #taskOp = new Map<number, TaskOp>();
  readonly #perAttach = new Map<number, { maps: number; unmaps: number; moves: number }>();
  readonly #attachPath = new Map<number, string>();
  #core: DmaBufCore | null = null;
  #next = 0;

  readonly #settle: (pid: number) => void;

  /**
   * @param settle Gives a task's pending IOMMU work to its operation in progress, before the
   *   task's next dma-buf operation replaces it.
   */
  constructor(
    t: OpsTable,
    rev: RevisionReplay | null,
    revision: string,
    settle: (pid: number) => void,
  ) {
    this.#settle = settle;
    this.#t = t;
    this.#rev = rev;
    this.#revision = revision;
  }

  listener(core: () => DmaBufCore): (e: DmaBufOpEvent) => void {
    return (e) => {
      this.#core ??= core();
      this.#queue.push(e);
    };
  }

  /** Buffers revoked now (timeline). */
  revoked(): number {
    let n = 0;
    for (const buf of this.#core?.buffers ?? []) if (buf.state === "REVOKED") ++n;
    return n;
  }

  /** Operations reported and not yet applied. */
  get pending(): boolean {
    return this.#next < this.#queue.length;
  }

  /** Apply the operations reported at lines up to `line` (batch row `r`, -1 for the end). */
  applyUpTo(line: number, b: EventBatch, r: number): void {
    const q = this.#queue;
    while (this.#next < q.length && (r < 0 || q[this.#next]!.line <= line)) {
      this.#apply(q[this.#next++]!, b, r);
    }
    if (r < 0) {
      q.length = 0;
      this.#next = 0;
    }
  }

  #apply(e: DmaBufOpEvent, b: EventBatch, r: number): void {
    const core = this.#core!;
    const t = this.#t;
    const o = t.b;
    const row = t.row(b, r, e.op);
    o.setNum(LINE, row, e.line);
    const a = e.attach >= 0 ? core.attachment(e.attach) : undefined;
    const buf = core.buffer(e.buf);
    const device = a?.device ?? buf?.exporter.name ?? "";
    o.setStr(DEVICE, row, device);
    o.setStr(DMABUF, row, String(e.buf));
    o.setNum(ATT, row, e.attach);
    if (buf !== undefined && e.op !== "dma_buf_attach") o.setNum(BYTES, row, Number(buf.sizeBytes));
    const per = (id: number) => {
      let x = this.#perAttach.get(id);
      if (x === undefined) this.#perAttach.set(id, x = { maps: 0, unmaps: 0, moves: 0 });
      return x;
    };
    if (e.op === "dma_buf_map_attachment") {
      ++per(e.attach).maps;
      ++this.mappings;
    } else if (e.op === "dma_buf_unmap_attachment") {
      ++per(e.attach).unmaps;
      this.mappings = Math.max(0, this.mappings - 1);
    } else if (e.op === "dma_buf_move_notify") {
      for (const id of e.attached) ++per(id).moves;
    } else if (e.op === "dma_buf_attach") ++this.attachments;
    else if (e.op === "dma_buf_detach") this.attachments = Math.max(0, this.attachments - 1);
    const modeled = this.#rev !== null && this.#revision1(e, row, r < 0 ? -1 : b.cpu[r]!);
    if (r >= 0) {
      const pid = b.pid[r]!;
      if (this.#taskOp.has(pid)) this.#settle(pid);
      const open = t.open(row, "sync", e.line);
      this.#lastRow.set(pid, open);
      const unmap = e.op === "dma_buf_unmap_attachment";
      if (e.op === "dma_buf_map_attachment" || unmap) {
        this.#taskOp.set(pid, {
          open,
          unmap,
          modeled,
          ranges: this.#rev?.rangesOf(core, e.buf) ?? null,
          device,
          buf: e.buf,
        });
      } else this.#taskOp.delete(pid);
    }
    t.cost(row);
  }

  /** The revision's mapping of a map, its teardown at the unmap; true when it modeled it. */
  #revision1(e: DmaBufOpEvent, row: number, cpu: number): boolean {
    const o = this.#t.b;
    const rev = this.#rev!;
    if (e.op === "dma_buf_map_attachment") {
      const r = rev.map(this.#core!, e, cpu);
      if (r === null) return false;
      const m = r.mapping;
      const path = m.errno !== 0
        ? (r.mapType === "NOT_SUPPORTED" ? "NOT_SUPPORTED" : "")
        : m.path === "PFN" || m.path === ""
        ? (r.mapType === "NONE" || r.mapType === "UNKNOWN" ? "DIRECT" : r.mapType)
        : m.path;
      o.setStr(PATH, row, path);
      o.setNum(RANGES, row, r.ranges);
      o.setNum(SG, row, m.sgEntries);
      if (m.entries.length > 0) o.setStr(DMA_ADDR, row, hex(m.entries[0]!.dmaAddr));
      o.setStr(IOVA, row, hex(m.iova));
      o.setStr(SRC, row, m.iovaSource);
      o.setNum(PTE, row, m.pteWrites);
      this.#attachPath.set(e.attach, path);
      return true;
    }
    if (e.op === "dma_buf_unmap_attachment") {
      const u = rev.unmap(e, cpu);
      if (u === null) return false;
      o.setNum(PTE, row, u.pteWrites);
      o.setNum(IOTLB, row, u.iotlbInvalidations);
      o.setStr(SRC, row, u.iovaSource);
      return true;
    }
    if (e.op === "dma_buf_release") rev.release(e.buf);
    return false;
  }

  /**
   * IOMMU work a task printed with no DMA-API operation: its dma-buf map or unmap in progress
   * owns it (v8's IOVA path links ranges with no dma:* event). Returns false when none does.
   */
  claim(w: Work, unmap: boolean, take: (w: Work, row: number, device: string) => void): boolean {
    const op = this.#taskOp.get(w.pid);
    if (op === undefined || op.unmap !== unmap || !this.#t.isOpen(op.open)) return false;
    if (op.modeled) resetWork(w); // the revision's model stands for it
    else take(w, op.open.row, op.device);
    this.#t.cost(op.open.row);
    return true;
  }

  /**
   * Whether the task is inside a dma-buf map whose ranges its maps must stay in (else
   * {@linkcode checkRange} has nothing to check: callers skip making its arguments).
   */
  checksRanges(pid: number): boolean {
    const op = this.#taskOp.get(pid);
    return op !== undefined && !op.unmap && op.ranges !== null;
  }

  /** A physical address a task maps during its dma-buf map: inside the buffer's ranges? */
  checkRange(pid: number, paddr: bigint, bytes: number, line: number): void {
    const op = this.#taskOp.get(pid);
    if (op === undefined || op.unmap || op.ranges === null) return;
    const end = paddr + BigInt(bytes);
    if (op.ranges.some((r) => paddr >= r.paddr && end <= r.paddr + r.len)) return;
    this.anomalies.push({
      code: "P2P_RANGE_OUT_OF_BAR",
      line,
      related: [op.open.line],
      device: op.device,
      message: `${op.device} maps 0x${
        paddr.toString(16)
      } (+${bytes}) for dma-buf ${op.buf}, outside every range it exports (${
        op.ranges.map((r) => `0x${r.paddr.toString(16)}+0x${r.len.toString(16)}`).join(", ")
      })`,
    });
  }

  /** A kretprobe of a dma-buf function times the task's latest row of that operation. */
  onProbeReturn(func: string, pid: number, durNs: number): void {
    const op = DMABUF_OP_OF_FUNC.get(func);
    if (op === undefined) return;
    const o = this.#lastRow.get(pid);
    if (o !== undefined && this.#t.isOpen(o) && this.#t.b.getStr(OP, o.row) === op) {
      this.#t.b.setNum(OBSERVED, o.row, durNs);
      this.#lastRow.delete(pid);
    }
  }

  /** `attachments`: one row per attachment the core saw. */
  attachmentsTable(sink: (c: TableChunk) => void): void {
    const core = this.#core;
    if (core === null) return;
    const t = new TableBuilder(ATTACHMENTS_SCHEMA, sink);
    for (const a of core.attachments) {
      const row = t.addRow();
      const buf = core.buffer(a.buf);
      const per = this.#perAttach.get(a.id);
      t.setNum(0, row, a.id);
      t.setStr(1, row, String(a.buf));
      t.setStr(2, row, buf?.exporter.name ?? "");
      t.setStr(3, row, a.device);
      t.setStr(4, row, a.importer);
      t.setNum(5, row, a.peer2peer ? 1 : 0);
      t.setNum(6, row, a.attachLine);
      t.setNum(7, row, a.detachLine < 0 ? NaN : a.detachLine);
      t.setNum(8, row, per?.maps ?? 0);
      t.setNum(9, row, per?.unmaps ?? 0);
      t.setNum(10, row, per?.moves ?? 0);
      t.setStr(11, row, this.#attachPath.get(a.id) ?? "");
      t.setStr(12, row, this.#revision);
    }
    t.flush();
  }
}
