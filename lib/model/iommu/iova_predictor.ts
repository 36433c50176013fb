/**
 * Replaying a trace's IOVA allocations through the model and comparing with what the kernel
 * printed (kernel-spec §4.4 "Replaying real traces"): the kernel's `alloc_iova_fast` returns
 * (a kretprobe), `free_iova_fast` calls (a kprobe) and `iommu:unmap` events drive an
 * {@linkcode IovaRcaches}; each return is predicted first. A trace starts mid-life, so the
 * predictor learns the state from before tracing began (the region above the first traced
 * allocation is occupied; pfns handed out from there were pre-trace magazine entries; frees of
 * never-allocated pfns were pre-trace allocations), and repairs frees the kprobe missed (a pfn
 * handed out again while still outstanding frees the CPU's unmapped-but-unfreed queue up to it).
 * Where the model still disagrees, it follows the kernel, so one mismatch does not cascade.
 *
 * @module
 */

import { IovaDomain } from "./iova_domain.ts";
import { IovaRcaches, type RcacheVersion } from "./iova_rcache.ts";
import { roundupPowOfTwo } from "./iova_domain.ts";
import type { Topology } from "../topology/mod.ts";

/**
 * Predictor options for one device of a machine: its DMA mask cut to the IOMMU's address
 * width, the host-bridge windows and IOMMU reserved regions no IOVA may take, the rcache
 * layout.
 *
 * @param t The topology.
 * @param bdf The device (unknown devices get a 64-bit mask).
 * @param onlineCpus CPUs online (the depot trim keeps one magazine per CPU).
 * @returns The options.
 */
export function iovaPredictorOptionsFor(
  t: Topology,
  bdf: string,
  onlineCpus = 2,
): IovaPredictorOptions {
  const mask = BigInt(t.devices.find((d) => d.bdf === bdf)?.dma.maskBits ?? 64);
  const width = BigInt(t.iommu.addressWidth);
  return {
    dmaLimit: (1n << (mask < width ? mask : width)) - 1n,
    reserved: [
      ...t.hostBridges.flatMap((h) => h.windows.map(([a, b]) => [a, b] as [bigint, bigint])),
      ...t.iommu.reserved.map(([a, b]) => [a, b] as [bigint, bigint]),
    ],
    rcacheVersion: t.iommu.rcacheVersion,
    onlineCpus,
  };
}

/** Options of {@linkcode IovaPredictor}. */
export interface IovaPredictorOptions {
  /**
   * IOVA granule in bytes.
   * @default {4096}
   */
  granule?: number;
  /**
   * The device's DMA limit, bytes (after the aperture: VT-d 39-bit gives 2^39 - 1).
   * @default {(1n << 48n) - 1n}
   */
  dmaLimit?: bigint;
  /**
   * `iommu.forcedac`: no 32-bit try first.
   * @default {false}
   */
  forceDac?: boolean;
  /**
   * Reserved IOVA ranges `[first, last]` in bytes (host bridge windows, the MSI window).
   * @default {[]}
   */
  reserved?: readonly (readonly [bigint, bigint])[];
  /**
   * The rcache layout.
   * @default {"6.7+"}
   */
  rcacheVersion?: RcacheVersion;
  /**
   * CPUs online.
   * @default {1}
   */
  onlineCpus?: number;
  /**
   * Mismatches kept as samples.
   * @default {20}
   */
  samples?: number;
}

/** The prediction figures (summary.json's `iova.prediction`). */
export interface IovaPredictionStats {
  /** Allocations predicted and compared. */
  checked: number;
  /** Of those, the model gave the kernel's pfn. */
  matched: number;
  /** Pre-trace magazine entries learned (not compared). */
  learned: number;
  /** Frees the trace lost and the replay re-applied. */
  repairedFrees: number;
  /** Allocations whose size is unknown (never freed or unmapped in the trace): not compared. */
  unknownSize: number;
  /** Line of the first mismatch, or -1. */
  firstMismatchLine: number;
  /** The first mismatches. */
  mismatches: { line: number; predicted: number; actual: number }[];
}

interface Pending {
  pfn: number;
  sizePfn: number;
}

