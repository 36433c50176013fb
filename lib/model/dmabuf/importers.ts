/**
 * Simulated importers (kernel-spec §8.5 importer kinds), for what-ifs and synthesized
 * workloads: they act on the dma-buf core the way the kernel's importers do.
 *
 * - {@linkcode DynamicImporter}: RDMA dma-buf MR style; move_notify drops the mapping (at once,
 *   or lazily at the next use), the next use maps again.
 * - {@linkcode PinnedImporter}: the RDMA `get_pinned` path; dynamic attach, `dma_buf_pin`, one
 *   mapping kept for good; its move_notify only warns (seed 003).
 * - {@linkcode PfnImporter}: KVM/iommufd style (seed 004); no sg table, it takes PFNs with
 *   `get_pfn` and builds its own page table, which its move_notify zaps.
 *
 * @module
 */

import type { DmaBufCore } from "./dma_buf.ts";

/** What a use of the buffer did. */
export interface ImporterUse {
  /** 0, or the errno that kept the importer from DMA (`ENODEV` while revoked). */
  readonly errno: 0 | string;
  /** It had to map (first use, or after an invalidation). */
  readonly mapped: boolean;
}

/** A dynamic (move_notify-aware) importer. */
export class DynamicImporter {
  /** Its attachment (-1 when the exporter refused it). */
  readonly attach: number;
  /** The attach errno. */
  readonly attachErrno: 0 | string;
  /** Maps done. */
  maps = 0;
  /** Invalidations received. */
  invalidations = 0;
  #mapped = false;
  #stale = false;

  /**
   * Attach to a buffer.
   *
   * @param core The core.
   * @param buf The buffer.
   * @param device The importing device.
   * @param line Trace line of the attach.
   * @param unmapOn When the importer drops its mapping after move_notify.
   */
  constructor(
    readonly core: DmaBufCore,
    buf: number,
    device: string,
    line: number,
    readonly unmapOn: "notify" | "next_use" = "notify",
  ) {
    const r = core.attach(buf, device, "dynamic", true, line);
    this.attach = r.attach;
    this.attachErrno = r.errno;
    if (r.attach >= 0) {
      core.onMoveNotify(r.attach, (att, l, now) => {
        ++this.invalidations;
        if (!this.#mapped) return;
        if (this.unmapOn === "notify") {
          core.unmap(att, l, now);
          this.#mapped = false;
        } else this.#stale = true;
      });
    }
  }

  /**
   * DMA to the buffer: map first when needed.
   *
   * @param line Trace line.
   * @param nowNs Trace time.
   * @returns Whether DMA can go ahead.
   */
  use(line: number, nowNs: number): ImporterUse {
    if (this.attach < 0) return { errno: this.attachErrno, mapped: false };
    if (this.#stale) {
      this.core.unmap(this.attach, line, nowNs);
      this.#mapped = false;
      this.#stale = false;
    }
    if (this.#mapped) return { errno: 0, mapped: false };
    const r = this.core.map(this.attach, line, nowNs);
    if (r.errno !== 0) return { errno: r.errno, mapped: false };
    this.#mapped = true;
    ++this.maps;
    return { errno: 0, mapped: true };
  }

  /**
   * Unmap (if mapped) and detach.
   *
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  close(line: number, nowNs: number): void {
    if (this.attach < 0) return;
    if (this.#mapped) this.core.unmap(this.attach, line, nowNs);
    this.#mapped = false;
    this.core.detach(this.attach, line, nowNs);
  }
}

/** A pinned importer: attach, pin and map once; a revoke does not make it let go. */
export class PinnedImporter {
  /** Its attachment (-1 when refused). */
  readonly attach: number;
  /** The first errno (attach or map), 0 when mapped. */
  readonly errno: 0 | string;
  /** move_notify calls it only warned about. */
  warnings = 0;

  /**
   * Attach, pin, map.
   *
   * @param core The core.
   * @param buf The buffer.
   * @param device The importing device.
   * @param line Trace line.
   * @param nowNs Trace time.
   */
  constructor(readonly core: DmaBufCore, buf: number, device: string, line: number, nowNs: number) {
    const r = core.attach(buf, device, "pinned", true, line);
    this.attach = r.attach;
    if (r.attach < 0) {
      this.errno = r.errno;
      return;
    }
    core.pin(r.attach, line);
    this.errno = core.map(r.attach, line, nowNs).errno;
    core.onMoveNotify(r.attach, () => void ++this.warnings);
  }
}

/** A PFN importer (KVM EPT, iommufd IO page table): maps PFNs in its own page table. */
export class PfnImporter {
  /** Its attachment (-1 when refused). */
  readonly attach: number;
  /** The attach errno. */
  readonly attachErrno: 0 | string;
  /** PFNs it has mapped, by page offset. */
  readonly mapped = new Map<bigint, { pfn: bigint; maxOrder: number }>();
  /** Zaps done on move_notify. */
  zaps = 0;

  /**
   * Attach to a buffer.
   *
   * @param core The core.
   * @param buf The buffer.
   * @param device The importer (KVM or iommufd has no `struct device` to give).
   * @param line Trace line.
   */
  constructor(readonly core: DmaBufCore, buf: number, device: string, line: number) {
    const r = core.attach(buf, device, "dynamic", true, line);
    this.attach = r.attach;
    this.attachErrno = r.errno;
    if (r.attach >= 0) {
      core.onMoveNotify(r.attach, (att, l, now) => {
        if (this.mapped.size === 0) return;
        core.zapPfns(att, l, now);
        this.mapped.clear();
        ++this.zaps;
      });
    }
  }

  /**
   * A guest or device fault at a page of the buffer: take its PFN and map it.
   *
   * @param pgoff Page offset.
   * @param line Trace line.
   * @param nowNs Trace time.
   * @returns The errno, the PFN and its order.
   */
  fault(
    pgoff: bigint,
    line: number,
    nowNs: number,
  ): { errno: 0 | string; pfn: bigint; maxOrder: number } {
    if (this.attach < 0) return { errno: this.attachErrno, pfn: -1n, maxOrder: 0 };
    const got = this.core.getPfn(this.attach, pgoff, line, nowNs);
    if (got.errno === 0) this.mapped.set(pgoff, { pfn: got.pfn, maxOrder: got.maxOrder });
    return got;
  }
}
