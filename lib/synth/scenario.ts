/**
 * Scenarios for the trace synthesizer (README "Synthesizer"): the machine (a topology), the
 * CPUs, which probes the capture had, and the workloads that drive the DMA API. Validated with
 * every problem reported at its JSON pointer.
 *
 * @module
 */

import { type JsonError, JsonReader } from "../ingest/mod.ts";
import { type DmaBufWorkload, dmaBufWorkload } from "./dmabuf_scenario.ts";
import { fault, type SynthFault } from "./scenario_faults.ts";

export { SYNTH_FAULT_CODES, type SynthFault, type SynthFaultCode } from "./scenario_faults.ts";
import { type Topology, validateTopology } from "../model/topology/mod.ts";

/** DMA directions a workload maps with. */
export type SynthDir = "TO_DEVICE" | "FROM_DEVICE" | "BIDIRECTIONAL";

/** A map size and how often it comes. */
export interface SizeWeight {
  /** Bytes of one map. */
  readonly bytes: number;
  /** Relative frequency. */
  readonly weight: number;
}

/**
 * A stream of DMA-API maps by one task on one device, each unmapped when its I/O completes (in
 * the completion interrupt), as a block or network driver does.
 */
export interface StreamWorkload {
  /** The kind. */
  readonly kind: "stream";
  /** Its name (for messages). */
  readonly name: string;
  /** The mapping device (a BDF of the topology). */
  readonly device: string;
  /** The task that maps (`comm`). */
  readonly task: string;
  /** Its pid. */
  readonly pid: number;
  /** CPUs it submits on, in turn. */
  readonly cpus: readonly number[];
  /** `sg`: `dma_map_sg` of page-sized entries; `page`: `dma_map_page` of one buffer. */
  readonly api: "sg" | "page" | "coherent";
  /** Direction. */
  readonly dir: SynthDir;
  /** Map sizes. */
  readonly sizes: readonly SizeWeight[];
  /** Probability that an sg entry's page follows the previous one physically (they merge). */
  readonly contiguity: number;
  /** Maps outstanding at once. */
  readonly queueDepth: number;
  /** From map to completion, microseconds `[min, max]`. */
  readonly serviceUs: readonly [number, number];
  /** From a completion to the next submit, microseconds `[min, max]`. */
  readonly gapUs: readonly [number, number];
  /**
   * Peer-to-peer: the buffers are in this device's BAR (an NVMe CMB, a GPU BAR), not RAM;
   * null for RAM.
   */
  readonly peer: { readonly device: string; readonly bar: number } | null;
}

/** A workload. */
export type Workload = StreamWorkload;

/** A validated scenario. */
export interface Scenario {
  /** Its name. */
  readonly name: string;
  /** What it shows. */
  readonly description: string;
  /** The machine. */
  readonly topology: Topology;
  /** CPUs of the trace (`#P` of its header). */
  readonly cpus: number;
  /** Trace time of the first event, seconds. */
  readonly startS: number;
  /** The kprobes of the capture recipe: `iova_alloc` (kretprobe) and `iova_free`. */
  readonly probes: { readonly iovaAlloc: boolean; readonly iovaFree: boolean };
  /** The workloads, running side by side. */
  readonly workloads: readonly Workload[];
  /** Faults to inject. */
  readonly faults: readonly SynthFault[];
  /** dma-buf workloads: BAR memory exported through vfio-pci to a dynamic importer. */
  readonly dmabufs: readonly DmaBufWorkload[];
}

/** The result of {@linkcode validateScenario}. */
export type ScenarioResult =
  | { readonly ok: true; readonly scenario: Scenario }
  | { readonly ok: false; readonly errors: readonly JsonError[] };

/** Pages an sg map may have: the tracepoint prints at most 128 entries. */
export const SYNTH_MAX_SG_ENTRIES = 128;

const DIRS: readonly SynthDir[] = ["TO_DEVICE", "FROM_DEVICE", "BIDIRECTIONAL"];

/**
 * Check a scenario (its `topology` an object: the command line reads a file name into one).
 *
 * @param json The parsed JSON.
 * @returns The scenario, or every problem with its JSON pointer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateScenario } from "./mod.ts";
 * const topology = { hostBridges: [{ id: "pci0000:00" }], devices: [{ bdf: "0000:00:02.0", kind: "endpoint", parent: "pci0000:00" }], iommu: { present: true } };
 * const ok = validateScenario({ name: "nvme", topology, workloads: [
 *   { kind: "stream", device: "0000:00:02.0", sizes: [{ bytes: 4096, weight: 1 }] },
 * ] });
 * assert.ok(ok.ok);
 * const bad = validateScenario({ name: "nvme", topology, cpus: 2, workloads: [
 *   { kind: "stream", device: "0000:00:09.0", cpus: [3], sizes: [] },
 * ] });
 * assert.deepEqual(!bad.ok && bad.errors.map((e) => e.pointer), ["/workloads/0/device", "/workloads/0/cpus/0", "/workloads/0/sizes"]);
 * ```
 */
