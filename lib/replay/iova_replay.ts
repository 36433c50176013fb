/**
 * The IOVA allocator replayed from `dma:*` and `iommu:*` events alone (no kprobes, as most
 * users capture), streaming: how many of the IOVAs the kernel printed the model predicts
 * (summary.json's `iova.prediction`), and IOVA use (peak and still-allocated pages).
 *
 * A DMA mapping's IOVA is the first `iommu:map` on a CPU before its `dma:*` map event there,
 * its size the pages mapped in between; the device is the dma:* event's. Each `iommu:unmap`
 * of a known IOVA frees it (strict domains) or queues it in the flush-queue model (DMA-FQ
 * domains, kernel-spec §5.3), whose flush runs when the trace shows it ran: when the kernel
 * hands out an IOVA the model still has queued (emulated and loaded machines run the 10 ms
 * timer late). Maps no dma:* event owns (vfio type1, the two-step API) are not allocations of
 * the DMA API's allocator and are left out. The domain type of a device comes from the
 * topology; without one it is taken as strict.
 *
 * One class replays one ordering problem: which device an unmap belongs to, when an allocation
 * is resolved and in which order the ops reach the allocator model are decided together over
 * the same per-CPU state and queue. What it reports (its mismatches, its summary) is in
 * _iova_report.ts, its queue entries and event codes in _iova_ops.ts; the file is still over
 * 500 lines because the rest is that one class, whose methods share its private state.
 *
 * @module
 */

import { EXPORTER_EVENT, ExporterIovas } from "./_exporter_iovas.ts";
import {
  type Alloc,
  EV_DMA_MAP,
  EV_MAP,
  EV_NONE,
  EV_UNKNOWN,
  EV_UNMAP,
  EV_UNMAP_AFTER,
  EV_UNMAP_BEFORE,
  iovaEventOf,
  type Op,
  type UnmapOp,
} from "./_iova_ops.ts";
import { IovaMismatches, type IovaReplaySummary } from "./_iova_report.ts";
import { PfnMap } from "./_pfn_map.ts";
import { PerCpu } from "./_per_cpu.ts";
import {
  EVENT_KIND,
  type EventBatch,
  grown,
  pfnAt,
  type SchemaTable,
  type U64,
  u64ExactAt,
} from "../ingest/mod.ts";
import {
  FlushQueue,
  IovaPredictor,
  type IovaPredictorOptions,
  iovaPredictorOptionsFor,
} from "../model/iommu/mod.ts";
import type { Topology } from "../model/topology/mod.ts";

/** Allocations of a domain whose mismatches count as warm-up (pre-trace state unknown). */
const WARMUP_ALLOCS = 32;

/** Where an IOVA of the last batch came from (IovaReplay.sourceAt). */
const SRC_UNKNOWN = 0;
const SRC_RCACHE = 1;
const SRC_RBTREE = 2;

/** What #onlyHolder says when several domains hold the pfn (no device is named so). */
const MANY_HOLDERS = "\u0000several";

interface Domain {
  predictor: IovaPredictor;
  fq: FlushQueue | null;
  /** pfn → pages and map line of IOVAs allocated (in the trace) and not unmapped. */
  live: PfnMap;
  livePages: number;
  peakPages: number;
}

/**
 * Streams a trace's DMA-API IOVAs through per-device allocator models.
 *
 * @example Two strict 4 KiB maps: the second reuses the first's IOVA from the rcache
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace } from "../ingest/mod.ts";
 * import { IovaReplay } from "./mod.ts";
 * const l = (ts: string, w: string) => `  dd-1 [000] .....  ${ts}: ${w}`;
 * const map = (ts: string) => [
 *   l(ts + "1", "map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x0000000002d15000 size=4096"),
 *   l(ts + "2", "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs="),
 *   l(ts + "3", "unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096"),
 * ];
 * const text = [...map("1.00000"), ...map("1.00001")].join("\n") + "\n";
 * const r = new IovaReplay();
 * for await (const b of parseTrace(new Blob([text]).stream())) r.feed(b);
 * r.end();
 * assert.deepEqual([r.summary().prediction.checked, r.summary().prediction.matched], [2, 2]);
 * ```
 */
