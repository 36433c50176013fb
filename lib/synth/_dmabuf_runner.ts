// A dma-buf workload as the kernel traces it through the capture recipe's kprobes (the golden
// traces' probes, kernel-spec §8): vfio-pci exports a piece of a BAR (VFIO_DEVICE_FEATURE_DMA_BUF,
// its fetch-args naming the device and the range), a dynamic importer attaches, maps and unmaps
// again and again, detaches, and the buffer is released; a function-level reset of the exporter
// revokes every buffer (a move_notify each), the importer unmaps at once (it invalidates), and
// maps again only once the reset is done (a second move_notify restores). The exporter's own
// mapping of the BAR is not traced (on a bus-address pair the merged code emits nothing); a
// replay models it from these events (the revisions).
//
// A "pfn" importer (seed 004's RFC: iommufd for a VM with passed-through devices) calls
// `dma_buf_get_pfn_unlocked` once per naturally aligned run of the buffer instead of mapping it,
// maps each run into the VM's I/O address space (`iommu:map`, IOVA = the buffer's guest-physical
// address), and its move_notify zaps them (`iommu:unmap`); at the start the VM's devices attach to
// their iommufd domain and its RAM is mapped there (1 GiB pages).

import {
  DMABUF_RESET_FAULTS,
  type DmaBufFaultCode,
  type DmaBufWorkload,
} from "./dmabuf_scenario.ts";
import { type PfnRun, pfnRuns } from "./_pfn_runs.ts";
import { iommuMapBody, iommuUnmapBody, type TraceContext } from "./ftrace_text.ts";

/** What the runner needs of the synthesizer. */
export interface DmaBufEnv {
  /** Write a line (`fault`: the injected anomaly it shows). */
  emit(c: TraceContext, t: number, event: string, body: string, fault?: string): void;
  /** Run `fn` at `t` on the workload's CPU; `fn` returns when the CPU is free again. */
  at(t: number, cpu: number, fn: (t: number) => number): void;
  /** A duration drawn from `[min, max]` µs, in ns. */
  us(range: readonly [number, number]): number;
  /** An integer drawn from `[lo, hi]`. */
  int(lo: number, hi: number): number;
  /** Whether the trace is long enough (no new buffers, no new resets). */
  stopped(): boolean;
  /**
   * Whether this is the first map of a pair the topology routes through the host bridge
   * although both sit below one bridge (a replay reports P2P_HOST_BRIDGE_WHEN_BUS_PATH there).
   */
  firstHostBridgeMap(peer: { device: string; bar: number }, client: string): boolean;
}

const STEP_NS = 1000;

interface Buffer {
  readonly dmabuf: bigint;
  readonly attach: bigint;
  readonly sgt: bigint;
  readonly dentry: bigint;
  /** Its slot (the thread that owns it). */
  readonly slot: number;
  /** Its mapping outlives a revoke: its steps wait for the late unmap. */
  frozen: boolean;
  mapsLeft: number;
  mapped: boolean;
  /** Faults injected into this buffer. */
  readonly faults: readonly DmaBufFaultCode[];
  /** Unmaps so far (DMABUF_DOUBLE_UNMAP doubles the first). */
  unmaps: number;
  /** Bumped when the importer's invalidation unmaps: a pending unmap then does nothing. */
  generation: number;
  /** Its offset into the BAR. */
  readonly offset: bigint;
  /** P2P_RANGE_OUT_OF_BAR: the IOVA mapped outside the buffer, until its unmap (else -1n). */
  strayIova: bigint;
}

const hex = (v: bigint) => "0x" + v.toString(16);

/** One dma-buf workload's buffers and resets. */
export class DmaBufRunner {
  readonly #w: DmaBufWorkload;
  readonly #env: DmaBufEnv;
  readonly #ctx: TraceContext;
  readonly #vdev: bigint;
  readonly #live: Buffer[] = [];
  /** Buffer pointers come from here, never reused. */
  #next = 0n;
  #revoked = false;
  /** Reset faults still to inject. */
  #resetPending: DmaBufFaultCode[] = [];
  /** The slot whose lines are being written. */
  #slot = 0;
  /** Buffers exported so far, resets so far (the faults' `after`). */
  #exported = 0;
  #resets = 0;
  /** Steps waiting for the end of a reset (run at its end). */
  #waiting: ((t: number) => void)[] = [];

  constructor(w: DmaBufWorkload, index: number, env: DmaBufEnv) {
    this.#w = w;
    this.#env = env;
    this.#ctx = { task: w.task, pid: w.pid, cpu: w.cpu, flags: "....." };
    this.#vdev = 0xff11000012340000n + (BigInt(index) << 20n);
    this.#next = 0xff11000056780000n + (BigInt(index) << 32n);
  }

