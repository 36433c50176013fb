import assert from "node:assert/strict";
import { validateScenario } from "./mod.ts";

const topology = {
  hostBridges: [{ id: "pci0000:00" }],
  devices: [{ bdf: "0000:00:02.0", kind: "endpoint", parent: "pci0000:00" }],
  iommu: { present: true },
};
const stream = { kind: "stream", device: "0000:00:02.0", sizes: [{ bytes: 4096 }] };

const errorsOf = (json: unknown) => {
  const r = validateScenario(json);
  return r.ok ? [] : r.errors.map((e) => `${e.pointer}: ${e.message}`);
};

Deno.test("validateScenario: defaults of a minimal scenario", () => {
  const r = validateScenario({ name: "n", topology, workloads: [stream] });
  assert.ok(r.ok);
  const s = r.scenario;
  assert.deepEqual([s.cpus, s.startS, s.probes], [2, 1, { iovaAlloc: true, iovaFree: true }]);
  const w = s.workloads[0]!;
  assert.deepEqual(
    [w.task, w.pid, w.cpus, w.api, w.dir, w.contiguity, w.queueDepth, w.serviceUs, w.gapUs],
    ["kworker", 400, [0], "sg", "FROM_DEVICE", 0.2, 1, [20, 200], [2, 50]],
  );
  assert.deepEqual(w.sizes, [{ bytes: 4096, weight: 1 }]);
});

Deno.test("validateScenario: every problem, each at its pointer", () => {
  assert.deepEqual(errorsOf(null), [": expected a scenario (an object)"]);
  assert.deepEqual(errorsOf({ name: "n", topology: "t.json", workloads: [stream] }), [
    "/topology: expected the machine: a topology object (or, on the command line, its file)",
  ]);
  assert.deepEqual(errorsOf({ name: "n", topology, workloads: [] }), [
    "/workloads: expected at least one workload (or dma-buf workload)",
  ]);
  assert.deepEqual(
    errorsOf({ name: "n", topology, cpus: 0, workloads: [stream], typo: 1 }),
    [
      '/typo: unknown key; expected one of name, description, topology, cpus, startS, probes, workloads, faults, dmabufs (keys starting with "_" are comments)',
      "/cpus: expected the CPU count: an integer from 1 to 256",
    ],
  );
  assert.deepEqual(
    errorsOf({
      name: "n",
      topology,
      cpus: 2,
      workloads: [{
        kind: "stream",
        device: "0000:00:09.0",
        task: "two words",
        cpus: [2],
        api: "mmio",
        sizes: [{ bytes: 0 }],
        contiguity: 2,
        queueDepth: 0,
        serviceUs: [9, 1],
        gapUs: "x",
      }],
    }),
    [
      "/workloads/0/device: expected a device of the topology; 0000:00:09.0 is not one",
      "/workloads/0/task: expected a task name as the kernel keeps it: no spaces, at most 15 bytes",
      "/workloads/0/cpus/0: expected a CPU below the scenario's 2: an integer from 0 to 1",
      '/workloads/0/api: expected the API: one of "sg", "page", "coherent"',
      "/workloads/0/sizes/0/bytes: expected the bytes of a map: an integer from 1 to 1073741824",
      "/workloads/0/contiguity: expected a probability: a number from 0 to 1",
      "/workloads/0/queueDepth: expected a queue depth: an integer from 1 to 4096",
      "/workloads/0/serviceUs: expected min <= max; got [9, 1]",
      "/workloads/0/gapUs: expected the gap between I/Os: [min, max] in microseconds",
    ],
  );
  // An sg map is at most 128 page entries (the tracepoint's limit).
  assert.deepEqual(
    errorsOf({ name: "n", topology, workloads: [{ ...stream, sizes: [{ bytes: 129 * 4096 }] }] }),
    ["/workloads/0/sizes/0/bytes: expected the bytes of a map: an integer from 1 to 524288"],
  );
  assert.deepEqual(errorsOf({ name: "n", topology, workloads: [{ kind: "dmabuf" }] }), [
    '/workloads/0/kind: expected the workload kind: one of "stream"',
  ]);
  // The topology's own errors, below /topology.
  assert.deepEqual(
    errorsOf({ name: "n", topology: { ...topology, hostBridges: 3 }, workloads: [stream] })[0],
    "/topology/hostBridges: expected the host bridges (an array)",
  );
});

Deno.test("the shipped scenarios are valid once their topology files are read", async () => {
  const dir = new URL("../../traces/scenarios/", import.meta.url);
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith(".json")) continue;
    const json = JSON.parse(await Deno.readTextFile(new URL(e.name, dir)));
    json.topology = JSON.parse(await Deno.readTextFile(new URL(json.topology, dir)));
    const r = validateScenario(json);
    assert.ok(r.ok, `${e.name}: ${JSON.stringify(!r.ok && r.errors)}`);
    ++n;
  }
  assert.ok(n >= 2);
});
