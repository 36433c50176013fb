/**
 * `dma_map_sg()` of a scatter-gather list (kernel-spec §6.4): dma-iommu's
 * `iommu_dma_map_sg()` (one contiguous IOVA for the granule-aligned entries, padded so no entry
 * straddles the segment boundary; `iommu_map_sg` maps each physically contiguous run; the output
 * list merges entries as `__finalise_sg` does; P2P entries by bus address skip the IOVA) and
 * `dma_direct_map_sg()` (per entry, no merging); with their unmaps.
 *
 * @module
 */

import type { P2pdmaMapType } from "../topology/mod.ts";
import { iommuDmaAllocIova } from "../iommu/mod.ts";
import { DMA_MAPPING_ERROR as U64_MASK, type DmaDevice, useDmaIommu } from "./dma_device.ts";

/** One input entry: CPU physical address and length. */
export interface SgEntry {
  /** CPU physical address (`sg_phys`). */
  readonly phys: bigint;
  /** Bytes. */
  readonly lengthBytes: number;
}

/** The P2P type of a physical address and its provider's bus offset; null for RAM (NONE). */
export type P2pClassifier = (
  phys: bigint,
) => { readonly mapType: P2pdmaMapType; readonly busOffset: bigint } | null;

/** One output (DMA) segment. */
export interface DmaSegment {
  /** DMA address. */
  readonly dmaAddr: bigint;
  /** Bytes. */
  readonly lengthBytes: number;
  /** A P2P bus address (not IOVA-mapped; skipped by unmap). */
  readonly bus: boolean;
}

/** Result of {@linkcode dmaMapSg}. */
export interface DmaMapSgResult {
  /** 0, or the errno (`EREMOTEIO` an unsupported P2P entry, `ENOMEM` no IOVA, `EINVAL`). */
  readonly errno: 0 | "EREMOTEIO" | "ENOMEM" | "EINVAL";
  /** The output list ("ents" of the dma_map_sg event is its length). */
  readonly segments: readonly DmaSegment[];
  /** The IOVA of the list (0n when none: dma-direct, or bus entries only). */
  readonly iova: bigint;
  /** Bytes of IOVA (the padded, granule-aligned sum). */
  readonly iovaBytes: bigint;
  /** `iommu:map` calls (one per physically contiguous run). */
  readonly mapRuns: readonly {
    readonly iova: bigint;
    readonly phys: bigint;
    readonly sizeBytes: bigint;
  }[];
  /** Leaf PTEs written. */
  readonly pteWrites: number;
  /**
   * A bus entry's length differs from the first entry's, so its DMA length is wrong (the
   * kernel quirk of kernel-spec §6.4; an anomaly candidate).
   */
  readonly busLengthQuirk: boolean;
}

const none = (errno: DmaMapSgResult["errno"]): DmaMapSgResult => ({
  errno,
  segments: [],
  iova: 0n,
  iovaBytes: 0n,
  mapRuns: [],
  pteWrites: 0,
  busLengthQuirk: false,
});

function dmaDirectMapSg(entries: readonly SgEntry[], classify: P2pClassifier): DmaMapSgResult {
  const segments: DmaSegment[] = [];
  for (const s of entries) {
    const p = classify(s.phys);
    if (p !== null && p.mapType === "BUS_ADDR") {
      segments.push({
        dmaAddr: (s.phys + p.busOffset) & U64_MASK,
        lengthBytes: s.lengthBytes,
        bus: true,
      });
    } else if (p === null || p.mapType === "THRU_HOST_BRIDGE" || p.mapType === "NONE") {
      segments.push({ dmaAddr: s.phys, lengthBytes: s.lengthBytes, bus: false });
    } else return none("EREMOTEIO");
  }
  return {
    errno: 0,
    segments,
    iova: 0n,
    iovaBytes: 0n,
    mapRuns: [],
    pteWrites: 0,
    busLengthQuirk: false,
  };
}

