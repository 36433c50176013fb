/**
 * The dma-buf core (drivers/dma-buf/dma-buf.c, kernel-spec §8.1 and §8.5): buffers and their
 * attachments as state machines, driven by what a trace shows (export, attach, map, unmap,
 * pin, move_notify, detach, release), with every invariant of §8.5 checked as it goes. An
 * exporter decides attach and map outcomes (the vfio-pci one in `vfio_pci_exporter.ts`); when
 * the trace says how an operation ended, the observed outcome wins and a disagreement with the
 * rules is an anomaly with its trace line.
 *
 * Over 500 lines on purpose: the §8.5 state machine is one unit. Every operation reads and
 * writes the same private buffer and attachment state and raises the same invariants, so a
 * split would have to expose that state to a second file.
 *
 * @module
 */

import type {
  DmaBufAnomaly,
  DmaBufAnomalyCode,
  DmaBufAttachmentInfo,
  DmaBufExporter,
  DmaBufInfo,
  DmaBufOpEvent,
  DmaBufOpName,
  DmaBufPfn,
  ImporterKind,
  MoveNotifyHandler,
} from "./dma_buf_types.ts";

/** Options of {@linkcode DmaBufCore}. */
export interface DmaBufCoreOptions {
  /**
   * How long an importer may keep a mapping after move_notify before it counts as outliving
   * the revoke (kernel-spec §8.5 `revokeGraceMs`).
   * @default {10}
   */
  revokeGraceMs?: number;
  /**
   * Called for every operation, before its checks (the replay's ops table).
   * @default {none}
   */
  onOp?: (e: DmaBufOpEvent) => void;
}

/** An operation's outcome: 0, the errno, and the anomalies it raised. */
export interface DmaBufOpResult {
  /** 0 or the errno. */
  readonly errno: 0 | string;
  /** The attachment (attach only), else -1. */
  readonly attach: number;
}

/**
 * Buffers and attachments of one trace, with the invariants of kernel-spec §8.5.
 *
 * @example A dynamic importer maps, the exporter revokes, the importer unmaps in time
 * ```ts
 * import assert from "node:assert/strict";
 * import { DmaBufCore } from "./mod.ts";
 * const exporter = { name: "vfio", p2pMemory: true, revocable: true, attach: () => 0 as const, map: () => 0 as const, unmap: () => {} };
 * const core = new DmaBufCore();
 * const buf = core.exportBuf(exporter, 0x13000n, 10);
 * const att = core.attach(buf, "0000:41:00.0", "dynamic", true, 11).attach;
 * core.map(att, 12, 0);
 * core.moveNotify(buf, 13, 1_000_000);
 * core.unmap(att, 14, 2_000_000);
 * core.detach(att, 15, 3_000_000);
 * core.release(buf, 16, 4_000_000);
 * core.end(5_000_000);
 * assert.deepEqual(core.anomalies, []);
 * ```
 */
export class DmaBufCore {
  /** Anomalies found so far, in trace order. */
  readonly anomalies: DmaBufAnomaly[] = [];
  readonly #bufs: DmaBufInfo[] = [];
  readonly #atts: DmaBufAttachmentInfo[] = [];
  readonly #graceNs: number;
  readonly #handlers = new Map<number, MoveNotifyHandler>();
  readonly #onOp: ((e: DmaBufOpEvent) => void) | undefined;

  /**
   * An empty core.
   *
   * @param options The revoke grace period.
   */
  constructor(options: DmaBufCoreOptions = {}) {
    this.#graceNs = (options.revokeGraceMs ?? 10) * 1e6;
    this.#onOp = options.onOp;
  }

  /** Every buffer so far (released ones too). */
  get buffers(): readonly DmaBufInfo[] {
    return this.#bufs;
  }

  /** Every attachment so far (detached ones too). */
  get attachments(): readonly DmaBufAttachmentInfo[] {
    return this.#atts;
  }

  #emit(op: DmaBufOpName, buf: number, attach: number, line: number, nowNs: number): void {
    if (this.#onOp === undefined) return;
    const attached = op === "dma_buf_move_notify" ? [...this.#bufs[buf]!.attachments] : [];
    this.#onOp({ op, buf, attach, line, nowNs, attached });
  }

  /**
   * A buffer by id.
   *
   * @param id The id.
   * @returns It, or undefined.
   */
  buffer(id: number): DmaBufInfo | undefined {
    return this.#bufs[id];
  }

  /**
   * An attachment by id.
   *
   * @param id The id.
   * @returns It, or undefined.
   */
  attachment(id: number): DmaBufAttachmentInfo | undefined {
    return this.#atts[id];
  }

  #raise(
    code: DmaBufAnomalyCode,
    line: number,
    buf: number,
    attach: number,
    message: string,
    related: number[] = [],
  ): void {
    this.anomalies.push({ code, line, related, buf, attach, message });
  }