export class IovaReplay {
  readonly #topology: Topology | undefined;
  readonly #domains = new Map<string, Domain>();
  /** The same domains in a list (a lookup over all of them without Map entry arrays). */
  readonly #domainList: [string, Domain][] = [];
  /** Per CPU: the allocation whose maps are being printed. */
  readonly #pending = new PerCpu<Alloc>();
  /** Ops in trace order, waiting for their allocation's device. */
  readonly #queue: Op[] = [];
  /** The iommu:map/unmap rows a dma-buf exporter owns. */
  readonly #exporter = new ExporterIovas();
  /** Each event id's EV_* code (0 until its name was looked at). */
  #eventOf = new Uint8Array(64);
  /** The first op of #queue not yet run (the queue is compacted now and then, not per op). */
  #qHead = 0;
  /** pfn → device of IOVAs handed out in the trace. */
  readonly #devOfPfn = new Map<number, string>();
  /** Where the allocations resolved in the last batch came from (SRC_*), by their dma:* row. */
  #sources = new Uint8Array(16384);
  /** Batches fed so far. */
  #batchNo = 0;
  /** CPUs where an interrupt unmapped since the task's last map. */
  readonly #irqFreed = new PerCpu<true>();
  readonly #irqFlags = new Map<number, boolean>();
  /**
   * Per CPU: the device a dma_unmap_sg/dma_free just named (its iommu:unmap comes next) and the
   * IOVA (pfn) of the mapping it names when the trace mapped it (-1: not known).
   */
  readonly #unmapOwner = new PerCpu<{ dev: string; pfn: number }>();
  /** The IOVA (pfn) of each live sg list, by device, then by its first physical address. */
  readonly #sgIova = new Map<string, Map<U64, number>>();
  /** Per CPU: an iommu:unmap whose device waits for the dma_unmap_page after it. */
  readonly #unmapWaiting = new PerCpu<UnmapOp>();
  /** Mismatches no known cause explains: `IOMMU_IOVA_MISMATCH`. */
  readonly mismatches: IovaMismatches = new IovaMismatches();
  /** Mismatches explained: lazy flush timing, interrupt ordering, warm-up. */
  readonly explained = { lazyFlushTiming: 0, interruptOrder: 0, warmUp: 0 };
  #peak = 0;
  #live = 0;

  /**
   * A replay over empty IOVA domains, one per device as the trace names them.
   *
   * @param topology Domain types and DMA masks of the devices (optional).
   */
  constructor(topology?: Topology) {
    this.#topology = topology;
  }