/**
 * `dma_map_sg(dev, sg, nents, dir)`.
 *
 * @param dev The device.
 * @param entries The input list.
 * @param classify P2P type of an address (null for RAM).
 * @param cpu The mapping CPU.
 * @param nowNs Trace time.
 * @returns The output list and what the mapping cost.
 *
 * @example kernel-spec §11 test 36
 * ```ts
 * import assert from "node:assert/strict";
 * import { IommuDmaDomain } from "../iommu/mod.ts";
 * import { dmaMapSg, newDmaDevice } from "./mod.ts";
 * const dev = newDmaDevice("0000:00:02.0", new IommuDmaDomain());
 * const r = dmaMapSg(dev, [
 *   { phys: 0x1000_0000n, lengthBytes: 0x1000 },
 *   { phys: 0x2000_0000n, lengthBytes: 0x1000 },
 *   { phys: 0x3000_0800n, lengthBytes: 0x800 },
 * ], () => null, 0, 0);
 * assert.equal(r.iova, 0xffffc000n);
 * assert.deepEqual(r.segments.map((s) => [s.dmaAddr, s.lengthBytes]), [[0xffffc000n, 0x2000], [0xffffe800n, 0x800]]);
 * assert.equal(r.mapRuns.length, 3);
 * ```
 */
