/**
 * Drives the dma-buf core from a trace: kprobes on the dma-buf functions (any kernel, bound by
 * the probe map) and the `dma_buf:*` tracepoints of 7.x kernels. It turns kernel pointers and
 * inode numbers into buffer and attachment ids and folds the nested calls the kernel makes
 * (`dma_buf_attach` calls `dma_buf_dynamic_attach`; the `_unlocked` map and unmap call the
 * locked ones) into one operation each, so a correct lifecycle gives no anomaly.
 *
 * What a trace cannot say is inferred, and documented here: an attachment whose pointer the
 * trace never printed at attach time (no kretprobe on attach) is bound to the first map or
 * detach of an unknown pointer by the same task on that buffer; `dma_buf_release(dentry)` names
 * no buffer, so it releases the buffer of that task with no live attachment (oldest first); a
 * map's outcome is its kretprobe's (`ERR_PTR` values are errors) when there is one; on a
 * revocable exporter (vfio) each `dma_buf_move_notify` flips the buffer between revoked and
 * live, as `vfio_pci_dma_buf_move` only notifies when the state changes, unless the trace
 * probes `vfio_pci_dma_buf_move`/`_cleanup` themselves: then those revoke (or restore) the
 * buffers exported from inside that device's `vfio_pci_core_feature_dma_buf`.
 *
 * @module
 */

import {
  ARG_KIND,
  DEFAULT_PROBE_MAP,
  EVENT_KIND,
  type EventBatch,
  printedArgName,
  type ProbeMap,
  u64At,
} from "../../ingest/mod.ts";
import { DmaBufCore } from "./dma_buf.ts";
import { PfnMappings } from "./pfn_mappings.ts";
import type { DmaBufBarSource, ImporterKind } from "./dma_buf_types.ts";
import { defaultExporter, type ExporterFactory, VfioTrace } from "./vfio_pci_tracker.ts";

/** Options of {@linkcode DmaBufTracker}. */
export interface DmaBufTrackerOptions {
  /** The probe map the trace was parsed with. @default {DEFAULT_PROBE_MAP} */
  probeMap?: ProbeMap;
  /** Exporters by name. @default {defaultExporter} */
  exporter?: ExporterFactory;
}

const ERR_PTR_MIN = (1n << 64n) - 4095n;

/** Counters of what the tracker saw. */
export interface DmaBufTrackerStats {
  /** Buffers exported. */
  exports: number;
  /** Attachments made. */
  attaches: number;
  /** Maps (successful). */
  maps: number;
  /** Unmaps. */
  unmaps: number;
  /** Detaches. */
  detaches: number;
  /** Releases. */
  releases: number;
  /** `get_pfn` calls that succeeded (PFN importers, seed 004). */
  pfns: number;
  /** Zaps of a PFN importer's mappings (its traced IOMMU mappings all unmapped). */
  zaps: number;
  /** Operations on pointers the trace never introduced (skipped). */
  unknown: number;
}

/**
 * Feeds parsed batches to a {@linkcode DmaBufCore}.
 *
 * @example A static attach prints two probes (attach, then the dynamic_attach it calls): one attachment
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace } from "../../ingest/mod.ts";
 * import { DmaBufTracker } from "./mod.ts";
 * const p = (ts: string, what: string) => `  t-5 [000] ..... ${ts}: ${what}`;
 * const text = [
 *   p("1.000001", 'dmabuf_export: (dma_buf_export+0x4/0x2b0) exp_name="system" size=4096'),
 *   p("1.000002", "dmabuf_export_ret: (system_heap_allocate+0x3/0x4 <- dma_buf_export) ret=0xff01"),
 *   p("1.000003", 'dmabuf_attach: (dma_buf_attach+0x4/0x20) dmabuf=0xff01 size=4096 dev="vgem"'),
 *   p("1.000004", 'dmabuf_dynamic_attach: (dma_buf_dynamic_attach+0x4/0x260) dmabuf=0xff01 size=4096 dev="vgem" importer_ops=0x0'),
 *   p("1.000005", "dmabuf_map: (dma_buf_map_attachment+0x4/0xe0) attach=0xaa dir=0"),
 *   p("1.000006", "dmabuf_unmap: (dma_buf_unmap_attachment+0x4/0x90) attach=0xaa sgt=0xbb dir=0"),
 *   p("1.000007", "dmabuf_detach: (dma_buf_detach+0x4/0xd0) dmabuf=0xff01 attach=0xaa"),
 *   p("1.000008", "dmabuf_release: (dma_buf_release+0x4/0x90) dentry=0xdd"),
 * ].join("\n") + "\n";
 * const t = new DmaBufTracker();
 * for await (const b of parseTrace(new Blob([text]).stream())) t.feed(b);
 * t.end();
 * assert.deepEqual([t.stats.attaches, t.stats.maps, t.stats.releases], [1, 1, 1]);
 * assert.deepEqual(t.core.anomalies, []);
 * ```
 */
