// What the capture tests share: the ingest pieces they read events with, and the topology of a
// shared capture with the IOVA facts the predictor needs from it.
export { parseTrace, u64AsNumber, u64At as u64As } from "../../ingest/mod.ts";
import { type Topology, validateTopology } from "../topology/mod.ts";

/** The checked-in topology of a shared capture (`traces/captures/NAME.topology.json`). */
export async function captureTopology(name: string): Promise<Topology> {
  const url = new URL(`../../../traces/captures/${name}.topology.json`, import.meta.url);
  const got = validateTopology(JSON.parse(await Deno.readTextFile(url)));
  if (!got.ok) throw new Error(`${name}: invalid topology`);
  return got.topology;
}

/** IOVA ranges no allocation may take: host-bridge windows and the IOMMU's reserved regions. */
export function iovaReservations(t: Topology): [bigint, bigint][] {
  return [
    ...t.hostBridges.flatMap((h) => h.windows.map(([a, b]) => [a, b] as [bigint, bigint])),
    ...t.iommu.reserved.map(([a, b]) => [a, b] as [bigint, bigint]),
  ];
}

/** The highest IOVA a device can get: its DMA mask cut to the IOMMU's address width. */
export function dmaLimitOf(t: Topology, bdf: string): bigint {
  const mask = BigInt(t.devices.find((d) => d.bdf === bdf)?.dma.maskBits ?? 64);
  const width = BigInt(t.iommu.addressWidth);
  return (1n << (mask < width ? mask : width)) - 1n;
}