export function dmaMapSg(
  dev: DmaDevice,
  entries: readonly SgEntry[],
  classify: P2pClassifier,
  cpu: number,
  nowNs: number,
): DmaMapSgResult {
  if (entries.length === 0) return none("EINVAL");
  if (dev.domain !== null && dev.domain.type === "blocked") return none("EINVAL");
  if (!useDmaIommu(dev)) return dmaDirectMapSg(entries, classify);
  const d = dev.domain!;
  d.advanceTo(nowNs);
  const g = BigInt(d.iova.granule);
  const mask = dev.segmentBoundary;
  // Pass 1: classify, align, pad (iommu_dma_map_sg).
  const n = entries.length;
  const bus = new Array<boolean>(n).fill(false);
  const busAddr = new Array<bigint>(n).fill(0n);
  const iovaOff = new Array<bigint>(n).fill(0n);
  const paddedLen = new Array<bigint>(n).fill(0n);
  let iovaLen = 0n;
  let prev = -1;
  for (let i = 0; i < n; ++i) {
    const s = entries[i]!;
    const p = classify(s.phys);
    if (p !== null && p.mapType === "BUS_ADDR") {
      bus[i] = true;
      busAddr[i] = (s.phys + p.busOffset) & U64_MASK; // pci_p2pdma_bus_addr_map wraps
      continue;
    }
    if (p !== null && p.mapType !== "THRU_HOST_BRIDGE" && p.mapType !== "NONE") {
      return none("EREMOTEIO");
    }
    const off = s.phys & (g - 1n);
    const sLen = ((BigInt(s.lengthBytes) + off + g - 1n) / g) * g;
    iovaOff[i] = off;
    paddedLen[i] = sLen;
    const pad = (mask - iovaLen + 1n) & mask; // bytes to the next segment boundary
    if (pad !== 0n && pad < sLen - 1n && prev >= 0) {
      paddedLen[prev] = paddedLen[prev]! + pad;
      iovaLen += pad;
    }
    iovaLen += sLen;
    prev = i;
  }
  let iova = 0n;
  const mapRuns: { iova: bigint; phys: bigint; sizeBytes: bigint }[] = [];
  let pteWrites = 0;
  if (iovaLen > 0n) {
    iova = iommuDmaAllocIova(d.rcaches, iovaLen, dev.dmaMask, dev.iovaState, { cpu, nowNs });
    if (iova === 0n) return none("ENOMEM");
    // iommu_map_sg: one __iommu_map per physically contiguous run of the aligned entries.
    let mapped = 0n;
    let start = -1n;
    let len = 0n;
    const flush = (): boolean => {
      const m = d.pageTable.iommuMap(iova + mapped, start, len, true);
      if (m.errno !== 0) return false;
      mapRuns.push({ iova: iova + mapped, phys: start, sizeBytes: len });
      pteWrites += m.pteWrites;
      mapped += len;
      len = 0n;
      return true;
    };
    for (let i = 0; i < n; ++i) {
      if (bus[i]) continue;
      const sPhys = entries[i]!.phys - iovaOff[i]!;
      if (len > 0n && sPhys !== start + len && !flush()) return unwind();
      if (len > 0n) len += paddedLen[i]!;
      else {
        len = paddedLen[i]!;
        start = sPhys;
      }
    }
    if (len > 0n && !flush()) return unwind();
    ++d.invalidation.syncMaps; // one iotlb_sync_map for the whole range
  }
  // __finalise_sg: the output list.
  const segments: DmaSegment[] = [];
  const firstLen = entries[0]!.lengthBytes; // sic: a bus entry's length is the FIRST entry's (kernel quirk)
  let dmaAddr = iova;
  let curLen = 0;
  let busLengthQuirk = false;
  for (let i = 0; i < n; ++i) {
    if (bus[i]) {
      if (entries[i]!.lengthBytes !== firstLen) busLengthQuirk = true;
      segments.push({ dmaAddr: busAddr[i]!, lengthBytes: firstLen, bus: true });
      curLen = 0;
      continue;
    }
    const sLength = entries[i]!.lengthBytes;
    const off = iovaOff[i]!;
    const last = segments[segments.length - 1];
    if (
      curLen > 0 && off === 0n && (dmaAddr & mask) !== 0n &&
      dev.maxSegmentSize - curLen >= sLength && last && !last.bus
    ) {
      curLen += sLength;
      segments[segments.length - 1] = { dmaAddr: last.dmaAddr, lengthBytes: curLen, bus: false };
    } else {
      curLen = sLength;
      segments.push({ dmaAddr: dmaAddr + off, lengthBytes: curLen, bus: false });
    }
    dmaAddr += paddedLen[i]!;
    if (BigInt(sLength) + off < paddedLen[i]!) curLen = 0; // ends mid-granule: nothing merges after
  }
  return { errno: 0, segments, iova, iovaBytes: iovaLen, mapRuns, pteWrites, busLengthQuirk };

  function unwind(): DmaMapSgResult {
    for (const r of mapRuns) d.pageTable.iommuUnmap(r.iova, r.sizeBytes);
    d.rcaches.freeIovaFast(Number(iova >> BigInt(d.iova.shift)), Number(iovaLen / g), cpu, nowNs);
    return none("EINVAL");
  }
}

/**
 * `dma_unmap_sg()`: dma-iommu unmaps the single range from the first IOVA segment to the end of
 * the last (bus segments skipped) and frees or queues it; dma-direct does nothing.
 *
 * @param dev The device.
 * @param segments The output list of the map.
 * @param cpu The unmapping CPU.
 * @param nowNs Trace time.
 * @returns Bytes unmapped.
 */
export function dmaUnmapSg(
  dev: DmaDevice,
  segments: readonly DmaSegment[],
  cpu: number,
  nowNs: number,
): bigint {
  if (!useDmaIommu(dev)) return 0n;
  let start = -1n;
  let end = 0n;
  for (const s of segments) {
    if (s.bus) continue;
    if (s.lengthBytes === 0) break;
    if (start < 0n) start = s.dmaAddr;
    end = s.dmaAddr + BigInt(s.lengthBytes);
  }
  if (start < 0n) return 0n;
  const d = dev.domain!;
  d.advanceTo(nowNs);
  const g = BigInt(d.iova.granule);
  const off = start & (g - 1n);
  const len = ((end - start + off + g - 1n) / g) * g;
  return d.unmapAndFree(start - off, len, cpu, nowNs);
}
