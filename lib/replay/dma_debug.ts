/**
 * The checks of the kernel's dma-debug (kernel/dma/debug.c: `check_unmap`, `check_sync`,
 * `check_sg_segment`, the leak report) applied to a trace's dma:* events instead of a live
 * system, with dma-debug's meaning for each code (DESIGN.md "Anomalies"). A trace starts in the
 * middle of a system's life: an unmap of an address the trace never saw mapped is a mapping
 * made before tracing began, not an anomaly, unless the trace saw that address unmapped
 * already (then it is dma-debug's "not mapped": a double unmap).
 *
 * `check_sg_segment` itself is in `_dma_debug_sg.ts`, as debug.c keeps it a function of its own.
 *
 * @module
 */

import { type DMA_DIRECTIONS, type U64, u64Exact, u64Sum } from "../ingest/mod.ts";
import { DMA_MAPPING_ERROR } from "../model/dma/mod.ts";
import { RecentSet } from "./_recent_set.ts";
import { sgSegmentFindings } from "./_dma_debug_sg.ts";
/** The dma-debug anomaly codes a trace can show. */
export type DmaDebugCode =
  | "DMA_UNMAP_NOT_MAPPED"
  | "DMA_UNMAP_SIZE_MISMATCH"
  | "DMA_UNMAP_DIR_MISMATCH"
  | "DMA_UNMAP_TYPE_MISMATCH"
  | "DMA_UNMAP_SG_NENTS_MISMATCH"
  | "DMA_FREE_CPU_ADDR_MISMATCH"
  | "DMA_SYNC_NOT_MAPPED"
  | "DMA_SYNC_OUT_OF_RANGE"
  | "DMA_SYNC_DIR_MISMATCH"
  | "DMA_SYNC_TO_DEVICE_FOR_CPU"
  | "DMA_SYNC_FROM_DEVICE_FOR_DEVICE"
  | "DMA_SG_SEGMENT_TOO_LONG"
  | "DMA_SG_SEGMENT_CROSSES_BOUNDARY"
  | "DMA_LEAK_AT_END";

/** Unmapped addresses remembered per device (the most recent ones). */
export const DMA_DEBUG_GONE_MAX = 65536;

/** The hex of an address, for messages (built only when one is raised). */
const hexOf = (addr: U64): string => `0x${addr.toString(16)}`;

/** The segments of a mapping that is not sg (its own address and size stand for them). */
const NO_SEGS: readonly U64[] = Object.freeze([]);

/** What a map or unmap call may add: sg entries and segments, a coherent CPU address. */
export interface DmaDebugExtra {
  /** sg: the CPU entries mapped (`nents`). */
  readonly nents?: number;
  /** coherent: the CPU address. */
  readonly cpuAddr?: U64;
  /** sg map: the DMA segments, flat: address, length, address, length, ... */
  readonly segs?: readonly U64[];
}

/** Whether `v` is in its one {@linkcode U64} form. */
const isExact = (v: U64): boolean => u64Exact(v) === v;

/** No sg entries, no CPU address: one shared object, not one per call. */
const NO_EXTRA: DmaDebugExtra = Object.freeze({});

/** One dma-debug anomaly. */
export interface DmaDebugAnomaly {
  /** The code. */
  readonly code: DmaDebugCode;
  /** 1-based line of the event that shows it (the last event's line for leaks). */
  readonly line: number;
  /** The map it concerns (line), when there is one. */
  readonly related: readonly number[];
  /** The device. */
  readonly device: string;
  /** One line of explanation. */
  readonly message: string;
}

/** The function family of a mapping (`dma_debug_entry.type`). */
export type DmaDebugType = "single" | "sg" | "coherent";

/** DMA direction names as the tracepoints print them. */
export type DmaDir = (typeof DMA_DIRECTIONS)[number];

// Addresses and sizes are U64: numbers below 2^53, no bigint per event (dma-debug allocated
// more than any other part of a replay).
interface Entry {
  type: DmaDebugType;
  addr: U64;
  size: U64;
  dir: DmaDir;
  line: number;
  /** sg: CPU entries mapped; coherent: the CPU address. */
  nents: number;
  cpuAddr: U64;
  /** sg: the DMA segments, flat (address, length, ...), for sync checks. */
  segs: readonly U64[];
}