/**
 * Predicts `alloc_iova_fast` results of one IOVA domain, event by event.
 *
 * @example The warm-up learns the driver's probe-time allocations above the first one
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaPredictor } from "./mod.ts";
 * const p = new IovaPredictor({ reserved: [[0xfee00000n, 0xfeefffffn]] });
 * p.onAllocReturn(10, 1, 0, 0xfff80, 32); // the first allocation lands below what probe took
 * p.onUnmap(11, 1, 0xfff80, 32);
 * p.onFree(12, 1, 100, 0xfff80, 32);
 * p.onAllocReturn(13, 1, 200, 0xfff80, 32); // back from CPU 1's magazine
 * assert.deepEqual([p.stats.checked, p.stats.matched], [2, 2]);
 * ```
 */
export class IovaPredictor {
  /** The allocator being driven. */
  readonly rcaches: IovaRcaches;
  /** Figures so far. */
  readonly stats: IovaPredictionStats = {
    checked: 0,
    matched: 0,
    learned: 0,
    repairedFrees: 0,
    unknownSize: 0,
    firstMismatchLine: -1,
    mismatches: [],
  };
  readonly #domain: IovaDomain;
  readonly #limitPfn: number;
  readonly #samples: number;
  #workaround: boolean;
  #warm = false;
  /** Pre-trace occupied ranges learned at warm-up: [lo, hi] pairs (inclusive). */
  #preTrace: [number, number][] = [];
  /** Unmapped but not yet freed, per CPU, in order (the flush queues). */
  #pending = new Map<number, Pending[]>();
  /** pfn → size of ranges the model holds allocated and outstanding (not freed). */
  #outstanding = new Map<number, number>();

  /**
   * A predictor over a fresh domain with the given reservations.
   *
   * @param options Granule, DMA limit, reservations, rcache layout.
   */
  constructor(options: IovaPredictorOptions = {}) {
    const granule = options.granule ?? 4096;
    this.#domain = new IovaDomain(granule);
    const shift = BigInt(this.#domain.shift);
    for (const [a, b] of options.reserved ?? []) {
      this.#domain.reserveIova(Number(a >> shift), Number(b >> shift));
    }
    this.rcaches = new IovaRcaches(this.#domain, {
      version: options.rcacheVersion ?? "6.7+",
      onlineCpus: options.onlineCpus ?? 1,
    });
    this.#limitPfn = Number((options.dmaLimit ?? (1n << 48n) - 1n) >> shift);
    this.#workaround = !(options.forceDac ?? false);
    this.#samples = options.samples ?? 20;
  }

  /**
   * A range the trace frees without having allocated it: allocated before tracing began
   * (call for each, before the replay).
   *
   * @param pfn First pfn.
   * @param sizePfn Pages (as the free prints them).
   */
  preTraceAllocation(pfn: number, sizePfn: number): void {
    const size = sizePfn < 32 ? roundupPowOfTwo(sizePfn) : sizePfn;
    if (this.#domain.findIova(pfn) === 0) this.#domain.tree.insert(pfn, pfn + size - 1);
    this.#outstanding.set(pfn, sizePfn);
  }

  /** Occupy the free gaps of `[lo, hi]` (pre-trace allocations inside stay their own ranges). */
  #occupy(lo: number, hi: number): void {
    const t = this.#domain.tree;
    let p = lo;
    for (let n = t.lowerBoundHi(lo); n !== 0 && t.lo[n]! <= hi && p <= hi; n = t.next(n)) {
      if (t.lo[n]! > p) {
        t.insert(p, t.lo[n]! - 1);
        this.#preTrace.push([p, t.lo[n]! - 1]);
      }
      p = Math.max(p, t.hi[n]! + 1);
    }
    if (p <= hi) {
      t.insert(p, hi);
      this.#preTrace.push([p, hi]);
    }
  }