export class DmaBufTracker {
  /** The core it drives. */
  readonly core: DmaBufCore;
  /** What it saw. */
  readonly stats: DmaBufTrackerStats = {
    exports: 0,
    attaches: 0,
    maps: 0,
    unmaps: 0,
    detaches: 0,
    releases: 0,
    pfns: 0,
    zaps: 0,
    unknown: 0,
  };
  readonly #map: ProbeMap;
  readonly #exporter: ExporterFactory;
  readonly #vfio: VfioTrace;
  /** Kernel `struct dma_buf *` (or `ino:N`) → buffer id. */
  readonly #bufs = new Map<string, number>();
  /** Kernel `struct dma_buf_attachment *` → attachment id. */
  readonly #atts = new Map<bigint, number>();
  /** Attachments not yet bound to a pointer, per pid. */
  readonly #unbound = new Map<number, number[]>();
  /** Export entries waiting for their return, per pid. */
  readonly #exporting = new Map<number, { line: number; name: string; size: bigint }>();
  /** A static attach in progress (its nested dynamic_attach is the same operation), per pid. */
  readonly #staticAttach = new Set<number>();
  /** An `_unlocked` map/unmap in progress, per pid: its nested call is the same operation. */
  readonly #unlocked = new Map<number, string>();
  /** Maps waiting for their kretprobe, per pid. */
  readonly #mapping = new Map<number, { att: number; line: number; ts: number }>();
  /** Buffers by the pid that exported them, in export order (for release). */
  readonly #byPid = new Map<number, number[]>();
  /** The BAR memory a vfio export in progress names (fetch-args of its probe), per pid. */
  readonly #barSource = new Map<number, DmaBufBarSource>();
  /** `get_pfn` entries waiting for their return, per pid. */
  readonly #pfnPending = new Map<
    number,
    { att: number; pgoff: bigint; line: number; ts: number }
  >();
  /** What the PFN importers mapped (their zap is the unmap of it). */
  readonly #pfn = new PfnMappings();
  #lastTs = 0;

  /**
   * A tracker over a fresh core.
   *
   * @param options Probe map, exporters, core.
   * @param core The core to drive.
   */
  constructor(options: DmaBufTrackerOptions = {}, core: DmaBufCore = new DmaBufCore()) {
    this.#map = options.probeMap ?? DEFAULT_PROBE_MAP;
    this.#exporter = options.exporter ?? defaultExporter;
    this.core = core;
    this.#vfio = new VfioTrace(core);
  }

  /**
   * Apply one batch's dma-buf events, in line order.
   *
   * @param b A batch (valid until the parser moves on).
   */
  feed(b: EventBatch): void {
    for (let r = 0; r < b.n; ++r) {
      const ts = b.tsNs[r]!;
      if (Number.isFinite(ts)) this.#lastTs = ts;
      const kind = b.kind[r]!;
      if (kind === EVENT_KIND.PROBE_ENTRY || kind === EVENT_KIND.PROBE_RETURN) {
        this.#probe(b, b.tableRow[r]!, r);
        continue;
      }
      if (kind !== EVENT_KIND.TRACEPOINT) continue;
      const name = b.eventNames.get(b.eventId[r]!);
      if (name.startsWith("dma_buf_")) this.#tracepoint(b, r, name);
      else if (this.#pfn.size > 0 && (name === "map" || name === "unmap")) {
        this.stats.zaps += this.#pfn.iommu(this.core, b, r, name, this.#lastTs);
      }
    }
  }

