/**
 * The `ops` and `timeline` tables of a replay, built event by event in trace order.
 *
 * A DMA-API operation is its `dma:*` tracepoint; the IOMMU work the kernel printed for it on
 * the same CPU is folded in: the `iommu:map`s before a map event (dma-iommu maps, then the
 * tracepoint fires), the `iommu:unmap` after an unmap event (the tracepoint fires first). A
 * function_graph call or kretprobe pair of the DMA-API function on that CPU gives the observed
 * duration; a trace with calls and no tracepoints gets one row per call. IOMMU work no
 * DMA-API operation owns becomes an `iommu_map`/`iommu_unmap` row (vfio type1, iommufd, a
 * driver's own domain). dma-buf operations come from the dma-buf core. The path is the P2P map
 * type of the pair when the address is in a BAR of the topology, `DIRECT` otherwise.
 *
 * @module
 */

import { type CallTable, EVENT_KIND, type EventBatch, u64At } from "../ingest/mod.ts";
import { iommuLeafCount } from "../model/iommu/mod.ts";
import type { DmaBufCore, DmaBufOpEvent } from "../model/dmabuf/mod.ts";
import { type CostProfile, DEFAULT_COST_PROFILE, modeledNs } from "../cost/mod.ts";
import type { IovaReplay } from "./iova_replay.ts";
import type { P2pCheck } from "./p2p_check.ts";
import type { RevisionReplay } from "./revision_replay.ts";
import { ATTACHMENTS_SCHEMA, OPS_SCHEMA, TIMELINE_SCHEMA } from "./replay_tables.ts";
import { TableBuilder, type TableChunk } from "./table_builder.ts";
import { type Family, FAMILY_OF_EVENT, FAMILY_OF_FUNC, familyOp } from "./_op_families.ts";

// Column indices of OPS_SCHEMA (ops_recorder_test checks them against the names).
const TS = 0;
const CPU = 1;
const TASK = 2;
const LINE = 3;
const OP = 4;
const DEVICE = 5;
const DMABUF = 6;
const ATT = 7;
const PATH = 8;
const BYTES = 9;
const RANGES = 10;
const SG = 11;
const DMA_ADDR = 12;
const IOVA = 13;
const SRC = 14;
const PTE = 15;
const IOTLB = 16;
const MODELED = 17;
const OBSERVED = 18;
const REV = 19;

/** IOMMU work printed on one CPU and not yet given to an operation. */
interface Work {
  /** Line and time (s) of the first event. */
  line: number;
  tsS: number;
  events: number;
  pte: number;
  bytes: number;
  iova: bigint;
  next: bigint;
}

/** A row that may still take IOMMU work or a duration. */
interface OpenRow {
  row: number;
  total: number;
  family: Family;
  line: number;
  callEntry: number;
}

/** A completed DMA-API call, with the IOMMU work printed inside it. */
interface PendingCall {
  family: Family;
  durNs: number;
  entry: number;
  exit: number;
  tsS: number;
  work: Work;
  allocSource: string;
}

const isUnmap = (f: Family) => f === "unmap_single" || f === "unmap_sg" || f === "free";

