/**
 * The dma-buf workloads of a scenario (`"dmabufs"`): a device's BAR exported through vfio-pci's
 * `VFIO_DEVICE_FEATURE_DMA_BUF` and imported by a dynamic importer (an RDMA NIC), buffer after
 * buffer, each mapped and unmapped again and again; optionally function-level resets of the
 * exporting device, which revoke every buffer (`dma_buf_move_notify`) until the reset is done.
 *
 * @module
 */

import { peerPair } from "./_buffers.ts";
import type { JsonReader } from "../ingest/mod.ts";
import type { Topology } from "../model/topology/mod.ts";

/** The dma-buf anomaly codes a dma-buf workload can have injected. */
export const DMABUF_FAULT_CODES = [
  "DMABUF_UNMAP_NOT_MAPPED",
  "DMABUF_DOUBLE_UNMAP",
  "DMABUF_DETACH_WITH_MAPPINGS",
  "DMABUF_RELEASE_WITH_ATTACHMENTS",
  "DMABUF_OP_AFTER_RELEASE",
  "DMABUF_PINNED_ON_REVOCABLE",
  "DMABUF_MAP_WHILE_REVOKED",
  "DMABUF_MAPPING_OUTLIVES_REVOKE",
  "DMABUF_ATTACH_WITHOUT_P2P",
  "IOMMU_IOVA_LINK_OVERLAP",
  "P2P_RANGE_OUT_OF_BAR",
] as const;

/** A dma-buf fault code. */
export type DmaBufFaultCode = typeof DMABUF_FAULT_CODES[number];

/** Codes injected at a reset (`after`: which reset); the others at a buffer (which buffer). */
export const DMABUF_RESET_FAULTS: ReadonlySet<DmaBufFaultCode> = new Set([
  "DMABUF_MAP_WHILE_REVOKED",
  "DMABUF_MAPPING_OUTLIVES_REVOKE",
]);

/** A dma-buf workload. */
export interface DmaBufWorkload {
  /** Its name (for messages). */
  readonly name: string;
  /** The exporting device and BAR (vfio-pci). */
  readonly exporter: { readonly device: string; readonly bar: number };
  /** The importing device (a dynamic importer: it unmaps on move_notify, maps on next use). */
  readonly importer: string;
  /** The task that drives it (`comm`), its pid and CPU. */
  readonly task: string;
  /** Its pid. */
  readonly pid: number;
  /** Its CPU. */
  readonly cpu: number;
  /** Bytes of each buffer (a page multiple). */
  readonly bytes: number;
  /** Buffers alive at once. */
  readonly buffers: number;
  /** Maps of a buffer before it is detached and released, `[min, max]`. */
  readonly mapsPerBuffer: readonly [number, number];
  /** From a map to its unmap, microseconds `[min, max]`. */
  readonly holdUs: readonly [number, number];
  /** Between steps, microseconds `[min, max]`. */
  readonly gapUs: readonly [number, number];
  /**
   * Function-level resets of the exporter: every `everyUs` a reset revokes its buffers for
   * `resetUs`; null for none.
   */
  readonly flr: {
    readonly everyUs: readonly [number, number];
    readonly resetUs: readonly [number, number];
  } | null;
  /** Faults: into the `after`-th buffer, or (revoke codes) at the `after`-th reset. */
  readonly faults: readonly { readonly code: DmaBufFaultCode; readonly after: number }[];
  /**
   * How the importer maps: `"sg"`, the DMA API's `dma_buf_map_attachment` (an RDMA NIC, a
   * GPU); `"pfn"`, the RFC's `dma_buf_get_pfn_unlocked` (seed 004): iommufd takes the PFNs
   * and maps them into a VM's I/O address space with `iommu_map` at `ioasIova`, and zaps them
   * (`iommu_unmap`) in its move_notify.
   */
  readonly importerApi: "sg" | "pfn";
  /** Where a PFN importer maps the buffers (their guest-physical address in the VM). */
  readonly ioasIova: bigint;
  /** Guest RAM a PFN importer's VM maps at IOVA 0 at the start (bytes, 1 GiB pages). */
  readonly guestRamBytes: bigint;
  /** The exporter BAR's CPU physical address (from the topology). */
  readonly barCpuStart: bigint;
}

/** The codes a PFN importer cannot show: it never calls dma_buf_unmap_attachment. */
const SG_ONLY_FAULTS: ReadonlySet<DmaBufFaultCode> = new Set([
  "DMABUF_UNMAP_NOT_MAPPED",
  "DMABUF_DOUBLE_UNMAP",
]);

