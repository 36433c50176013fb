// The synthesizer's engine (synthesize.ts has the API): the scenario's workloads as actions in
// time order, each run against the kernel model, its lines merged across CPUs.
//
// One event loop (submit, complete, call) over the model's devices, the CPUs' time and the fault
// bookkeeping, with the single-page maps (dma_map_page_attrs) written here; the sg and coherent
// calls, buffers, dma-buf runner, fault events and line merging live in their own files.

import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import {
  DMA_MAPPING_ERROR,
  type DmaDevice,
  dmaDeviceFor,
  dmaMapPhys,
  dmaUnmapPhys,
} from "../model/dma/mod.ts";
import { Buffers } from "./_buffers.ts";
import { coherentAlloc, coherentFree } from "./_coherent.ts";
import { type ScatterlistEnv, sgMap, sgUnmap } from "./_scatterlist.ts";
import { DmaBufRunner } from "./_dmabuf_runner.ts";
import { Heap } from "./_heap.ts";
import { type Action, type Mapping, STEP_NS } from "./_types.ts";
import { LineMerger } from "./_line_merger.ts";
import {
  afterMapFaultEvents,
  afterUnmapFaultEvents,
  type FaultEvent,
  LARGEST,
  mapAtUnpredictedIova,
  otherDir,
} from "./_fault_events.ts";
import type { Scenario, StreamWorkload, SynthFaultCode } from "./scenario.ts";
import {
  dmaMapPageBody,
  dmaUnmapPageBody,
  HARDIRQ_FLAGS,
  iommuMapBody,
  iommuUnmapBody,
  iovaAllocBody,
  iovaFreeBody,
  PROCESS_FLAGS,
  SOFTIRQ_FLAGS,
  type TraceContext,
} from "./ftrace_text.ts";

import type { SynthOptions, SynthStats } from "./synthesize.ts";

/**
 * The synthesizer's state: the model, the workloads' clocks, the lines not yet written.
 */