interface CpuState {
  cpu: number;
  map: Work;
  unmap: Work;
  /** The last DMA-API row on this CPU. */
  last: OpenRow | null;
  /** An unmap row waiting for its iommu:unmap. */
  openUnmap: OpenRow | null;
  /** A nested alloc_iova() call was seen since the last alloc_iova_fast(). */
  sawTree: boolean;
  /** Where the last alloc_iova_fast() call took its IOVA (function_graph), or "". */
  allocSource: string;
  /** A completed call no tracepoint has claimed yet. */
  call: PendingCall | null;
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

/** Options of {@linkcode OpsRecorder}. */
export interface OpsRecorderOptions {
  /** Takes each chunk of `ops` and `timeline` rows. */
  sink: (c: TableChunk) => void;
  /**
   * The cost profile for `modeled_ns`.
   * @default {DEFAULT_COST_PROFILE}
   */
  cost?: CostProfile;
  /**
   * The revision column.
   * @default {"v8-2025"}
   */
  revision?: string;
  /**
   * Paths of P2P mappings (with a topology).
   * @default {none: every path DIRECT}
   */
  p2p?: P2pCheck | null;
  /**
   * The IOVA replay (IOVA sources, strict or lazy domains), fed the same batches first.
   * @default {none}
   */
  iova?: IovaReplay | null;
  /**
   * The revision replay of the dma-buf maps (with a topology).
   * @default {none}
   */
  revisions?: RevisionReplay | null;
  /**
   * The IOMMU's page sizes.
   * @default {0x40201000n}
   */
  pgsizeBitmap?: bigint;
  /**
   * Timeline grid step, ns.
   * @default {1_000_000}
   */
  timelineStepNs?: number;
  /**
   * Rows per chunk.
   * @default {16384}
   */
  chunkRows?: number;
}

const newWork = (): Work => ({
  line: NaN,
  tsS: NaN,
  events: 0,
  pte: 0,
  bytes: 0,
  iova: -1n,
  next: -1n,
});
function mergeWork(into: Work, w: Work): void {
  if (w.events === 0) return;
  if (into.events === 0) {
    Object.assign(into, w);
    return;
  }
  into.events += w.events;
  into.pte += w.pte;
  into.bytes += w.bytes;
}

function resetWork(w: Work): void {
  w.line = NaN;
  w.tsS = NaN;
  w.events = 0;
  w.pte = 0;
  w.bytes = 0;
  w.iova = -1n;
  w.next = -1n;
}
const hex = (v: bigint) => (v < 0n ? "" : `0x${v.toString(16)}`);

/**
 * Builds `ops` and `timeline` from parsed batches.
 *
 * @example A strict 4 KiB map and unmap: one IOVA, one PTE each way, one IOTLB invalidation
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace } from "../ingest/mod.ts";
 * import { chunkRows, OpsRecorder, type TableChunk } from "./mod.ts";
 * const l = (ts: string, w: string) => `  dd-1 [000] .....  ${ts}: ${w}`;
 * const text = [
 *   l("1.000001", "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096"),
 *   l("1.000002", "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs="),
 *   l("1.000003", "dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 attrs="),
 *   l("1.000004", "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096"),
 * ].join("\n") + "\n";
 * const chunks: TableChunk[] = [];
 * const ops = new OpsRecorder({ sink: (c) => chunks.push(c) });
 * for await (const b of parseTrace(new Blob([text]).stream())) ops.feed(b);
 * ops.end();
 * const rows = chunkRows(chunks.find((c) => c.schema.name === "ops")!);
 * assert.deepEqual(rows.map((r) => [r.op, r.line, r.iova, r.pte_writes, r.iotlb_invalidations]), [
 *   ["dma_map_page", 2, "0xfffff000", 1, 0],
 *   ["dma_unmap_page", 3, "0xfffff000", 1, 1],
 * ]);
 * ```
 */
export class OpsRecorder {
  readonly #ops: TableBuilder;
  readonly #timeline: TableBuilder;
  readonly #cost: CostProfile;
  readonly #revision: string;
  readonly #p2p: P2pCheck | null;
  readonly #iova: IovaReplay | null;
  readonly #rev: RevisionReplay | null;
  readonly #attachPath = new Map<number, string>();
  readonly #bitmap: bigint;
  readonly #stepNs: number;
  readonly #cpus = new Map<number, CpuState>();
  readonly #contexts = new Map<number, number>();
  /** dma-buf operations reported by the core during the batch, applied in line order. */
  readonly #dmabufOps: DmaBufOpEvent[] = [];
  readonly #dmabufRows = new Map<number, OpenRow>();
  #core: DmaBufCore | null = null;
  #b: EventBatch | null = null;
  #baseNs = 0;
  #nextGridNs = NaN;
  #iovaPages = 0;
  #liveMappings = 0;
  #attachments = 0;
  #dmabufMappings = 0;
  readonly #perAttach = new Map<number, { maps: number; unmaps: number; moves: number }>();
  readonly #sink: (c: TableChunk) => void;
  /** IOMMU work that no DMA-API operation owns. */
  orphanIommuOps = 0;
  /** summary.json's `ops`: rows, rows by path, modeled and observed totals. */
  readonly stats: OpsStats = {
    total: 0,
    byPath: {},
    modeledNs: 0,
    observed: 0,
    observedNs: 0,
    modeledNsOfObserved: 0,
  };

