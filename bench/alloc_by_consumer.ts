// Feeds a trace's batches to the replay's consumers named on the command line (order, dd,
// faults, iova, ops, inf, gaps; "none" parses only), so that V8's GC trace shows what each one
// allocates. Run through bench/alloc_by_consumer.sh, which sums the trace.
import { parseTrace } from "../lib/ingest/mod.ts";
import { DmaDebug } from "../lib/replay/dma_debug.ts";
import { feedDmaDebug } from "../lib/replay/dma_debug_events.ts";
import { IommuFaults } from "../lib/replay/iommu_faults.ts";
import { IovaReplay } from "../lib/replay/iova_replay.ts";
import { TraceGaps } from "../lib/replay/trace_gaps.ts";
import { orderBatch } from "../lib/replay/order_batch.ts";
import { TopologyInference } from "../lib/replay/topology_inference.ts";
import { OpsRecorder } from "../lib/replay/ops_recorder.ts";
import { DEFAULT_COST_PROFILE } from "../lib/cost/mod.ts";
const which = new Set(Deno.args.slice(1));
const f = await Deno.open(Deno.args[0]!);
const dd = new DmaDebug(() => null);
const faults = new IommuFaults();
const iova = new IovaReplay(undefined);
const gaps = new TraceGaps();
const inf = new TopologyInference();
const ops = new OpsRecorder({
  sink: () => {},
  cost: DEFAULT_COST_PROFILE,
  revision: "v8-2025",
  p2p: null,
  iova,
  revisions: null,
});
for await (const b of parseTrace(f.readable)) {
  if (which.has("order")) orderBatch(b);
  if (which.has("dd")) feedDmaDebug(dd, b);
  if (which.has("faults")) faults.feed(b);
  if (which.has("iova") || which.has("ops")) iova.feed(b);
  if (which.has("ops")) ops.feed(b);
  if (which.has("inf")) inf.feed(b);
  if (which.has("gaps")) gaps.feed(b);
}