export class Synthesizer {
  readonly #s: Scenario;
  readonly #rng: ReturnType<typeof xoroshiro128plus>;
  readonly #devices = new Map<string, DmaDevice>();
  readonly #actions = new Heap<Action>();
  readonly #lines = new LineMerger();
  readonly #cpuFreeAt: number[];
  readonly #outstanding: number[];
  readonly #nextCpu: number[];
  readonly #budget: { events: number; bytes: number };
  /** RAM and peer buffers. */
  readonly #buffers: Buffers;
  /** What the coherent and sg calls write with (made once: they run for every map). */
  readonly #env: ScatterlistEnv;
  /** Consecutive failed maps per workload (a workload that only fails stops). */
  readonly #failures: number[];
  #seq = 0;
  #committed = 0;
  #stopped = false;
  /** Frees the model made during the current call (strict unmaps, full flush-queue rings). */
  #frees: { pfn: number; pages: number; cpu: number }[] = [];
  readonly stats: SynthStats = { events: 0, bytes: 0, maps: 0, failedMaps: 0, injected: [] };
  /** Faults by workload and map number. */
  readonly #faults = new Map<string, SynthFaultCode[]>();
  /** Where IOMMU_IOVA_MISMATCH's next IOVA is looked for (pfns never handed out before). */
  #strayPfn = 0x20000;
  /** Whether an interrupt unmapped on a CPU since its last iommu:map. */
  readonly #irqUnmapped: boolean[] = [];
  /** P2P pairs mapped so far (`BDF:BAR>client`). */
  readonly #pairsMapped = new Set<string>();
  /** Map attempts per workload (failed ones too). */
  readonly #attemptsOf: number[];
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
    this.#buffers = new Buffers(
      s.topology,
      s.workloads.flatMap((w) => w.peer === null ? [] : [w.peer]),
      (lo, hi) => this.#int(lo, hi),
    );
    this.#env = {
      emit: (c, t, event, body, fault) => this.#emit(c, t, event, body, fault),
      emitFrees: (c, t) => this.#emitFrees(c, t),
      buffers: this.#buffers,
      int: (lo, hi) => this.#int(lo, hi),
      iovaAllocProbe: s.probes.iovaAlloc,
      firstHostBridgeMap: (peer, client) => this.#firstHostBridgeMap(peer, client),
      dropFrees: () => (this.#frees = []),
    };
    s.dmabufs.forEach((w, i) => {
      new DmaBufRunner(w, i, {
        emit: (c, t, event, body, fault) => this.#emit(c, t, event, body, fault),
        at: (t, cpu, fn) =>
          this.#actions.push({
            t,
            seq: this.#seq++,
            kind: "call",
            w: -1,
            cpu,
            thread: 0,
            m: null,
            fn,
          }),
        us: (r) => this.#us(r),
        int: (lo, hi) => this.#int(lo, hi),
        stopped: () => this.#stopped,
        firstHostBridgeMap: (peer, client) => this.#firstHostBridgeMap(peer, client),
      }).start(Math.round(s.startS * 1e9) + 50 * 1000);
    });
    this.#failures = s.workloads.map(() => 0);
    this.#mapsOf = s.workloads.map(() => 0);
    this.#attemptsOf = s.workloads.map(() => 0);
    for (const f of s.faults) {
      // A map on a pair the kernel refuses never succeeds: that fault counts map attempts.
      const k = `${f.workload}/${f.after}${f.code === "P2P_NOT_SUPPORTED_PATH" ? "/attempt" : ""}`;
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

  /**
   * The first P2P map of a pair the topology sends through the host bridge although both sit
   * below one bridge: a replay reports it there (P2P_HOST_BRIDGE_WHEN_BUS_PATH, once a pair).
   */
  #firstHostBridgeMap(peer: { device: string; bar: number }, client: string): boolean {
    const key = `${peer.device}:${peer.bar}>${client}`;
    if (this.#pairsMapped.has(key)) return false;
    this.#pairsMapped.add(key);
    return this.#buffers.hostBridgeDespiteBridge(peer, client);
  }

  #emit(c: TraceContext, t: number, event: string, body: string, fault?: string): void {
    // What a replay calls an interrupt's free before a map (IOMMU_IOVA_MISMATCH's condition).
    if (event === "map") this.#irqUnmapped[c.cpu] = false;
    else if (event === "unmap" && "hHszZ".includes(c.flags[2] ?? "")) {
      this.#irqUnmapped[c.cpu] = true;
    }
    this.#lines.push(c, t, event, body, fault);
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
    const attempt = ++this.#attemptsOf[i]!;
    const faults = [
      ...this.#faults.get(`${i}/${this.#mapsOf[i]! + 1}`) ?? [],
      ...this.#faults.get(`${i}/${attempt}/attempt`) ?? [],
    ];
    // An sg list one entry short needs two entries at least: the largest size.
    const bytes = faults.some((f) => LARGEST.has(f))
      ? Math.max(...w.sizes.map((x) => x.bytes))
      : first
      ? Math.min(4096, this.#size(w))
      : this.#size(w);
    const pages = Math.ceil(bytes / 4096);
    const translates = dev.domain?.translates === true;
    let m: Mapping;
    if (w.api === "coherent") {
      const got = coherentAlloc(this.#env, dev, w, ctx, cpu, t, pages, bytes, translates);
      if (got === null) {
        ++this.stats.failedMaps;
        this.#retry(i, t);
        return;
      }
      t = got.t;
      m = { ...got.mapping, w: i, cpu };
    } else if (w.api === "sg") {
      const got = sgMap(this.#env, dev, w, ctx, t, pages, bytes, faults);
      if (got === null) {
        ++this.stats.failedMaps;
        this.#retry(i, t);
        return;
      }
      t = got.t;
      m = { ...got.mapping, w: i, cpu };
    } else {
      const phys = w.peer === null
        ? this.#buffers.contiguous(pages)
        : this.#buffers.peerBuffer(w.peer, pages)[0]!;
      // IOMMU_IOVA_MISMATCH shows only where an interrupt freed no IOVA on this CPU since its
      // last map (a replay explains that order): else it waits for the workload's next map.
      const wantStray = faults.includes("IOMMU_IOVA_MISMATCH");
      const stray = wantStray && !this.#irqUnmapped[cpu]
        ? mapAtUnpredictedIova(dev, phys, BigInt(bytes), cpu, t, this.#strayPfn)
        : null;
      if (stray !== null) this.#strayPfn = stray.next;
      if (wantStray && stray === null) {
        const k = `${i}/${this.#mapsOf[i]! + 2}`;
        this.#faults.set(k, [...(this.#faults.get(k) ?? []), "IOMMU_IOVA_MISMATCH"]);
      }
      const r = stray === null
        ? dmaMapPhys(dev, phys, BigInt(bytes), 0, cpu, t)
        : { dmaAddr: stray.dmaAddr, iovaBytes: stray.iovaBytes, backend: "IOMMU" as const };
      if (r.dmaAddr === DMA_MAPPING_ERROR) {
        ++this.stats.failedMaps;
        if (w.peer === null) this.#buffers.releaseRam(phys, pages);
        else this.#buffers.release(phys);
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
      this.#emit(
        ctx,
        t,
        "dma_map_page",
        dmaMapPageBody(w.device, w.dir, r.dmaAddr, bytes, phys),
        stray !== null ? "IOMMU_IOVA_MISMATCH" : undefined,
      );
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
    t = this.#emitFaults(ctx, t, afterMapFaultEvents(w, m, this.#mapsOf[i]!));
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

  /** Emit fault events one step apart from `t`; returns the time after them. */
  #emitFaults(ctx: TraceContext, t: number, events: readonly FaultEvent[]): number {
    for (const e of events) {
      this.#emit(ctx, t, e.event, e.body, e.code);
      t += STEP_NS;
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
    if (w.api === "coherent") {
      t = coherentFree(this.#env, dev, w, { ...m, cpuAddr: m.cpuAddr! }, t);
    } else if (w.api === "sg") {
      t = sgUnmap(this.#env, dev, w, m, ctx, t, dir, dirFault);
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
    t = this.#emitFaults(
      ctx,
      t,
      afterUnmapFaultEvents(
        w,
        m,
        this.#s.topology.devices.find((d) => d.bdf === w.device)?.name ?? undefined,
      ),
    );
    this.#cpuFreeAt[m.cpu] = t;
    --this.#outstanding[m.w]!;
    if (w.peer !== null) this.#buffers.release(m.physStart);
    else if (w.api === "sg" || m.segments.length > 0) this.#buffers.releaseRam(m.physStart, m.phys);
    else this.#buffers.releaseRam(m.physStart, Math.ceil(m.bytes / 4096));
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
      n += this.#lines.writeBefore(horizon, out, this.stats);
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
      } else if (a.kind === "call") {
        this.#runTimers(a.t);
        this.#cpuFreeAt[a.cpu] = Math.max(this.#cpuFreeAt[a.cpu]!, a.fn!(a.t));
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
