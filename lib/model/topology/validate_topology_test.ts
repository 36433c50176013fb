import assert from "node:assert/strict";
import fc from "fast-check";
import { topologyToJson, validateTopology } from "./mod.ts";

const HB = [{ id: "pci0000:00", vendor: "0x8086", device: "0x2020" }];
const RP = { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" };

function errorsOf(json: unknown): [string, string][] {
  const r = validateTopology(json);
  assert.equal(r.ok, false, "expected errors");
  return r.ok ? [] : r.errors.map((e) => [e.pointer, e.message]);
}

Deno.test("validateTopology() fills the defaults: no IOMMU, zero bus offsets, 64-bit DMA", () => {
  const r = validateTopology({
    hostBridges: HB,
    devices: [RP, {
      bdf: "0000:01:00.0",
      kind: "endpoint",
      parent: "0000:00:01.0",
      bars: [{ index: 0, cpuStart: 4096, len: "0x1000" }],
    }],
  });
  assert.ok(r.ok);
  const t = r.topology;
  assert.equal(t.iommu.present, false);
  assert.deepEqual(t.cpu, { vendor: "other", family: 0 });
  const bar = t.devices[1]!.bars[0]!;
  assert.deepEqual([bar.cpuStart, bar.busStart, bar.lenBytes, bar.mem, bar.prefetch, bar.mmap], [
    4096n,
    4096n,
    4096n,
    true,
    false,
    true,
  ]);
  assert.deepEqual(t.devices[1]!.dma, {
    maskBits: 64,
    maxSegmentSize: 65536,
    maxSegmentSizeStated: false, // the PCI default: the sg length check is skipped
    segmentBoundary: 0xffffffffn,
  });
  assert.equal(t.devices[0]!.acsCtrl, null); // no ACS capability unless listed
  assert.deepEqual([t.devices[1]!.bus, t.devices[1]!.devfn], [1, 0]);
});

Deno.test("validateTopology() reads the IOMMU settings", () => {
  const r = validateTopology({
    hostBridges: HB,
    devices: [],
    iommu: {
      present: true,
      defaultDomain: "dma-fq",
      granule: 4096,
      pgsizeBitmap: ["4K", "2M"],
      addressWidth: 39,
      forceDac: true,
      reserved: [["0xfee00000", "0xfeefffff"]],
      rcacheVersion: "pre-6.7",
    },
  });
  assert.ok(r.ok);
  assert.deepEqual(r.topology.iommu, {
    present: true,
    defaultDomain: "dma-fq",
    granule: 4096,
    pgsizeBitmap: (1n << 12n) | (1n << 21n),
    addressWidth: 39,
    forceDac: true,
    reserved: [[0xfee00000n, 0xfeefffffn]],
    rcacheVersion: "pre-6.7",
  });
});

Deno.test("validateTopology() reports a cycle, a duplicate BDF and a missing parent", () => {
  assert.deepEqual(
    errorsOf({
      hostBridges: HB,
      devices: [
        { bdf: "0000:01:00.0", kind: "switch_upstream", parent: "0000:02:00.0" },
        { bdf: "0000:02:00.0", kind: "switch_downstream", parent: "0000:01:00.0" },
      ],
    }).map(([p]) => p),
    ["/devices/0/parent", "/devices/1/parent"],
  );
  const dup = errorsOf({ hostBridges: HB, devices: [RP, { ...RP }] });
  assert.deepEqual(dup, [["/devices/1/bdf", 'expected each device once; "0000:00:01.0" repeats']]);
  const missing = errorsOf({
    hostBridges: HB,
    devices: [{ bdf: "0000:05:00.0", kind: "endpoint", parent: "0000:04:00.0" }],
  });
  assert.deepEqual(missing, [[
    "/devices/0/parent",
    'expected a host bridge id or a device\'s BDF; "0000:04:00.0" is neither',
  ]]);
});

Deno.test("validateTopology() reports a pure cycle of bridges", () => {
  const errs = errorsOf({
    hostBridges: HB,
    devices: [
      { bdf: "0000:01:00.0", kind: "bridge", parent: "0000:02:00.0" },
      { bdf: "0000:02:00.0", kind: "bridge", parent: "0000:01:00.0" },
    ],
  });
  assert.deepEqual(errs, [
    ["/devices/0/parent", 'expected a tree; "0000:01:00.0" is its own ancestor'],
    ["/devices/1/parent", 'expected a tree; "0000:02:00.0" is its own ancestor'],
  ]);
});

Deno.test("validateTopology() reports overlapping BARs and a bus range that wraps", () => {
  const errs = errorsOf({
    hostBridges: HB,
    devices: [
      RP,
      {
        bdf: "0000:01:00.0",
        kind: "endpoint",
        parent: "0000:00:01.0",
        bars: [{ index: 0, cpuStart: "0x80000000", len: "0x100000" }],
      },
      {
        bdf: "0000:01:00.1",
        kind: "endpoint",
        parent: "0000:00:01.0",
        bars: [{ index: 2, cpuStart: "0x800ff000", len: "0x1000" }],
      },
    ],
  });
  assert.deepEqual(errs, [[
    "/devices/2/bars/0/cpuStart",
    "expected BARs not to overlap; this one overlaps BAR 0 of 0000:01:00.0 [0x80000000, 0x800fffff]",
  ]]);
  const wrap = errorsOf({
    hostBridges: HB,
    devices: [RP, {
      bdf: "0000:01:00.0",
      kind: "endpoint",
      parent: "0000:00:01.0",
      bars: [{ index: 0, cpuStart: "0x1000", busStart: "0xfffffffffffff000", len: "0x2000" }],
    }],
  });
  assert.deepEqual(wrap, [[
    "/devices/1/bars/0/busStart",
    "expected the bus range to end below 2^64; it wraps",
  ]]);
});

Deno.test("validateTopology() reports malformed values with their pointers", () => {
  const errs = errorsOf({
    cpu: { vendor: "via" },
    hostBridges: [{ id: "host0", vendor: "0x18086" }],
    devices: [
      { bdf: "0:1:2.3", kind: "root_port", parent: "pci0000:00" },
      {
        bdf: "0000:01:00.0",
        kind: "gpu",
        parent: "0000:00:01.0",
        bars: [{ index: 6, cpuStart: "-1", len: 0 }],
        dma: { maskBits: 65, segmentBoundary: "0x1000" },
      },
      {
        bdf: "0000:01:00.1",
        kind: "endpoint",
        parent: "0000:00:01.0",
        colour: "red",
        iommuDomain: "lazy",
      },
    ],
    iommu: { granule: 3000, pgsizeBitmap: ["3K"] },
    extra: 1,
  });
  assert.deepEqual(errs.map(([p]) => p), [
    "/extra",
    "/cpu/vendor",
    "/hostBridges/0/id",
    "/hostBridges/0/vendor",
    "/devices/0/bdf",
    "/devices/1/kind",
    "/devices/1/bars/0/index",
    "/devices/1/bars/0/cpuStart",
    "/devices/1/bars/0/len",
    "/devices/1/dma/maskBits",
    "/devices/1/dma/segmentBoundary",
    "/devices/2/colour",
    "/devices/2/iommuDomain",
    "/iommu/granule",
    "/iommu/pgsizeBitmap/0",
  ]);
  assert.deepEqual(errorsOf(null), [["", "expected a topology (an object)"]]);
  assert.deepEqual(errorsOf({ devices: [] }), [[
    "/hostBridges",
    "expected the host bridges (an array)",
  ]]);
});

Deno.test("validateTopology() enforces where each kind may sit", () => {
  const errs = errorsOf({
    hostBridges: HB,
    devices: [
      RP,
      { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0" },
      { bdf: "0000:02:00.0", kind: "endpoint", parent: "0000:01:00.0" },
      { bdf: "0000:00:05.0", kind: "switch_downstream", parent: "pci0000:00" },
    ],
  });
  assert.deepEqual(errs.map(([p]) => p), ["/devices/2/parent", "/devices/3/parent"]);
  assert.match(errs[0]![1], /"0000:01:00.0" is a endpoint/);
});

Deno.test("validateTopology() never throws on arbitrary JSON", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const r = validateTopology(v);
      if (!r.ok) assert.ok(r.errors.length > 0);
    }),
    { numRuns: 500 },
  );
  // Mutations of a valid document: never a throw, and errors always carry a pointer.
  const base = {
    hostBridges: HB,
    devices: [RP, {
      bdf: "0000:01:00.0",
      kind: "endpoint",
      parent: "0000:00:01.0",
      bars: [{ index: 0, cpuStart: "0x1000", len: "0x1000" }],
    }],
  };
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.constantFrom("hostBridges", "devices", "iommu", "cpu"), fc.jsonValue()),
        { maxLength: 3 },
      ),
      (muts) => {
        const doc: Record<string, unknown> = structuredClone(base);
        for (const [k, v] of muts) doc[k] = v;
        const r = validateTopology(doc);
        if (!r.ok) { for (const e of r.errors) assert.equal(typeof e.pointer, "string"); }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("topologyToJson() round-trips every field", () => {
  const r = validateTopology({
    cpu: { vendor: "amd", family: 25 },
    hostBridges: [{
      id: "pci0000:00",
      vendor: "0x1022",
      device: "0x1480",
      allowlisted: false,
      windows: [["0x80000000", "0xafffffff"]],
    }],
    devices: [
      { ...RP, acsCtrl: ["SV", "RR"], iommuGroup: 3 },
      {
        bdf: "0000:01:00.0",
        kind: "endpoint",
        parent: "0000:00:01.0",
        name: "gpu0",
        vendor: "0x10de",
        device: "0x2330",
        bars: [{
          index: 0,
          cpuStart: "0x383000000000",
          busStart: "0x83000000000",
          len: "0x1000000000",
          prefetch: true,
          mmap: false,
        }],
        dma: { maskBits: 47, maxSegmentSize: 1048576, segmentBoundary: "0xffffffffffffffff" },
        iommuDomain: "identity",
      },
    ],
    iommu: {
      present: true,
      pgsizeBitmap: ["4K", "2M", "1G", "512G"],
      reserved: [["0xfee00000", "0xfeefffff"]],
    },
  });
  assert.ok(r.ok);
  const again = validateTopology(JSON.parse(JSON.stringify(topologyToJson(r.topology))));
  assert.ok(again.ok);
  assert.deepEqual(again.topology, r.topology);
});