/** The DMA limits dma-debug checks sg segments against. */
export interface DmaDebugLimits {
  /** `dma_get_max_seg_size()`. */
  readonly maxSegmentSize: number;
  /** `dma_get_seg_boundary()`. */
  readonly segmentBoundary: bigint;
}

/**
 * dma-debug over a trace.
 *
 * @example A size mismatch and a leak
 * ```ts
 * import assert from "node:assert/strict";
 * import { DmaDebug } from "./mod.ts";
 * const d = new DmaDebug();
 * d.map("single", "0000:03:00.0", 0xfffff000n, 4096n, "TO_DEVICE", 10);
 * d.unmap("single", "0000:03:00.0", 0xfffff000n, 2048n, "TO_DEVICE", 11);
 * d.map("single", "0000:03:00.0", 0xffffe000n, 4096n, "TO_DEVICE", 12);
 * d.end(13);
 * assert.deepEqual(d.anomalies.map((a) => [a.code, a.line, a.related]), [
 *   ["DMA_UNMAP_SIZE_MISMATCH", 11, [10]],
 *   ["DMA_LEAK_AT_END", 13, [12]],
 * ]);
 * ```
 */
export class DmaDebug {
  /** Anomalies in trace order. */
  readonly anomalies: DmaDebugAnomaly[] = [];
  /** Unmaps of mappings made before the trace began (not anomalies). */
  preTraceUnmaps = 0;
  /**
   * Live mappings per device, by DMA address (sg: by first CPU address); several at one
   * address happen without an IOMMU (the same page mapped twice), as in dma-debug's buckets.
   */
  readonly #live = new Map<string, Map<U64, Entry[]>>();
  /**
   * Addresses the trace saw unmapped, per device (a second unmap of them is "not mapped"): the
   * latest {@linkcode DMA_DEBUG_GONE_MAX}, so that memory stays flat however long the trace (an
   * older address unmapped again counts as a mapping from before the trace).
   */
  readonly #gone = new Map<string, RecentSet>();
  readonly #limits: (device: string) => DmaDebugLimits | null;
  #lastLine = 0;

  /**
   * dma-debug with the devices' DMA limits (for the sg segment checks; null skips them).
   *
   * @param limits The limits of a device, or null when unknown.
   */
  constructor(limits: (device: string) => DmaDebugLimits | null = () => null) {
    this.#limits = limits;
  }

  /** Live mappings now, all devices. */
  get live(): number {
    let n = 0;
    for (const m of this.#live.values()) for (const l of m.values()) n += l.length;
    return n;
  }

  #raise(code: DmaDebugCode, line: number, device: string, message: string, related: number[]) {
    this.anomalies.push({ code, line, related, device, message });
  }

