/**
 * The trace synthesizer: runs a scenario's workloads against the kernel model (the DMA API of
 * `model/dma` over each device's IOMMU domain: IOVA allocator with its per-CPU caches, page
 * table, strict or flush-queue invalidation) and writes what the kernel's tracepoints and the
 * capture recipe's kprobes would print, as `trace_pipe` writes it (no header), merged across
 * CPUs in time order. Deterministic for a seed; streaming, so any size.
 *
 * @module
 */

import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import {
  DMA_MAPPING_ERROR,
  type DmaDevice,
  dmaDeviceFor,
  dmaMapPhys,
  dmaMapSg,
  type DmaSegment,
  dmaUnmapPhys,
  dmaUnmapSg,
} from "../model/dma/mod.ts";
import {
  type P2pdmaMapType,
  P2pdmaMapTypes,
  type P2pdmaProvider,
  P2pdmaProviders,
  PciTree,
} from "../model/topology/mod.ts";
import type { Scenario, StreamWorkload, SynthDir, SynthFaultCode } from "./scenario.ts";
import {
  dmaMapPageBody,
  dmaMapSgBody,
  dmaUnmapPageBody,
  dmaUnmapSgBody,
  HARDIRQ_FLAGS,
  iommuMapBody,
  iommuUnmapBody,
  iovaAllocBody,
  iovaFreeBody,
  PROCESS_FLAGS,
  SOFTIRQ_FLAGS,
  type TraceContext,
  traceLine,
} from "./ftrace_text.ts";

/** Options of {@linkcode synthesizeTrace}. */
export interface SynthOptions {
  /**
   * The seed: the same scenario and seed give the same bytes.
   * @default {1}
   */
  seed?: number;
  /**
   * Stop starting I/O once this many events are written (the I/O in flight still completes,
   * so the trace holds a few more).
   * @default {100000, when `bytes` is not given}
   */
  events?: number;
  /** Stop starting I/O once this many bytes are written (instead of `events`). */
  bytes?: number;
}

/** What a synthesis wrote (known when its stream ends). */
export interface SynthStats {
  /** Events (lines). */
  events: number;
  /** Bytes. */
  bytes: number;
  /** Maps by the DMA API. */
  maps: number;
  /** Maps that failed (the model returned DMA_MAPPING_ERROR or an errno): not traced. */
  failedMaps: number;
  /**
   * The anomalies injected, each at the line that shows it (what a replay must find), in line
   * order; faults whose map never came (the trace ended first) are not listed.
   */
  injected: { code: string; line: number }[];
}

/** Line spacing within one kernel call: the tracepoints of a map come a microsecond apart. */
const STEP_NS = 1000;
/**
 * Physical memory the buffers come from: page frames from 16 MiB to 3 GiB (a PC's RAM below the
 * 32-bit MMIO hole), and none inside a BAR of the topology.
 */
const RAM_FIRST_PFN = 0x1000;
const RAM_LAST_PFN = 0xbffff;
const CHUNK_BYTES = 1 << 20;

interface Mapping {
  readonly w: number;
  readonly cpu: number;
  readonly phys: readonly bigint[];
  readonly physStart: bigint;
  readonly bytes: number;
  readonly dmaAddr: bigint;
  readonly segments: readonly DmaSegment[];
  readonly iova: bigint;
  readonly iovaBytes: bigint;
  /** Faults to inject into it. */
  readonly faults: readonly SynthFaultCode[];
}

/**
 * Something a CPU does at `t`: the time of its line that orders it for the allocator (a map's
 * first `iommu:map`, an unmap's `iommu:unmap`); lines before that one come a step earlier.
 */
interface Action {
  readonly t: number;
  readonly seq: number;
  readonly kind: "submit" | "complete";
  readonly w: number;
  readonly cpu: number;
  /** The workload's thread on that CPU (pid offset). */
  readonly thread: number;
  readonly m: Mapping | null;
}

/** A direction other than `d` (for the faults that need a wrong one). */
function otherDir(d: SynthDir): SynthDir {
  return d === "FROM_DEVICE" ? "TO_DEVICE" : "FROM_DEVICE";
}

