// The lines an injected fault adds to a map (kernel-spec §7 dma-debug checks): syncs while the
// I/O is in flight, and what comes after its unmap (a second unmap, a late sync, a late DMA).

import type { DmaDevice, DmaSegment } from "../model/dma/mod.ts";
import type { P2pdmaMapType } from "../model/topology/mod.ts";
import type { StreamWorkload, SynthDir, SynthFaultCode } from "./scenario.ts";
import { dmaUnmapPageBody, dmaUnmapSgBody } from "./ftrace_text.ts";

/** One line a fault adds: its event, its printed fields and the anomaly it shows. */
export interface FaultEvent {
  readonly event: string;
  readonly body: string;
  readonly code: SynthFaultCode;
}

/** The map a fault is in. */
export interface FaultTarget {
  readonly phys: readonly bigint[];
  readonly bytes: number;
  readonly dmaAddr: bigint;
  readonly iova: bigint;
  readonly faults: readonly SynthFaultCode[];
  /** A coherent allocation's CPU address. */
  readonly cpuAddr?: string;
}

/** A direction other than `d` (for the faults that need a wrong one). */
export function otherDir(d: SynthDir): SynthDir {
  return d === "FROM_DEVICE" ? "TO_DEVICE" : "FROM_DEVICE";
}

function sync(
  w: StreamWorkload,
  code: SynthFaultCode,
  forCpu: boolean,
  dir: string,
  addr: bigint,
  size: number,
) {
  return {
    event: forCpu ? "dma_sync_single_for_cpu" : "dma_sync_single_for_device",
    body: `${w.device} dir=${dir} dma_addr=${addr.toString(16)} size=${size}`,
    code,
  };
}

/**
 * What its faults add right after a map: syncs during the mapping's life, and an IOMMU mapping
 * of the driver's own (no DMA-API call owns it, no unmanaged domain explains it).
 */
export function afterMapFaultEvents(
  w: StreamWorkload,
  m: FaultTarget,
  serial: number,
): FaultEvent[] {
  // The direction a driver syncs in without error: for the CPU after a device write.
  const okCpu = w.dir !== "TO_DEVICE";
  const out: FaultEvent[] = [];
  for (const f of m.faults) {
    if (f === "DMA_SYNC_OUT_OF_RANGE") out.push(sync(w, f, okCpu, w.dir, m.dmaAddr + 1n, m.bytes));
    else if (f === "DMA_SYNC_DIR_MISMATCH") {
      out.push(sync(w, f, okCpu, otherDir(w.dir), m.dmaAddr, 1));
    } else if (f === "DMA_SYNC_TO_DEVICE_FOR_CPU") out.push(sync(w, f, true, w.dir, m.dmaAddr, 1));
    else if (f === "DMA_SYNC_FROM_DEVICE_FOR_DEVICE") {
      out.push(sync(w, f, false, w.dir, m.dmaAddr, 1));
    } else if (f === "IOMMU_MAP_WITHOUT_DMA_OWNER") {
      // Below the allocator's range (it hands out from the top of the 32-bit space down).
      const iova = 0x100000n + (BigInt(serial) << 12n);
      const paddr = m.phys[0]!;
      const hex16 = (v: bigint) => v.toString(16).padStart(16, "0");
      out.push({
        event: "map",
        body: `IOMMU: iova=0x${hex16(iova)} - 0x${hex16(iova + 4096n)} paddr=0x${
          hex16(paddr)
        } size=4096`,
        code: f,
      });
      out.push({
        event: "unmap",
        body: `IOMMU: iova=0x${hex16(iova)} - 0x${
          hex16(iova + 4096n)
        } size=4096 unmapped_size=4096`,
        code: f,
      });
    }
  }
  return out;
}

/** What its faults add after a map's unmap: a second unmap, a late sync, a device's late DMA. */
export function afterUnmapFaultEvents(
  w: StreamWorkload,
  m: FaultTarget,
  driver = "pci",
): FaultEvent[] {
  const out: FaultEvent[] = [];
  for (const f of m.faults) {
    if (f === "DMA_UNMAP_NOT_MAPPED") {
      // Unmapped twice: dma-debug finds nothing at the address the second time.
      out.push(
        w.api === "coherent"
          ? {
            event: "dma_free",
            body: `${w.device} dir=BIDIRECTIONAL dma_addr=${
              m.dmaAddr.toString(16)
            } size=${m.bytes} virt_addr=${m.cpuAddr} attrs=`,
            code: f,
          }
          : w.api === "sg"
          ? { event: "dma_unmap_sg", body: dmaUnmapSgBody(w.device, w.dir, m.phys), code: f }
          : {
            event: "dma_unmap_page",
            body: dmaUnmapPageBody(w.device, w.dir, m.dmaAddr, m.bytes),
            code: f,
          },
      );
    } else if (f === "DMA_SYNC_NOT_MAPPED") {
      out.push(sync(w, f, w.dir !== "TO_DEVICE", w.dir, m.dmaAddr, Math.min(m.bytes, 4096)));
    } else if (f === "IOMMU_FAULT_AFTER_UNMAP") {
      // The device still writes to the IOVA: a DMAR fault.
      out.push({
        event: "io_page_fault",
        body: `IOMMU:${driver} ${w.device} iova=0x${
          m.iova.toString(16).padStart(16, "0")
        } flags=0x0020`,
        code: f,
      });
    }
  }
  return out;
}