  /** Finish: flush maps whose return never came, and check revoked mappings. */
  end(): void {
    for (const pid of [...this.#pfnPending.keys()]) this.#flushPfn(pid);
    for (const [pid, m] of this.#mapping) {
      this.#mapping.delete(pid);
      if (this.core.map(m.att, m.line, m.ts).errno === 0) ++this.stats.maps;
    }
    this.core.end(this.#lastTs);
  }

  #args(b: EventBatch, p: number): Map<string, bigint | string> {
    const out = new Map<string, bigint | string>();
    const a = b.args;
    const start = b.probes.argStart[p]!;
    for (let k = start; k < start + b.probes.argLen[p]!; ++k) {
      const key = b.strings.get(a.key[k]!);
      out.set(key, a.kind[k] === ARG_KIND.STR ? b.strings.get(a.str[k]!) : u64At(a.val, k));
    }
    return out;
  }

  #probe(b: EventBatch, p: number, r: number): void {
    const m = b.probes.meaning[p]!;
    if (m < 0) return;
    const fn = this.#map.probes[m]!.meaning;
    // The filter apart from the body: the body's closures make V8 allocate their context on
    // entry, which every other probe (iova_alloc, ...) would pay.
    if (fn.startsWith("dma_buf_") || fn.startsWith("vfio_")) this.#dmaBufProbe(b, p, r, m, fn);
  }

  #dmaBufProbe(b: EventBatch, p: number, r: number, m: number, fn: string): void {
    const binding = this.#map.probes[m]!;
    const isReturn = b.probes.caller[p]! >= 0;
    const args = this.#args(b, p);
    const arg = (name: string) => {
      const v = args.get(printedArgName(binding, name));
      // A return probe with one argument under another name: that is the return value.
      if (v === undefined && name === "retval" && isReturn && args.size === 1) {
        return args.values().next().value;
      }
      return v;
    };
    const num = (name: string) => {
      const v = arg(name);
      return typeof v === "bigint" ? v : -1n;
    };
    const pid = b.pid[r]!;
    const line = b.lineNo1[r]!;
    const ts = this.#lastTs;
    const str = (
      v: bigint | string | undefined,
    ) => (typeof v === "string" ? v.replace(/^"|"$/g, "") : "");
    if (fn === "vfio_pci_core_feature_dma_buf" && !isReturn) {
      const bdf = str(arg("bdf"));
      const bar = num("region_index");
      const len = num("length");
      if (bdf !== "" && bar >= 0n && len > 0n) {
        const ranges = [];
        for (const k of ["", "1", "2", "3"]) {
          const l = num(`length${k}`);
          if (l <= 0n) break;
          const off = num(`offset${k}`);
          ranges.push({ offsetBytes: off < 0n ? 0n : off, lengthBytes: l });
        }
        this.#barSource.set(pid, { device: bdf, barIndex: Number(bar), ranges });
      } else this.#barSource.delete(pid);
    }
    if (fn.startsWith("vfio_")) return this.#vfio.probe(fn, isReturn, pid, num, line, ts);
    switch (fn) {
      case "dma_buf_export":
        if (!isReturn) {
          this.#exporting.set(pid, { line, name: str(arg("exp_name")), size: num("size") });
        } else {
          const e = this.#exporting.get(pid);
          this.#exporting.delete(pid);
          const ptr = num("retval");
          if (e === undefined || ptr < 0n || ptr >= ERR_PTR_MIN) return;
          this.#newBuf(`ptr:${ptr}`, e.name, e.size, e.line, pid);
        }
        return;
      case "dma_buf_attach":
        if (isReturn) return this.#bindReturn(pid, num("retval"));
        this.#staticAttach.add(pid);
        this.#attach(`ptr:${num("dmabuf")}`, str(arg("dev")), "static", pid, line);
        return;
      case "dma_buf_dynamic_attach": {
        if (isReturn) return this.#bindReturn(pid, num("retval"));
        if (this.#staticAttach.delete(pid)) return; // called by dma_buf_attach
        const ops = num("importer_ops");
        this.#attach(
          `ptr:${num("dmabuf")}`,
          str(arg("dev")),
          ops > 0n ? "dynamic" : "static",
          pid,
          line,
        );
        return;
      }
      case "dma_buf_map_attachment_unlocked":
      case "dma_buf_map_attachment": {
        if (isReturn) {
          const pending = this.#mapping.get(pid);
          if (pending === undefined) return; // the outer call's return after the inner one's
          this.#mapping.delete(pid);
          this.#unlocked.delete(pid);
          const sgt = num("retval");
          const errno = sgt >= ERR_PTR_MIN ? `E${(1n << 64n) - sgt}` : 0;
          if (this.core.map(pending.att, pending.line, pending.ts, errno).errno === 0) {
            ++this.stats.maps;
          }
          return;
        }
        if (fn === "dma_buf_map_attachment" && this.#unlocked.get(pid) === "map") return;
        if (fn === "dma_buf_map_attachment_unlocked") this.#unlocked.set(pid, "map");
        const att = this.#attOf(num("attach"), pid);
        if (att < 0) return;
        const prev = this.#mapping.get(pid);
        if (prev !== undefined && this.core.map(prev.att, prev.line, prev.ts).errno === 0) {
          ++this.stats.maps;
        }
        this.#mapping.set(pid, { att, line, ts });
        return;
      }
      case "dma_buf_unmap_attachment_unlocked":
      case "dma_buf_unmap_attachment": {
        if (isReturn) return;
        if (fn === "dma_buf_unmap_attachment" && this.#unlocked.get(pid) === "unmap") {
          this.#unlocked.delete(pid);
          return;
        }
        if (fn === "dma_buf_unmap_attachment_unlocked") this.#unlocked.set(pid, "unmap");
        this.#flushMap(pid);
        const att = this.#attOf(num("attach"), pid);
        if (att < 0) return;
        this.core.unmap(att, line, ts);
        ++this.stats.unmaps;
        return;
      }
      case "dma_buf_detach": {
        if (isReturn) return;
        this.#flushMap(pid);
        const att = this.#attOf(num("attach"), pid);
        if (att < 0) return;
        this.core.detach(att, line, ts);
        this.#pfn.drop(att);
        ++this.stats.detaches;
        return;
      }
      case "dma_buf_get_pfn_unlocked": {
        if (!isReturn) {
          this.#flushPfn(pid);
          this.#pfn.moveOn(pid);
          const att = this.#attOf(num("attach"), pid);
          if (att < 0) return;
          const pgoff = num("pgoff");
          this.#pfnPending.set(pid, { att, pgoff: pgoff < 0n ? 0n : pgoff, line, ts });
          return;
        }
        const ret = arg("retval");
        if (typeof ret !== "bigint") return this.#flushPfn(pid);
        // 0, or -errno printed as an unsigned 64-bit (or 32-bit) value.
        const neg = ret >= 1n << 63n
          ? (1n << 64n) - ret
          : ret >= 1n << 31n
          ? (1n << 32n) - ret
          : 0n;
        return this.#flushPfn(pid, ret === 0n ? 0 : neg > 0n ? `E${neg}` : `E${ret}`);
      }
      case "dma_buf_pin":
      case "dma_buf_unpin": {
        if (isReturn) return;
        const att = this.#attOf(num("attach"), pid);
        if (att < 0) return;
        if (fn === "dma_buf_pin") this.core.pin(att, line);
        else this.core.unpin(att, line);
        return;
      }
      case "dma_buf_move_notify": {
        if (isReturn) return;
        const buf = this.#bufs.get(`ptr:${num("dmabuf")}`);
        if (buf === undefined) return void ++this.stats.unknown;
        const b = this.core.buffer(buf)!;
        // With vfio's own move/cleanup probed, that probe already revoked and notified.
        if (b.exporter.revocable && this.#vfio.moveSeen) {
          return this.#pfn.zapUntraced(this.core, buf, line, ts);
        }
        // A revocable exporter (vfio) calls move_notify only when it flips the revoked state.
        if (b.exporter.revocable && b.state !== "RELEASED") {
          this.core.revoke(buf, line, ts, b.state === "LIVE");
        } else this.core.moveNotify(buf, line, ts);
        this.#pfn.zapUntraced(this.core, buf, line, ts);
        return;
      }
      case "dma_buf_release": {
        if (isReturn) return;
        this.#flushMap(pid);
        this.#release(pid, line, ts);
        return;
      }
    }
  }

  #tracepoint(b: EventBatch, r: number, name: string): void {
    const t = b.tables.get(name);
    if (t === undefined) return;
    const row = b.tableRow[r]!;
    if (t.incomplete[row]) return; // a truncated line: diagnosed, not guessed
    const c = t.cols;
    const ino = (c.ino as Float64Array | undefined)?.[row];
    const key = `ino:${ino}`;
    const line = b.lineNo1[r]!;
    const pid = b.pid[r]!;
    const s = (col: string) => {
      const id = (c[col] as Int32Array | undefined)?.[row] ?? -1;
      return id < 0 ? "" : b.strings.get(id);
    };
    if (name === "dma_buf_export") {
      const size = (c.size as Float64Array)[row]!;
      this.#newBuf(key, s("exp_name"), BigInt(Number.isFinite(size) ? size : 0), line, pid);
    } else if (name === "dma_buf_dynamic_attach" || name === "dma_buf_detach") {
      const ptr = u64At(c.attach as Uint32Array, row);
      if (name === "dma_buf_dynamic_attach") {
        const dynamic = (c.is_dynamic as Int32Array)[row] === 1;
        const att = this.#attach(key, s("dev_name"), dynamic ? "dynamic" : "static", pid, line);
        if (att >= 0) this.#atts.set(ptr, att);
        this.#unbound.get(pid)?.pop();
      } else {
        const att = this.#atts.get(ptr);
        if (att === undefined) return void ++this.stats.unknown;
        this.core.detach(att, line, this.#lastTs);
        ++this.stats.detaches;
      }
    }
  }

  #newBuf(key: string, name: string, size: bigint, line: number, pid: number): void {
    const id = this.core.exportBuf(this.#exporter(name, size), size, line);
    const src = this.#barSource.get(pid);
    if (src !== undefined) {
      this.core.buffer(id)!.barSource = src;
      this.#barSource.delete(pid);
    }
    this.#vfio.exported(pid, id);
    this.#bufs.set(key, id);
    const list = this.#byPid.get(pid) ?? [];
    list.push(id);
    this.#byPid.set(pid, list);
    ++this.stats.exports;
  }

  #attach(key: string, dev: string, kind: ImporterKind, pid: number, line: number): number {
    const buf = this.#bufs.get(key);
    if (buf === undefined) {
      ++this.stats.unknown;
      return -1;
    }
    // A trace shows an attach only when it was made: it succeeded.
    const r = this.core.attach(buf, dev, kind, kind !== "static", line, 0);
    if (r.attach < 0) return -1;
    ++this.stats.attaches;
    const list = this.#unbound.get(pid) ?? [];
    list.push(r.attach);
    this.#unbound.set(pid, list);
    return r.attach;
  }