export function validateScenario(json: unknown): ScenarioResult {
  const r = new JsonReader();
  const o = r.object(json, "", "a scenario");
  if (o === null) return { ok: false, errors: r.errors };
  r.keys(o, "", [
    "name",
    "description",
    "topology",
    "cpus",
    "startS",
    "probes",
    "workloads",
    "faults",
    "dmabufs",
  ]);
  const name = r.string(o.name, "/name", "the scenario's name");
  const description = o.description === undefined
    ? ""
    : r.string(o.description, "/description", "a description");
  let topology: Topology | null = null;
  if (!r.isObject(o.topology)) {
    r.error(
      "/topology",
      "expected the machine: a topology object (or, on the command line, its file)",
    );
  } else {
    const t = validateTopology(o.topology);
    if (t.ok) topology = t.topology;
    else for (const e of t.errors) r.error(`/topology${e.pointer}`, e.message);
  }
  const cpus = o.cpus === undefined ? 2 : r.integer(o.cpus, "/cpus", "the CPU count", 1, 256);
  const startS = o.startS === undefined
    ? 1
    : number(r, o.startS, "/startS", "a start time", 0, 1e6);
  let probes = { iovaAlloc: true, iovaFree: true };
  if (o.probes !== undefined) {
    const p = r.object(o.probes, "/probes", "the probes");
    if (p !== null) {
      r.keys(p, "/probes", ["iovaAlloc", "iovaFree"]);
      probes = {
        iovaAlloc: p.iovaAlloc === undefined
          ? true
          : r.boolean(p.iovaAlloc, "/probes/iovaAlloc", "iovaAlloc") ?? true,
        iovaFree: p.iovaFree === undefined
          ? true
          : r.boolean(p.iovaFree, "/probes/iovaFree", "iovaFree") ?? true,
      };
    }
  }
  const workloads: Workload[] = [];
  const dmabufs: DmaBufWorkload[] = [];
  r.array(o.dmabufs ?? [], "/dmabufs", "the dma-buf workloads")?.forEach((w, i) => {
    const x = dmaBufWorkload(r, w, `/dmabufs/${i}`, i, topology, cpus ?? 2);
    if (x !== null) dmabufs.push(x);
  });
  const list = r.array(o.workloads ?? [], "/workloads", "the workloads");
  const noDmaBufs = !Array.isArray(o.dmabufs) || o.dmabufs.length === 0;
  if (list !== null && list.length === 0 && noDmaBufs) {
    r.error("/workloads", "expected at least one workload (or dma-buf workload)");
  }
  list?.forEach((w, i) => {
    const x = workload(r, w, `/workloads/${i}`, i, topology, cpus ?? 2);
    if (x !== null) workloads.push(x);
  });
  const faults: SynthFault[] = [];
  if (o.faults !== undefined) {
    r.array(o.faults, "/faults", "the faults to inject")?.forEach((f, i) => {
      const x = fault(r, f, `/faults/${i}`, workloads, list?.length ?? 0, topology);
      if (x !== null) faults.push(x);
    });
  }
  if (r.errors.length > 0 || name === null || topology === null || cpus === null) {
    return { ok: false, errors: r.errors };
  }
  return {
    ok: true,
    scenario: {
      name,
      description: description ?? "",
      topology,
      cpus,
      startS: startS ?? 1,
      probes,
      workloads,
      faults,
      dmabufs,
    },
  };
}

function number(r: JsonReader, v: unknown, at: string, what: string, min: number, max: number) {
  if (typeof v === "number" && Number.isFinite(v) && v >= min && v <= max) return v;
  r.error(at, `expected ${what}: a number from ${min} to ${max}`);
  return null;
}

function range(r: JsonReader, v: unknown, at: string, what: string, dflt: [number, number]) {
  if (v === undefined) return dflt;
  if (!Array.isArray(v) || v.length !== 2) {
    r.error(at, `expected ${what}: [min, max] in microseconds`);
    return null;
  }
  const a = number(r, v[0], `${at}/0`, "the minimum", 0, 1e9);
  const b = number(r, v[1], `${at}/1`, "the maximum", 0, 1e9);
  if (a === null || b === null) return null;
  if (b < a) {
    r.error(at, `expected min <= max; got [${a}, ${b}]`);
    return null;
  }
  return [a, b] as [number, number];
}

