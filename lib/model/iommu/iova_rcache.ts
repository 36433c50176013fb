/**
 * The per-CPU IOVA caches of drivers/iommu/iova.c (kernel-spec §4.4) and the fast paths that
 * use them: `alloc_iova_fast()` and `free_iova_fast()`. Six size classes (1..32 pfns); per CPU a
 * loaded and a previous magazine; a depot of full magazines. Two layouts: "6.7+" (127-entry
 * magazines, list depot, trimmed 100 ms after a push while it holds more magazines than CPUs)
 * and "pre-6.7" (128 entries, an array depot of at most 32 magazines, no trim).
 *
 * Time is the trace's: operations take `nowNs`, and depot trims that fell due run first.
 * The CPU of each call is the trace's `[cpu]`.
 *
 * @module
 */

import type { IovaDomain } from "./iova_domain.ts";
import { fls, roundupPowOfTwo } from "./iova_domain.ts";

/** `IOVA_RANGE_CACHE_MAX_SIZE`: classes for 1, 2, 4, 8, 16, 32 pfns. */
export const IOVA_RANGE_CACHE_MAX_SIZE = 6;
/** `MAX_GLOBAL_MAGS` of the pre-6.7 array depot. */
export const MAX_GLOBAL_MAGS = 32;
/** `IOVA_DEPOT_DELAY`: 100 ms. */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;

/** Which rcache layout. */
export type RcacheVersion = "6.7+" | "pre-6.7";

/** A magazine: a fixed pool of pfns, a typed array plus a count (STYLE 30). */
interface Magazine {
  pfns: Float64Array;
  n: number;
}

interface CpuRcache {
  loaded: Magazine;
  prev: Magazine;
}

interface Rcache {
  cpus: Map<number, CpuRcache>;
  /** Full magazines; the last is the top (both layouts pop the most recent push). */
  depot: Magazine[];
  /** When the pending depot trim runs (ns), or -1 when none is scheduled. */
  trimAtNs: number;
}

/** Where the last `allocIovaFast` found its pfn. */
export type IovaSource = "rcache" | "tree" | "tree_after_flush" | "none";

/** What {@linkcode IovaRcaches.snapshot} returns. */
export interface RcacheSnapshot {
  /** Per CPU: the loaded and the previous magazine, oldest entry first. */
  readonly cpus: ReadonlyMap<number, { readonly loaded: number[]; readonly prev: number[] }>;
  /** Full magazines in the depot, oldest first. */
  readonly depot: readonly number[][];
}

/** Counters of the fast paths (they feed the cost model). */
export interface RcacheStats {
  /** `allocIovaFast` answered from a magazine. */
  hits: number;
  /** `allocIovaFast` that went to the tree. */
  misses: number;
  /** Frees kept in a magazine. */
  cachedFrees: number;
  /** Frees that went to the tree (size class too large). */
  treeFrees: number;
  /** Magazines pushed to a depot. */
  depotPushes: number;
  /** Magazines popped from a depot (by a CPU or a trim). */
  depotPops: number;
  /** pfns freed to the tree by depot trims and by pre-6.7 overflows. */
  trimmedPfns: number;
  /** Flush-and-retry rounds after a failed tree allocation. */
  flushes: number;
}

/** `order_base_2()`: the size class of a size in pfns. */
export function iovaSizeClass(sizePfn: number): number {
  return sizePfn <= 1 ? 0 : fls(sizePfn - 1);
}

/** Options of {@linkcode IovaRcaches}. */
export interface IovaRcachesOptions {
  /**
   * The rcache layout of the kernel build.
   * @default {"6.7+"}
   */
  version?: RcacheVersion;
  /**
   * `num_online_cpus()` for the depot trim.
   * @default {1}
   */
  onlineCpus?: number;
}

/**
 * The rcaches of one IOVA domain and the fast alloc/free paths.
 *
 * @example A free is handed back LIFO on the same CPU, not on another (kernel-spec §11 tests 4–5)
 * ```ts
 * import assert from "node:assert/strict";
 * import { IovaDomain, IovaRcaches } from "./mod.ts";
 * const d = new IovaDomain(4096);
 * const rc = new IovaRcaches(d, { onlineCpus: 2 });
 * const lim = 0xfffff;
 * const a = rc.allocIovaFast(1, lim, true, 0, 0);
 * rc.allocIovaFast(1, lim, true, 0, 0);
 * rc.freeIovaFast(a, 1, 0, 0);
 * assert.equal(rc.allocIovaFast(1, lim, true, 1, 0), 0xffffd); // CPU 1 does not see CPU 0's cache
 * assert.equal(rc.allocIovaFast(1, lim, true, 0, 0), a);        // CPU 0 gets it back
 * assert.equal(rc.lastSource, "rcache");
 * ```
 */