/** A binary min-heap on (t, seq). */
class Heap<T extends { t: number; seq: number }> {
  readonly #a: T[] = [];
  get size(): number {
    return this.#a.length;
  }
  peek(): T | undefined {
    return this.#a[0];
  }
  #less(i: number, j: number): boolean {
    const x = this.#a[i]!;
    const y = this.#a[j]!;
    return x.t < y.t || (x.t === y.t && x.seq < y.seq);
  }
  push(v: T): void {
    const a = this.#a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): T | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.#less(l, m)) m = l;
        if (r < a.length && this.#less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

interface Line {
  readonly t: number;
  readonly seq: number;
  readonly text: string;
  /** The anomaly this line shows, when it is an injected fault's. */
  readonly fault?: string;
}

/**
 * The synthesizer's state: the model, the workloads' clocks, the lines not yet written.
 */
class Synthesizer {
  readonly #s: Scenario;
  readonly #rng: ReturnType<typeof xoroshiro128plus>;
  readonly #devices = new Map<string, DmaDevice>();
  readonly #actions = new Heap<Action>();
  readonly #lines = new Heap<Line>();
  readonly #cpuFreeAt: number[];
  readonly #outstanding: number[];
  readonly #nextCpu: number[];
  readonly #budget: { events: number; bytes: number };
  /** The topology's BARs, as inclusive page-frame ranges (no buffer comes from them). */
  readonly #barPfns: [number, number][];
  /** P2PDMA: the PCI tree, the BARs' providers and the map types between pairs. */
  readonly #tree: PciTree;
  readonly #providers = new P2pdmaProviders();
  readonly #mapTypes: P2pdmaMapTypes;
  /** Peer BAR ranges `[start, end)` of the I/Os in flight. */
  #peerLive: [bigint, bigint][] = [];
  /** Consecutive failed maps per workload (a workload that only fails stops). */
  readonly #failures: number[];
  #seq = 0;
  #committed = 0;
  #lastTs = 0;
  #stopped = false;
  /** Frees the model made during the current call (strict unmaps, full flush-queue rings). */
  #frees: { pfn: number; pages: number; cpu: number }[] = [];
  readonly stats: SynthStats = { events: 0, bytes: 0, maps: 0, failedMaps: 0, injected: [] };
  /** Faults by workload and map number. */
  readonly #faults = new Map<string, SynthFaultCode[]>();
  /** Maps so far per workload. */
  readonly #mapsOf: number[];
  /** Leaks injected (`DMA_LEAK_AT_END`, `IOMMU_IOVA_LEAK_AT_END`): the last line shows them. */
  #leaks: string[] = [];

  constructor(s: Scenario, o: SynthOptions) {
    this.#s = s;
    this.#rng = xoroshiro128plus(o.seed ?? 1);
    this.#budget = o.bytes !== undefined
      ? { events: Infinity, bytes: o.bytes }
      : { events: o.events ?? 100000, bytes: Infinity };
    this.#barPfns = s.topology.devices.flatMap((d) =>
      d.bars.map((b) => [Number(b.cpuStart >> 12n), Number((b.cpuStart + b.lenBytes - 1n) >> 12n)])
    ) as [number, number][];
    this.#tree = new PciTree(s.topology);
    for (const d of s.topology.devices) {
      const dev = this.#tree.device(d.bdf);
      if (dev !== undefined && dev.kind !== "platform") this.#providers.pcimP2pdmaInit(dev);
    }
    this.#mapTypes = new P2pdmaMapTypes(this.#tree, this.#providers);
    this.#failures = s.workloads.map(() => 0);
    this.#mapsOf = s.workloads.map(() => 0);
    for (const f of s.faults) {
      const k = `${f.workload}/${f.after}`;
      this.#faults.set(k, [...(this.#faults.get(k) ?? []), f.code]);
    }
    this.#cpuFreeAt = Array.from({ length: s.cpus }, () => 0);
    this.#outstanding = s.workloads.map(() => 0);
    this.#nextCpu = s.workloads.map(() => 0);
    const t0 = Math.round(s.startS * 1e9);
    s.workloads.forEach((w, i) => {
      for (let q = 0; q < w.queueDepth; ++q) {
        this.#scheduleSubmit(i, t0 + this.#us(w.gapUs) + q * STEP_NS);
      }
    });
  }

  #int(lo: number, hi: number): number {
    return uniformInt(this.#rng, lo, hi);
  }

  #us([lo, hi]: readonly [number, number]): number {
    return Math.round((lo + (hi - lo) * (this.#int(0, 1 << 20) / (1 << 20))) * 1000);
  }

  /** The workload's next I/O, on its next CPU in turn. */
  #scheduleSubmit(w: number, t: number): void {
    const cpus = this.#s.workloads[w]!.cpus;
    const thread = this.#nextCpu[w]!++ % cpus.length;
    this.#actions.push({
      t,
      seq: this.#seq++,
      kind: "submit",
      w,
      cpu: cpus[thread]!,
      thread,
      m: null,
    });
  }

  #device(bdf: string): DmaDevice {
    let d = this.#devices.get(bdf);
    if (d === undefined) {
      // Two online CPUs, as the replay models them (the IOVA caches must agree).
      d = dmaDeviceFor(this.#s.topology, bdf, 2, {
        onIovaFree: (pfn, pages, cpu) => this.#frees.push({ pfn, pages, cpu }),
      });
      this.#devices.set(bdf, d);
    }
    return d;
  }

  #emit(c: TraceContext, t: number, event: string, body: string, fault?: string): void {
    const ts = Math.max(t, this.#lastTs);
    const text = traceLine(c, ts, event, body);
    this.#lines.push(
      fault === undefined
        ? { t: ts, seq: this.#seq++, text }
        : { t: ts, seq: this.#seq++, text, fault },
    );
    ++this.#committed;
  }

  /** Frees the model made, as `iova_free` probe hits in context `c`, from time `t`. */
  #emitFrees(c: TraceContext, t: number): number {
    const f = this.#frees;
    this.#frees = [];
    if (!this.#s.probes.iovaFree) return t;
    for (const x of f) {
      this.#emit({ ...c, cpu: x.cpu }, t, "iova_free", iovaFreeBody(x.pfn, x.pages));
      t += STEP_NS;
    }
    return t;
  }

  /** The flush-queue timers that fell due by `t`, in softirq. */
  #runTimers(t: number): void {
    for (const d of this.#devices.values()) {
      if (d.domain?.flushQueue == null) continue;
      d.domain.advanceTo(t);
      if (this.#frees.length > 0) {
        this.#emitFrees({ task: "<idle>", pid: 0, cpu: 0, flags: SOFTIRQ_FLAGS }, t);
      }
    }
  }

  #overBudget(): boolean {
    return this.#committed >= this.#budget.events || this.stats.bytes >= this.#budget.bytes;
  }

  /** A random RAM page frame (never one of a BAR). */
  #ramPfn(lo = RAM_FIRST_PFN, hi = RAM_LAST_PFN): number {
    for (;;) {
      const pfn = this.#int(lo, hi);
      if (!this.#inBar(pfn)) return pfn;
    }
  }

  #inBar(pfn: number): boolean {
    for (const [a, b] of this.#barPfns) if (pfn >= a && pfn <= b) return true;
    return false;
  }

  /** Pages of one buffer: random frames, each following the last with the given chance. */
  #buffer(pages: number, contiguity: number): bigint[] {
    const out: bigint[] = [];
    let pfn = this.#ramPfn(RAM_FIRST_PFN, RAM_LAST_PFN - pages);
    for (let i = 0; i < pages; ++i) {
      if (i > 0) {
        const follow = this.#int(0, 1 << 20) < contiguity * (1 << 20);
        pfn = follow && pfn < RAM_LAST_PFN && !this.#inBar(pfn + 1) ? pfn + 1 : this.#ramPfn();
      }
      out.push(BigInt(pfn) << 12n);
    }
    return out;
  }

  /** A buffer of physically contiguous bytes (`dma_map_page` of a kmalloc'ed buffer). */
  #contiguous(pages: number): bigint {
    for (;;) {
      const pfn = this.#ramPfn(RAM_FIRST_PFN, RAM_LAST_PFN - pages);
      let ok = true;
      for (let k = 1; k < pages && ok; ++k) ok = !this.#inBar(pfn + k);
      if (ok) return BigInt(pfn) << 12n;
    }
  }

  /** The provider of a peer BAR. */
  #provider(peer: { device: string; bar: number }): P2pdmaProvider {
    const dev = this.#tree.device(peer.device)!;
    return this.#providers.pcimP2pdmaProvider(dev, peer.bar)!;
  }

  /** `pci_p2pdma_map_type` for the mapping device, as dma_map_sg classifies each entry. */
  #classifier(client: string) {
    const c = this.#tree.device(client);
    return (phys: bigint): { mapType: P2pdmaMapType; busOffset: bigint } | null => {
      for (const w of this.#s.workloads) {
        if (w.peer === null) continue;
        const p = this.#provider(w.peer);
        if (phys < p.cpuStart || phys >= p.cpuStart + p.lenBytes) continue;
        const mapType = c === undefined
          ? "NOT_SUPPORTED"
          : this.#mapTypes.pciP2pdmaMapType(p, c).mapType;
        return { mapType, busOffset: p.busOffset };
      }
      return null;
    };
  }

  /**
   * Pages of a buffer in a peer's BAR: page-aligned, contiguous (device memory is), and apart
   * from the buffers in flight (a target hands each I/O its own piece of the CMB).
   */
  #peerBuffer(peer: { device: string; bar: number }, pages: number): bigint[] {
    const p = this.#provider(peer);
    const slots = Number(p.lenBytes >> 12n) - pages;
    let first = p.cpuStart;
    for (let tries = 0; tries < 64; ++tries) {
      first = p.cpuStart + (BigInt(this.#int(0, Math.max(0, slots))) << 12n);
      const end = first + (BigInt(pages) << 12n);
      if (!this.#peerLive.some(([a, b]) => first < b && a < end)) break;
    }
    this.#peerLive.push([first, first + (BigInt(pages) << 12n)]);
    return Array.from({ length: pages }, (_, k) => first + (BigInt(k) << 12n));
  }

  #size(w: StreamWorkload): number {
    const total = w.sizes.reduce((s, x) => s + x.weight, 0);
    let r = (this.#int(0, (1 << 30) - 1) / (1 << 30)) * total;
    for (const x of w.sizes) {
      r -= x.weight;
      if (r < 0) return x.bytes;
    }
    return w.sizes[w.sizes.length - 1]!.bytes;
  }

  #submit(a: Action): void {
    const i = a.w;
    const cpu = a.cpu;
    let t = a.t;
    const w = this.#s.workloads[i]!;
    this.#runTimers(t);
    // One thread per CPU (a task runs on one CPU at a time): pid, pid + 1, ...
    const ctx: TraceContext = { task: w.task, pid: w.pid + a.thread, cpu, flags: PROCESS_FLAGS };
    const first = !this.#devices.has(w.device);
    const dev = this.#device(w.device);
    // A device's first map is one page, at the top of its IOVA space: a replay takes the space
    // above a domain's first IOVA as allocated before the trace began.
    const faults = this.#faults.get(`${i}/${this.#mapsOf[i]! + 1}`) ?? [];
    // An sg list one entry short needs two entries at least: the largest size.
    const bytes = faults.includes("DMA_UNMAP_SG_NENTS_MISMATCH")
      ? Math.max(...w.sizes.map((x) => x.bytes))
      : first
      ? Math.min(4096, this.#size(w))
      : this.#size(w);
    const pages = Math.ceil(bytes / 4096);
    const translates = dev.domain?.translates === true;
    let m: Mapping;
    if (w.api === "sg") {
      const phys = w.peer === null
        ? this.#buffer(pages, w.contiguity)
        : this.#peerBuffer(w.peer, pages);
      const entries = phys.map((p, k) => ({
        phys: p,
        lengthBytes: k < pages - 1 ? 4096 : bytes - 4096 * (pages - 1),
      }));
      // P2P_WRONG_PATH: this map goes through the IOMMU although the pair has a bus path (the
      // v2-2022 way).
      const classify = faults.includes("P2P_WRONG_PATH")
        ? (phys: bigint) => {
          const c = this.#classifier(w.device)(phys);
          return c === null ? null : { ...c, mapType: "THRU_HOST_BRIDGE" as const };
        }
        : this.#classifier(w.device);
      const r = dmaMapSg(dev, entries, classify, cpu, t);
      this.#frees = []; // a full ring drained during the map: none here (maps do not queue)
      if (r.errno !== 0) {
        ++this.stats.failedMaps;
        this.#retry(i, t);
        return;
      }
      if (translates && r.iovaBytes > 0n && this.#s.probes.iovaAlloc) {
        this.#emit(ctx, t - STEP_NS, "iova_alloc", iovaAllocBody(Number(r.iova >> 12n)));
      }
      for (const run of r.mapRuns) {
        this.#emit(ctx, t, "map", iommuMapBody(run.iova, run.phys, run.sizeBytes));
        t += STEP_NS;
      }
      this.#emit(
        ctx,
        t,
        "dma_map_sg",
        dmaMapSgBody(
          w.device,
          w.dir,
          phys,
          r.segments.map((s) => s.dmaAddr),
          r.segments.map((s) => s.lengthBytes),
        ),
        faults.includes("P2P_WRONG_PATH") ? "P2P_WRONG_PATH" : undefined,
      );
      m = {
        w: i,
        cpu,
        phys,
        physStart: phys[0]!,
        bytes,
        dmaAddr: r.segments[0]?.dmaAddr ?? 0n,
        segments: r.segments,
        iova: r.iova,
        iovaBytes: r.iovaBytes,
        faults: [],
      };
    } else {
      const phys = w.peer === null ? this.#contiguous(pages) : this.#peerBuffer(w.peer, pages)[0]!;
      const r = dmaMapPhys(dev, phys, BigInt(bytes), 0, cpu, t);
      if (r.dmaAddr === DMA_MAPPING_ERROR) {
        ++this.stats.failedMaps;
        this.#retry(i, t);
        return;
      }
      if (r.backend === "IOMMU") {
        if (this.#s.probes.iovaAlloc) {
          this.#emit(ctx, t - STEP_NS, "iova_alloc", iovaAllocBody(Number(r.dmaAddr >> 12n)));
        }
        this.#emit(ctx, t, "map", iommuMapBody(r.dmaAddr, phys, r.iovaBytes));
        t += STEP_NS;
      }
      this.#emit(ctx, t, "dma_map_page", dmaMapPageBody(w.device, w.dir, r.dmaAddr, bytes, phys));
      m = {
        w: i,
        cpu,
        phys: [phys],
        physStart: phys,
        bytes,
        dmaAddr: r.dmaAddr,
        segments: [],
        iova: r.backend === "IOMMU" ? r.dmaAddr : 0n,
        iovaBytes: r.iovaBytes,
        faults: [],
      };
    }
    ++this.stats.maps;
    this.#failures[i] = 0;
    ++this.#mapsOf[i]!;
    m = { ...m, faults };
    t += STEP_NS;
    t = this.#syncFaults(ctx, m, t);
    if (faults.includes("DMA_LEAK_AT_END")) {
      // The I/O never completes: dma-debug reports it at the end, and its IOVA stays allocated.
      this.#leaks.push("DMA_LEAK_AT_END");
      if (m.iovaBytes > 0n) this.#leaks.push("IOMMU_IOVA_LEAK_AT_END");
      this.#cpuFreeAt[cpu] = t;
      if (!this.#stopped) this.#scheduleSubmit(i, t + this.#us(w.gapUs));
      return;
    }
    this.#cpuFreeAt[cpu] = t;
    ++this.#outstanding[i]!;
    this.#actions.push({
      t: t + this.#us(w.serviceUs),
      seq: this.#seq++,
      kind: "complete",
      w: i,
      cpu,
      thread: a.thread,
      m,
    });
  }

  /** Syncs during the mapping's life that the faults ask for, after its map. */
  #syncFaults(ctx: TraceContext, m: Mapping, t: number): number {
    const w = this.#s.workloads[m.w]!;
    const sync = (
      code: SynthFaultCode,
      forCpu: boolean,
      dir: string,
      addr: bigint,
      size: number,
    ) => {
      const ev = forCpu ? "dma_sync_single_for_cpu" : "dma_sync_single_for_device";
      this.#emit(
        ctx,
        t,
        ev,
        `${w.device} dir=${dir} dma_addr=${addr.toString(16)} size=${size}`,
        code,
      );
      t += STEP_NS;
    };
    // The direction a driver syncs in without error: for the CPU after a device write.
    const okCpu = w.dir !== "TO_DEVICE";
    for (const f of m.faults) {
      if (f === "DMA_SYNC_OUT_OF_RANGE") sync(f, okCpu, w.dir, m.dmaAddr + 1n, m.bytes);
      else if (f === "DMA_SYNC_DIR_MISMATCH") sync(f, okCpu, otherDir(w.dir), m.dmaAddr, 1);
      else if (f === "DMA_SYNC_TO_DEVICE_FOR_CPU") sync(f, true, w.dir, m.dmaAddr, 1);
      else if (f === "DMA_SYNC_FROM_DEVICE_FOR_DEVICE") sync(f, false, w.dir, m.dmaAddr, 1);
    }
    return t;
  }

  /** What the faults add after an unmap: a second unmap, a late sync, a device's late DMA. */
  #afterUnmapFaults(ctx: TraceContext, m: Mapping, t: number): number {
    const w = this.#s.workloads[m.w]!;
    for (const f of m.faults) {
      if (f === "DMA_UNMAP_NOT_MAPPED") {
        // Unmapped twice: dma-debug finds nothing at the address the second time.
        if (w.api === "sg") {
          this.#emit(ctx, t, "dma_unmap_sg", dmaUnmapSgBody(w.device, w.dir, m.phys), f);
        } else {
          this.#emit(
            ctx,
            t,
            "dma_unmap_page",
            dmaUnmapPageBody(w.device, w.dir, m.dmaAddr, m.bytes),
            f,
          );
        }
        t += STEP_NS;
      } else if (f === "DMA_SYNC_NOT_MAPPED") {
        const ev = w.dir === "TO_DEVICE" ? "dma_sync_single_for_device" : "dma_sync_single_for_cpu";
        this.#emit(
          ctx,
          t,
          ev,
          `${w.device} dir=${w.dir} dma_addr=${m.dmaAddr.toString(16)} size=${
            Math.min(m.bytes, 4096)
          }`,
          f,
        );
        t += STEP_NS;
      } else if (f === "IOMMU_FAULT_AFTER_UNMAP") {
        // The device still writes to the IOVA: a DMAR fault.
        const name = this.#s.topology.devices.find((d) => d.bdf === w.device)?.name ?? "pci";
        this.#emit(
          ctx,
          t,
          "io_page_fault",
          `IOMMU:${name} ${w.device} iova=0x${m.iova.toString(16).padStart(16, "0")} flags=0x0020`,
          f,
        );
        t += STEP_NS;
      }
    }
    return t;
  }

  /**
   * A map that failed: the driver tries again later (a workload whose maps keep failing, as
   * P2P on a NOT_SUPPORTED path does, gives up after 100).
   */
  #retry(i: number, t: number): void {
    const w = this.#s.workloads[i]!;
    if (++this.#failures[i]! >= 100) return;
    if (!this.#stopped) this.#scheduleSubmit(i, t + this.#us(w.serviceUs));
  }

  #complete(m: Mapping, t: number): void {
    const w = this.#s.workloads[m.w]!;
    this.#runTimers(t);
    const ctx: TraceContext = { task: "<idle>", pid: 0, cpu: m.cpu, flags: HARDIRQ_FLAGS };
    const dev = this.#device(w.device);
    const has = (c: SynthFaultCode) => m.faults.includes(c);
    // The driver's unmap call, as the faults bend it.
    const dir = has("DMA_UNMAP_DIR_MISMATCH") ? otherDir(w.dir) : w.dir;
    const dirFault = has("DMA_UNMAP_DIR_MISMATCH") ? "DMA_UNMAP_DIR_MISMATCH" : undefined;
    if (w.api === "sg") {
      // dma_unmap_sg_attrs traces before it unmaps. DMA_UNMAP_SG_NENTS_MISMATCH: one entry
      // fewer than mapped.
      const nents = has("DMA_UNMAP_SG_NENTS_MISMATCH") ? m.phys.slice(0, -1) : m.phys;
      this.#emit(
        ctx,
        t - STEP_NS,
        "dma_unmap_sg",
        dmaUnmapSgBody(w.device, dir, nents),
        has("DMA_UNMAP_SG_NENTS_MISMATCH") ? "DMA_UNMAP_SG_NENTS_MISMATCH" : dirFault,
      );
      const unmapped = dmaUnmapSg(dev, m.segments, m.cpu, t);
      if (m.iovaBytes > 0n) {
        this.#emit(ctx, t, "unmap", iommuUnmapBody(m.iova, m.iovaBytes, unmapped));
        t += STEP_NS;
      }
      t = this.#emitFrees(ctx, t);
    } else {
      // dma_unmap_page_attrs traces after.
      const r = dmaUnmapPhys(dev, m.dmaAddr, BigInt(m.bytes), m.cpu, t);
      if (m.iovaBytes > 0n) {
        this.#emit(ctx, t, "unmap", iommuUnmapBody(m.iova, m.iovaBytes, r.unmappedBytes));
        t += STEP_NS;
      }
      t = this.#emitFrees(ctx, t);
      // DMA_UNMAP_SIZE_MISMATCH: a size of the same pages (the IOMMU unmaps the same).
      const size = has("DMA_UNMAP_SIZE_MISMATCH")
        ? (m.bytes % 4096 === 1 ? m.bytes + 1 : m.bytes - 1)
        : m.bytes;
      this.#emit(
        ctx,
        t,
        "dma_unmap_page",
        dmaUnmapPageBody(w.device, dir, m.dmaAddr, size),
        has("DMA_UNMAP_SIZE_MISMATCH") ? "DMA_UNMAP_SIZE_MISMATCH" : dirFault,
      );
      t += STEP_NS;
    }
    t = this.#afterUnmapFaults(ctx, m, t);
    this.#cpuFreeAt[m.cpu] = t;
    --this.#outstanding[m.w]!;
    if (w.peer !== null) this.#peerLive = this.#peerLive.filter(([a]) => a !== m.physStart);
    if (!this.#stopped) this.#scheduleSubmit(m.w, t + this.#us(w.gapUs));
  }

  /**
   * Run actions until `maxBytes` of text are ready or the trace is done.
   *
   * @returns The text, or null at the end.
   */
  next(maxBytes: number): string | null {
    const out: string[] = [];
    let n = 0;
    for (;;) {
      if (!this.#stopped && this.#overBudget()) this.#stopped = true;
      const a = this.#actions.pop();
      // Lines before the next action's first line can no longer be preceded by anything.
      const horizon = a === undefined ? Infinity : a.t - STEP_NS;
      while (this.#lines.size > 0 && this.#lines.peek()!.t < horizon) {
        const l = this.#lines.pop()!;
        out.push(l.text);
        n += l.text.length;
        this.#lastTs = l.t;
        ++this.stats.events;
        if (l.fault !== undefined) {
          this.stats.injected.push({ code: l.fault, line: this.stats.events });
        }
      }
      if (a === undefined) {
        // The end: the leaks show at the last line.
        for (const code of this.#leaks) this.stats.injected.push({ code, line: this.stats.events });
        this.#leaks = [];
        this.stats.injected.sort((x, y) => x.line - y.line);
        break;
      }
      // Its CPU is still busy: it runs once the CPU is free (and then in time order).
      const free = this.#cpuFreeAt[a.cpu]! + STEP_NS;
      if (a.t < free) {
        this.#actions.push({ ...a, t: free, seq: this.#seq++ });
        continue;
      }
      if (a.kind === "submit") {
        if (!this.#stopped) this.#submit(a);
      } else this.#complete(a.m!, a.t);
      if (n >= maxBytes) break;
    }
    if (out.length === 0) return null;
    return out.join("");
  }

  /** Bytes written so far (counted by the stream as it encodes). */
  addBytes(n: number): void {
    this.stats.bytes += n;
  }
}

/**
 * Synthesize a scenario's trace.
 *
 * @param s The scenario (`validateScenario`).
 * @param o Seed and size.
 * @returns The trace bytes as a stream, and what was written (final when the stream ends).
 *
 * @example Ten thousand events of an NVMe under a strict IOMMU
 * ```ts
 * import assert from "node:assert/strict";
 * import { synthesizeTrace, validateScenario } from "./mod.ts";
 * const v = validateScenario({
 *   name: "nvme",
 *   topology: { hostBridges: [{ id: "pci0000:00" }], devices: [{ bdf: "0000:00:02.0", kind: "endpoint", parent: "pci0000:00" }], iommu: { present: true } },
 *   workloads: [{ kind: "stream", device: "0000:00:02.0", task: "dd", sizes: [{ bytes: 131072 }] }],
 * });
 * assert.ok(v.ok);
 * const { stream, stats } = synthesizeTrace(v.scenario, { events: 10000, seed: 7 });
 * const text = await new Response(stream).text();
 * assert.ok(stats.events >= 10000 && stats.events === text.split("\n").length - 1);
 * assert.match(text, /dd-400 +\[000\] \.\.\.\.\. +1\.\d{6}: iova_alloc: /);
 * ```
 */
export function synthesizeTrace(
  s: Scenario,
  o: SynthOptions = {},
): { stream: ReadableStream<Uint8Array>; stats: SynthStats } {
  const g = new Synthesizer(s, o);
  const enc = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const text = g.next(CHUNK_BYTES);
      if (text === null) {
        controller.close();
        return;
      }
      const bytes = enc.encode(text);
      g.addBytes(bytes.byteLength);
      controller.enqueue(bytes);
    },
  });
  return { stream, stats: g.stats };
}