/** Faults that need the workload's largest map (more than one entry or segment). */
export const LARGEST: ReadonlySet<string> = new Set([
  "DMA_UNMAP_SG_NENTS_MISMATCH",
  "DMA_SG_SEGMENT_TOO_LONG",
  "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
]);

/** Faults shown by the dma_map_sg line itself. */
export const SG_FAULTS: ReadonlySet<string> = new Set([
  "P2P_WRONG_PATH",
  "P2P_NOT_SUPPORTED_PATH",
  "P2P_DMA_ADDR_MISMATCH",
  "DMA_SG_SEGMENT_TOO_LONG",
  "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
]);

/**
 * The DMA segments dma_map_sg prints, as the faults bend them (a merge bug): one segment past
 * the device's max segment size, or the first across its segment boundary.
 */
export function badSegments(
  segs: readonly DmaSegment[],
  faults: readonly SynthFaultCode[],
  dev: DmaDevice,
): [bigint[], number[]] {
  const addrs = segs.map((x) => x.dmaAddr);
  const lens = segs.map((x) => x.lengthBytes);
  if (faults.includes("DMA_SG_SEGMENT_TOO_LONG")) {
    return [[addrs[0]!], [lens.reduce((a, b) => a + b, 0)]];
  }
  if (faults.includes("DMA_SG_SEGMENT_CROSSES_BOUNDARY")) {
    // Just below the second boundary: across it, and clear of every IOVA the allocator hands
    // out (from the top of the 32-bit space down).
    addrs[0] = (dev.segmentBoundary + 1n) * 2n - 0x1000n;
  }
  return [addrs, lens];
}

/**
 * How a map's P2P entries are classified, as its fault bends it: P2P_WRONG_PATH through the
 * IOMMU although the pair has a bus path (the v2-2022 way); P2P_NOT_SUPPORTED_PATH by bus
 * address although the kernel refuses the pair; P2P_DMA_ADDR_MISMATCH by bus address without
 * the BAR's bus offset (phys, as v2-2022 gave on platforms whose host bridge translates).
 */
export function p2pFaultClassifier(
  base: (phys: bigint) => { mapType: P2pdmaMapType; busOffset: bigint } | null,
  faults: readonly SynthFaultCode[],
): (phys: bigint) => { mapType: P2pdmaMapType; busOffset: bigint } | null {
  const bend = faults.includes("P2P_WRONG_PATH")
    ? { mapType: "THRU_HOST_BRIDGE" as const }
    : faults.includes("P2P_NOT_SUPPORTED_PATH")
    ? { mapType: "BUS_ADDR" as const }
    : faults.includes("P2P_DMA_ADDR_MISMATCH")
    ? { busOffset: 0n }
    : null;
  if (bend === null) return base;
  return (phys) => {
    const c = base(phys);
    return c === null ? null : { ...c, ...bend };
  };
}

/**
 * IOMMU_IOVA_MISMATCH: `iommu_dma_map_phys` as a kernel whose allocator differs from the model
 * would run it: the IOVA comes from a range never used before, far below where the allocator
 * looks (from pfn `from` up: the caller moves it on, since a used one sits in an rcache where a
 * replay would predict it), claimed as a replay claims a kernel IOVA it did not predict, so that
 * the synthesizer's model and a replay's stay the same afterwards.
 *
 * @returns The DMA address, IOVA bytes and the pfn after the range, or null when none was free.
 */
export function mapAtUnpredictedIova(
  dev: DmaDevice,
  phys: bigint,
  sizeBytes: bigint,
  cpu: number,
  nowNs: number,
  from: number,
): { dmaAddr: bigint; iovaBytes: bigint; next: number } | null {
  const d = dev.domain!;
  d.advanceTo(nowNs);
  const g = BigInt(d.iova.granule);
  const off = phys & (g - 1n);
  const len = ((sizeBytes + off + g - 1n) / g) * g;
  const pages = Number(len / g);
  for (let pfn = from; pfn < from + 0x10000; pfn += 64) {
    if (d.rcaches.claimPfn(pfn, pages, cpu) === "conflict") continue;
    const iova = BigInt(pfn) << BigInt(d.iova.shift);
    if (d.pageTable.iommuMap(iova, phys - off, len).errno !== 0) return null;
    ++d.invalidation.syncMaps;
    return { dmaAddr: iova + off, iovaBytes: len, next: pfn + Math.max(64, pages) };
  }
  return null;
}