function range(
  r: JsonReader,
  v: unknown,
  at: string,
  what: string,
  dflt: [number, number],
  min = 0,
): [number, number] | null {
  if (v === undefined) return dflt;
  if (
    !Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === "number" && x >= min) ||
    v[1] < v[0]
  ) {
    r.error(at, `expected ${what}: [min, max] with ${min} <= min <= max`);
    return null;
  }
  return [v[0], v[1]];
}

/**
 * Check one dma-buf workload (errors recorded in `r`).
 *
 * @param r The reader.
 * @param v The JSON.
 * @param at Its pointer.
 * @param index Its index (default names and pids).
 * @param topology The machine (null when it is invalid).
 * @param cpus The scenario's CPUs.
 * @returns The workload, or null.
 */
export function dmaBufWorkload(
  r: JsonReader,
  v: unknown,
  at: string,
  index: number,
  topology: Topology | null,
  cpus: number,
): DmaBufWorkload | null {
  const o = r.object(v, at, "a dma-buf workload");
  if (o === null) return null;
  r.keys(o, at, [
    "name",
    "exporter",
    "importer",
    "task",
    "pid",
    "cpu",
    "bytes",
    "buffers",
    "mapsPerBuffer",
    "holdUs",
    "gapUs",
    "flr",
    "faults",
    "importerApi",
    "ioasIova",
    "guestRamBytes",
  ]);
  const before = r.errors.length;
  const e = r.object(o.exporter, `${at}/exporter`, "the exporter: {device, bar}");
  const device = e === null ? null : r.string(e.device, `${at}/exporter/device`, "its BDF");
  const bar = e === null ? null : r.integer(e.bar ?? 0, `${at}/exporter/bar`, "a BAR index", 0, 5);
  const bytes = r.integer(o.bytes ?? 2097152, `${at}/bytes`, "bytes of a buffer", 4096, 2 ** 40);
  if (bytes !== null && bytes % 4096 !== 0) r.error(`${at}/bytes`, "expected a multiple of 4096");
  const buffers = r.integer(o.buffers ?? 1, `${at}/buffers`, "buffers at once", 1, 4096);
  const dev = topology?.devices.find((d) => d.bdf === device);
  let barCpuStart = 0n;
  if (device !== null && topology !== null && dev === undefined) {
    r.error(`${at}/exporter/device`, `expected a device of the topology; ${device} is not one`);
  } else if (dev !== undefined && bar !== null && bytes !== null && buffers !== null) {
    const b = dev.bars.find((x) => x.index === bar && x.mem);
    if (b === undefined) {
      r.error(
        `${at}/exporter/bar`,
        `expected a memory BAR of ${device}; it has none at index ${bar}`,
      );
    } else {
      barCpuStart = b.cpuStart;
      if (BigInt(bytes) * BigInt(buffers) > b.lenBytes) {
        r.error(
          `${at}/bytes`,
          `expected buffers x bytes to fit the BAR (0x${b.lenBytes.toString(16)})`,
        );
      }
    }
  }
  const importer = r.string(o.importer, `${at}/importer`, "the importing device's BDF");
  if (importer !== null && topology !== null && !topology.devices.some((d) => d.bdf === importer)) {
    r.error(`${at}/importer`, `expected a device of the topology; ${importer} is not one`);
  }
  const task = o.task === undefined ? "rdma_app" : r.string(o.task, `${at}/task`, "a task name");
  const pid = r.integer(o.pid ?? 800 + index, `${at}/pid`, "a pid", 1, 4194304);
  const cpu = r.integer(o.cpu ?? 0, `${at}/cpu`, `a CPU below the scenario's ${cpus}`, 0, cpus - 1);
  const mapsPerBuffer = range(r, o.mapsPerBuffer, `${at}/mapsPerBuffer`, "maps", [1, 8], 1);
  const holdUs = range(r, o.holdUs, `${at}/holdUs`, "the time a map is held", [50, 5000]);
  const gapUs = range(r, o.gapUs, `${at}/gapUs`, "the gap between steps", [5, 200]);
  let flr: DmaBufWorkload["flr"] = null;
  if (o.flr !== undefined) {
    const f = r.object(o.flr, `${at}/flr`, "the resets: {everyUs, resetUs}");
    if (f !== null) {
      r.keys(f, `${at}/flr`, ["everyUs", "resetUs"]);
      const every = range(r, f.everyUs, `${at}/flr/everyUs`, "the time between resets", [
        100000,
        200000,
      ], 1);
      const reset = range(r, f.resetUs, `${at}/flr/resetUs`, "a reset's length", [1000, 5000]);
      if (every !== null && reset !== null) flr = { everyUs: every, resetUs: reset };
    }
  }
  const importerApi = r.oneOf(
    o.importerApi ?? "sg",
    `${at}/importerApi`,
    "the importer's API",
    [
      "sg",
      "pfn",
    ] as const,
  );
  const ioasIova = r.integer(
    o.ioasIova ?? 0x8000000000,
    `${at}/ioasIova`,
    "a 4 KiB-aligned IOVA",
    0,
    2 ** 52,
  );
  if (ioasIova !== null && ioasIova % 4096 !== 0) {
    r.error(`${at}/ioasIova`, "expected a multiple of 4096");
  }
  const guestRam = r.integer(
    o.guestRamBytes ?? (importerApi === "pfn" ? 2 ** 32 : 0),
    `${at}/guestRamBytes`,
    "guest RAM bytes, a multiple of 1 GiB",
    0,
    2 ** 46,
  );
  if (guestRam !== null && guestRam % 2 ** 30 !== 0) {
    r.error(`${at}/guestRamBytes`, "expected a multiple of 1 GiB (1073741824)");
  }
  if (
    guestRam !== null && ioasIova !== null && bytes !== null && buffers !== null &&
    guestRam > ioasIova && importerApi === "pfn"
  ) r.error(`${at}/ioasIova`, "expected the buffers above the guest RAM");
  // IOMMU_IOVA_LINK_OVERLAP: a two-range export mapped through the IOMMU (kernel-spec §7.2).
  const linkable = topology === null || device === null || importer === null ? null : () => {
    const d = topology.devices.find((x) => x.bdf === importer);
    const type = d?.iommuDomain ?? topology.iommu.defaultDomain;
    const translated = topology.iommu.present && (type === "dma" || type === "dma-fq");
    return importerApi === "sg" && translated &&
      peerPair(topology, { device, bar: bar ?? 0 }, importer)?.mapType === "THRU_HOST_BRIDGE";
  };
  const faults: DmaBufWorkload["faults"][number][] = [];
  r.array(o.faults ?? [], `${at}/faults`, "the faults")?.forEach((f, i) => {
    const p = `${at}/faults/${i}`;
    const x = r.object(f, p, "a fault");
    if (x === null) return;
    r.keys(x, p, ["code", "after"]);
    const code = r.oneOf(x.code, `${p}/code`, "a dma-buf anomaly code", DMABUF_FAULT_CODES);
    const after = r.integer(
      x.after ?? 1,
      `${p}/after`,
      "which buffer or reset (1-based)",
      1,
      2 ** 40,
    );
    if (code !== null && importerApi === "pfn" && SG_ONLY_FAULTS.has(code)) {
      r.error(
        `${p}/code`,
        `${code} needs dma_buf_unmap_attachment: a "pfn" importer never calls it`,
      );
    } else if (code === "IOMMU_IOVA_LINK_OVERLAP" && !(linkable?.() ?? false)) {
      r.error(
        `${p}/code`,
        `${code} needs an "sg" importer that the IOMMU translates on a pair the kernel sends through the host bridge (the merged code links a second range over the first)`,
      );
    } else if (
      code === "P2P_RANGE_OUT_OF_BAR" && (o.flr !== undefined || importerApi !== "sg")
    ) {
      r.error(
        `${p}/code`,
        `${code} maps a page outside the buffer inside its first map and unmaps it at its unmap: an "sg" importer and no "flr" (a revoke's unmap would come first)`,
      );
    } else if (code === "DMABUF_ATTACH_WITHOUT_P2P" && o.flr !== undefined) {
      r.error(
        `${p}/code`,
        `${code} attaches a static importer, which no revoke reaches: the workload must have no "flr"`,
      );
    } else if (code !== null && DMABUF_RESET_FAULTS.has(code) && o.flr === undefined) {
      r.error(`${p}/code`, `${code} happens at a reset: the workload needs "flr"`);
    } else if (code !== null && after !== null) faults.push({ code, after });
  });
  if (r.errors.length > before) return null;
  return {
    name: typeof o.name === "string" && o.name !== "" ? o.name : `dma-buf ${index}`,
    exporter: { device: device!, bar: bar! },
    importer: importer!,
    task: task!,
    pid: pid!,
    cpu: cpu!,
    bytes: bytes!,
    buffers: buffers!,
    mapsPerBuffer: mapsPerBuffer!,
    holdUs: holdUs!,
    gapUs: gapUs!,
    flr,
    faults,
    importerApi: importerApi!,
    ioasIova: BigInt(ioasIova!),
    guestRamBytes: BigInt(guestRam!),
    barCpuStart,
  };
}
