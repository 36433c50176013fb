/**
 * The workload synthesizer (issue [7/8]): scenarios (a topology, CPUs, probes, workloads),
 * validated; and the trace they make, written by running the workloads against the kernel
 * model and printing what the kernel's tracepoints and the capture recipe's kprobes would.
 *
 * @example Synthesize, then parse: no diagnostics
 * ```ts
 * import assert from "node:assert/strict";
 * import { summarizeTrace } from "../ingest/mod.ts";
 * import { synthesizeTrace, validateScenario } from "./mod.ts";
 * const v = validateScenario({
 *   name: "nvme",
 *   topology: { hostBridges: [{ id: "pci0000:00" }], devices: [{ bdf: "0000:00:02.0", kind: "endpoint", parent: "pci0000:00" }], iommu: { present: true } },
 *   workloads: [{ kind: "stream", device: "0000:00:02.0", sizes: [{ bytes: 4096 }, { bytes: 65536 }] }],
 * });
 * assert.ok(v.ok);
 * const s = await summarizeTrace(synthesizeTrace(v.scenario, { events: 2000 }).stream);
 * assert.equal(s.diagnostics.total, 0);
 * assert.ok(s.events.byName.dma_map_sg! > 0);
 * ```
 *
 * @module
 */

export {
  type Scenario,
  type ScenarioResult,
  type SizeWeight,
  type StreamWorkload,
  SYNTH_FAULT_CODES,
  SYNTH_MAX_SG_ENTRIES,
  type SynthDir,
  type SynthFault,
  type SynthFaultCode,
  validateScenario,
  type Workload,
} from "./scenario.ts";
export { synthesizeTrace, type SynthOptions, type SynthStats } from "./synthesize.ts";
export {
  dmaMapPageBody,
  dmaMapSgBody,
  dmaUnmapPageBody,
  dmaUnmapSgBody,
  HARDIRQ_FLAGS,
  iommuMapBody,
  iommuUnmapBody,
  iovaAllocBody,
  iovaFreeBody,
  PROCESS_FLAGS,
  SOFTIRQ_FLAGS,
  type TraceContext,
  traceLine,
} from "./ftrace_text.ts";
export {
  DMABUF_FAULT_CODES,
  DMABUF_RESET_FAULTS,
  type DmaBufFaultCode,
  type DmaBufWorkload,
  dmaBufWorkload,
} from "./dmabuf_scenario.ts";
