// dma-debug's check_sg_segment (kernel/dma/debug.c): each DMA segment of an sg list against the
// device's max segment size and segment boundary, in its own unit as in the kernel.

import { type U64, u64Sum } from "../ingest/mod.ts";
import type { DmaDebugCode, DmaDebugLimits } from "./dma_debug.ts";

/** One segment that breaks a limit. */
export interface SgSegmentFinding {
  /** `DMA_SG_SEGMENT_TOO_LONG` or `DMA_SG_SEGMENT_CROSSES_BOUNDARY`. */
  readonly code: DmaDebugCode;
  /** One line of explanation. */
  readonly message: string;
}

/**
 * `check_sg_segment` over the segments of one map.
 *
 * @param segs The DMA segments, flat: address, length, ...
 * @param lim The device's limits.
 * @returns What breaks them, in segment order; null when nothing does (no array per map).
 */
export function sgSegmentFindings(
  segs: readonly U64[],
  lim: DmaDebugLimits,
): SgSegmentFinding[] | null {
  let found: SgSegmentFinding[] | null = null;
  for (let k = 0; k + 1 < segs.length; k += 2) {
    const a = segs[k]!;
    const len = segs[k + 1]!;
    if (len > lim.maxSegmentSize) {
      (found ??= []).push({
        code: "DMA_SG_SEGMENT_TOO_LONG",
        message: `sg segment of ${len} bytes at 0x${
          a.toString(16)
        } exceeds the max segment size ${lim.maxSegmentSize}`,
      });
    }
    const b = lim.segmentBoundary;
    if (len > 0 && crossesBoundary(a, u64Sum(u64Sum(a, len), -1), b)) {
      (found ??= []).push({
        code: "DMA_SG_SEGMENT_CROSSES_BOUNDARY",
        message: `sg segment [0x${a.toString(16)}, +0x${len.toString(16)}) crosses the 0x${
          (b + 1n).toString(16)
        } segment boundary`,
      });
    }
  }
  return found;
}

/**
 * Whether `first` and `last` fall in different `boundary + 1` windows (`check_sg_segment`:
 * `(start & ~boundary) != (end & ~boundary)`), in numbers when the window is a power of two
 * (the kernel's segment boundaries are masks `2^k - 1`), else as the kernel computes it.
 */
function crossesBoundary(first: U64, last: U64, boundary: bigint): boolean {
  if (typeof first === "number" && typeof last === "number") {
    const stride = WINDOWS.get(boundary) ?? windowOf(boundary);
    if (stride !== null) {
      // first <= last < 2^53: both in window 0 when the window is larger than that.
      return stride > Number.MAX_SAFE_INTEGER
        ? false
        : Math.floor(first / stride) !== Math.floor(last / stride);
    }
  }
  return (BigInt(first) & ~boundary) !== (BigInt(last) & ~boundary);
}

/** Each boundary mask's window (`mask + 1`) when it is a power of two, else null. */
const WINDOWS = new Map<bigint, number | null>();
function windowOf(boundary: bigint): number | null {
  const w = boundary + 1n;
  const stride = w > 0n && (w & (w - 1n)) === 0n ? Number(w) : null;
  WINDOWS.set(boundary, stride);
  return stride;
}
