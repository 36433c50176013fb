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
 * Over 500 lines on purpose: the recorder folds the IOMMU work each CPU prints into the
 * DMA-API or dma-buf operation that caused it, and all three kinds of event read and write the
 * same per-CPU pending work and open rows; the table helpers, CPU state and dma-buf ops already
 * live in their own files.
 *
 * @module
 */

import { EVENT_KIND, type EventBatch, type SchemaTable, u64At } from "../ingest/mod.ts";
import { iommuLeafCount } from "../model/iommu/mod.ts";
import type { DmaBufCore, DmaBufOpEvent } from "../model/dmabuf/mod.ts";
import { type CostProfile, DEFAULT_COST_PROFILE } from "../cost/mod.ts";
import type { IovaReplay } from "./iova_replay.ts";
import type { P2pCheck } from "./p2p_check.ts";
import type { RevisionReplay } from "./revision_replay.ts";
import type { TableChunk } from "./table_builder.ts";
import {
  type Family,
  FAMILY_OF_EVENT,
  FAMILY_OF_FUNC,
  H_DMA,
  H_MAP,
  H_NONE,
  H_UNMAP,
  handlerOf,
} from "./_op_families.ts";
import {
  applyWork,
  BYTES,
  CPU,
  DEVICE,
  DMA_ADDR,
  hexOfU64,
  LINE,
  newWork,
  OBSERVED,
  type OpenRow,
  type OpsStats,
  OpsTable,
  PATH,
  RANGES,
  resetWork,
  SG,
  SRC,
  TS,
  type Work,
} from "./_ops_table.ts";
import { DmaBufOps } from "./_dma_buf_ops.ts";
import { type CpuState, CpuStates } from "./_cpu_state.ts";
import { TimelineSampler } from "./_timeline_sampler.ts";
import { type CallContext, callRow, onCall } from "./_call_matcher.ts";

export type { OpsStats };

/** IOMMU work no operation owns, while no unmanaged domain explains it (anomaly candidate). */
export interface UnownedIommuWork {
  /** Line of its first event. */
  readonly line: number;
  /** The CPU. */
  readonly cpu: number;
  /** First IOVA. */
  readonly iova: bigint;
  /** Bytes. */
  readonly bytes: number;
  /** A map (else an unmap). */
  readonly map: boolean;
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
  readonly #t: OpsTable;
  readonly #timeline: TimelineSampler;
  readonly #dmabuf: DmaBufOps;
  readonly #sink: (c: TableChunk) => void;
  readonly #p2p: P2pCheck | null;
  readonly #iova: IovaReplay | null;
  readonly #bitmap: bigint;
  readonly #cpus = new CpuStates();
  readonly #unowned: UnownedIommuWork[] = [];
  /** Line of the last event of each CPU. */
  readonly #lastLine: number[] = [];
  /** What each event id is to the recorder (H_*), by id. */
  readonly #handler: number[] = [];
  /** Each dma:* event's family, by event id. */
  readonly #family: Family[] = [];
  readonly #firstPage: number;
  readonly #secondPage: number;
  #b: EventBatch | null = null;
  readonly #calls: CallContext;
  #iovaPages = 0;
  #liveMappings = 0;
  /**
   * IOMMU work without dma:* events has an owner in this trace: an attach to an unmanaged
   * domain (vfio, iommufd), probes of vfio type1 or iommufd, or of the two-step DMA API.
   */
  #unmanagedDomain = false;
  /** IOMMU work that no DMA-API or dma-buf operation owns. */
  orphanIommuOps = 0;

