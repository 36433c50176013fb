/**
 * ftrace text as the kernel writes it (kernel-spec §1): the per-event prefix of
 * `print_trace_fmt` (task right-aligned in 16, pid left-aligned in 7, CPU in 3 digits, the
 * five irq/preempt flag columns, a seconds.microseconds timestamp) and the bodies of the
 * events the synthesizer writes, in the print formats of 6.12 (`kernel-formats/linux-6.12.95`).
 *
 * @module
 */

/** Who an event ran as: its task, pid, CPU and the latency-format flags. */
export interface TraceContext {
  /** `comm`. */
  readonly task: string;
  /** pid. */
  readonly pid: number;
  /** CPU. */
  readonly cpu: number;
  /** The five flag columns (`.....`, `d.h1.` in a hardirq, `dNs2.` in softirq). */
  readonly flags: string;
}

/** A task in process context. */
export const PROCESS_FLAGS = ".....";
/** A completion interrupt. */
export const HARDIRQ_FLAGS = "d.h1.";
/** The flush-queue timer (softirq). */
export const SOFTIRQ_FLAGS = "dNs2.";

/**
 * One trace line.
 *
 * @param c Who.
 * @param tsNs When (nanoseconds; printed in microseconds).
 * @param event The event name.
 * @param body Its printed fields.
 * @returns The line, with its newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { traceLine } from "./mod.ts";
 * assert.equal(
 *   traceLine({ task: "dd", pid: 494, cpu: 1, flags: "....." }, 8_588_117_000, "iova_alloc", "x"),
 *   "              dd-494     [001] .....     8.588117: iova_alloc: x\n",
 * );
 * ```
 */
export function traceLine(c: TraceContext, tsNs: number, event: string, body: string): string {
  const us = Math.floor(tsNs / 1000);
  const sec = Math.floor(us / 1e6);
  const frac = String(us - sec * 1e6).padStart(6, "0");
  return `${c.task.padStart(16)}-${String(c.pid).padEnd(7)} [${
    String(c.cpu).padStart(3, "0")
  }] ${c.flags} ${String(sec).padStart(5)}.${frac}: ${event}: ${body}\n`;
}

const hex16 = (v: bigint) => v.toString(16).padStart(16, "0");

/**
 * `iommu:map` (`IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu`).
 *
 * @param iova IOVA.
 * @param paddr Physical address.
 * @param size Bytes.
 * @returns The body.
 */
export function iommuMapBody(iova: bigint, paddr: bigint, size: bigint): string {
  return `IOMMU: iova=0x${hex16(iova)} - 0x${hex16(iova + size)} paddr=0x${
    hex16(paddr)
  } size=${size}`;
}

/**
 * `iommu:unmap` (`IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu`).
 *
 * @param iova IOVA.
 * @param size Bytes asked.
 * @param unmapped Bytes unmapped.
 * @returns The body.
 */
export function iommuUnmapBody(iova: bigint, size: bigint, unmapped: bigint): string {
  return `IOMMU: iova=0x${hex16(iova)} - 0x${
    hex16(iova + size)
  } size=${size} unmapped_size=${unmapped}`;
}

/**
 * `dma:dma_map_page` (`%s dir=%s dma_addr=%llx size=%zu phys_addr=%llx attrs=%s`).
 *
 * @param dev Device name.
 * @param dir Direction.
 * @param dma DMA address.
 * @param size Bytes.
 * @param phys Physical address.
 * @returns The body.
 */
export function dmaMapPageBody(
  dev: string,
  dir: string,
  dma: bigint,
  size: number,
  phys: bigint,
): string {
  return `${dev} dir=${dir} dma_addr=${dma.toString(16)} size=${size} phys_addr=${
    phys.toString(16)
  } attrs=`;
}

/**
 * `dma:dma_unmap_page` (`%s dir=%s dma_addr=%llx size=%zu attrs=%s`).
 *
 * @param dev Device name.
 * @param dir Direction.
 * @param dma DMA address.
 * @param size Bytes.
 * @returns The body.
 */
export function dmaUnmapPageBody(dev: string, dir: string, dma: bigint, size: number): string {
  return `${dev} dir=${dir} dma_addr=${dma.toString(16)} size=${size} attrs=`;
}

const arr = (xs: readonly bigint[]) => `{${xs.map((x) => "0x" + x.toString(16)).join(",")}}`;

/**
 * `dma:dma_map_sg` (`%s dir=%s nents=%d/%d ents=%d/%d%s dma_addrs=%s sizes=%s phys_addrs=%s
 * attrs=%s`), at most 128 entries.
 *
 * @param dev Device name.
 * @param dir Direction.
 * @param phys The entries' physical addresses.
 * @param dma The DMA segments' addresses.
 * @param sizes The DMA segments' lengths.
 * @returns The body.
 */
export function dmaMapSgBody(
  dev: string,
  dir: string,
  phys: readonly bigint[],
  dma: readonly bigint[],
  sizes: readonly number[],
): string {
  return `${dev} dir=${dir} nents=${phys.length}/${phys.length} ents=${dma.length}/${dma.length} dma_addrs=${
    arr(dma)
  } sizes=${arr(sizes.map(BigInt))} phys_addrs=${arr(phys)} attrs=NO_WARN`;
}

/**
 * `dma:dma_unmap_sg` (`%s dir=%s phys_addrs=%s attrs=%s`).
 *
 * @param dev Device name.
 * @param dir Direction.
 * @param phys The entries' physical addresses.
 * @returns The body.
 */
export function dmaUnmapSgBody(dev: string, dir: string, phys: readonly bigint[]): string {
  return `${dev} dir=${dir} phys_addrs=${arr(phys)} attrs=`;
}

/**
 * The `iova_alloc` kretprobe of the capture recipe (on `alloc_iova_fast`; 6.12 prints the
 * returned pfn in decimal).
 *
 * @param pfn The pfn returned.
 * @returns The body.
 */
export function iovaAllocBody(pfn: number): string {
  return `(iommu_dma_alloc_iova+0xd4/0x120 <- alloc_iova_fast) ret=${pfn}`;
}

/**
 * The `iova_free` kprobe of the capture recipe (on `free_iova_fast`).
 *
 * @param pfn The pfn freed.
 * @param pages Its size in pages.
 * @returns The body.
 */
export function iovaFreeBody(pfn: number, pages: number): string {
  return `(free_iova_fast+0x4/0x140) pfn=0x${pfn.toString(16)} size=0x${pages.toString(16)}`;
}
