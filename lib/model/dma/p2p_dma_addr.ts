/**
 * What a correct DMA address of peer memory is, by the pair's path (kernel-spec §3.6): the
 * bus address (CPU physical + the provider's bus offset) for `BUS_ADDR`, the CPU physical
 * address for `THRU_HOST_BRIDGE` without an IOMMU and an IOVA with one, and a failed map for
 * `NOT_SUPPORTED`. The replay checks the trace's addresses with it, and a revision's
 * addresses (v2-2022's IOVA for a switch pair).
 *
 * @module
 */

import type { P2pdmaMapType } from "../topology/mod.ts";
import { DMA_MAPPING_ERROR } from "./dma_device.ts";

/** What is wrong with a P2P DMA address, or null when nothing is. */
export interface P2pDmaAddrVerdict {
  /** The anomaly code. */
  readonly code: "P2P_WRONG_PATH" | "P2P_DMA_ADDR_MISMATCH" | "P2P_NOT_SUPPORTED_PATH";
  /** Why, in a few words. */
  readonly why: string;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/**
 * Check one DMA address a map of peer memory returned.
 *
 * @param mapType The pair's path.
 * @param translates The importer's DMA goes through IOMMU translation (DMA / DMA-FQ domain).
 * @param phys The CPU physical address mapped.
 * @param busOffset The provider's bus offset.
 * @param dmaAddr The DMA address returned (`DMA_MAPPING_ERROR` when the map failed).
 * @returns The verdict, or null when the address is right (a failed map always is).
 *
 * @example v2-2022 under an IOMMU gives a switch pair an IOVA: the peer cannot decode it
 * ```ts
 * import assert from "node:assert/strict";
 * import { p2pDmaAddrVerdict } from "./mod.ts";
 * assert.equal(p2pDmaAddrVerdict("BUS_ADDR", true, 0x383000000000n, 0n, 0xfffe0000n)?.code, "P2P_WRONG_PATH");
 * assert.equal(p2pDmaAddrVerdict("BUS_ADDR", true, 0x383000000000n, 0n, 0x383000000000n), null);
 * ```
 */
export function p2pDmaAddrVerdict(
  mapType: P2pdmaMapType,
  translates: boolean,
  phys: bigint,
  busOffset: bigint,
  dmaAddr: bigint,
): P2pDmaAddrVerdict | null {
  if (dmaAddr === DMA_MAPPING_ERROR) return null; // failed: what the kernel does for NOT_SUPPORTED
  const bus = (phys + busOffset) & DMA_MAPPING_ERROR;
  if (mapType === "NOT_SUPPORTED") {
    return {
      code: "P2P_NOT_SUPPORTED_PATH",
      why: `the kernel refuses this pair, yet got ${hex(dmaAddr)}`,
    };
  }
  if (mapType === "BUS_ADDR") {
    if (dmaAddr === bus) return null;
    if (translates && dmaAddr !== phys) {
      return {
        code: "P2P_WRONG_PATH",
        why: `an IOVA ${hex(dmaAddr)} for a bus-address pair (peer needs ${hex(bus)})`,
      };
    }
    return {
      code: "P2P_DMA_ADDR_MISMATCH",
      why: `got ${hex(dmaAddr)}, the bus address is ${hex(bus)}`,
    };
  }
  if (mapType === "THRU_HOST_BRIDGE") {
    if (!translates) {
      if (dmaAddr === phys) return null;
      if (dmaAddr === bus) {
        return {
          code: "P2P_WRONG_PATH",
          why: `the bus address ${hex(bus)} for a host-bridge pair (needs ${hex(phys)})`,
        };
      }
      return { code: "P2P_DMA_ADDR_MISMATCH", why: `got ${hex(dmaAddr)}, expected ${hex(phys)}` };
    }
    if (dmaAddr === bus) {
      return {
        code: "P2P_WRONG_PATH",
        why: `the bus address ${hex(bus)} under an IOMMU for a host-bridge pair`,
      };
    }
  }
  return null;
}