  /**
   * A recorder handing its chunks to `options.sink`.
   *
   * @param options Sink, cost profile, revision, and the checks it reads from.
   */
  constructor(options: OpsRecorderOptions) {
    const rows = options.chunkRows ?? 16384;
    this.#sink = options.sink;
    this.#ops = new TableBuilder(OPS_SCHEMA, (c) => this.#count(c), rows);
    this.#timeline = new TableBuilder(TIMELINE_SCHEMA, options.sink, rows);
    this.#cost = options.cost ?? DEFAULT_COST_PROFILE;
    this.#revision = options.revision ?? "v8-2025";
    this.#p2p = options.p2p ?? null;
    this.#iova = options.iova ?? null;
    this.#rev = options.revisions ?? null;
    this.#bitmap = options.pgsizeBitmap ?? 0x40201000n;
    this.#stepNs = options.timelineStepNs ?? 1_000_000;
  }

  /**
   * Take dma-buf operations from a core (pass this as its `onOp`).
   *
   * @param core The core (for attachment devices and buffer states).
   * @returns The `onOp` callback.
   */
  dmaBufListener(core: () => DmaBufCore): (e: DmaBufOpEvent) => void {
    return (e) => {
      this.#core ??= core();
      this.#dmabufOps.push(e);
    };
  }

  #count(c: TableChunk): void {
    const st = this.stats;
    const path = c.data[PATH] as string[];
    const mod = c.data[MODELED] as Float64Array;
    const obs = c.data[OBSERVED] as Float64Array;
    st.total += c.n;
    for (let i = 0; i < c.n; ++i) {
      const p = path[i]!;
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

  /**
   * The state of a CPU's context: task, softirq, hardirq or NMI (from the irq-flags column;
   * an interrupt's DMA work interleaves with the task's it interrupted).
   */
  #cpu(cpu: number, r = -1): CpuState {
    const key = cpu * 4 + (r < 0 ? 0 : this.#context(this.#b!.irqFlags[r]!));
    let s = this.#cpus.get(key);
    if (s === undefined) {
      s = {
        cpu,
        map: newWork(),
        unmap: newWork(),
        last: null,
        openUnmap: null,
        sawTree: false,
        allocSource: "",
        call: null,
      };
      this.#cpus.set(key, s);
    }
    return s;
  }

  #context(flagsId: number): number {
    if (flagsId < 0) return 0;
    let c = this.#contexts.get(flagsId);
    if (c === undefined) {
      const ch = this.#b!.strings.get(flagsId)[2];
      c = ch === "h" || ch === "H" ? 2 : ch === "s" ? 1 : ch === "z" || ch === "Z" ? 3 : 0;
      this.#contexts.set(flagsId, c);
    }
    return c;
  }

  #row(r: number, op: string): number {
    const b = this.#b!;
    const o = this.#ops;
    const row = o.addRow();
    o.setNum(TS, row, r < 0 ? NaN : (this.#baseNs + b.tsNs[r]!) / 1e9);
    o.setNum(CPU, row, r < 0 ? -1 : b.cpu[r]!);
    o.setStr(TASK, row, r < 0 ? "" : `${b.strings.get(b.comm[r]!)}-${b.pid[r]}`);
    o.setNum(LINE, row, r < 0 ? NaN : b.lineNo1[r]!);
    o.setStr(OP, row, op);
    o.setNum(ATT, row, -1);
    o.setStr(REV, row, this.#revision);
    return row;
  }

  /** Fill `modeled_ns` from the row's features. */
  #cost1(row: number): void {
    const o = this.#ops;
    o.setNum(
      MODELED,
      row,
      modeledNs(this.#cost, {
        op: o.getStr(OP, row),
        iovaSource: o.getStr(SRC, row),
        pteWrites: o.getNum(PTE, row),
        iotlbInvalidations: o.getNum(IOTLB, row),
        sgEntries: o.getNum(SG, row),
      }),
    );
  }

