/**
 * A {@linkcode Topology} back to the topology JSON of DESIGN.md (addresses as `"0x..."`
 * strings), so that `validateTopology(topologyToJson(t))` gives `t` again. Used to write
 * imported topologies and to re-check topologies changed by what-ifs.
 *
 * @module
 */

import type { Topology } from "./topology.ts";

const hex = (v: bigint | number) => "0x" + v.toString(16);

function pageSizeNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0n; bit < 64n; ++bit) {
    if (((mask >> bit) & 1n) === 0n) continue;
    const bytes = 1n << bit;
    if (bytes >= 1n << 40n && bytes % (1n << 40n) === 0n) out.push(`${bytes >> 40n}T`);
    else if (bytes >= 1n << 30n) out.push(`${bytes >> 30n}G`);
    else if (bytes >= 1n << 20n) out.push(`${bytes >> 20n}M`);
    else out.push(`${bytes >> 10n}K`);
  }
  return out;
}

/**
 * The topology JSON of a topology.
 *
 * @param t The topology.
 * @returns A JSON-ready object.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { topologyToJson, validateTopology } from "./mod.ts";
 * const json = {
 *   hostBridges: [{ id: "pci0000:00", vendor: "0x8086", device: "0x2020" }],
 *   devices: [{ bdf: "0000:00:02.0", kind: "rciep", parent: "pci0000:00",
 *               bars: [{ index: 2, cpuStart: "0xfd000000", len: "0x1000000", prefetch: true }] }],
 * };
 * const a = validateTopology(json);
 * assert.ok(a.ok);
 * const b = validateTopology(topologyToJson(a.topology));
 * assert.ok(b.ok);
 * assert.deepEqual(b.topology, a.topology);
 * ```
 */
export function topologyToJson(t: Topology): Record<string, unknown> {
  return {
    cpu: { vendor: t.cpu.vendor, family: t.cpu.family },
    hostBridges: t.hostBridges.map((h) => {
      const o: Record<string, unknown> = { id: h.id };
      if (h.vendor !== null) o.vendor = "0x" + h.vendor.toString(16).padStart(4, "0");
      if (h.device !== null) o.device = "0x" + h.device.toString(16).padStart(4, "0");
      if (h.allowlisted !== null) o.allowlisted = h.allowlisted;
      if (h.windows.length > 0) o.windows = h.windows.map(([a, b]) => [hex(a), hex(b)]);
      return o;
    }),
    devices: t.devices.map((d) => {
      const o: Record<string, unknown> = { bdf: d.bdf, kind: d.kind };
      if (d.parent !== null) o.parent = d.parent;
      if (d.name !== null) o.name = d.name;
      if (d.vendor !== null) o.vendor = "0x" + d.vendor.toString(16).padStart(4, "0");
      if (d.device !== null) o.device = "0x" + d.device.toString(16).padStart(4, "0");
      if (d.bars.length > 0) {
        o.bars = d.bars.map((b) => ({
          index: b.index,
          cpuStart: hex(b.cpuStart),
          busStart: hex(b.busStart),
          len: hex(b.lenBytes),
          mem: b.mem,
          prefetch: b.prefetch,
          mmap: b.mmap,
        }));
      }
      if (d.acsCtrl !== null) o.acsCtrl = [...d.acsCtrl];
      o.dma = {
        maskBits: d.dma.maskBits,
        ...(d.dma.maxSegmentSizeStated ? { maxSegmentSize: d.dma.maxSegmentSize } : {}),
        segmentBoundary: hex(d.dma.segmentBoundary),
      };
      if (d.iommuDomain !== null) o.iommuDomain = d.iommuDomain;
      if (d.iommuGroup !== null) o.iommuGroup = d.iommuGroup;
      return o;
    }),
    iommu: {
      present: t.iommu.present,
      defaultDomain: t.iommu.defaultDomain,
      granule: t.iommu.granule,
      pgsizeBitmap: pageSizeNames(t.iommu.pgsizeBitmap),
      addressWidth: t.iommu.addressWidth,
      forceDac: t.iommu.forceDac,
      reserved: t.iommu.reserved.map(([a, b]) => [hex(a), hex(b)]),
      rcacheVersion: t.iommu.rcacheVersion,
    },
  };
}
