/**
 * The faults a scenario can inject (README "Synthesizer"): the anomaly codes, and what each needs
 * of the workload it goes into (a streaming sg workload for the sg segment checks, a device the
 * IOMMU translates for the IOMMU codes, a peer pair of the right map type for the P2P ones).
 *
 * @module
 */

import { peerPair } from "./_buffers.ts";
import type { JsonReader } from "../ingest/mod.ts";
import type { Topology } from "../model/topology/mod.ts";
import type { Workload } from "./scenario.ts";

/** The anomaly codes the synthesizer can inject (README "Synthesizer"). */
export const SYNTH_FAULT_CODES = [
  "DMA_UNMAP_NOT_MAPPED",
  "DMA_UNMAP_SIZE_MISMATCH",
  "DMA_UNMAP_DIR_MISMATCH",
  "DMA_UNMAP_SG_NENTS_MISMATCH",
  "DMA_SG_SEGMENT_TOO_LONG",
  "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
  "DMA_UNMAP_TYPE_MISMATCH",
  "DMA_FREE_CPU_ADDR_MISMATCH",
  "DMA_SYNC_NOT_MAPPED",
  "DMA_SYNC_OUT_OF_RANGE",
  "DMA_SYNC_DIR_MISMATCH",
  "DMA_SYNC_TO_DEVICE_FOR_CPU",
  "DMA_SYNC_FROM_DEVICE_FOR_DEVICE",
  "DMA_LEAK_AT_END",
  "IOMMU_FAULT_AFTER_UNMAP",
  "IOMMU_MAP_WITHOUT_DMA_OWNER",
  "P2P_WRONG_PATH",
  "P2P_NOT_SUPPORTED_PATH",
  "P2P_DMA_ADDR_MISMATCH",
  "IOMMU_IOVA_MISMATCH",
] as const;

/** An injectable anomaly code. */
export type SynthFaultCode = typeof SYNTH_FAULT_CODES[number];

/** A fault to inject: into the `after`-th map of a workload (its map, or its unmap). */
export interface SynthFault {
  /** The anomaly it makes. */
  readonly code: SynthFaultCode;
  /** The workload (index). */
  readonly workload: number;
  /** Which of its maps (1-based). */
  readonly after: number;
}

/** What a fault needs of its workload, or "" when it fits. */
function faultMisfit(code: SynthFaultCode, w: Workload, topology: Topology | null): string {
  const translated = () => {
    const d = topology?.devices.find((x) => x.bdf === w.device);
    const type = d?.iommuDomain ?? topology?.iommu.defaultDomain;
    return topology?.iommu.present === true && (type === "dma" || type === "dma-fq");
  };
  const coherent = w.api === "coherent";
  const pair = () =>
    w.peer === null || topology === null ? null : peerPair(topology, w.peer, w.device);
  if (code.startsWith("DMA_SYNC_") || code === "DMA_UNMAP_DIR_MISMATCH") {
    if (coherent) return 'a streaming workload (api "sg" or "page"): coherent memory is not synced';
  }
  const dma = topology?.devices.find((x) => x.bdf === w.device)?.dma;
  const largest = Math.max(...w.sizes.map((x) => x.bytes));
  switch (code) {
    case "DMA_SG_SEGMENT_TOO_LONG":
      return w.api === "sg" && dma?.maxSegmentSizeStated === true && largest > dma.maxSegmentSize
        ? ""
        : "an sg workload on a device whose stated dma.maxSegmentSize is below its largest map";
    case "DMA_SG_SEGMENT_CROSSES_BOUNDARY":
      return w.api === "sg" && largest >= 8192 && w.peer === null
        ? ""
        : "an sg workload on RAM with a size of two pages or more";
    case "DMA_UNMAP_TYPE_MISMATCH":
    case "DMA_FREE_CPU_ADDR_MISMATCH":
      return coherent ? "" : 'a workload with api "coherent"';
    case "DMA_UNMAP_SIZE_MISMATCH":
      return w.api === "page" ? "" : 'a workload with api "page" (dma-debug checks no sg size)';
    case "DMA_UNMAP_SG_NENTS_MISMATCH":
      return w.api === "sg" && w.sizes.some((x) => x.bytes > 4096)
        ? ""
        : 'a workload with api "sg" and a size above one page';
    case "DMA_SYNC_DIR_MISMATCH":
      return w.dir !== "BIDIRECTIONAL" ? "" : "a workload mapping TO_DEVICE or FROM_DEVICE";
    case "DMA_SYNC_TO_DEVICE_FOR_CPU":
      return w.dir === "TO_DEVICE" ? "" : "a workload mapping TO_DEVICE";
    case "DMA_SYNC_FROM_DEVICE_FOR_DEVICE":
      return w.dir === "FROM_DEVICE" ? "" : "a workload mapping FROM_DEVICE";
    case "IOMMU_FAULT_AFTER_UNMAP":
    case "IOMMU_MAP_WITHOUT_DMA_OWNER":
      return translated() ? "" : "a workload whose device the IOMMU translates";
    case "P2P_WRONG_PATH":
      return w.peer !== null && translated()
        ? ""
        : "a peer-to-peer workload on a translated device";
    case "IOMMU_IOVA_MISMATCH": {
      const d = topology?.devices.find((x) => x.bdf === w.device);
      const type = d?.iommuDomain ?? topology?.iommu.defaultDomain;
      return w.api === "page" && w.peer === null && translated() && type === "dma"
        ? ""
        : 'a workload with api "page" on RAM whose device a strict IOMMU domain translates';
    }
    case "P2P_NOT_SUPPORTED_PATH":
      return w.peer !== null && pair()?.mapType === "NOT_SUPPORTED"
        ? ""
        : "a peer-to-peer workload on a pair the kernel refuses (NOT_SUPPORTED)";
    case "P2P_DMA_ADDR_MISMATCH": {
      const p = pair();
      return w.peer !== null && p?.mapType === "BUS_ADDR" && p.busOffset !== 0n
        ? ""
        : "a peer-to-peer workload on a bus-address pair whose BAR has a bus offset";
    }
    default:
      return "";
  }
}

/** One entry of a scenario's `faults`, checked against its workload; null when it has errors. */
export function fault(
  r: JsonReader,
  v: unknown,
  at: string,
  workloads: readonly Workload[],
  count: number,
  topology: Topology | null,
): SynthFault | null {
  const o = r.object(v, at, "a fault");
  if (o === null) return null;
  r.keys(o, at, ["code", "workload", "after"]);
  const code = r.oneOf(o.code, `${at}/code`, "an injectable anomaly code", SYNTH_FAULT_CODES);
  const wi = r.integer(
    o.workload ?? 0,
    `${at}/workload`,
    "a workload index",
    0,
    Math.max(0, count - 1),
  );
  const after = r.integer(
    o.after ?? 1,
    `${at}/after`,
    "which map (1-based)",
    1,
    Number.MAX_SAFE_INTEGER,
  );
  if (code === null || wi === null || after === null) return null;
  const w = workloads[wi];
  if (w === undefined) return null; // the workload's own errors are reported
  if (code === "IOMMU_IOVA_MISMATCH" && after <= 32) {
    r.error(
      `${at}/after`,
      "expected a map after the 32nd: a replay takes a domain's first 32 allocations as warm-up",
    );
    return null;
  }
  const misfit = faultMisfit(code, w, topology);
  if (misfit !== "") {
    r.error(`${at}/code`, `${code} needs ${misfit}; workload ${wi} is not one`);
    return null;
  }
  return { code, workload: wi, after };
}
