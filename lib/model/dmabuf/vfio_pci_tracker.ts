/**
 * The vfio side of a trace's dma-buf lifecycle (drivers/vfio/pci): which device exported a
 * buffer (`vfio_pci_core_feature_dma_buf` around the export), and the revokes — from
 * `vfio_pci_dma_buf_move`/`_cleanup` probes when the trace has them (they say exactly what
 * vfio did), else from the trigger probes of kernel-spec §8.4 (`vfio_basic_config_write` of
 * PCI_COMMAND, `vfio_pci_ioctl_reset` entry and return, `vfio_pci_set_power_state`,
 * `vfio_pci_core_close_device`). Also the default exporters by `exp_name`.
 *
 * @module
 */

import type { DmaBufCore } from "./dma_buf.ts";
import type { DmaBufExporter } from "./dma_buf_types.ts";
import { VfioPciDevice } from "./vfio_pci_exporter.ts";

/** Makes the exporter of a buffer from its `exp_name`. */
export type ExporterFactory = (expName: string, sizeBytes: bigint) => DmaBufExporter;

/**
 * The default exporters: `vfio_pci*` exports MMIO and revokes; everything else (system heap,
 * udmabuf, drm, ...) exports RAM and never revokes.
 *
 * @param expName The exporter name.
 * @returns The exporter.
 */
export function defaultExporter(expName: string): DmaBufExporter {
  const mmio = expName.startsWith("vfio");
  return {
    name: expName,
    p2pMemory: mmio,
    revocable: mmio,
    attach: (
      b,
      a,
    ) => (mmio && !a.peer2peer ? "EOPNOTSUPP" : mmio && b.state !== "LIVE" ? "ENODEV" : 0),
    map: (b) => (mmio && b.state !== "LIVE" ? "ENODEV" : 0),
    unmap: () => {},
  };
}

/** vfio devices of a trace, by their `vdev` pointer, and what their probes say. */
export class VfioTrace {
  /** The trace probes vfio's own move/cleanup: move_notify probes add nothing then. */
  moveSeen = false;
  readonly #core: DmaBufCore;
  /** `VFIO_DEVICE_FEATURE_DMA_BUF` in progress: the vdev pointer, per pid. */
  readonly #exporting = new Map<number, bigint>();
  readonly #vdevs = new Map<bigint, VfioPciDevice>();

  /**
   * vfio devices whose buffers live in `core`.
   *
   * @param core The dma-buf core.
   */
  constructor(core: DmaBufCore) {
    this.#core = core;
  }

  /**
   * A buffer was exported by task `pid`: inside `VFIO_DEVICE_FEATURE_DMA_BUF`, it is that
   * device's.
   *
   * @param pid The exporting task.
   * @param buf The buffer id.
   */
  exported(pid: number, buf: number): void {
    const vdev = this.#exporting.get(pid);
    if (vdev === undefined) return;
    let dev = this.#vdevs.get(vdev);
    if (dev === undefined) {
      dev = new VfioPciDevice(`vdev@0x${vdev.toString(16)}`, this.#core);
      this.#vdevs.set(vdev, dev);
    }
    dev.buffers.add(buf);
  }

  /**
   * A probe of a vfio function.
   *
   * @param fn The function (probe meaning).
   * @param isReturn A return probe.
   * @param pid The task.
   * @param num A numeric argument by meaning name (-1n when absent).
   * @param line Trace line.
   * @param ts Trace time.
   */
  probe(
    fn: string,
    isReturn: boolean,
    pid: number,
    num: (name: string) => bigint,
    line: number,
    ts: number,
  ): void {
    if (fn === "vfio_pci_core_feature_dma_buf") {
      if (!isReturn) this.#exporting.set(pid, num("vdev"));
      else this.#exporting.delete(pid);
      return;
    }
    if (isReturn && fn !== "vfio_pci_ioctl_reset") return;
    if (fn === "vfio_pci_dma_buf_move" || fn === "vfio_pci_dma_buf_cleanup") {
      this.moveSeen = true;
      const dev = this.#vdevs.get(num("vdev"));
      if (fn === "vfio_pci_dma_buf_cleanup") dev?.revoke("close", line, ts);
      else if (num("revoked") !== 0n) dev?.revoke("reset", line, ts);
      else dev?.restore(line, ts, true);
      return;
    }
    if (this.moveSeen) return;
    const dev = this.#vdevs.get(num(fn === "vfio_pci_core_close_device" ? "core_vdev" : "vdev"));
    if (dev === undefined) return;
    if (fn === "vfio_pci_core_close_device") dev.revoke("close", line, ts);
    else if (fn === "vfio_pci_ioctl_reset") {
      if (!isReturn) dev.revoke("reset", line, ts);
      else dev.restore(line, ts, dev.memoryEnabled);
    } else if (fn === "vfio_pci_set_power_state") {
      const state = num("state");
      if (state >= 3n) dev.revoke("d3", line, ts);
      else if (state === 0n) dev.restore(line, ts, true);
    } else if (fn === "vfio_basic_config_write" && num("offset") === 4n && num("count") >= 1n) {
      // PCI_COMMAND: bit 1 is memory space enable.
      const on = (num("val") & 2n) !== 0n;
      if (!on && dev.memoryEnabled) dev.revoke("memory_disable", line, ts);
      else if (on && !dev.memoryEnabled) dev.restore(line, ts, true);
    }
  }
}