  #inPreTrace(pfn: number): [number, number] | undefined {
    return this.#preTrace.find(([a, b]) => pfn >= a && pfn <= b);
  }

  /** Hand `pfn` out of a pre-trace range: split the range around it. */
  #carve(pfn: number, size: number): void {
    const t = this.#domain.tree;
    const node = t.find(pfn);
    const r = this.#inPreTrace(pfn)!;
    const lo = t.lo[node]!;
    const hi = t.hi[node]!;
    // Keep the node (cached nodes may point at it) for the part below, add the rest.
    this.#preTrace = this.#preTrace.filter((x) => x !== r);
    if (lo < pfn) {
      t.hi[node] = pfn - 1;
      this.#preTrace.push([lo, pfn - 1]);
      t.insert(pfn, Math.min(hi, pfn + size - 1));
    } else {
      t.hi[node] = Math.min(hi, pfn + size - 1);
    }
    if (pfn + size - 1 < hi) {
      t.insert(pfn + size, hi);
      this.#preTrace.push([pfn + size, hi]);
    }
  }

  /**
   * The kernel's `iommu:unmap` of an IOVA range: its free may follow at once (strict) or when
   * the CPU's flush queue drains (lazy).
   *
   * @param _line 1-based trace line.
   * @param cpu The CPU.
   * @param pfn First pfn.
   * @param sizePfn Pages.
   */
  onUnmap(_line: number, cpu: number, pfn: number, sizePfn: number): void {
    let q = this.#pending.get(cpu);
    if (q === undefined) {
      q = [];
      this.#pending.set(cpu, q);
    }
    q.push({ pfn, sizePfn });
  }

  /**
   * A `free_iova_fast(pfn, size)` the trace shows.
   *
   * @param _line 1-based trace line.
   * @param cpu The CPU.
   * @param nowNs Trace time.
   * @param pfn The pfn.
   * @param sizePfn Pages.
   */
  onFree(_line: number, cpu: number, nowNs: number, pfn: number, sizePfn: number): void {
    for (const q of this.#pending.values()) {
      const i = q.findIndex((e) => e.pfn === pfn);
      if (i >= 0) {
        q.splice(i, 1);
        break;
      }
    }
    this.#outstanding.delete(pfn);
    this.rcaches.freeIovaFast(pfn, sizePfn, cpu, nowNs);
  }

  /** Re-apply frees the trace lost: the unmapped queue entries up to and including `pfn`. */
  #repair(cpu: number, nowNs: number, pfn: number): boolean {
    const queues = [
      this.#pending.get(cpu),
      ...[...this.#pending.entries()].filter(([c]) => c !== cpu).map(([, q]) => q),
    ];
    for (const q of queues) {
      if (q === undefined) continue;
      const i = q.findIndex((e) => e.pfn === pfn);
      if (i < 0) continue;
      for (const e of q.splice(0, i + 1)) {
        this.#outstanding.delete(e.pfn);
        this.rcaches.freeIovaFast(e.pfn, e.sizePfn, cpu, nowNs);
        ++this.stats.repairedFrees;
      }
      return true;
    }
    return false;
  }

  /**
   * One `alloc_iova_fast` return the trace shows (`ret` = pfn, 0 = failure).
   *
   * @param line 1-based trace line.
   * @param cpu The CPU.
   * @param nowNs Trace time.
   * @param retPfn What the kernel returned.
   * @param sizePfn The request's pages (from the matching free), or -1 when unknown.
   */
  onAllocReturn(line: number, cpu: number, nowNs: number, retPfn: number, sizePfn: number): void {
    const is32 = this.#workaround && this.#limitPfn > this.#domain.dma32Pfn - 1;
    const limit = is32 ? this.#domain.dma32Pfn - 1 : this.#limitPfn;
    const flush = !is32;
    if (retPfn === 0) {
      if (is32) this.#workaround = false; // the 32-bit try failed; the full-limit retry follows
      return;
    }
    if (sizePfn <= 0) {
      ++this.stats.unknownSize;
      this.rcaches.claimPfn(retPfn, 1, cpu);
      return;
    }
    const size = sizePfn < 32 ? roundupPowOfTwo(sizePfn) : sizePfn;
    if (!this.#warm) {
      this.#warm = true;
      if (retPfn + size <= limit) this.#occupy(retPfn + size, limit);
    }
    this.rcaches.advanceTo(nowNs);
    if (this.#outstanding.has(retPfn)) this.#repair(cpu, nowNs, retPfn);
    if (this.#inPreTrace(retPfn) !== undefined) {
      // A pfn from before tracing (a magazine entry left by probe): learn it.
      this.#carve(retPfn, size);
      ++this.stats.learned;
      this.#outstanding.set(retPfn, sizePfn);
      return;
    }
    const predicted = this.rcaches.peekAllocIovaFast(sizePfn, limit, cpu);
    ++this.stats.checked;
    if (predicted === retPfn) {
      ++this.stats.matched;
      this.rcaches.allocIovaFast(sizePfn, limit, flush, cpu, nowNs);
    } else {
      if (this.stats.firstMismatchLine < 0) this.stats.firstMismatchLine = line;
      if (this.stats.mismatches.length < this.#samples) {
        this.stats.mismatches.push({ line, predicted, actual: retPfn });
      }
      this.rcaches.claimPfn(retPfn, sizePfn, cpu); // follow the kernel
    }
    this.#outstanding.set(retPfn, sizePfn);
  }
}