export class IovaRcaches {
  /** The domain whose tree backs the caches. */
  readonly domain: IovaDomain;
  /** Layout. */
  readonly version: RcacheVersion;
  /** `IOVA_MAG_SIZE`. */
  readonly magSize: number;
  /** CPUs online (depot trims keep this many magazines). */
  onlineCpus: number;
  /** Counters. */
  readonly stats: RcacheStats = {
    hits: 0,
    misses: 0,
    cachedFrees: 0,
    treeFrees: 0,
    depotPushes: 0,
    depotPops: 0,
    trimmedPfns: 0,
    flushes: 0,
  };
  /** Where the last `allocIovaFast` got its pfn. */
  lastSource: IovaSource = "none";
  readonly #rcaches: Rcache[] = [];

  /**
   * Empty caches for a domain.
   *
   * @param domain The IOVA domain.
   * @param options Layout and online CPUs.
   */
  constructor(domain: IovaDomain, options: IovaRcachesOptions = {}) {
    this.domain = domain;
    this.version = options.version ?? "6.7+";
    this.magSize = this.version === "6.7+" ? 127 : 128;
    this.onlineCpus = options.onlineCpus ?? 1;
    for (let i = 0; i < IOVA_RANGE_CACHE_MAX_SIZE; ++i) {
      this.#rcaches.push({ cpus: new Map(), depot: [], trimAtNs: -1 });
    }
  }