  #domain(dev: string): Domain {
    let d = this.#domains.get(dev);
    if (d !== undefined) return d;
    const t = this.#topology;
    const device = t?.devices.find((x) => x.bdf === dev);
    const opts: IovaPredictorOptions = t === undefined
      ? { onlineCpus: 2 }
      : iovaPredictorOptionsFor(t, dev, 2);
    const predictor = new IovaPredictor(opts);
    const lazy = (device?.iommuDomain ?? t?.iommu.defaultDomain) === "dma-fq";
    const fq = lazy
      ? new FlushQueue((pfn, pages, cpu, now) => predictor.onFree(0, cpu, now, pfn, pages), {
        timer: "evidence",
      })
      : null;
    d = { predictor, fq, live: new PfnMap(), livePages: 0, peakPages: 0 };
    this.#domains.set(dev, d);
    this.#domainList.push([dev, d]);
    return d;
  }

  /**
   * Apply a batch's iommu:map/unmap and dma:* map events.
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    ++this.#batchNo;
    if (this.#sources.length < b.n) this.#sources = new Uint8Array(b.n);
    else this.#sources.fill(SRC_UNKNOWN, 0, b.n);
    const maps = b.tables.get("map");
    const unmaps = b.tables.get("unmap");
    // The batch's table of each event, looked up once a batch (by event id), not once a row.
    const tables: (SchemaTable | undefined)[] = [];
    for (let r = 0; r < b.n; ++r) {
      const kind = b.kind[r]!;
      if (kind === EVENT_KIND.PROBE_ENTRY || kind === EVENT_KIND.PROBE_RETURN) {
        this.#exporter.owns(b, r, EXPORTER_EVENT.OTHER, undefined);
        continue;
      }
      if (kind !== EVENT_KIND.TRACEPOINT) continue;
      const id = b.eventId[r]!;
      if (id >= this.#eventOf.length) this.#eventOf = grown(this.#eventOf, id + 1);
      let ev = this.#eventOf[id]!;
      if (ev === EV_UNKNOWN) ev = this.#eventOf[id] = iovaEventOf(b.eventNames.get(id));
      const what = ev & 15;
      // The exporter's own IOMMU work (v8's dma_iova_link path): no DMA-API allocation.
      const table = what === EV_MAP ? maps : what === EV_UNMAP ? unmaps : undefined;
      if (this.#exporter.owns(b, r, ev >> 4, table)) continue;
      if (what === EV_NONE) continue;
      const cpu = b.cpu[r]!;
      const line = b.lineNo1[r]!;
      const ts = b.tsNs[r]!;
      if (what === EV_MAP && maps) {
        const t = b.tableRow[r]!;
        if (maps.incomplete[t]) continue; // a truncated line: diagnosed, not guessed
        const pfn = pfnAt(maps.cols.iova as Uint32Array, t);
        const bytes = (maps.cols.size as Float64Array)[t]!;
        const p = this.#pending.get(cpu);
        if (p === undefined) {
          // Its place in the order is its first map (an interrupt's unmap after it comes later).
          const a: Alloc = {
            kind: "alloc",
            line,
            cpu,
            ts,
            pfn,
            pages: bytes,
            dev: "",
            resolved: false,
            ownerLine: 0,
            ownerRow: -1,
            ownerBatch: -1,
            afterIrqFree: this.#irqFreed.has(cpu),
          };
          this.#irqFreed.delete(cpu);
          this.#queue.push(a);
          this.#pending.set(cpu, a);
        } else p.pages += bytes;
      } else if (what === EV_UNMAP_BEFORE || what === EV_UNMAP_AFTER) {
        const name = b.eventNames.get(id);
        const t = tables[id] ?? (tables[id] = b.tables.get(name));
        if (t === undefined || t.incomplete[b.tableRow[r]!]) continue;
        const dev = b.strings.get((t.cols.device as Int32Array)[b.tableRow[r]!]!);
        const w = this.#unmapWaiting.get(cpu);
        if (w !== undefined) {
          this.#unmapWaiting.delete(cpu);
          w.dev = dev;
          w.resolved = true;
          this.#drain();
        }
        if (what === EV_UNMAP_BEFORE) {
          const row = b.tableRow[r]!;
          let pfn = -1;
          if (name === "dma_unmap_sg" && (t.cols.phys_addrs_len as Int32Array)[row]! > 0) {
            const lists = this.#sgIova.get(dev);
            if (lists !== undefined) {
              const first = u64ExactAt(b.pool, (t.cols.phys_addrs_start as Int32Array)[row]!);
              pfn = lists.get(first) ?? -1;
              lists.delete(first);
            }
          } else if (t.cols.dma_addr) pfn = pfnAt(t.cols.dma_addr as Uint32Array, row);
          this.#unmapOwner.set(cpu, { dev, pfn });
        } else this.#unmapOwner.delete(cpu);
      } else if (what === EV_DMA_MAP) {
        this.#unmapOwner.delete(cpu);
        this.#settleWaiting(cpu);
        const name = b.eventNames.get(id);
        const t = tables[id] ?? (tables[id] = b.tables.get(name)!);
        if (t.incomplete[b.tableRow[r]!]) continue;
        const a = this.#pending.get(cpu);
        if (a === undefined) continue; // passthrough, or a failed map: no IOVA
        this.#pending.delete(cpu);
        a.dev = b.strings.get((t.cols.device as Int32Array)[b.tableRow[r]!]!);
        a.pages = Math.ceil(a.pages / 4096);
        a.resolved = true;
        a.ownerLine = line;
        a.ownerRow = r;
        a.ownerBatch = this.#batchNo;
        this.#devOfPfn.set(a.pfn, a.dev);
        if (name === "dma_map_sg" && (t.cols.phys_addrs_len as Int32Array)[b.tableRow[r]!]! > 0) {
          const first = u64ExactAt(
            b.pool,
            (t.cols.phys_addrs_start as Int32Array)[b.tableRow[r]!]!,
          );
          let lists = this.#sgIova.get(a.dev);
          if (lists === undefined) this.#sgIova.set(a.dev, lists = new Map());
          lists.set(first, a.pfn);
        }
        this.#drain();
      } else if (what === EV_UNMAP && unmaps) {
        const t = b.tableRow[r]!;
        if (unmaps.incomplete[t]) continue;
        const pfn = pfnAt(unmaps.cols.iova as Uint32Array, t);
        const pages = Math.ceil((unmaps.cols.size as Float64Array)[t]! / 4096);
        if (this.#inIrq(b, r)) this.#irqFreed.set(cpu, true);
        this.#settleWaiting(cpu);
        // A map no DMA-API call owned yet, unmapped on its CPU before any did: the driver's
        // own mapping (another domain), not an allocation of this allocator.
        const orphan = this.#pending.get(cpu);
        if (orphan !== undefined && orphan.pfn === pfn) {
          this.#pending.delete(cpu);
          const k = this.#queue.findIndex((q, j) => j >= this.#qHead && q === orphan);
          if (k >= 0) this.#queue.splice(k, 1);
          this.#drain();
          continue;
        }
        // Domains are per device and hand out the same IOVAs: which device unmaps? The one
        // the dma_unmap_sg before named; else, when it comes to be replayed, the only domain
        // holding the pfn; else the one the dma_unmap_page after names.
        const op: UnmapOp = { kind: "unmap", line, cpu, ts, pfn, pages, dev: "", resolved: true };
        const o = this.#unmapOwner.get(cpu);
        this.#unmapOwner.delete(cpu);
        // Only when it is the named mapping's IOVA: a dma_unmap_sg of a mapping the trace did
        // not see mapped (from before the trace, or unmapped already) names no IOVA, and the
        // next unmap on this CPU may be another device's.
        const owner = o !== undefined && o.pfn === pfn ? o.dev : undefined;
        if (owner !== undefined) op.dev = owner;
        else {
          op.resolved = false;
          this.#unmapWaiting.set(cpu, op);
        }
        this.#queue.push(op);
        this.#drain();
      }
    }
  }

  /** Run the ops whose allocation device is known, in order. */
  #drain(): void {
    let i = this.#qHead;
    for (; i < this.#queue.length; ++i) {
      const o = this.#queue[i]!;
      if (o.kind === "alloc") {
        if (!o.resolved) break;
        this.#alloc(o);
      } else {
        let dev: string | undefined = o.dev;
        // A named device that does not hold the pfn (a dma_unmap_sg that unmapped nothing,
        // then another device's unmap) yields to the only domain that does.
        const named = dev === "" ? undefined : this.#domains.get(dev);
        if (named === undefined || !named.live.has(o.pfn)) {
          const only = this.#onlyHolder(o.pfn);
          if (only !== null && only !== MANY_HOLDERS) dev = only;
          else if (dev === "") {
            if (only === MANY_HOLDERS && !o.resolved) break; // the dma_unmap_* after will say
            dev = this.#devOfPfn.get(o.pfn);
          }
        }
        if (dev !== undefined) this.#unmap(dev, o);
      }
    }
    this.#qHead = i;
    if (i > 1024 && 2 * i > this.#queue.length) this.#compact();
  }

  /** The one device whose domain holds `pfn` allocated; null for none, MANY_HOLDERS for more. */
  #onlyHolder(pfn: number): string | null {
    let only: string | null = null;
    for (const [k, d] of this.#domainList) {
      if (!d.live.has(pfn)) continue;
      if (only !== null) return MANY_HOLDERS;
      only = k;
    }
    return only;
  }

  /** No dma_unmap_* named the waiting unmap's device: take the pfn's last allocation's. */
  #settleWaiting(cpu: number): void {
    const w = this.#unmapWaiting.get(cpu);
    if (w === undefined) return;
    this.#unmapWaiting.delete(cpu);
    w.resolved = true;
    this.#drain();
  }

  #inIrq(b: EventBatch, r: number): boolean {
    const id = b.irqFlags[r]!;
    if (id < 0) return false;
    let v = this.#irqFlags.get(id);
    if (v === undefined) {
      const ch = b.strings.get(id)[2];
      v = ch === "h" || ch === "H" || ch === "s" || ch === "z" || ch === "Z";
      this.#irqFlags.set(id, v);
    }
    return v;
  }

  #alloc(a: Alloc): void {
    const d = this.#domain(a.dev);
    if (d.fq !== null) {
      d.fq.advanceTo(a.ts);
      if (d.fq.isQueued(a.pfn)) d.fq.flushThrough(a.pfn, a.ts, a.cpu);
    }
    const matched = d.predictor.stats.matched;
    const checked = d.predictor.stats.checked;
    const sampled = d.predictor.stats.mismatches.length;
    d.predictor.onAllocReturn(a.line, a.cpu, a.ts, a.pfn, a.pages);
    if (d.predictor.stats.checked > checked && d.predictor.stats.matched === matched) {
      if (d.fq !== null) ++this.explained.lazyFlushTiming;
      else if (a.afterIrqFree) ++this.explained.interruptOrder;
      else if (d.predictor.stats.checked <= WARMUP_ALLOCS) ++this.explained.warmUp;
      else {
        const s = d.predictor.stats.mismatches;
        this.mismatches.push({
          line: a.ownerLine || a.line,
          device: a.dev,
          actualPfn: a.pfn,
          predictedPfn: s.length > sampled ? s[s.length - 1]!.predicted : -1,
        });
      }
    }
    if (d.predictor.stats.matched > matched) {
      const src = d.predictor.rcaches.lastSource;
      // (Known to the ops of the batch that resolved it only: they are recorded after it.)
      if (a.ownerBatch === this.#batchNo) {
        if (src === "rcache") this.#sources[a.ownerRow] = SRC_RCACHE;
        else if (src === "tree" || src === "tree_after_flush") {
          this.#sources[a.ownerRow] = SRC_RBTREE;
        }
      }
    }
    if (!d.live.has(a.pfn)) {
      d.live.set(a.pfn, a.pages, a.line);
      d.livePages += a.pages;
      this.#live += a.pages;
      if (this.#live > this.#peak) this.#peak = this.#live;
    }
  }

  #unmap(dev: string, o: { line: number; cpu: number; ts: number; pfn: number; pages: number }) {
    const d = this.#domain(dev);
    if (d.fq !== null) d.fq.queueIova(o.pfn, o.pages, o.cpu, o.ts);
    else d.predictor.onFree(o.line, o.cpu, o.ts, o.pfn, o.pages);
    const pages = d.live.pages(o.pfn);
    if (pages !== undefined) {
      d.live.delete(o.pfn);
      d.livePages -= pages;
      this.#live -= pages;
    }
  }

  /**
   * Where the model's allocator took the IOVA of a DMA mapping resolved in the last batch fed
   * (only when the model gave the kernel's IOVA; else the source is not known).
   *
   * @param r The row of the dma:* map event in that batch.
   * @returns `rcache`, `rbtree`, or undefined.
   */
  sourceAt(r: number): "rcache" | "rbtree" | undefined {
    const src = this.#sources[r];
    return src === SRC_RCACHE ? "rcache" : src === SRC_RBTREE ? "rbtree" : undefined;
  }

  /**
   * Whether a device's IOVAs go through a flush queue (DMA-FQ domain) rather than strict
   * invalidation.
   *
   * @param dev The device.
   * @returns True for DMA-FQ.
   */
  isLazy(dev: string): boolean {
    const d = this.#domains.get(dev);
    if (d !== undefined) return d.fq !== null;
    const t = this.#topology;
    const type = t?.devices.find((x) => x.bdf === dev)?.iommuDomain ?? t?.iommu.defaultDomain;
    return type === "dma-fq";
  }

  /** End of trace: allocations whose dma:* event never came are dropped. */
  end(): void {
    for (const a of this.#pending.values()) a.resolved = true;
    for (const w of this.#unmapWaiting.values()) w.resolved = true;
    this.#unmapWaiting.clear();
    this.#compact();
    this.#queue.splice(
      0,
      this.#queue.length,
      ...this.#queue.filter((o) => o.kind !== "alloc" || o.dev !== ""),
    );
    this.#drain();
  }

  /** Drop the ops already run from the front of the queue. */
  #compact(): void {
    this.#queue.splice(0, this.#qHead);
    this.#qHead = 0;
  }

  /**
   * IOVAs still allocated (mapped, not unmapped) now: at the end of the trace, the
   * `IOMMU_IOVA_LEAK_AT_END` anomalies.
   *
   * @returns One entry per allocation, with its device and the line of its first map.
   */
  leaks(): { device: string; iova: bigint; pages: number; line: number }[] {
    const out: { device: string; iova: bigint; pages: number; line: number }[] = [];
    for (const [device, d] of this.#domains) {
      for (const [pfn, l] of d.live.entries()) out.push({ device, iova: BigInt(pfn) << 12n, ...l });
    }
    return out;
  }

  /**
   * The figures so far.
   *
   * @returns summary.json's `iova`.
   */
  summary(): IovaReplaySummary {
    let checked = 0;
    let matched = 0;
    let first = -1;
    for (const d of this.#domains.values()) {
      const s = d.predictor.stats;
      checked += s.checked;
      matched += s.matched;
      if (s.firstMismatchLine >= 0 && (first < 0 || s.firstMismatchLine < first)) {
        first = s.firstMismatchLine;
      }
    }
    return {
      peakPages: this.#peak,
      leakedPages: this.#live,
      prediction: {
        checked,
        matched,
        firstMismatchLine: first,
        explained: { ...this.explained },
        unexplained: this.mismatches.length,
      },
      devices: this.#domains.size,
    };
  }
}
