// How a PFN importer (seed 004's RFC) walks a buffer: one `dma_buf_get_pfn_unlocked` per
// naturally aligned run, each as large as the exporter's `max_order` allows.

import { pfnMaxOrder } from "../model/dmabuf/mod.ts";

/** A run of a buffer `get_pfn` hands out: its page offset, CPU address and bytes. */
export interface PfnRun {
  readonly pgoff: bigint;
  readonly paddr: bigint;
  readonly bytes: bigint;
}

/** The runs of `[paddr, paddr + len)`: each the largest naturally aligned order that fits. */
export function pfnRuns(paddr: bigint, len: bigint): PfnRun[] {
  const out: PfnRun[] = [];
  for (let off = 0n; off < len;) {
    const bytes = 4096n << BigInt(pfnMaxOrder((paddr + off) >> 12n, (len - off) >> 12n));
    out.push({ pgoff: off >> 12n, paddr: paddr + off, bytes });
    off += bytes;
  }
  return out;
}
