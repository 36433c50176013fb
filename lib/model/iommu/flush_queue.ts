/**
 * Lazy IOTLB invalidation: dma-iommu's flush queue for DMA-FQ domains (kernel-spec §5.3,
 * checked against a 7.1-rc4 dma-iommu.c): an unmap queues the IOVA in the CPU's ring instead of
 * freeing it; the IOTLB is flushed for the whole domain when a ring is full (255 usable entries
 * of 256) or 10 ms after the first queued entry (a timer, not pushed back by later unmaps), and
 * only then do the IOVAs go back to the allocator. A virtualised IOMMU that shadows on flush
 * uses one global queue of 32768 and a 1000 ms timeout.
 *
 * @module
 */

/** `IOVA_DEFAULT_FQ_SIZE`: entries of a per-CPU ring. */
export const FQ_SIZE = 256;
/** `IOVA_DEFAULT_FQ_TIMEOUT`, ms. */
export const FQ_TIMEOUT_MS = 10;
/** `IOVA_SINGLE_FQ_SIZE`: entries of the single global ring. */
export const SINGLE_FQ_SIZE = 32768;
/** `IOVA_SINGLE_FQ_TIMEOUT`, ms. */
export const SINGLE_FQ_TIMEOUT_MS = 1000;

/** Where freed IOVAs go (the domain's `free_iova_fast`). */
export type FreeIova = (pfn: number, pages: number, cpu: number, nowNs: number) => void;

/** Options of {@linkcode FlushQueue}. */
export interface FlushQueueOptions {
  /**
   * One global queue (`IOMMU_DMA_OPTS_SINGLE_QUEUE`, when the IOMMU shadows on flush).
   * @default {false}
   */
  single?: boolean;
  /**
   * The kernel's HZ: `msecs_to_jiffies` rounds the timeout up to whole ticks.
   * @default {1000}
   */
  hz?: number;
  /**
   * When the flush timer fires: `"timeout"` at the modelled deadline; `"evidence"` never by
   * itself, only through {@linkcode FlushQueue.flushNow} (a replay of a trace whose timer ran
   * late, as under emulation, flushes when the trace shows a queued IOVA handed out again).
   * @default {"timeout"}
   */
  timer?: "timeout" | "evidence";
}

/** Counters of the flush queue. */
export interface FlushQueueStats {
  /** IOVAs queued. */
  queued: number;
  /** IOTLB flush-alls (`fq_flush_iotlb`). */
  flushAlls: number;
  /** Of those, by the timer. */
  timerFlushes: number;
  /** Of those, because a ring was full. */
  fullFlushes: number;
  /** IOVAs freed after a flush. */
  freed: number;
}

interface Entry {
  pfn: number;
  pages: number;
  counter: number;
  /** When it was queued (trace ns): where a flush learned from the trace cut the rings. */
  atNs: number;
  /** Order of queueing across all rings. */
  seq: number;
}

/**
 * The flush queue of one DMA-FQ domain.
 *
 * @example kernel-spec §11 test 12: three unmaps, one flush at 10 ms, frees on the arming CPU
 * ```ts
 * import assert from "node:assert/strict";
 * import { FlushQueue } from "./flush_queue.ts";
 * const freed: number[] = [];
 * const fq = new FlushQueue((pfn) => freed.push(pfn));
 * fq.queueIova(0x100, 1, 0, 0);
 * fq.queueIova(0x101, 1, 0, 1_000_000);
 * fq.queueIova(0x102, 1, 0, 2_000_000);
 * fq.advanceTo(9_999_999);
 * assert.deepEqual([freed.length, fq.stats.flushAlls], [0, 0]);
 * fq.advanceTo(10_000_000);
 * assert.deepEqual([freed, fq.stats.flushAlls], [[0x100, 0x101, 0x102], 1]);
 * ```
 */
export class FlushQueue {
  /** Counters. */
  readonly stats: FlushQueueStats = {
    queued: 0,
    flushAlls: 0,
    timerFlushes: 0,
    fullFlushes: 0,
    freed: 0,
  };
  /** Usable entries of a ring. */
  readonly capacity: number;
  /** The timeout in ns after ticks rounding. */
  readonly timeoutNs: number;
  readonly #single: boolean;
  readonly #free: FreeIova;
  readonly #rings = new Map<number, Entry[]>();
  #startCnt = 0;
  #finishCnt = 0;
  #timerAtNs = -1;
  #timerCpu = 0;
  #seq = 0;
  readonly #byEvidence: boolean;