  #open(o: OpenRow | null): boolean {
    return o !== null && this.#ops.isOpen(o.row, o.total);
  }

  /** Give a CPU's pending IOMMU work of one direction to a row. */
  #take(w: Work, row: number, unmap: boolean, device: string): void {
    if (w.events === 0) return;
    if (device !== "" && this.#p2p !== null && !this.#p2p.translates(device)) {
      // The topology (a what-if: identity, no IOMMU) does not translate this device's DMA:
      // the IOMMU work the trace printed for it would not happen.
      resetWork(w);
      return;
    }
    const o = this.#ops;
    o.setNum(PTE, row, o.getNum(PTE, row) + w.pte);
    if (o.getStr(IOVA, row) === "") o.setStr(IOVA, row, hex(w.iova));
    if (unmap) {
      const lazy = this.#iova?.isLazy(device) ?? false;
      if (!lazy) o.setNum(IOTLB, row, o.getNum(IOTLB, row) + w.events);
      if (o.getStr(SRC, row) === "") {
        o.setStr(SRC, row, lazy ? "fq" : w.bytes <= 32 * 4096 ? "rcache" : "rbtree");
      }
    }
    resetWork(w);
  }

  /** IOMMU work no operation claimed: its own row. */
  #orphan(w: Work, unmap: boolean, cpu: number): void {
    if (w.events === 0) return;
    ++this.orphanIommuOps;
    const row = this.#row(-1, unmap ? "iommu_unmap" : "iommu_map");
    this.#ops.setNum(CPU, row, cpu);
    this.#ops.setNum(LINE, row, w.line);
    this.#ops.setNum(TS, row, w.tsS);
    this.#ops.setNum(BYTES, row, w.bytes);
    this.#take(w, row, unmap, "");
    this.#cost1(row);
  }

  /**
   * Apply a batch (after the checks that this recorder reads were fed it).
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    this.#b = b;
    this.#baseNs = Number(b.tsBaseNs);
    const calls = b.calls;
    let ci = 0;
    let di = 0;
    const dq = this.#dmabufOps;
    for (let r = 0; r < b.n; ++r) {
      const line = b.lineNo1[r]!;
      while (ci < calls.n && calls.exitLineNo1[ci]! < line) this.#onCall(calls, ci++);
      while (di < dq.length && dq[di]!.line <= line) this.#onDmaBuf(dq[di++]!, r);
      this.#grid(r);
      const name = b.eventNames.get(b.eventId[r]!);
      if (name === "map" || name === "unmap") this.#onIommu(b, r, name === "unmap");
      else {
        const fam = FAMILY_OF_EVENT.get(name);
        if (fam !== undefined) this.#onDma(b, r, name, fam);
        else if (
          b.kind[r] === EVENT_KIND.PROBE_RETURN && Number.isFinite(b.probes.durNs[b.tableRow[r]!]!)
        ) {
          this.#onProbeReturn(b, r);
        }
      }
    }
    while (ci < calls.n) this.#onCall(calls, ci++);
    while (di < dq.length) this.#onDmaBuf(dq[di++]!, -1);
    dq.length = 0;
  }

  #grid(r: number): void {
    const b = this.#b!;
    const t = Number(b.tsBaseNs) + b.tsNs[r]!;
    if (Number.isNaN(this.#nextGridNs)) {
      this.#nextGridNs = Math.floor(t / this.#stepNs) * this.#stepNs;
    }
    if (t < this.#nextGridNs) return;
    const g = Math.floor(t / this.#stepNs) * this.#stepNs;
    const tl = this.#timeline;
    const row = tl.addRow();
    let revoked = 0;
    for (const buf of this.#core?.buffers ?? []) if (buf.state === "REVOKED") ++revoked;
    const cols = [
      g / 1e9,
      b.lineNo1[r]!,
      this.#iovaPages,
      this.#liveMappings,
      this.#attachments,
      this.#dmabufMappings,
      revoked,
    ];
    for (let i = 0; i < cols.length; ++i) tl.setNum(i, row, cols[i]!);
    tl.setStr(7, row, this.#revision);
    this.#nextGridNs = g + this.#stepNs;
  }

  #onIommu(b: EventBatch, r: number, unmap: boolean): void {
    const t = b.tables.get(unmap ? "unmap" : "map")!;
    const row = b.tableRow[r]!;
    const iova = u64At(t.cols.iova as Uint32Array, row);
    const bytes = (t.cols[unmap ? "unmapped_size" : "size"] as Float64Array)[row]!;
    const paddr = unmap ? iova : u64At(t.cols.paddr as Uint32Array, row);
    const pte = iommuLeafCount(this.#bitmap, iova, paddr, BigInt(bytes));
    const pages = Math.ceil(bytes / 4096);
    this.#iovaPages = Math.max(0, this.#iovaPages + (unmap ? -pages : pages));
    const s = this.#cpu(b.cpu[r]!, r);
    if (unmap && this.#open(s.openUnmap)) {
      const o = s.openUnmap!;
      const w = { ...newWork(), events: 1, pte, bytes, iova };
      this.#take(w, o.row, true, this.#ops.getStr(DEVICE, o.row));
      this.#cost1(o.row);
      s.openUnmap = null;
      return;
    }
    const w = unmap ? s.unmap : s.map;
    if (w.events > 0 && (unmap || iova !== w.next)) this.#orphan(w, unmap, b.cpu[r]!);
    if (w.events === 0) {
      w.iova = iova;
      w.line = b.lineNo1[r]!;
      w.tsS = (this.#baseNs + b.tsNs[r]!) / 1e9;
    }
    ++w.events;
    w.pte += pte;
    w.bytes += bytes;
    w.next = iova + BigInt(bytes);
  }

  #onDma(b: EventBatch, r: number, name: string, fam: Family): void {
    const t = b.tables.get(name)!;
    const tr = b.tableRow[r]!;
    const c = t.cols;
    const device = b.strings.get((c.device as Int32Array)[tr]!);
    const s = this.#cpu(b.cpu[r]!, r);
    const o = this.#ops;
    const row = this.#row(r, name);
    o.setStr(DEVICE, row, device);
    const arr = (col: string) => {
      const st = (c[col + "_start"] as Int32Array | undefined)?.[tr] ?? 0;
      const n = (c[col + "_len"] as Int32Array | undefined)?.[tr] ?? 0;
      return { st, n: Math.max(n, 0) };
    };
    let phys = -1n;
    if (c.phys_addrs !== undefined || c.phys_addrs_start !== undefined) {
      const p = arr("phys_addrs");
      if (p.n > 0) phys = u64At(b.pool, p.st);
      o.setNum(RANGES, row, p.n);
    } else if (c.phys_addr !== undefined) {
      phys = u64At(c.phys_addr as Uint32Array, tr);
      o.setNum(RANGES, row, 1);
    }
    if (c.dma_addrs_start !== undefined) {
      const d = arr("dma_addrs");
      const z = arr("sizes");
      let bytes = 0;
      for (let k = 0; k < z.n; ++k) bytes += Number(u64At(b.pool, z.st + k));
      o.setNum(SG, row, d.n);
      o.setNum(BYTES, row, bytes);
      if (d.n > 0) o.setStr(DMA_ADDR, row, hex(u64At(b.pool, d.st)));
    } else {
      if (c.size !== undefined) o.setNum(BYTES, row, (c.size as Float64Array)[tr]!);
      if (c.dma_addr !== undefined) {
        o.setStr(DMA_ADDR, row, hex(u64At(c.dma_addr as Uint32Array, tr)));
      }
    }
    const mapping = fam === "map_single" || fam === "map_sg" || fam === "alloc";
    if (mapping || fam === "unmap_single" || fam === "unmap_sg" || fam === "free") {
      const path = phys < 0n ? "" : this.#p2p?.pathOf(device, phys) ?? "DIRECT";
      o.setStr(PATH, row, path === "NONE" ? "DIRECT" : path);
    }
    // A completed call of this operation (the tracepoint fires after the ops call returns).
    const call = s.call !== null && s.call.family === fam ? s.call : null;
    if (call !== null) s.call = null;
    const open: OpenRow = {
      row,
      total: this.#ops.total,
      family: fam,
      line: b.lineNo1[r]!,
      callEntry: -1,
    };
    if (mapping) {
      if (call !== null) this.#take(call.work, row, false, device);
      this.#take(s.map, row, false, device);
      const src = this.#iova?.sourceOf(b.lineNo1[r]!) ?? call?.allocSource ?? "";
      if (src !== "") o.setStr(SRC, row, src);
      if (!name.endsWith("_err")) ++this.#liveMappings;
    } else if (fam !== "sync") {
      this.#liveMappings = Math.max(0, this.#liveMappings - 1);
      const had = call !== null && call.work.events > 0;
      if (call !== null) this.#take(call.work, row, true, device);
      if (s.unmap.events > 0) this.#take(s.unmap, row, true, device);
      else if (!had) s.openUnmap = open;
    }
    if (call !== null) {
      o.setNum(OBSERVED, row, call.durNs);
      open.callEntry = call.entry;
    }
    s.last = open;
    this.#cost1(row);
  }

  #onCall(calls: CallTable, i: number): void {
    const b = this.#b!;
    const func = b.strings.get(calls.func[i]!);
    const fam = FAMILY_OF_FUNC.get(func);
    if (fam === undefined) {
      // alloc_iova_fast() with a nested alloc_iova() missed the rcache (iova.c).
      if (func === "alloc_iova") this.#cpu(calls.cpu[i]!).sawTree = true;
      else if (func === "alloc_iova_fast") {
        const s = this.#cpu(calls.cpu[i]!);
        s.allocSource = s.sawTree ? "rbtree" : "rcache";
        s.sawTree = false;
      }
      return;
    }
    const s = this.#cpu(calls.cpu[i]!);
    const entry = calls.entryLineNo1[i]!;
    const exit = calls.exitLineNo1[i]!;
    const durNs = calls.durNs[i]!;
    const tsS = (this.#baseNs + calls.tsNs[i]!) / 1e9;
    const last = s.last;
    if (last !== null && this.#open(last) && last.family === fam) {
      const inside = last.line >= entry && last.line <= exit;
      const encloses = last.callEntry >= 0 && entry <= last.callEntry;
      const tracedBefore = last.callEntry < 0 &&
        (fam === "unmap_single" || fam === "unmap_sg" || fam === "free");
      if (inside || encloses || tracedBefore) {
        this.#ops.setNum(OBSERVED, last.row, durNs);
        last.callEntry = entry;
        return;
      }
    }
    const unmap = isUnmap(fam);
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
    if (p !== null) this.#callRow(s, calls.cpu[i]!);
    s.call = { family: fam, durNs, entry, exit, tsS, work, allocSource };
  }

  /** A call no tracepoint claimed becomes its own row. */
  #callRow(s: CpuState, cpu: number): void {
    const c = s.call!;
    s.call = null;
    const o = this.#ops;
    const row = this.#row(-1, familyOp(c.family));
    o.setNum(TS, row, c.tsS);
    o.setNum(CPU, row, cpu);
    o.setNum(LINE, row, c.entry);
    o.setNum(OBSERVED, row, c.durNs);
    const unmap = isUnmap(c.family);
    this.#take(c.work, row, unmap, "");
    if (c.allocSource !== "") o.setStr(SRC, row, c.allocSource);
    s.last = { row, total: o.total, family: c.family, line: c.entry, callEntry: c.entry };
    this.#cost1(row);
  }

  #onProbeReturn(b: EventBatch, r: number): void {
    const p = b.tableRow[r]!;
    const func = b.strings.get(b.probes.func[p]!);
    const durNs = b.probes.durNs[p]!;
    const fam = FAMILY_OF_FUNC.get(func);
    if (fam !== undefined) {
      const s = this.#cpu(b.cpu[r]!, r);
      if (this.#open(s.last) && s.last!.family === fam && s.last!.callEntry < 0) {
        this.#ops.setNum(OBSERVED, s.last!.row, durNs);
        s.last!.callEntry = s.last!.line;
      }
      return;
    }
    // dma-buf functions: the latest row of that operation on the task.
    const op = DMABUF_OP_OF_FUNC.get(func);
    if (op === undefined) return;
    const o = this.#dmabufRows.get(b.pid[r]!);
    if (o !== undefined && this.#open(o) && this.#ops.getStr(OP, o.row) === op) {
      this.#ops.setNum(OBSERVED, o.row, durNs);
      this.#dmabufRows.delete(b.pid[r]!);
    }
  }

  #onDmaBuf(e: DmaBufOpEvent, r: number): void {
    const core = this.#core!;
    const o = this.#ops;
    const row = this.#row(r, e.op);
    o.setNum(LINE, row, e.line);
    const a = e.attach >= 0 ? core.attachment(e.attach) : undefined;
    const buf = core.buffer(e.buf);
    o.setStr(DEVICE, row, a?.device ?? buf?.exporter.name ?? "");
    o.setStr(DMABUF, row, String(e.buf));
    o.setNum(ATT, row, e.attach);
    if (buf !== undefined && e.op !== "dma_buf_attach") o.setNum(BYTES, row, Number(buf.sizeBytes));
    const per = (id: number) => {
      let x = this.#perAttach.get(id);
      if (x === undefined) this.#perAttach.set(id, x = { maps: 0, unmaps: 0, moves: 0 });
      return x;
    };
    if (e.op === "dma_buf_map_attachment") ++per(e.attach).maps;
    else if (e.op === "dma_buf_unmap_attachment") ++per(e.attach).unmaps;
    else if (e.op === "dma_buf_move_notify") {
      for (const id of buf?.attachments ?? []) ++per(id).moves;
    }
    if (e.op === "dma_buf_attach") ++this.#attachments;
    else if (e.op === "dma_buf_detach") this.#attachments = Math.max(0, this.#attachments - 1);
    else if (e.op === "dma_buf_map_attachment") ++this.#dmabufMappings;
    else if (e.op === "dma_buf_unmap_attachment") {
      this.#dmabufMappings = Math.max(0, this.#dmabufMappings - 1);
    }
    if (this.#rev !== null) this.#revision1(e, row, r < 0 ? -1 : this.#b!.cpu[r]!);
    if (r >= 0) {
      this.#dmabufRows.set(this.#b!.pid[r]!, {
        row,
        total: o.total,
        family: "sync",
        line: e.line,
        callEntry: -1,
      });
    }
    this.#cost1(row);
  }

  /** The revision's mapping of a dma-buf map, its teardown at the unmap. */
  #revision1(e: DmaBufOpEvent, row: number, cpu: number): void {
    const o = this.#ops;
    const rev = this.#rev!;
    if (e.op === "dma_buf_map_attachment") {
      const r = rev.map(this.#core!, e, cpu);
      if (r === null) return;
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
    } else if (e.op === "dma_buf_unmap_attachment") {
      const u = rev.unmap(e, cpu);
      if (u === null) return;
      o.setNum(PTE, row, u.pteWrites);
      o.setNum(IOTLB, row, u.iotlbInvalidations);
      o.setStr(SRC, row, u.iovaSource);
    } else if (e.op === "dma_buf_release") rev.release(e.buf);
  }

  /** End of the trace: pending calls and unclaimed IOMMU work become rows; last chunks out. */
  end(): void {
    if (this.#b !== null) {
      for (const s of this.#cpus.values()) {
        if (s.call !== null) this.#callRow(s, s.cpu);
        this.#orphan(s.map, false, s.cpu);
        this.#orphan(s.unmap, true, s.cpu);
      }
    }
    this.#ops.flush();
    this.#timeline.flush();
    this.#attachmentsTable();
  }

  /** `attachments`: one row per attachment the core saw. */
  #attachmentsTable(): void {
    const core = this.#core;
    if (core === null) return;
    const t = new TableBuilder(ATTACHMENTS_SCHEMA, this.#sink);
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

  /** Rows of `ops` so far. */
  get opsRows(): number {
    return this.#ops.total;
  }
}

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