function workload(
  r: JsonReader,
  v: unknown,
  at: string,
  index: number,
  topology: Topology | null,
  cpus: number,
): Workload | null {
  const o = r.object(v, at, "a workload");
  if (o === null) return null;
  const kind = r.oneOf(o.kind, `${at}/kind`, "the workload kind", ["stream"] as const);
  if (kind === null) return null;
  r.keys(o, at, [
    "kind",
    "name",
    "device",
    "task",
    "pid",
    "cpus",
    "api",
    "dir",
    "sizes",
    "contiguity",
    "queueDepth",
    "serviceUs",
    "gapUs",
    "peer",
  ]);
  const before = r.errors.length;
  const device = r.string(o.device, `${at}/device`, "the mapping device's BDF");
  if (device !== null && topology !== null && !topology.devices.some((d) => d.bdf === device)) {
    r.error(`${at}/device`, `expected a device of the topology; ${device} is not one`);
  }
  const task = o.task === undefined ? "kworker" : r.string(o.task, `${at}/task`, "a task name");
  if (task !== null && (/\s/.test(task) || task.length > 15)) {
    r.error(
      `${at}/task`,
      "expected a task name as the kernel keeps it: no spaces, at most 15 bytes",
    );
  }
  const pid = o.pid === undefined
    ? 400 + index
    : r.integer(o.pid, `${at}/pid`, "a pid", 1, 4194304);
  const cpuList: number[] = [];
  if (o.cpus === undefined) cpuList.push(0);
  else {
    const a = r.array(o.cpus, `${at}/cpus`, "the CPUs");
    if (a !== null && a.length === 0) r.error(`${at}/cpus`, "expected at least one CPU");
    a?.forEach((c, k) => {
      const n = r.integer(c, `${at}/cpus/${k}`, `a CPU below the scenario's ${cpus}`, 0, cpus - 1);
      if (n !== null) cpuList.push(n);
    });
  }
  const api = o.api === undefined
    ? "sg"
    : r.oneOf(o.api, `${at}/api`, "the API", ["sg", "page", "coherent"] as const);
  const dir = o.dir === undefined
    ? "FROM_DEVICE"
    : r.oneOf(o.dir, `${at}/dir`, "the direction", DIRS);
  const sizes: SizeWeight[] = [];
  const s = r.array(o.sizes, `${at}/sizes`, "the map sizes");
  if (s !== null && s.length === 0) r.error(`${at}/sizes`, "expected at least one size");
  s?.forEach((x, k) => {
    const p = `${at}/sizes/${k}`;
    const e = r.object(x, p, "a size");
    if (e === null) return;
    r.keys(e, p, ["bytes", "weight"]);
    const maxBytes = api === "sg" ? SYNTH_MAX_SG_ENTRIES * 4096 : 1 << 30;
    const bytes = r.integer(e.bytes, `${p}/bytes`, "the bytes of a map", 1, maxBytes);
    const weight = e.weight === undefined
      ? 1
      : number(r, e.weight, `${p}/weight`, "a weight", 1e-9, 1e9);
    if (bytes !== null && weight !== null) sizes.push({ bytes, weight });
  });
  const contiguity = o.contiguity === undefined
    ? 0.2
    : number(r, o.contiguity, `${at}/contiguity`, "a probability", 0, 1);
  const queueDepth = o.queueDepth === undefined
    ? 1
    : r.integer(o.queueDepth, `${at}/queueDepth`, "a queue depth", 1, 4096);
  const serviceUs = range(r, o.serviceUs, `${at}/serviceUs`, "the service time", [20, 200]);
  const gapUs = range(r, o.gapUs, `${at}/gapUs`, "the gap between I/Os", [2, 50]);
  let peer: StreamWorkload["peer"] = null;
  if (o.peer !== undefined) {
    const p = r.object(o.peer, `${at}/peer`, "the peer whose BAR holds the buffers");
    if (p !== null) {
      r.keys(p, `${at}/peer`, ["device", "bar"]);
      const pd = r.string(p.device, `${at}/peer/device`, "the peer's BDF");
      const bar = r.integer(p.bar, `${at}/peer/bar`, "a BAR index", 0, 5);
      const dev = topology?.devices.find((d) => d.bdf === pd);
      if (pd !== null && topology !== null && dev === undefined) {
        r.error(`${at}/peer/device`, `expected a device of the topology; ${pd} is not one`);
      } else if (dev !== undefined && bar !== null) {
        const b = dev.bars.find((x) => x.index === bar && x.mem);
        const largest = Math.max(...sizes.map((x) => x.bytes));
        if (b === undefined) {
          r.error(`${at}/peer/bar`, `expected a memory BAR of ${pd}; it has none at index ${bar}`);
        } else if (BigInt(largest) > b.lenBytes) {
          r.error(`${at}/peer/bar`, `expected a BAR holding the largest map (${largest} bytes)`);
        }
      }
      if (api !== "sg") {
        r.error(`${at}/peer`, 'expected api "sg" for peer memory (a BAR is mapped as sg entries)');
      }
      if (pd !== null && bar !== null) peer = { device: pd, bar };
    }
  }
  if (r.errors.length > before) return null;
  return {
    kind,
    name: typeof o.name === "string" && o.name !== "" ? o.name : `workload ${index}`,
    device: device!,
    task: task!,
    pid: pid!,
    cpus: cpuList,
    api: api!,
    dir: dir!,
    sizes,
    contiguity: contiguity!,
    queueDepth: queueDepth!,
    serviceUs: serviceUs!,
    gapUs: gapUs!,
    peer,
  };
}