  /** Start: the buffers, one after the other, and the first reset. */
  start(t0: number): void {
    if (this.#w.importerApi === "pfn") t0 = this.#vmStart(t0);
    for (let k = 0; k < this.#w.buffers; ++k) {
      this.#env.at(t0 + k * 10 * STEP_NS, this.#w.cpu, (t) => this.#export(t, k));
    }
    if (this.#w.flr !== null) {
      this.#env.at(t0 + this.#env.us(this.#w.flr.everyUs), this.#w.cpu, (t) => this.#reset(t));
    }
  }

  /** The VM's devices attach to their iommufd domain; its RAM is mapped there. */
  #vmStart(t: number): number {
    for (const dev of [this.#w.exporter.device, this.#w.importer]) {
      t = this.#line(t, "attach_device_to_domain", `IOMMU: device=${dev}`);
    }
    const GIB = 1n << 30n;
    for (let off = 0n; off < this.#w.guestRamBytes; off += GIB) {
      t = this.#line(t, "map", iommuMapBody(off, 0x100000000n + off, GIB));
    }
    return t;
  }

  #line(
    t: number,
    event: string,
    body: string,
    fault?: string,
  ): number {
    // One thread per buffer slot (pid + slot): dma_buf_release names no buffer, so a replay
    // releases the task's buffer without attachments; one buffer a thread keeps that exact.
    this.#env.emit({ ...this.#ctx, pid: this.#w.pid + this.#slot }, t, event, body, fault);
    return t + STEP_NS;
  }