  /**
   * An address the trace saw unmapped already (not a pre-trace mapping): raise `code`.
   *
   * @returns True when it was.
   */
  #goneAlready(device: string, addr: U64, line: number, code: DmaDebugCode, what: string) {
    if (!this.#gone.get(device)?.has(addr)) return false;
    this.#raise(
      code,
      line,
      device,
      `${device} ${what} at 0x${addr.toString(16)}, unmapped already`,
      [],
    );
    return true;
  }

  #dev(device: string): Map<U64, Entry[]> {
    let m = this.#live.get(device);
    if (m === undefined) {
      m = new Map();
      this.#live.set(device, m);
    }
    return m;
  }

  /**
   * A map: `dma_map_page/phys/resource` (single), `dma_map_sg` (key: the first CPU address),
   * `dma_alloc*` (coherent).
   *
   * @param type The family.
   * @param device The device.
   * @param addr DMA address (sg: first CPU address, as the unmap event prints only those).
   * @param size Bytes.
   * @param dir Direction.
   * @param line Trace line.
   * @param extra sg: entry count and DMA segments; coherent: the CPU address.
   */
  map(
    type: DmaDebugType,
    device: string,
    addr: U64,
    size: U64,
    dir: DmaDir,
    line: number,
    extra: DmaDebugExtra = NO_EXTRA,
  ): void {
    // Each value in its one form (a bigint below 2^53 becomes a number).
    addr = u64Exact(addr);
    size = u64Exact(size);
    const given = extra.segs;
    const segs = given === undefined ? NO_SEGS : given.every(isExact) ? given : given.map(u64Exact);
    this.seen(line);
    // debug_dma_map_phys: a failed map (DMA_MAPPING_ERROR) is no mapping.
    if (type !== "sg" && addr === DMA_MAPPING_ERROR) return;
    // A single or coherent mapping is its own one segment (addr, size): no array per map.
    const at = this.#dev(device);
    const entry: Entry = {
      type,
      addr,
      size,
      dir,
      line,
      nents: extra.nents ?? 1,
      cpuAddr: extra.cpuAddr === undefined ? 0 : u64Exact(extra.cpuAddr),
      segs,
    };
    const list = at.get(addr);
    if (list === undefined) at.set(addr, [entry]);
    else list.push(entry);
    this.#gone.get(device)?.delete(addr);
    const lim = type === "sg" ? this.#limits(device) : null;
    if (lim === null) return;
    // check_sg_segment
    const found = sgSegmentFindings(segs, lim);
    if (found !== null) { for (const f of found) this.#raise(f.code, line, device, f.message, []); }
  }

  /**
   * An unmap or free (`check_unmap`).
   *
   * @param type The family of the call.
   * @param device The device.
   * @param addr DMA address (sg: first CPU address).
   * @param size Bytes (sg: ignored).
   * @param dir Direction.
   * @param line Trace line.
   * @param extra sg: entry count; coherent: the CPU address.
   */
  unmap(
    type: DmaDebugType,
    device: string,
    addr: U64,
    size: U64,
    dir: DmaDir,
    line: number,
    extra: DmaDebugExtra = NO_EXTRA,
  ): void {
    addr = u64Exact(addr);
    size = u64Exact(size);
    this.seen(line);
    const live = this.#dev(device);
    const list = live.get(addr);
    // dma-debug's bucket search: the entry that matches best (family, size, direction), else the
    // first (a loop, not find(): no closure per unmap).
    let at = -1;
    if (list !== undefined) {
      for (let k = 0; k < list.length; ++k) {
        const x = list[k]!;
        if (x.type === type && (type === "sg" || x.size === size) && x.dir === dir) {
          at = k;
          break;
        }
      }
      if (at < 0 && list.length > 0) at = 0;
    }
    const e = at < 0 ? undefined : list![at]!;
    if (e === undefined) {
      const gone = this.#goneAlready(
        device,
        addr,
        line,
        "DMA_UNMAP_NOT_MAPPED",
        "frees DMA memory",
      );
      if (!gone) ++this.preTraceUnmaps;
      return;
    }
    // Out of the list, the others kept in order (no array of removed entries, as splice makes).
    for (let k = at; k + 1 < list!.length; ++k) list![k] = list![k + 1]!;
    list!.pop();
    if (list!.length > 0) return this.#check(e, type, device, addr, size, dir, line, extra);
    live.delete(addr);
    let gone = this.#gone.get(device);
    if (gone === undefined) this.#gone.set(device, gone = new RecentSet(DMA_DEBUG_GONE_MAX));
    gone.add(addr);
    // An sg list's DMA segments are gone too (a later sync of one is "not mapped").
    if (e.type === "sg") { for (let k = 0; k < e.segs.length; k += 2) gone.add(e.segs[k]!); }
    this.#check(e, type, device, addr, size, dir, line, extra);
  }

  #check(
    e: Entry,
    type: DmaDebugType,
    device: string,
    addr: U64,
    size: U64,
    dir: DmaDir,
    line: number,
    extra: DmaDebugExtra,
  ): void {
    const rel = [e.line];
    if (e.type !== type) {
      this.#raise(
        "DMA_UNMAP_TYPE_MISMATCH",
        line,
        device,
        `${device} frees DMA memory at ${
          hexOf(addr)
        } with the wrong function: mapped as ${e.type}, unmapped as ${type}`,
        rel,
      );
      return;
    }
    if (type !== "sg" && e.size !== size) {
      this.#raise(
        "DMA_UNMAP_SIZE_MISMATCH",
        line,
        device,
        `${device} frees DMA memory at ${
          hexOf(addr)
        } with a different size: mapped ${e.size}, unmapped ${size}`,
        rel,
      );
    }
    if (type !== "coherent" && e.dir !== dir) {
      this.#raise(
        "DMA_UNMAP_DIR_MISMATCH",
        line,
        device,
        `${device} frees DMA memory at ${
          hexOf(addr)
        } with a different direction: mapped ${e.dir}, unmapped ${dir}`,
        rel,
      );
    }
    if (type === "sg" && extra.nents !== undefined && extra.nents !== e.nents) {
      this.#raise(
        "DMA_UNMAP_SG_NENTS_MISMATCH",
        line,
        device,
        `${device} unmaps an sg list at ${
          hexOf(addr)
        } with ${extra.nents} entries, mapped with ${e.nents}`,
        rel,
      );
    }
    const cpuAddr = extra.cpuAddr === undefined ? undefined : u64Exact(extra.cpuAddr);
    if (type === "coherent" && cpuAddr !== undefined && cpuAddr !== e.cpuAddr) {
      this.#raise(
        "DMA_FREE_CPU_ADDR_MISMATCH",
        line,
        device,
        `${device} frees coherent memory at ${hexOf(addr)} with CPU address 0x${
          cpuAddr.toString(16)
        }, allocated as 0x${e.cpuAddr.toString(16)}`,
        rel,
      );
    }
  }

  /**
   * `dma_sync_single_*` / `dma_sync_sg_*` (`check_sync`).
   *
   * @param device The device.
   * @param addr DMA address synced.
   * @param size Bytes.
   * @param dir Direction of the sync.
   * @param toCpu `for_cpu` (true) or `for_device`.
   * @param line Trace line.
   */
  sync(
    device: string,
    addr: U64,
    size: U64,
    dir: DmaDir,
    toCpu: boolean,
    line: number,
  ): void {
    addr = u64Exact(addr);
    size = u64Exact(size);
    this.seen(line);
    const live = this.#live.get(device);
    let e: Entry | undefined;
    let inside = false;
    search: for (const l of live?.values() ?? []) {
      for (const cand of l) {
        if (cand.type !== "sg") {
          const end = u64Sum(cand.addr, cand.size);
          if (addr >= cand.addr && addr < end) {
            e = cand;
            inside = u64Sum(addr, size) <= end;
            break search;
          }
          continue;
        }
        const segs = cand.segs;
        for (let k = 0; k + 1 < segs.length; k += 2) {
          const a = segs[k]!;
          const end = u64Sum(a, segs[k + 1]!);
          if (addr >= a && addr < end) {
            e = cand;
            inside = u64Sum(addr, size) <= end;
            break search;
          }
        }
      }
    }
    if (e === undefined) {
      this.#goneAlready(device, addr, line, "DMA_SYNC_NOT_MAPPED", "syncs");
      return;
    }
    const rel = [e.line];
    if (!inside) {
      this.#raise(
        "DMA_SYNC_OUT_OF_RANGE",
        line,
        device,
        `${device} syncs ${size} bytes at ${hexOf(addr)}, past the end of the mapping`,
        rel,
      );
    }
    if (e.dir !== "BIDIRECTIONAL" && dir !== e.dir) {
      this.#raise(
        "DMA_SYNC_DIR_MISMATCH",
        line,
        device,
        `${device} syncs ${hexOf(addr)} as ${dir}, mapped ${e.dir}`,
        rel,
      );
    }
    if (toCpu && e.dir === "TO_DEVICE") {
      this.#raise(
        "DMA_SYNC_TO_DEVICE_FOR_CPU",
        line,
        device,
        `${device} syncs device read-only memory at ${hexOf(addr)} for the CPU`,
        rel,
      );
    }
    if (!toCpu && e.dir === "FROM_DEVICE") {
      this.#raise(
        "DMA_SYNC_FROM_DEVICE_FOR_DEVICE",
        line,
        device,
        `${device} syncs device write-only memory at ${hexOf(addr)} for the device`,
        rel,
      );
    }
  }

  /**
   * End of trace: each mapping still live is a leak (`DMA_LEAK_AT_END`).
   *
   * @param line The last line of the trace.
   */
  end(line: number = this.#lastLine): void {
    for (const [device, m] of this.#live) {
      for (const e of [...m.values()].flat()) {
        this.#raise(
          "DMA_LEAK_AT_END",
          line,
          device,
          `${device}: ${e.type} mapping of ${e.size} bytes at 0x${
            e.addr.toString(16)
          } still live at the end`,
          [e.line],
        );
      }
    }
  }

  /**
   * The trace got this far (leaks are reported at the trace's last line).
   *
   * @param line A 1-based line.
   */
  seen(line: number): void {
    if (line > this.#lastLine) this.#lastLine = line;
  }
}