  #bindReturn(pid: number, ptr: bigint): void {
    this.#staticAttach.delete(pid);
    if (ptr <= 0n || ptr >= ERR_PTR_MIN) return; // unknown or a failure: stays unbound
    const att = this.#unbound.get(pid)?.pop();
    if (att !== undefined) this.#atts.set(ptr, att);
  }

  /** The attachment of a pointer, binding an unknown one to this task's oldest unbound one. */
  #attOf(ptr: bigint, pid: number): number {
    const known = this.#atts.get(ptr);
    if (known !== undefined && this.core.attachment(known)!.attached) return known;
    const list = this.#unbound.get(pid);
    const att = list?.shift();
    if (att === undefined) {
      ++this.stats.unknown;
      return -1;
    }
    this.#atts.set(ptr, att);
    return att;
  }

  /** A `get_pfn` call: to the core, with the outcome the trace shows when it shows one. */
  #flushPfn(pid: number, observed?: 0 | string): void {
    const p = this.#pfnPending.get(pid);
    if (p === undefined) return;
    this.#pfnPending.delete(pid);
    const got = this.core.getPfn(p.att, p.pgoff, p.line, p.ts, observed);
    if (got.errno !== 0) return;
    ++this.stats.pfns;
    this.#pfn.handedOut(p.att, got.pfn, got.maxOrder, pid);
  }

  #flushMap(pid: number): void {
    const m = this.#mapping.get(pid);
    if (m === undefined) return;
    this.#mapping.delete(pid);
    this.#unlocked.delete(pid);
    if (this.core.map(m.att, m.line, m.ts).errno === 0) ++this.stats.maps;
  }

  #release(pid: number, line: number, ts: number): void {
    const list = this.#byPid.get(pid) ?? [];
    const live = list.filter((id) => this.core.buffer(id)!.state !== "RELEASED");
    const id = live.find((b) => this.core.buffer(b)!.attachments.size === 0) ?? live[0];
    if (id === undefined) return void ++this.stats.unknown;
    this.core.release(id, line, ts);
    list.splice(list.indexOf(id), 1);
    for (const [k, v] of this.#bufs) if (v === id) this.#bufs.delete(k);
    ++this.stats.releases;
  }
}