  /**
   * A recorder handing its chunks to `options.sink`.
   *
   * @param options Sink, cost profile, revision, and the checks it reads from.
   */
  constructor(options: OpsRecorderOptions) {
    const rows = options.chunkRows ?? 16384;
    const revision = options.revision ?? "v8-2025";
    this.#sink = options.sink;
    this.#t = new OpsTable(options.sink, options.cost ?? DEFAULT_COST_PROFILE, revision, rows);
    this.#calls = {
      t: this.#t,
      cpu: (cpu) => this.#cpu(cpu),
      take: (w, row, unmap, device) => this.#take(w, row, unmap, device),
    };
    this.#timeline = new TimelineSampler(
      options.sink,
      options.timelineStepNs ?? 1_000_000,
      revision,
      rows,
    );
    this.#dmabuf = new DmaBufOps(this.#t, options.revisions ?? null, revision, (pid) => {
      for (const s of this.#cpus.values()) {
        if (s.map.pid === pid) this.#orphan(s.map, false, s.cpu);
        if (s.unmap.pid === pid) this.#orphan(s.unmap, true, s.cpu);
      }
    });
    this.#p2p = options.p2p ?? null;
    this.#iova = options.iova ?? null;
    this.#bitmap = options.pgsizeBitmap ?? 0x40201000n;
    const first = this.#bitmap & -this.#bitmap;
    const rest = this.#bitmap & ~first;
    this.#firstPage = Number(first);
    this.#secondPage = rest === 0n ? Infinity : Number(rest & -rest);
  }

  /** summary.json's `ops`: rows, rows by path, modeled and observed totals. */
  get stats(): OpsStats {
    return this.#t.stats;
  }

  /** Anomalies of the ops: `P2P_RANGE_OUT_OF_BAR`, `IOMMU_MAP_WITHOUT_DMA_OWNER` (at the end). */
  get anomalies(): readonly {
    code: string;
    line: number;
    related: readonly number[];
    device: string;
    message: string;
  }[] {
    const unowned = this.#unmanagedDomain ? [] : this.#unowned.map((u) => ({
      code: "IOMMU_MAP_WITHOUT_DMA_OWNER",
      line: u.line,
      related: [],
      device: "",
      message: `iommu ${u.map ? "map" : "unmap"} of 0x${
        u.iova.toString(16)
      } (${u.bytes} bytes) on CPU ${u.cpu}: no DMA-API or dma-buf operation, and no unmanaged domain (vfio, iommufd) in the trace`,
    }));
    return [...this.#dmabuf.anomalies, ...unowned];
  }

  /**
   * Take dma-buf operations from a core (pass this as its \`onOp\`).
   *
   * @param core The core (for attachment devices and buffer states).
   * @returns The \`onOp\` callback.
   */
  dmaBufListener(core: () => DmaBufCore): (e: DmaBufOpEvent) => void {
    return this.#dmabuf.listener(core);
  }

  /** The state of a CPU's context (task, softirq, hardirq, NMI: from the irq-flags column). */
  #cpu(cpu: number, r = -1): CpuState {
    return this.#cpus.get(cpu, r < 0 ? null : this.#b, r);
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
    applyWork(this.#t, w, row, unmap, unmap && (this.#iova?.isLazy(device) ?? false));
  }

  /** IOMMU work no DMA-API operation claimed: its task's dma-buf operation's, or its own row. */
  #orphan(w: Work, unmap: boolean, cpu: number, atEnd = false): void {
    if (w.events === 0) return;
    if (this.#dmabuf.claim(w, unmap, (x, row, dev) => this.#take(x, row, unmap, dev))) return;
    ++this.orphanIommuOps;
    if (!atEnd && this.#unowned.length < 10_000) {
      this.#unowned.push({ line: w.line, cpu, iova: BigInt(w.iova), bytes: w.bytes, map: !unmap });
    }
    const o = this.#t.b;
    const row = this.#t.row(null, -1, unmap ? "iommu_unmap" : "iommu_map");
    o.setNum(CPU, row, cpu);
    o.setNum(LINE, row, w.line);
    o.setNum(TS, row, w.tsS);
    o.setNum(BYTES, row, w.bytes);
    this.#take(w, row, unmap, "");
    this.#t.cost(row);
  }

  /**
   * Apply a batch (after the checks that this recorder reads were fed it).
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    this.#b = b;
    const tables: (SchemaTable | undefined)[] = [];
    const calls = b.calls;
    let ci = 0;
    for (let r = 0; r < b.n; ++r) {
      const line = b.lineNo1[r]!;
      this.#lastLine[b.cpu[r]!] = line;
      while (ci < calls.n && calls.exitLineNo1[ci]! < line) onCall(this.#calls, b, calls, ci++);
      if (this.#dmabuf.pending) this.#dmabuf.applyUpTo(line, b, r);
      if (this.#timeline.due(b, r)) {
        this.#timeline.sample(b, r, {
          iovaPages: this.#iovaPages,
          liveMappings: this.#liveMappings,
          dmabufAttachments: this.#dmabuf.attachments,
          dmabufMappings: this.#dmabuf.mappings,
          dmabufRevoked: () => this.#dmabuf.revoked(),
        });
      }
      const kind = b.kind[r]!;
      if (kind === EVENT_KIND.PROBE_RETURN) {
        if (Number.isFinite(b.probes.durNs[b.tableRow[r]!]!)) this.#onProbeReturn(b, r);
        continue;
      }
      if (kind === EVENT_KIND.PROBE_ENTRY) {
        this.#onProbeEntry(b, r);
        continue;
      }
      if (kind !== EVENT_KIND.TRACEPOINT) continue;
      const id = b.eventId[r]!;
      let h = this.#handler[id];
      if (h === undefined) h = this.#handler[id] = handlerOf(b.eventNames.get(id));
      if (h === H_NONE) continue;
      // (The batch's table of each event looked up once a batch, not once a row.)
      let t = tables[id];
      if (t === undefined) t = tables[id] = b.tables.get(b.eventNames.get(id))!;
      if (t.incomplete[b.tableRow[r]!]) continue; // diagnosed, not guessed
      if (h === H_MAP || h === H_UNMAP) this.#onIommu(b, r, t, h === H_UNMAP);
      else if (h === H_DMA) {
        const name = b.eventNames.get(id);
        let fam = this.#family[id];
        if (fam === undefined) fam = this.#family[id] = FAMILY_OF_EVENT.get(name)!;
        this.#onDma(b, r, t, name, fam);
      } else this.#unmanagedDomain = true;
    }
    while (ci < calls.n) onCall(this.#calls, b, calls, ci++);
    this.#dmabuf.applyUpTo(Infinity, b, -1);
  }

  #onProbeEntry(b: EventBatch, r: number): void {
    const f = b.strings.get(b.probes.func[b.tableRow[r]!]!);
    if (f.startsWith("vfio_iommu_type1") || f.startsWith("iommufd") || f.startsWith("dma_iova_")) {
      this.#unmanagedDomain = true;
    }
  }

  #onIommu(b: EventBatch, r: number, t: SchemaTable, unmap: boolean): void {
    const row = b.tableRow[r]!;
    // The IOVA as a number: exact, as iommu_map maps whole pages (no bigint per event).
    const iovaCol = t.cols.iova as Uint32Array;
    const iova = iovaCol[2 * row]! + iovaCol[2 * row + 1]! * 4294967296;
    const bytes = (t.cols[unmap ? "unmapped_size" : "size"] as Float64Array)[row]!;
    // Below the second page size every leaf is of the first: no page-size walk.
    const pte = bytes < this.#secondPage ? Math.ceil(bytes / this.#firstPage) : iommuLeafCount(
      this.#bitmap,
      u64At(iovaCol, row),
      unmap ? u64At(iovaCol, row) : u64At(t.cols.paddr as Uint32Array, row),
      BigInt(bytes),
    );
    const pages = Math.ceil(bytes / 4096);
    this.#iovaPages = Math.max(0, this.#iovaPages + (unmap ? -pages : pages));
    const s = this.#cpu(b.cpu[r]!, r);
    if (unmap && this.#t.isOpen(s.openUnmap)) {
      const o = s.openUnmap!;
      const w = { ...newWork(), events: 1, pte, bytes, iova };
      this.#take(w, o.row, true, this.#t.b.getStr(DEVICE, o.row));
      this.#t.cost(o.row);
      s.openUnmap = null;
      return;
    }
    if (unmap && s.map.events > 0 && s.map.iova === iova) {
      // A map no DMA-API call took, unmapped at once: the driver's own mapping, both unowned.
      this.#orphan(s.map, false, b.cpu[r]!);
      const line = b.lineNo1[r]!;
      const tsS = (b.tsBaseNsNumber + b.tsNs[r]!) / 1e9;
      const u = { ...newWork(), events: 1, pte, bytes, iova, pid: b.pid[r]!, line, tsS };
      this.#orphan({ ...u, lastLine: line }, true, b.cpu[r]!);
      return;
    }
    const w = unmap ? s.unmap : s.map;
    if (w.events > 0 && (unmap || iova !== w.next)) this.#orphan(w, unmap, b.cpu[r]!);
    if (!unmap && this.#dmabuf.checksRanges(b.pid[r]!)) {
      this.#dmabuf.checkRange(
        b.pid[r]!,
        u64At(t.cols.paddr as Uint32Array, row),
        bytes,
        b.lineNo1[r]!,
      );
    }
    if (w.events === 0) {
      w.iova = iova;
      w.pid = b.pid[r]!;
      w.line = b.lineNo1[r]!;
      w.tsS = (b.tsBaseNsNumber + b.tsNs[r]!) / 1e9;
    }
    ++w.events;
    w.lastLine = b.lineNo1[r]!;
    w.pte += pte;
    w.bytes += bytes;
    w.next = iova + bytes;
  }

  #onDma(b: EventBatch, r: number, t: SchemaTable, name: string, fam: Family): void {
    const tr = b.tableRow[r]!;
    const c = t.cols;
    const device = b.strings.get((c.device as Int32Array)[tr]!);
    const s = this.#cpu(b.cpu[r]!, r);
    const o = this.#t.b;
    const row = this.#t.row(b, r, name);
    o.setStr(DEVICE, row, device);
    let phys = -1n;
    if (c.phys_addrs !== undefined || c.phys_addrs_start !== undefined) {
      const n = Math.max((c.phys_addrs_len as Int32Array | undefined)?.[tr] ?? 0, 0);
      if (n > 0) phys = u64At(b.pool, (c.phys_addrs_start as Int32Array)[tr]!);
      o.setNum(RANGES, row, n);
    } else if (c.phys_addr !== undefined) {
      phys = u64At(c.phys_addr as Uint32Array, tr);
      o.setNum(RANGES, row, 1);
    }
    if (c.dma_addrs_start !== undefined) {
      const dn = Math.max((c.dma_addrs_len as Int32Array)[tr]!, 0);
      const zst = (c.sizes_start as Int32Array | undefined)?.[tr] ?? 0;
      const zn = Math.max((c.sizes_len as Int32Array | undefined)?.[tr] ?? 0, 0);
      let bytes = 0;
      // Each size as a number (no bigint: an sg segment is far below 2^53 bytes).
      for (let k = 0; k < zn; ++k) {
        bytes += b.pool[2 * (zst + k)]! + b.pool[2 * (zst + k) + 1]! * 2 ** 32;
      }
      o.setNum(SG, row, dn);
      o.setNum(BYTES, row, bytes);
      if (dn > 0) {
        o.setStr(DMA_ADDR, row, hexOfU64(b.pool, (c.dma_addrs_start as Int32Array)[tr]!));
      }
    } else {
      if (c.size !== undefined) o.setNum(BYTES, row, (c.size as Float64Array)[tr]!);
      if (c.dma_addr !== undefined) {
        o.setStr(DMA_ADDR, row, hexOfU64(c.dma_addr as Uint32Array, tr));
      }
    }
    const mapping = fam === "map_single" || fam === "map_sg" || fam === "alloc";
    if (mapping && phys >= 0n && fam === "map_single") {
      this.#dmabuf.checkRange(b.pid[r]!, phys, o.getNum(BYTES, row), b.lineNo1[r]!);
    }
    if (mapping || fam === "unmap_single" || fam === "unmap_sg" || fam === "free") {
      const path = phys < 0n ? "" : this.#p2p?.pathOf(device, phys) ?? "DIRECT";
      o.setStr(PATH, row, path === "NONE" ? "DIRECT" : path);
    }
    // A completed call of this operation (the tracepoint fires after the ops call returns).
    const call = s.call !== null && s.call.family === fam ? s.call : null;
    if (call !== null) s.call = null;
    const open: OpenRow = {
      row,
      total: this.#t.b.total,
      family: fam,
      line: b.lineNo1[r]!,
      callEntry: -1,
    };
    if (mapping) {
      if (call !== null) this.#take(call.work, row, false, device);
      this.#take(s.map, row, false, device);
      const src = this.#iova?.sourceAt(r) ?? call?.allocSource ?? "";
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
    this.#t.cost(row);
  }

  #onProbeReturn(b: EventBatch, r: number): void {
    const p = b.tableRow[r]!;
    const func = b.strings.get(b.probes.func[p]!);
    const durNs = b.probes.durNs[p]!;
    const fam = FAMILY_OF_FUNC.get(func);
    if (fam !== undefined) {
      const s = this.#cpu(b.cpu[r]!, r);
      if (this.#t.isOpen(s.last) && s.last!.family === fam && s.last!.callEntry < 0) {
        this.#t.b.setNum(OBSERVED, s.last!.row, durNs);
        s.last!.callEntry = s.last!.line;
      }
      return;
    }
    this.#dmabuf.onProbeReturn(func, b.pid[r]!, durNs);
  }

  /** End of the trace: pending calls and unclaimed IOMMU work become rows; last chunks out. */
  end(): void {
    if (this.#b !== null) {
      for (const s of this.#cpus.values()) {
        if (s.call !== null) callRow(this.#calls, s);
        // Work still pending when the trace stops, with nothing after it on its CPU: its
        // operation's event is past the end of the trace.
        const last = this.#lastLine[s.cpu] ?? 0;
        this.#orphan(s.map, false, s.cpu, s.map.lastLine >= last);
        this.#orphan(s.unmap, true, s.cpu, s.unmap.lastLine >= last);
      }
    }
    this.#t.b.flush();
    this.#timeline.flush();
    this.#dmabuf.attachmentsTable(this.#sink);
  }

  /** Rows of `ops` so far. */
  get opsRows(): number {
    return this.#t.b.total;
  }
}