  #faultsAt(n: number, reset: boolean): DmaBufFaultCode[] {
    return this.#w.faults.filter((f) => f.after === n && DMABUF_RESET_FAULTS.has(f.code) === reset)
      .map((f) => f.code);
  }

  #unmapLine(t: number, b: Buffer, fault?: DmaBufFaultCode): number {
    if (this.#w.importerApi === "pfn") {
      // The importer's zap: every run unmapped from the VM's address space (the fault, if any,
      // shows where the last one goes: there the attachment has no mapping left).
      const runs = this.#runs(b);
      runs.forEach((x, i) => {
        const iova = this.#w.ioasIova + b.offset + (x.pgoff << 12n);
        const last = i === runs.length - 1 ? fault : undefined;
        t = this.#line(t, "unmap", iommuUnmapBody(iova, x.bytes, x.bytes), last);
      });
      return t;
    }
    return this.#line(
      t,
      "dmabuf_unmap",
      `(dma_buf_unmap_attachment+0x4/0x90) attach=${hex(b.attach)} sgt=${hex(b.sgt)} dir=0`,
      fault,
    );
  }

  #runs(b: Buffer): PfnRun[] {
    return pfnRuns(this.#w.barCpuStart + b.offset, BigInt(this.#w.bytes));
  }

  /** A PFN importer's map: `get_pfn` of each run, each mapped into the VM's address space. */
  #pfnMap(t: number, b: Buffer, fault?: DmaBufFaultCode, mapToo = true): number {
    for (const x of this.#runs(b)) {
      t = this.#line(
        t,
        "dmabuf_get_pfn",
        `(dma_buf_get_pfn_unlocked+0x4/0x90) attach=${hex(b.attach)} pgoff=${hex(x.pgoff)}`,
        fault,
      );
      fault = undefined;
      if (!mapToo) return t;
      t = this.#line(
        t,
        "dmabuf_get_pfn_ret",
        "(iopt_map_dmabuf+0x11c/0x2a0 <- dma_buf_get_pfn_unlocked) ret=0x0",
      );
      const iova = this.#w.ioasIova + b.offset + (x.pgoff << 12n);
      t = this.#line(t, "map", iommuMapBody(iova, x.paddr, x.bytes));
    }
    return t;
  }

  /** Export slot `k`'s piece of the BAR, attach the importer; then the first map. */
  #export(t: number, k: number): number {
    const w = this.#w;
    this.#slot = k;
    if (this.#revoked) {
      // No export while the device resets.
      this.#waiting.push((tt) => this.#env.at(tt, w.cpu, (x) => this.#export(x, k)));
      return t;
    }
    const base = this.#next;
    this.#next += 0x10000n;
    const b: Buffer = {
      dmabuf: base,
      attach: base + 0x1000n,
      sgt: base + 0x20a0n,
      dentry: base + 0x30c0n,
      mapsLeft: this.#env.int(w.mapsPerBuffer[0], w.mapsPerBuffer[1]),
      slot: k,
      frozen: false,
      mapped: false,
      generation: 0,
      faults: this.#faultsAt(++this.#exported, false),
      unmaps: 0,
      offset: BigInt(k) * BigInt(w.bytes),
      strayIova: -1n,
    };
    const offset = b.offset;
    const len = BigInt(w.bytes);
    // IOMMU_IOVA_LINK_OVERLAP: the piece exported as two ranges (the merged code links both at
    // offset 0 of one IOVA reservation).
    const twoRanges = b.faults.includes("IOMMU_IOVA_LINK_OVERLAP");
    t = this.#line(
      t,
      "vfio_feature_dma_buf",
      `(vfio_pci_core_feature_dma_buf+0x4/0x320) vdev=${
        hex(this.#vdev)
      } flags=0x1 bdf="${w.exporter.device}" region_index=${w.exporter.bar} ${
        twoRanges
          ? `offset=${hex(offset)} length=${hex(len / 2n)} offset1=${
            hex(offset + len / 2n)
          } length1=${hex(len - len / 2n)}`
          : `offset=${hex(offset)} length=${hex(len)}`
      }`,
    );
    t = this.#line(
      t,
      "dmabuf_export",
      `(dma_buf_export+0x4/0x2b0) exp_name="vfio_pci_core" size=${w.bytes}`,
    );
    t = this.#line(
      t,
      "dmabuf_export_ret",
      `(vfio_pci_core_feature_dma_buf+0x1d0/0x320 <- dma_buf_export) ret=${hex(b.dmabuf)}`,
    );
    t = this.#line(
      t,
      "vfio_feature_dma_buf_ret",
      `(vfio_pci_core_ioctl_feature+0x90/0x1c0 <- vfio_pci_core_feature_dma_buf) ret=0x${
        (6 + k).toString(16)
      }`,
    );
    // DMABUF_ATTACH_WITHOUT_P2P: a static importer (no importer_ops, so no peer2peer) on the
    // BAR's memory.
    const noP2p = b.faults.includes("DMABUF_ATTACH_WITHOUT_P2P");
    t = this.#line(
      t,
      "dmabuf_dynamic_attach",
      `(dma_buf_dynamic_attach+0x4/0x260) dmabuf=${
        hex(b.dmabuf)
      } size=${w.bytes} dev="${w.importer}" importer_ops=${noP2p ? "0x0" : "0xffffffffc0a01000"}`,
      noP2p ? "DMABUF_ATTACH_WITHOUT_P2P" : undefined,
    );
    if (b.faults.includes("DMABUF_PINNED_ON_REVOCABLE")) {
      // A pinning importer on a revocable exporter (kernel-spec §8.5).
      t = this.#line(
        t,
        "dmabuf_pin",
        `(dma_buf_pin+0x4/0x60) attach=${hex(b.attach)}`,
        "DMABUF_PINNED_ON_REVOCABLE",
      );
      t = this.#line(t, "dmabuf_unpin", `(dma_buf_unpin+0x4/0x60) attach=${hex(b.attach)}`);
    }
    if (b.faults.includes("DMABUF_UNMAP_NOT_MAPPED")) {
      t = this.#unmapLine(t, b, "DMABUF_UNMAP_NOT_MAPPED");
    }
    this.#live.push(b);
    this.#env.at(t + this.#env.us(w.gapUs), w.cpu, (tt) => this.#map(tt, b, k));
    return t;
  }

  #map(t: number, b: Buffer, k: number): number {
    this.#slot = k;
    if (this.#revoked) {
      // The importer maps on next use, once the reset is done.
      this.#waiting.push((tt) => this.#env.at(tt, this.#w.cpu, (x) => this.#map(x, b, k)));
      return t;
    }
    if (this.#w.importerApi === "pfn") {
      t = this.#pfnMap(t, b);
      b.mapped = true;
      const g = b.generation;
      this.#env.at(t + this.#env.us(this.#w.holdUs), this.#w.cpu, (tt) => this.#unmap(tt, b, k, g));
      return t;
    }
    t = this.#line(
      t,
      "dmabuf_map_unlocked",
      `(dma_buf_map_attachment_unlocked+0x4/0x70) attach=${hex(b.attach)} dir=0`,
      [
        this.#env.firstHostBridgeMap(this.#w.exporter, this.#w.importer)
          ? "P2P_HOST_BRIDGE_WHEN_BUS_PATH"
          : undefined,
        b.faults.includes("IOMMU_IOVA_LINK_OVERLAP") ? "IOMMU_IOVA_LINK_OVERLAP" : undefined,
      ].filter((x) => x !== undefined).join("+") || undefined,
    );
    t = this.#line(
      t,
      "dmabuf_map",
      `(dma_buf_map_attachment+0x4/0xe0) attach=${hex(b.attach)} dir=0`,
    );
    if (b.faults.includes("P2P_RANGE_OUT_OF_BAR") && b.unmaps === 0 && b.strayIova < 0n) {
      // The exporter maps a page past the buffer's end (a range computed wrong): an iommu:map
      // inside the map call, outside every range it exports; unmapped at the buffer's unmap.
      b.strayIova = 0xfe000000n - (BigInt(b.slot) << 16n);
      const stray = this.#w.barCpuStart + b.offset + BigInt(this.#w.bytes);
      t = this.#line(t, "map", iommuMapBody(b.strayIova, stray, 4096n), "P2P_RANGE_OUT_OF_BAR");
    }
    t = this.#line(
      t,
      "dmabuf_map_ret",
      `(dma_buf_map_attachment_unlocked+0x37/0x70 <- dma_buf_map_attachment) sgt=${hex(b.sgt)}`,
    );
    b.mapped = true;
    const g = b.generation;
    this.#env.at(t + this.#env.us(this.#w.holdUs), this.#w.cpu, (tt) => this.#unmap(tt, b, k, g));
    return t;
  }

  #unmap(t: number, b: Buffer, k: number, generation: number): number {
    this.#slot = k;
    if (b.frozen) return t; // the late unmap goes on from there
    if (b.mapsLeft === 1 && b.faults.includes("DMABUF_DETACH_WITH_MAPPINGS") && b.mapped) {
      // The last map is never unmapped: the importer detaches with it.
      b.mapsLeft = 0;
      return this.#release(t, b, k);
    }
    if (generation === b.generation && b.mapped && this.#w.importerApi === "pfn") {
      t = this.#unmapLine(t, b); // the VMM unmaps the area: the importer drops its mappings
      b.mapped = false;
    } else if (generation === b.generation && b.mapped) {
      t = this.#line(
        t,
        "dmabuf_unmap_unlocked",
        `(dma_buf_unmap_attachment_unlocked+0x4/0x70) attach=${hex(b.attach)} sgt=${
          hex(b.sgt)
        } dir=0`,
      );
      t = this.#unmapLine(t, b);
      if (b.strayIova >= 0n) {
        t = this.#line(t, "unmap", iommuUnmapBody(b.strayIova, 4096n, 4096n));
        b.strayIova = -2n; // done: not mapped again
      }
      b.mapped = false;
      if (++b.unmaps === 1 && b.faults.includes("DMABUF_DOUBLE_UNMAP")) {
        t = this.#unmapLine(t, b, "DMABUF_DOUBLE_UNMAP");
      }
    }
    if (--b.mapsLeft > 0) {
      this.#env.at(t + this.#env.us(this.#w.gapUs), this.#w.cpu, (tt) => this.#map(tt, b, k));
    } else {this.#env.at(t + this.#env.us(this.#w.gapUs), this.#w.cpu, (tt) =>
        this.#release(tt, b, k));}
    return t;
  }

  #release(t: number, b: Buffer, k: number): number {
    this.#slot = k;
    const withMap = b.mapped && b.faults.includes("DMABUF_DETACH_WITH_MAPPINGS");
    // A map after the release needs the attachment still there: no detach either.
    const attached = b.faults.includes("DMABUF_RELEASE_WITH_ATTACHMENTS") ||
      b.faults.includes("DMABUF_OP_AFTER_RELEASE");
    if (!attached) {
      t = this.#line(
        t,
        "dmabuf_detach",
        `(dma_buf_detach+0x4/0xd0) dmabuf=${hex(b.dmabuf)} attach=${hex(b.attach)}`,
        withMap ? "DMABUF_DETACH_WITH_MAPPINGS" : undefined,
      );
    }
    b.mapped = false;
    t = this.#line(
      t,
      "dmabuf_release",
      `(dma_buf_release+0x4/0x90) dentry=${hex(b.dentry)}`,
      attached ? "DMABUF_RELEASE_WITH_ATTACHMENTS" : undefined,
    );
    if (b.faults.includes("DMABUF_OP_AFTER_RELEASE") && this.#w.importerApi === "pfn") {
      t = this.#pfnMap(t, b, "DMABUF_OP_AFTER_RELEASE", false);
    } else if (b.faults.includes("DMABUF_OP_AFTER_RELEASE")) {
      // The importer still uses the attachment of a released buffer.
      t = this.#line(
        t,
        "dmabuf_map",
        `(dma_buf_map_attachment+0x4/0xe0) attach=${hex(b.attach)} dir=0`,
        "DMABUF_OP_AFTER_RELEASE",
      );
    }
    this.#live.splice(this.#live.indexOf(b), 1);
    if (!this.#env.stopped()) {
      this.#env.at(t + this.#env.us(this.#w.gapUs), this.#w.cpu, (tt) => this.#export(tt, k));
    }
    return t;
  }

  /** A function-level reset: revoke every buffer, the importer invalidates; restore later. */
  #reset(t: number): number {
    const flr = this.#w.flr!;
    // A reset fault no buffer could take (none mapped, none unmapped) waits for the next reset.
    const faults = [...this.#resetPending, ...this.#faultsAt(++this.#resets, true)];
    let outlives = faults.filter((f) => f === "DMABUF_MAPPING_OUTLIVES_REVOKE").length;
    let mapWhileRevoked = faults.filter((f) => f === "DMABUF_MAP_WHILE_REVOKED").length;
    // An ignored revoke keeps the device in reset until the late unmap (the unmap is of a
    // revoked mapping, not of a restored one).
    let restoreAfter = 0;
    this.#revoked = true;
    for (const b of this.#live) {
      this.#slot = b.slot;
      t = this.#line(
        t,
        "dmabuf_move_notify",
        `(dma_buf_move_notify+0x4/0x60) dmabuf=${hex(b.dmabuf)}`,
      );
      if (b.mapped && outlives > 0) {
        // This importer ignores the revoke: it unmaps only after the grace period (10 ms), the
        // first dma-buf operation after it (where a replay notices).
        --outlives;
        ++b.generation;
        b.frozen = true;
        restoreAfter = t + 10_000_000 + 2 * STEP_NS;
        this.#env.at(t + 10_000_000 + STEP_NS, this.#w.cpu, (tt) => {
          this.#slot = b.slot;
          b.mapped = false;
          b.frozen = false;
          tt = this.#unmapLine(tt, b, "DMABUF_MAPPING_OUTLIVES_REVOKE");
          const next = tt + this.#env.us(this.#w.gapUs);
          if (--b.mapsLeft > 0) this.#env.at(next, this.#w.cpu, (x) => this.#map(x, b, b.slot));
          else this.#env.at(next, this.#w.cpu, (x) => this.#release(x, b, b.slot));
          return tt;
        });
      } else if (b.mapped) {
        // The importer's move_notify callback unmaps under the reservation lock.
        t = this.#unmapLine(t, b);
        b.mapped = false;
        ++b.generation;
      } else if (!b.mapped && mapWhileRevoked > 0) {
        // A map the revoked exporter should have refused succeeds.
        --mapWhileRevoked;
        if (this.#w.importerApi === "pfn") {
          t = this.#pfnMap(t, b, "DMABUF_MAP_WHILE_REVOKED");
          t = this.#unmapLine(t, b);
          continue;
        }
        t = this.#line(
          t,
          "dmabuf_map",
          `(dma_buf_map_attachment+0x4/0xe0) attach=${hex(b.attach)} dir=0`,
          "DMABUF_MAP_WHILE_REVOKED",
        );
        t = this.#line(
          t,
          "dmabuf_map_ret",
          `(dma_buf_map_attachment_unlocked+0x37/0x70 <- dma_buf_map_attachment) sgt=${hex(b.sgt)}`,
        );
        t = this.#unmapLine(t, b);
      }
    }
    this.#resetPending = [
      ...Array.from({ length: outlives }, () => "DMABUF_MAPPING_OUTLIVES_REVOKE" as const),
      ...Array.from({ length: mapWhileRevoked }, () => "DMABUF_MAP_WHILE_REVOKED" as const),
    ];
    const restore = Math.max(t + this.#env.us(flr.resetUs), restoreAfter);
    this.#env.at(restore, this.#w.cpu, (tt) => this.#restore(tt));
    return t;
  }

  #restore(t: number): number {
    this.#revoked = false;
    for (const b of this.#live) {
      this.#slot = b.slot;
      t = this.#line(
        t,
        "dmabuf_move_notify",
        `(dma_buf_move_notify+0x4/0x60) dmabuf=${hex(b.dmabuf)}`,
      );
    }
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const f of waiting) f(t + this.#env.us(this.#w.gapUs));
    if (!this.#env.stopped()) {
      this.#env.at(t + this.#env.us(this.#w.flr!.everyUs), this.#w.cpu, (tt) => this.#reset(tt));
    }
    return t;
  }
}