  /**
   * An empty flush queue.
   *
   * @param free Where IOVAs go after the flush.
   * @param options Single queue, HZ.
   */
  constructor(free: FreeIova, options: FlushQueueOptions = {}) {
    this.#free = free;
    this.#single = options.single ?? false;
    this.#byEvidence = options.timer === "evidence";
    this.capacity = (this.#single ? SINGLE_FQ_SIZE : FQ_SIZE) - 1; // ring full at tail + 1 == head
    const hz = options.hz ?? 1000;
    const ms = this.#single ? SINGLE_FQ_TIMEOUT_MS : FQ_TIMEOUT_MS;
    this.timeoutNs = Math.ceil((ms * hz) / 1000) * (1e9 / hz); // msecs_to_jiffies rounds up
  }

  #ring(cpu: number): Entry[] {
    const key = this.#single ? -1 : cpu;
    let r = this.#rings.get(key);
    if (r === undefined) {
      r = [];
      this.#rings.set(key, r);
      // for_each_possible_cpu drains the rings in CPU order: keep the map sorted by CPU.
      const sorted = [...this.#rings.entries()].sort((a, b) => a[0] - b[0]);
      this.#rings.clear();
      for (const [k, v] of sorted) this.#rings.set(k, v);
    }
    return r;
  }

  /** `fq_flush_iotlb()`: one flush of the whole domain's IOTLB. */
  #flushAll(): void {
    ++this.#startCnt;
    ++this.stats.flushAlls;
    ++this.#finishCnt;
  }

  /** `fq_ring_free()`: free the entries queued before the last finished flush, oldest first. */
  #ringFree(ring: Entry[], cpu: number, nowNs: number): void {
    let n = 0;
    while (n < ring.length && ring[n]!.counter < this.#finishCnt) {
      const e = ring[n++]!;
      this.#free(e.pfn, e.pages, cpu, nowNs);
      ++this.stats.freed;
    }
    if (n > 0) ring.splice(0, n);
  }

  /**
   * Run the timer if it fell due by `nowNs` (`fq_flush_timeout`): one flush, then every ring
   * drains, into the rcache of the CPU that armed it.
   *
   * @param nowNs Trace time.
   */
  advanceTo(nowNs: number): void {
    if (this.#byEvidence) return;
    this.#fire(nowNs);
  }

  #fire(nowNs: number): void {
    if (this.#timerAtNs < 0 || nowNs < this.#timerAtNs) return;
    const at = this.#timerAtNs;
    this.#timerAtNs = -1;
    this.#flushAll();
    ++this.stats.timerFlushes;
    for (const ring of this.#rings.values()) this.#ringFree(ring, this.#timerCpu, at);
  }

  /**
   * `queue_iova(cookie, pfn, pages, freelist)` on CPU `cpu`: instead of freeing at unmap.
   *
   * @param pfn The IOVA's first pfn.
   * @param pages Its pages.
   * @param cpu The unmapping CPU.
   * @param nowNs Trace time.
   */
  queueIova(pfn: number, pages: number, cpu: number, nowNs: number): void {
    this.advanceTo(nowNs);
    const ring = this.#ring(cpu);
    this.#ringFree(ring, cpu, nowNs);
    if (ring.length >= this.capacity) {
      this.#flushAll();
      ++this.stats.fullFlushes;
      this.#ringFree(ring, cpu, nowNs);
    }
    ring.push({ pfn, pages, counter: this.#startCnt, atNs: nowNs, seq: this.#seq++ });
    ++this.stats.queued;
    if (this.#timerAtNs < 0) {
      this.#timerAtNs = nowNs + this.timeoutNs; // armed once; later unmaps do not push it back
      this.#timerCpu = cpu;
    }
  }

  /**
   * Whether a pfn is queued (unmapped, waiting for a flush).
   *
   * @param pfn The pfn.
   * @returns True when queued.
   */
  isQueued(pfn: number): boolean {
    for (const r of this.#rings.values()) for (const e of r) if (e.pfn === pfn) return true;
    return false;
  }

  /**
   * A flush the trace shows happened before `nowNs`: the kernel handed out `pfn` while the
   * model still has it queued, so a flush ran after `pfn` was queued. Frees every entry queued
   * up to and including `pfn` (the later ones may still be queued: the pfn handed out is the
   * last one the flush pushed, LIFO), rings in CPU order, into the rcache of `cpu`: the CPU
   * that just took `pfn` from its magazine is where the flush freed to (the timer may have
   * migrated away from the CPU that armed it).
   *
   * @param pfn The queued pfn the kernel handed out.
   * @param nowNs Trace time.
   * @param cpu The CPU the kernel handed `pfn` out on (default: the one that armed the timer).
   * @returns False when `pfn` is not queued.
   */
  flushThrough(pfn: number, nowNs: number, cpu: number = this.#timerCpu): boolean {
    let cut = -1;
    for (const r of this.#rings.values()) for (const e of r) if (e.pfn === pfn) cut = e.seq;
    if (cut < 0) return false;
    this.#flushAll();
    ++this.stats.timerFlushes;
    this.#timerAtNs = -1;
    for (const ring of this.#rings.values()) {
      let n = 0;
      while (n < ring.length && ring[n]!.seq <= cut) {
        const e = ring[n++]!;
        this.#free(e.pfn, e.pages, cpu, nowNs);
        ++this.stats.freed;
      }
      if (n > 0) ring.splice(0, n);
      // What stays was queued after the flush began: it waits for the next one.
      for (const e of ring) e.counter = this.#startCnt;
      if (ring.length > 0 && this.#timerAtNs < 0) this.#timerAtNs = ring[0]!.atNs + this.timeoutNs;
    }
    return true;
  }

  /** IOVAs queued and not yet freed (they count as in use). */
  get pending(): number {
    let n = 0;
    for (const r of this.#rings.values()) n += r.length;
    return n;
  }
}
