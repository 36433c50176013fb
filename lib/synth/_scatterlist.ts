// Scatter-gather streaming DMA (dma_map_sg_attrs / dma_unmap_sg_attrs, kernel/dma/mapping.c) as
// the synthesizer writes it: with an IOMMU, iova_alloc, an iommu:map per contiguous run of the
// one IOVA range (iommu_dma_map_sg), then dma_map_sg; the unmap traces dma_unmap_sg before it
// unmaps (kernel-spec §6.4). Peer (P2P) entries are classified as the topology makes them, the
// faults bend the segments or the entry count.

import { type DmaDevice, dmaMapSg, dmaUnmapSg } from "../model/dma/mod.ts";
import type { CoherentEnv } from "./_coherent.ts";
import { badSegments, p2pFaultClassifier, SG_FAULTS } from "./_fault_events.ts";
import { type Mapping, STEP_NS } from "./_types.ts";
import type { StreamWorkload, SynthFaultCode } from "./scenario.ts";
import {
  dmaMapSgBody,
  dmaUnmapSgBody,
  iommuMapBody,
  iommuUnmapBody,
  iovaAllocBody,
  type TraceContext,
} from "./ftrace_text.ts";

/** What the sg calls need of the synthesizer, besides what the coherent ones do. */
export interface ScatterlistEnv extends CoherentEnv {
  /** Whether this is the first map of a pair a replay reports as P2P_HOST_BRIDGE_WHEN_BUS_PATH. */
  firstHostBridgeMap(peer: { device: string; bar: number }, client: string): boolean;
  /** Forget the IOVA frees the model made during a map (maps do not queue any). */
  dropFrees(): void;
}

/**
 * `dma_map_sg` of a `pages`-page buffer in context `ctx`: its lines from `t`, with the map's
 * faults; null when the model refuses (the buffer given back). `t` returned is that of the
 * `dma_map_sg` line.
 */
export function sgMap(
  env: ScatterlistEnv,
  dev: DmaDevice,
  w: StreamWorkload,
  ctx: TraceContext,
  t: number,
  pages: number,
  bytes: number,
  faults: readonly SynthFaultCode[],
): { t: number; mapping: Omit<Mapping, "w" | "cpu"> } | null {
  const phys = w.peer === null
    ? env.buffers.buffer(pages, w.contiguity)
    : env.buffers.peerBuffer(w.peer, pages);
  const entries = phys.map((p, k) => ({
    phys: p,
    lengthBytes: k < pages - 1 ? 4096 : bytes - 4096 * (pages - 1),
  }));
  const classify = p2pFaultClassifier(env.buffers.classifier(w.device), faults);
  const r = dmaMapSg(dev, entries, classify, ctx.cpu, t);
  env.dropFrees(); // a full ring drained during the map: none here (maps do not queue)
  if (r.errno !== 0) {
    if (w.peer === null) env.buffers.releaseRam(phys[0]!, phys);
    else env.buffers.release(phys[0]!);
    return null;
  }
  if (dev.domain?.translates === true && r.iovaBytes > 0n && env.iovaAllocProbe) {
    env.emit(ctx, t - STEP_NS, "iova_alloc", iovaAllocBody(Number(r.iova >> 12n)));
  }
  for (const run of r.mapRuns) {
    env.emit(ctx, t, "map", iommuMapBody(run.iova, run.phys, run.sizeBytes));
    t += STEP_NS;
  }
  env.emit(
    ctx,
    t,
    "dma_map_sg",
    dmaMapSgBody(w.device, w.dir, phys, ...badSegments(r.segments, faults, dev)),
    [
      faults.find((f) => SG_FAULTS.has(f)),
      w.peer !== null && env.firstHostBridgeMap(w.peer, w.device)
        ? "P2P_HOST_BRIDGE_WHEN_BUS_PATH"
        : undefined,
    ].filter((x) => x !== undefined).join("+") || undefined,
  );
  return {
    t,
    mapping: {
      phys,
      physStart: phys[0]!,
      bytes,
      dmaAddr: r.segments[0]?.dmaAddr ?? 0n,
      segments: r.segments,
      iova: r.iova,
      iovaBytes: r.iovaBytes,
      faults: [],
    },
  };
}

/**
 * `dma_unmap_sg` of `m` in context `ctx` with direction `dir` (`dirFault` when that is the
 * injected mismatch): traced before it unmaps, then the IOMMU's unmap and the frees from `t`;
 * returns the time after them. DMA_UNMAP_SG_NENTS_MISMATCH: one entry fewer than mapped.
 */
export function sgUnmap(
  env: CoherentEnv,
  dev: DmaDevice,
  w: StreamWorkload,
  m: Mapping,
  ctx: TraceContext,
  t: number,
  dir: string,
  dirFault: string | undefined,
): number {
  const short = m.faults.includes("DMA_UNMAP_SG_NENTS_MISMATCH");
  env.emit(
    ctx,
    t - STEP_NS,
    "dma_unmap_sg",
    dmaUnmapSgBody(w.device, dir, short ? m.phys.slice(0, -1) : m.phys),
    short ? "DMA_UNMAP_SG_NENTS_MISMATCH" : dirFault,
  );
  const unmapped = dmaUnmapSg(dev, m.segments, m.cpu, t);
  if (m.iovaBytes > 0n) {
    env.emit(ctx, t, "unmap", iommuUnmapBody(m.iova, m.iovaBytes, unmapped));
    t += STEP_NS;
  }
  return env.emitFrees(ctx, t);
}
