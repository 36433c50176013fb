/**
 * A device of a topology as the DMA model needs it: its limits, and a fresh IOMMU domain of
 * the type the topology gives it (per-device override, else the IOMMU's default), with the
 * host-bridge windows and the IOMMU's reserved regions taken out of its IOVA space. Each
 * replay (one per revision, one per what-if) builds its own.
 *
 * @module
 */

import {
  IommuDmaDomain,
  type IommuDmaDomainOptions,
  iovaPredictorOptionsFor,
} from "../iommu/mod.ts";
import type { Topology } from "../topology/mod.ts";
import { type DmaDevice, newDmaDevice } from "./dma_device.ts";

/**
 * `dev` of the DMA model for one device of a topology.
 *
 * @param t The topology.
 * @param bdf The device (a device the topology does not list gets its defaults).
 * @param onlineCpus CPUs online (per-CPU IOVA caches).
 * @param domainOptions Observers of the IOMMU domain (`onIovaFree`, for a trace writer).
 * @returns The device.
 *
 * @example A DMA-FQ default domain with the host-bridge window reserved
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTopology } from "../topology/mod.ts";
 * import { dmaDeviceFor } from "./mod.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00", windows: [["0xfe000000", "0xfeffffff"]] }],
 *   devices: [{ bdf: "0000:00:02.0", kind: "rciep", parent: "pci0000:00", dma: { maskBits: 32 } }],
 *   iommu: { present: true, defaultDomain: "dma-fq" },
 * });
 * assert.ok(r.ok);
 * const dev = dmaDeviceFor(r.topology, "0000:00:02.0");
 * assert.equal(dev.domain?.type, "dma-fq");
 * assert.equal(dev.dmaMask, 0xffffffffn);
 * ```
 */
export function dmaDeviceFor(
  t: Topology,
  bdf: string,
  onlineCpus = 2,
  domainOptions: Pick<IommuDmaDomainOptions, "onIovaFree"> = {},
): DmaDevice {
  const d = t.devices.find((x) => x.bdf === bdf);
  const type = d?.iommuDomain ?? t.iommu.defaultDomain;
  const p = iovaPredictorOptionsFor(t, bdf, onlineCpus);
  const domain = t.iommu.present
    ? new IommuDmaDomain({
      type,
      granule: t.iommu.granule,
      pgsizeBitmap: t.iommu.pgsizeBitmap,
      reserved: p.reserved ?? [],
      rcacheVersion: t.iommu.rcacheVersion,
      onlineCpus,
      ...domainOptions,
    })
    : null;
  return newDmaDevice(bdf, domain, {
    maskBits: d?.dma.maskBits ?? 64,
    maxSegmentSize: d?.dma.maxSegmentSize ?? 65536,
    segmentBoundary: d?.dma.segmentBoundary ?? 0xffffffffn,
    isPci: d === undefined || d.kind !== "platform",
    forceDac: t.iommu.forceDac,
  });
}
