// Coherent DMA memory (dma_alloc_coherent / dma_free_coherent) as the synthesizer writes it:
// with an IOMMU the allocator's pages mapped as one IOVA range (iommu_dma_alloc: iova_alloc, an
// iommu:map per contiguous run, then dma_alloc); without, contiguous memory at its physical
// address. dma_free is traced before the unmap; the faults: another CPU address, or the wrong
// function (dma_unmap_page, traced after the unmap).

import { type DmaDevice, dmaMapSg, type DmaSegment, dmaUnmapSg } from "../model/dma/mod.ts";
import type { Buffers } from "./_buffers.ts";
import type { Mapping } from "./_types.ts";
import type { StreamWorkload, SynthFaultCode } from "./scenario.ts";
import {
  dmaUnmapPageBody,
  iommuMapBody,
  iommuUnmapBody,
  iovaAllocBody,
  PROCESS_FLAGS,
  type TraceContext,
} from "./ftrace_text.ts";

const STEP_NS = 1000;

/** What the coherent calls need of the synthesizer. */
export interface CoherentEnv {
  emit(c: TraceContext, t: number, event: string, body: string, fault?: string): void;
  emitFrees(c: TraceContext, t: number): number;
  readonly buffers: Buffers;
  int(lo: number, hi: number): number;
  readonly iovaAllocProbe: boolean;
}

/** A coherent allocation: a mapping (not yet bound to its workload and CPU) with its CPU address. */
export type CoherentMapping = Omit<Mapping, "w" | "cpu" | "cpuAddr"> & { readonly cpuAddr: string };

/** `dma_alloc_coherent`: its lines from `t`; null when the model refuses (no IOVA). */
export function coherentAlloc(
  env: CoherentEnv,
  dev: DmaDevice,
  w: StreamWorkload,
  ctx: TraceContext,
  cpu: number,
  t: number,
  pages: number,
  bytes: number,
  translates: boolean,
): { t: number; mapping: CoherentMapping } | null {
  // dma_alloc_coherent: pages the allocator hands out (iommu_dma_alloc maps them as one
  // IOVA range), or contiguous memory at its physical address (dma-direct).
  const phys = translates
    ? env.buffers.buffer(pages, w.contiguity)
    : [env.buffers.contiguous(pages)];
  let dmaAddr = phys[0]!;
  let iovaBytes = 0n;
  let segments: readonly DmaSegment[] = [];
  if (translates) {
    const r = dmaMapSg(
      dev,
      phys.map((p) => ({ phys: p, lengthBytes: 4096 })),
      () => null,
      cpu,
      t,
    );
    if (r.errno !== 0) {
      env.buffers.releaseRam(phys[0]!, phys);
      return null;
    }
    if (env.iovaAllocProbe) {
      env.emit(ctx, t - STEP_NS, "iova_alloc", iovaAllocBody(Number(r.iova >> 12n)));
    }
    for (const run of r.mapRuns) {
      env.emit(ctx, t, "map", iommuMapBody(run.iova, run.phys, run.sizeBytes));
      t += STEP_NS;
    }
    dmaAddr = r.iova;
    iovaBytes = r.iovaBytes;
    segments = r.segments;
  }
  const cpuAddr = env.int(0, 0x7fffffff).toString(16).padStart(8, "0") +
    env.int(0, 0x7fffffff).toString(16).padStart(8, "0");
  env.emit(
    ctx,
    t,
    "dma_alloc",
    `${w.device} dir=BIDIRECTIONAL dma_addr=${
      dmaAddr.toString(16)
    } size=${bytes} virt_addr=${cpuAddr} flags=GFP_KERNEL attrs=`,
  );
  return {
    t,
    mapping: {
      phys,
      physStart: phys[0]!,
      bytes,
      dmaAddr,
      segments,
      iova: translates ? dmaAddr : 0n,
      iovaBytes,
      faults: [],
      cpuAddr,
    },
  };
}

/** `dma_free_coherent` of `m` on `cpu`: its lines from `t`; returns the time after them. */
export function coherentFree(
  env: CoherentEnv,
  dev: DmaDevice,
  w: StreamWorkload,
  m: CoherentMapping & { readonly cpu: number },
  t: number,
): number {
  const has = (c: SynthFaultCode) => m.faults.includes(c);
  // dma_free_coherent, in the driver's own context: traced before it unmaps. The faults:
  // another CPU address, or the wrong function (dma_unmap_page, traced after).
  const pctx: TraceContext = { task: w.task, pid: w.pid, cpu: m.cpu, flags: PROCESS_FLAGS };
  const wrongFn = has("DMA_UNMAP_TYPE_MISMATCH");
  if (!wrongFn) {
    const cpuAddr = has("DMA_FREE_CPU_ADDR_MISMATCH") ? "00000000deadbeef" : m.cpuAddr!;
    env.emit(
      pctx,
      t - STEP_NS,
      "dma_free",
      `${w.device} dir=BIDIRECTIONAL dma_addr=${
        m.dmaAddr.toString(16)
      } size=${m.bytes} virt_addr=${cpuAddr} attrs=`,
      has("DMA_FREE_CPU_ADDR_MISMATCH") ? "DMA_FREE_CPU_ADDR_MISMATCH" : undefined,
    );
  }
  if (m.iovaBytes > 0n) {
    const unmapped = dmaUnmapSg(dev, m.segments, m.cpu, t);
    env.emit(pctx, t, "unmap", iommuUnmapBody(m.iova, m.iovaBytes, unmapped));
    t += STEP_NS;
  }
  t = env.emitFrees(pctx, t);
  if (wrongFn) {
    env.emit(
      pctx,
      t,
      "dma_unmap_page",
      dmaUnmapPageBody(w.device, "BIDIRECTIONAL", m.dmaAddr, m.bytes),
      "DMA_UNMAP_TYPE_MISMATCH",
    );
    t += STEP_NS;
  }
  return t;
}
