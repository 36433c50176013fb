// What the capture tests share: the ingest pieces they read events with, and the topology of a
// shared capture with the IOVA facts the predictor needs from it.
export { DMA_MAP_EVENTS, parseTrace, u64AsNumber, u64At as u64As } from "../../ingest/mod.ts";
import { type Topology, validateTopology } from "../topology/mod.ts";
import { type IovaPredictor, type IovaPredictorOptions, iovaPredictorOptionsFor } from "./mod.ts";

/** The checked-in topology of a shared capture (`traces/captures/NAME.topology.json`). */
export async function captureTopology(name: string): Promise<Topology> {
  const url = new URL(`../../../traces/captures/${name}.topology.json`, import.meta.url);
  const got = validateTopology(JSON.parse(await Deno.readTextFile(url)));
  if (!got.ok) throw new Error(`${name}: invalid topology`);
  return got.topology;
}

/** Predictor options for one device of a capture (2 online CPUs, as the captures ran). */
export function predictorOptions(t: Topology, bdf: string): IovaPredictorOptions {
  return iovaPredictorOptionsFor(t, bdf, 2);
}

/**
 * An IOVA the trace unmaps or frees before it was ever allocated in the trace was allocated
 * before tracing began: tell the predictor (kernel-spec §4.4 warm-up).
 */
export function learnPreTrace(
  p: IovaPredictor,
  ops: Iterable<{ readonly kind: string; readonly pfn: number; readonly pages: number }>,
): void {
  const seen = new Set<number>();
  for (const o of ops) {
    if (o.kind === "alloc") seen.add(o.pfn);
    else if (!seen.has(o.pfn)) {
      p.preTraceAllocation(o.pfn, o.pages);
      seen.add(o.pfn);
    }
  }
}