  /** Any operation on a released buffer is an anomaly; returns true when released. */
  #released(b: DmaBufInfo, what: string, line: number, att = -1): boolean {
    if (b.state !== "RELEASED") return false;
    this.#raise(
      "DMABUF_OP_AFTER_RELEASE",
      line,
      b.id,
      att,
      `${what} on dma-buf ${b.id} after its release`,
    );
    return true;
  }

  /** Revoked mappings whose grace ran out by `nowNs`. */
  #checkGrace(nowNs: number, line: number): void {
    for (const a of this.#atts) {
      if (!a.invalidating || a.mapLines.length === 0) continue;
      if (nowNs - a.invalidatedAtNs <= this.#graceNs) continue;
      this.#outlives(a, line, "was not unmapped within the revoke grace period");
    }
  }

  #outlives(a: DmaBufAttachmentInfo, line: number, why: string): void {
    const b = this.#bufs[a.buf]!;
    this.#raise(
      "DMABUF_MAPPING_OUTLIVES_REVOKE",
      line,
      b.id,
      a.id,
      `the ${a.importer} importer ${a.device} still maps dma-buf ${b.id}: ${why}`,
      [...a.mapLines, b.revokeLine],
    );
    a.invalidating = false; // reported once per revoke
  }

  /**
   * `dma_buf_export()`.
   *
   * @param exporter The exporter.
   * @param sizeBytes Bytes.
   * @param line Trace line.
   * @param revoked Created revoked (vfio with memory decoding off).
   * @returns The buffer id.
   */
  exportBuf(exporter: DmaBufExporter, sizeBytes: bigint, line: number, revoked = false): number {
    const id = this.#bufs.length;
    this.#bufs.push({
      id,
      sizeBytes,
      state: revoked ? "REVOKED" : "LIVE",
      exporter,
      exportLine: line,
      revokeLine: -1,
      attachments: new Set(),
      barSource: null,
    });
    this.#emit("dma_buf_export", id, -1, line, NaN);
    return id;
  }

  /**
   * `dma_buf_dynamic_attach()` (importer `dynamic` or `pinned`) or `dma_buf_attach()`
   * (`static`: peer2peer false, no move_notify).
   *
   * @param buf The buffer.
   * @param device The importing device.
   * @param importer Its kind.
   * @param allowPeer2peer `importer_ops->allow_peer2peer`.
   * @param line Trace line.
   * @param observed How the trace says it ended, when it does.
   * @returns The errno and the attachment id (-1 on failure).
   */
  attach(
    buf: number,
    device: string,
    importer: ImporterKind,
    allowPeer2peer: boolean,
    line: number,
    observed?: 0 | string,
  ): DmaBufOpResult {
    const b = this.#bufs[buf]!;
    const id = this.#atts.length;
    this.#emit("dma_buf_attach", buf, id, line, NaN);
    if (this.#released(b, "attach", line)) return { errno: "EINVAL", attach: -1 };
    const att: DmaBufAttachmentInfo = {
      id,
      buf,
      device,
      importer,
      peer2peer: importer !== "static" && allowPeer2peer,
      attachLine: line,
      detachLine: -1,
      attached: true,
      pinned: false,
      mapLines: [],
      lastUnmapLine: -1,
      invalidating: false,
      invalidatedAtNs: 0,
    };
    const errno = observed ?? b.exporter.attach(b, att);
    if (errno !== 0) return { errno, attach: -1 };
    if (b.exporter.p2pMemory && !att.peer2peer) {
      this.#raise(
        "DMABUF_ATTACH_WITHOUT_P2P",
        line,
        buf,
        id,
        `${device} attached to MMIO dma-buf ${buf} without allow_peer2peer`,
      );
    }
    this.#atts.push(att);
    b.attachments.add(id);
    return { errno: 0, attach: id };
  }

  /**
   * `dma_buf_map_attachment()`.
   *
   * @param att The attachment.
   * @param line Trace line.
   * @param nowNs Trace time.
   * @param observed How the trace says it ended, when it does.
   * @returns The errno.
   */
  map(att: number, line: number, nowNs: number, observed?: 0 | string): DmaBufOpResult {
    const a = this.#atts[att]!;
    this.#emit("dma_buf_map_attachment", a.buf, att, line, nowNs);
    const b = this.#bufs[a.buf]!;
    this.#checkGrace(nowNs, line);
    if (this.#released(b, "map", line, att)) return { errno: "EINVAL", attach: att };
    const revoked = b.state === "REVOKED" || b.state === "DEAD";
    const errno = observed ?? b.exporter.map(b, a, line);
    if (errno !== 0) return { errno, attach: att };
    if (revoked) {
      this.#raise(
        "DMABUF_MAP_WHILE_REVOKED",
        line,
        b.id,
        att,
        `map of dma-buf ${b.id} by ${a.device} succeeded while it was ${b.state.toLowerCase()}`,
        b.revokeLine >= 0 ? [b.revokeLine] : [],
      );
    }
    a.mapLines.push(line);
    return { errno: 0, attach: att };
  }

  /**
   * `dma_buf_unmap_attachment()`.
   *
   * @param att The attachment.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  unmap(att: number, line: number, nowNs: number): void {
    const a = this.#atts[att]!;
    this.#emit("dma_buf_unmap_attachment", a.buf, att, line, nowNs);
    const b = this.#bufs[a.buf]!;
    if (this.#released(b, "unmap", line, att)) return;
    if (a.mapLines.length === 0) {
      const twice = a.lastUnmapLine >= 0;
      this.#raise(
        twice ? "DMABUF_DOUBLE_UNMAP" : "DMABUF_UNMAP_NOT_MAPPED",
        line,
        b.id,
        att,
        twice
          ? `${a.device} unmapped dma-buf ${b.id} a second time`
          : `${a.device} unmapped dma-buf ${b.id} that it never mapped`,
        twice ? [a.lastUnmapLine] : [],
      );
      return;
    }
    this.#checkGrace(nowNs, line);
    a.mapLines.shift();
    if (a.mapLines.length === 0) {
      a.lastUnmapLine = line;
      a.invalidating = false;
    }
    b.exporter.unmap(b, a, line);
  }

  /**
   * `dma_buf_pin()`: exporters without a pin op succeed doing nothing; a pinned importer on a
   * revocable exporter cannot honour a revoke.
   *
   * @param att The attachment.
   * @param line Trace line.
   */
  pin(att: number, line: number): void {
    const a = this.#atts[att]!;
    const b = this.#bufs[a.buf]!;
    if (this.#released(b, "pin", line, att)) return;
    a.pinned = true;
    if (b.exporter.revocable) {
      this.#raise(
        "DMABUF_PINNED_ON_REVOCABLE",
        line,
        b.id,
        att,
        `${a.device} pins dma-buf ${b.id}, whose exporter revokes (move_notify will only warn)`,
      );
    }
  }

  /**
   * `dma_buf_unpin()`.
   *
   * @param att The attachment.
   * @param line Trace line.
   */
  unpin(att: number, line: number): void {
    const a = this.#atts[att]!;
    if (this.#released(this.#bufs[a.buf]!, "unpin", line, att)) return;
    a.pinned = false;
  }

  /**
   * The exporter revokes (`revoked = true`) or restores: state change, then
   * `dma_buf_move_notify()` to every attachment (vfio `move`, kernel-spec §8.3).
   *
   * @param buf The buffer.
   * @param line Trace line.
   * @param nowNs Trace time.
   * @param revoked Revoke (true) or restore (false).
   * @param permanent Device close (`cleanup`): DEAD, never restored.
   */
  revoke(buf: number, line: number, nowNs: number, revoked = true, permanent = false): void {
    const b = this.#bufs[buf]!;
    if (this.#released(b, "revoke", line)) return;
    if (b.state === "DEAD") return; // unlinked from the device: nothing reaches it
    if (revoked) {
      b.state = permanent ? "DEAD" : "REVOKED";
      b.revokeLine = line;
    } else b.state = "LIVE";
    this.moveNotify(buf, line, nowNs);
  }

  /**
   * `dma_buf_move_notify()`: dynamic importers must unmap; pinned and static importers keep
   * their mappings, which outlive a revoke.
   *
   * @param buf The buffer.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  moveNotify(buf: number, line: number, nowNs: number): void {
    const b = this.#bufs[buf]!;
    this.#emit("dma_buf_move_notify", buf, -1, line, nowNs);
    if (this.#released(b, "move_notify", line)) return;
    if (b.revokeLine < 0) b.revokeLine = line;
    for (const id of b.attachments) {
      const a = this.#atts[id]!;
      if (a.mapLines.length === 0) continue;
      const revoked = b.state !== "LIVE";
      if (a.importer === "dynamic" && !a.pinned) {
        if (revoked && !a.invalidating) {
          a.invalidating = true; // a restore does not excuse a mapping kept across the revoke
          a.invalidatedAtNs = nowNs;
        }
      } else if (revoked) {
        this.#outlives(
          a,
          line,
          a.importer === "static" ? "a static importer is never told" : "it is pinned",
        );
      }
    }
    // importer_ops->move_notify of the dynamic attachments (simulated importers act here).
    for (const id of [...b.attachments]) {
      const a = this.#atts[id]!;
      if (a.importer !== "static") this.#handlers.get(id)?.(id, line, nowNs);
    }
  }

  /**
   * Register an importer's `move_notify` (simulated importers; a trace shows what real ones
   * did instead).
   *
   * @param att The attachment.
   * @param handler Called with the attachment, line and time on every move_notify.
   */
  onMoveNotify(att: number, handler: MoveNotifyHandler): void {
    this.#handlers.set(att, handler);
  }

  /**
   * `dma_buf_get_pfn_unlocked(attach, pgoff)` (seed 004, RFC 2025): a PFN importer (KVM,
   * iommufd) takes the PFN of a page and builds its own mapping; its page table counts as one
   * mapping of the attachment until {@linkcode zapPfns} (its move_notify must zap it).
   *
   * @param att The attachment.
   * @param pgoff Page offset into the buffer.
   * @param line Trace line.
   * @param nowNs Trace time.
   * @param observed The outcome the trace shows (its kretprobe), else the exporter's.
   * @returns The errno, the PFN and the largest mapping order (the PFN is -1n when the
   *   exporter cannot say, e.g. a success the revoked exporter would have refused).
   */
  getPfn(
    att: number,
    pgoff: bigint,
    line: number,
    nowNs: number,
    observed?: 0 | string,
  ): DmaBufPfn {
    const a = this.#atts[att]!;
    this.#emit("dma_buf_get_pfn", a.buf, att, line, nowNs);
    const b = this.#bufs[a.buf]!;
    this.#checkGrace(nowNs, line);
    if (this.#released(b, "get_pfn", line, att)) return { errno: "EINVAL", pfn: -1n, maxOrder: 0 };
    const model = b.exporter.getPfn?.(b, a, pgoff) ??
      { errno: "EINVAL", pfn: -1n, maxOrder: 0 } as DmaBufPfn;
    const errno = observed ?? model.errno;
    if (errno !== 0) return { errno, pfn: -1n, maxOrder: 0 };
    // One mapping, however many pages it takes: the first get_pfn of it is the one to report.
    if (b.state !== "LIVE" && a.mapLines.length === 0) {
      this.#raise(
        "DMABUF_MAP_WHILE_REVOKED",
        line,
        b.id,
        att,
        `get_pfn of dma-buf ${b.id} by ${a.device} succeeded while it was ${b.state.toLowerCase()}`,
        b.revokeLine >= 0 ? [b.revokeLine] : [],
      );
    }
    if (a.mapLines.length === 0) a.mapLines.push(line); // the importer's page table: one mapping
    return model.errno === 0 ? model : { errno: 0, pfn: -1n, maxOrder: 0 };
  }

  /**
   * The PFN importer dropped the mappings it built (all of them).
   *
   * @param att The attachment.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  zapPfns(att: number, line: number, nowNs: number): void {
    const a = this.#atts[att]!;
    this.#checkGrace(nowNs, line);
    if (this.#released(this.#bufs[a.buf]!, "zap", line, att)) return;
    if (a.mapLines.length === 0) return;
    a.mapLines.length = 0;
    a.lastUnmapLine = line;
    a.invalidating = false;
  }

  /**
   * `dma_buf_detach()`.
   *
   * @param att The attachment.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  detach(att: number, line: number, nowNs: number): void {
    const a = this.#atts[att]!;
    this.#emit("dma_buf_detach", a.buf, att, line, nowNs);
    const b = this.#bufs[a.buf]!;
    this.#checkGrace(nowNs, line);
    if (this.#released(b, "detach", line, att)) return;
    if (a.mapLines.length > 0) {
      this.#raise(
        "DMABUF_DETACH_WITH_MAPPINGS",
        line,
        b.id,
        att,
        `${a.device} detached from dma-buf ${b.id} with ${a.mapLines.length} mapping(s) live`,
        [...a.mapLines],
      );
    }
    a.attached = false;
    a.detachLine = line;
    b.attachments.delete(att);
  }

  /**
   * The last reference went (`release` op).
   *
   * @param buf The buffer.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  release(buf: number, line: number, nowNs: number): void {
    const b = this.#bufs[buf]!;
    this.#emit("dma_buf_release", buf, -1, line, nowNs);
    this.#checkGrace(nowNs, line);
    if (this.#released(b, "release", line)) return;
    if (b.attachments.size > 0) {
      this.#raise(
        "DMABUF_RELEASE_WITH_ATTACHMENTS",
        line,
        b.id,
        -1,
        `dma-buf ${b.id} released with ${b.attachments.size} attachment(s)`,
        [...b.attachments].map((id) => this.#atts[id]!.mapLines[0] ?? -1).filter((l) => l >= 0),
      );
    }
    b.state = "RELEASED";
  }

  /**
   * End of trace: revoked mappings still held outlive the revoke.
   *
   * @param nowNs Time of the last event.
   */
  end(nowNs: number): void {
    this.#checkGrace(nowNs + this.#graceNs + 1, 0);
  }
}