  #mag(): Magazine {
    return { pfns: new Float64Array(this.magSize), n: 0 };
  }

  #cpu(rc: Rcache, cpu: number): CpuRcache {
    let c = rc.cpus.get(cpu);
    if (c === undefined) {
      c = { loaded: this.#mag(), prev: this.#mag() };
      rc.cpus.set(cpu, c);
    }
    return c;
  }

  /** `iova_magazine_free_pfns()`: every pfn back to the tree. */
  #freePfns(m: Magazine): void {
    for (let i = 0; i < m.n; ++i) {
      const node = this.domain.findIova(m.pfns[i]!);
      if (node !== 0) this.domain.removeIova(node); // the kernel WARNs on a missing one
    }
    m.n = 0;
  }

  /**
   * Run the depot trims due by `nowNs` (`iova_depot_work_func`, 6.7+): while a depot holds more
   * magazines than CPUs online, one magazine goes back to the tree every 100 ms.
   *
   * @param nowNs Trace time.
   */
  advanceTo(nowNs: number): void {
    if (this.version !== "6.7+") return;
    for (const rc of this.#rcaches) {
      while (rc.trimAtNs >= 0 && rc.trimAtNs <= nowNs) {
        const at = rc.trimAtNs;
        rc.trimAtNs = -1;
        if (rc.depot.length > this.onlineCpus) {
          const m = rc.depot.pop()!;
          ++this.stats.depotPops;
          this.stats.trimmedPfns += m.n;
          this.#freePfns(m);
          rc.trimAtNs = at + IOVA_DEPOT_DELAY_NS; // reschedule
        }
      }
    }
  }

  /** `__iova_rcache_insert()`. */
  #insert(rc: Rcache, pfn: number, cpu: number, nowNs: number): boolean {
    const cr = this.#cpu(rc, cpu);
    if (cr.loaded.n < this.magSize) {
      cr.loaded.pfns[cr.loaded.n++] = pfn;
      return true;
    }
    if (cr.prev.n < this.magSize) {
      const t = cr.loaded;
      cr.loaded = cr.prev;
      cr.prev = t;
      cr.loaded.pfns[cr.loaded.n++] = pfn;
      return true;
    }
    if (this.version === "6.7+") {
      rc.depot.push(cr.loaded);
      ++this.stats.depotPushes;
      if (rc.trimAtNs < 0) rc.trimAtNs = nowNs + IOVA_DEPOT_DELAY_NS; // already pending: unchanged
    } else if (rc.depot.length < MAX_GLOBAL_MAGS) {
      rc.depot.push(cr.loaded);
      ++this.stats.depotPushes;
    } else {
      this.stats.trimmedPfns += cr.loaded.n;
      this.#freePfns(cr.loaded);
    }
    cr.loaded = this.#mag();
    cr.loaded.pfns[cr.loaded.n++] = pfn;
    return true;
  }

  /** `__iova_rcache_get()` with `iova_magazine_pop()`: accept pfn <= limPfn. */
  #get(rc: Rcache, limPfn: number, cpu: number): number {
    const cr = this.#cpu(rc, cpu);
    let m: Magazine;
    if (cr.loaded.n > 0) m = cr.loaded;
    else if (cr.prev.n > 0) {
      const t = cr.loaded;
      cr.loaded = cr.prev;
      cr.prev = t;
      m = cr.loaded;
    } else if (rc.depot.length > 0) {
      cr.loaded = rc.depot.pop()!; // the empty loaded magazine is freed
      ++this.stats.depotPops;
      m = cr.loaded;
    } else return 0;
    let i = m.n - 1;
    while (i >= 0 && m.pfns[i]! > limPfn) --i;
    if (i < 0) return 0;
    const pfn = m.pfns[i]!;
    m.pfns[i] = m.pfns[--m.n]!; // swap-remove
    return pfn;
  }

  /**
   * `free_cpu_cached_iovas(cpu, iovad)`: empty one CPU's loaded and previous magazines of every
   * class into the tree.
   *
   * @param cpu The CPU.
   */
  freeCpuCachedIovas(cpu: number): void {
    for (const rc of this.#rcaches) {
      const cr = rc.cpus.get(cpu);
      if (cr === undefined) continue;
      this.#freePfns(cr.loaded);
      this.#freePfns(cr.prev);
    }
  }

  /** `free_global_cached_iovas(iovad)`: empty every depot into the tree. */
  freeGlobalCachedIovas(): void {
    for (const rc of this.#rcaches) {
      while (rc.depot.length > 0) {
        ++this.stats.depotPops;
        this.#freePfns(rc.depot.pop()!);
      }
    }
  }

  /**
   * `alloc_iova_fast(iovad, size, limit_pfn, flush_rcache)` on CPU `cpu`.
   *
   * @param sizePfn Pages (below 32 rounded up to a power of two).
   * @param limitPfn Highest pfn the range may end at.
   * @param flush On a tree failure, empty every cache into the tree and retry once.
   * @param cpu The calling CPU.
   * @param nowNs Trace time (runs due depot trims first).
   * @returns The pfn, or 0 on failure.
   */
  allocIovaFast(
    sizePfn: number,
    limitPfn: number,
    flush: boolean,
    cpu: number,
    nowNs: number,
  ): number {
    this.advanceTo(nowNs);
    const size = sizePfn < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)
      ? roundupPowOfTwo(sizePfn)
      : sizePfn;
    const cls = iovaSizeClass(size);
    if (cls < IOVA_RANGE_CACHE_MAX_SIZE) {
      const pfn = this.#get(this.#rcaches[cls]!, limitPfn + 1 - size, cpu);
      if (pfn !== 0) {
        ++this.stats.hits;
        this.lastSource = "rcache";
        return pfn;
      }
    }
    ++this.stats.misses;
    let pfn = this.domain.allocIova(size, limitPfn, true);
    if (pfn >= 0) {
      this.lastSource = "tree";
      return pfn;
    }
    if (!flush) {
      this.lastSource = "none";
      return 0;
    }
    ++this.stats.flushes;
    for (const c of this.#cpusSeen()) this.freeCpuCachedIovas(c);
    this.freeGlobalCachedIovas();
    pfn = this.domain.allocIova(size, limitPfn, true);
    this.lastSource = pfn >= 0 ? "tree_after_flush" : "none";
    return pfn >= 0 ? pfn : 0;
  }

  /**
   * What `allocIovaFast` would return on `cpu`, without changing anything; -1 when it would
   * need the flush-and-retry (the outcome then depends on the flush).
   *
   * @param sizePfn Pages.
   * @param limitPfn Highest pfn.
   * @param cpu The CPU.
   * @returns The pfn, 0 when it would fail without a flush, or -1.
   */
  peekAllocIovaFast(sizePfn: number, limitPfn: number, cpu: number): number {
    const size = sizePfn < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)
      ? roundupPowOfTwo(sizePfn)
      : sizePfn;
    const cls = iovaSizeClass(size);
    if (cls < IOVA_RANGE_CACHE_MAX_SIZE) {
      const rc = this.#rcaches[cls]!;
      const cr = rc.cpus.get(cpu);
      const m = cr !== undefined && cr.loaded.n > 0
        ? cr.loaded
        : cr !== undefined && cr.prev.n > 0
        ? cr.prev
        : rc.depot.length > 0
        ? rc.depot[rc.depot.length - 1]!
        : undefined;
      if (m !== undefined) {
        const lim = limitPfn + 1 - size;
        for (let i = m.n - 1; i >= 0; --i) if (m.pfns[i]! <= lim) return m.pfns[i]!;
      }
    }
    const pfn = this.domain.peekAllocIova(size, limitPfn, true);
    return pfn >= 0 ? pfn : -1;
  }

  /**
   * Make the model hold `pfn` as allocated the way the kernel did when a replay's prediction
   * differs: taken out of a magazine when one holds it (the given CPU's first), else claimed
   * from the tree.
   *
   * @param pfn The pfn the kernel returned.
   * @param sizePfn The request's pages.
   * @param cpu The CPU it ran on.
   * @returns Where it came from, or "conflict" when the tree holds an overlapping range.
   */
  claimPfn(pfn: number, sizePfn: number, cpu: number): "rcache" | "tree" | "conflict" {
    const size = sizePfn < 2 ** (IOVA_RANGE_CACHE_MAX_SIZE - 1)
      ? roundupPowOfTwo(sizePfn)
      : sizePfn;
    const cls = iovaSizeClass(size);
    const rc = this.#rcaches[cls];
    if (rc !== undefined) {
      const take = (m: Magazine) => {
        for (let i = 0; i < m.n; ++i) {
          if (m.pfns[i] === pfn) {
            m.pfns[i] = m.pfns[--m.n]!;
            return true;
          }
        }
        return false;
      };
      const mine = rc.cpus.get(cpu);
      if (mine !== undefined && (take(mine.loaded) || take(mine.prev))) return "rcache";
      for (const cr of rc.cpus.values()) if (take(cr.loaded) || take(cr.prev)) return "rcache";
      for (const m of rc.depot) if (take(m)) return "rcache";
    }
    return this.domain.claimRange(pfn, pfn + size - 1) ? "tree" : "conflict";
  }

  /** CPUs with caches (for_each_online_cpu: CPUs never seen hold nothing). */
  #cpusSeen(): number[] {
    const s = new Set<number>();
    for (const rc of this.#rcaches) for (const c of rc.cpus.keys()) s.add(c);
    return [...s].sort((a, b) => a - b);
  }

  /**
   * `free_iova_fast(iovad, pfn, size)` on CPU `cpu`: into the CPU's magazine of the size's
   * class, or to the tree for sizes above 32 pfns.
   *
   * @param pfn The range's first pfn.
   * @param sizePfn The caller's size (unrounded: its class is the same).
   * @param cpu The calling CPU.
   * @param nowNs Trace time.
   * @returns False when the pfn was in no range (a free of something never allocated).
   */
  freeIovaFast(pfn: number, sizePfn: number, cpu: number, nowNs: number): boolean {
    this.advanceTo(nowNs);
    const cls = iovaSizeClass(sizePfn);
    if (cls < IOVA_RANGE_CACHE_MAX_SIZE) {
      ++this.stats.cachedFrees;
      return this.#insert(this.#rcaches[cls]!, pfn, cpu, nowNs);
    }
    ++this.stats.treeFrees;
    return this.domain.freeIova(pfn);
  }

  /**
   * pfns sitting in caches of a class (still allocated in the tree): per CPU loaded and
   * previous, then the depot.
   *
   * @param cls Size class 0..5.
   * @returns Counts for inspection and tests.
   */
  cached(
    cls: number,
  ): {
    perCpu: Map<number, { loaded: number; prev: number }>;
    depotMagazines: number;
    depotPfns: number;
  } {
    const rc = this.#rcaches[cls]!;
    const perCpu = new Map<number, { loaded: number; prev: number }>();
    for (const [cpu, cr] of rc.cpus) perCpu.set(cpu, { loaded: cr.loaded.n, prev: cr.prev.n });
    let depotPfns = 0;
    for (const m of rc.depot) depotPfns += m.n;
    return { perCpu, depotMagazines: rc.depot.length, depotPfns };
  }

  /**
   * The magazines of one size class, oldest entry first (the next allocation takes the last
   * entry of a CPU's `loaded`): what the per-CPU caches hold now, for analysis and notebooks.
   *
   * @param cls The size class (order of the pages).
   * @returns Per-CPU loaded and previous magazines, and the depot.
   */
  snapshot(cls: number): RcacheSnapshot {
    const rc = this.#rcaches[cls];
    const list = (m: Magazine) => Array.from(m.pfns.subarray(0, m.n));
    if (rc === undefined) return { cpus: new Map(), depot: [] };
    const cpus = new Map<number, { loaded: number[]; prev: number[] }>();
    for (const [cpu, cr] of [...rc.cpus.entries()].sort((a, b) => a[0] - b[0])) {
      cpus.set(cpu, { loaded: list(cr.loaded), prev: list(cr.prev) });
    }
    return { cpus, depot: rc.depot.map(list) };
  }

  /**
   * Whether a pfn sits in any magazine of a class.
   *
   * @param pfn The pfn.
   * @param cls Its size class.
   * @returns True when cached.
   */
  isCached(pfn: number, cls: number): boolean {
    const rc = this.#rcaches[cls];
    if (rc === undefined) return false;
    const has = (m: Magazine) => {
      for (let i = 0; i < m.n; ++i) if (m.pfns[i] === pfn) return true;
      return false;
    };
    for (const cr of rc.cpus.values()) if (has(cr.loaded) || has(cr.prev)) return true;
    return rc.depot.some(has);
  }
}
