/**
 * What-if changes of a topology, for replays under other settings (issue [5/8]): ACS redirect
 * on or off at a port, the ACS the kernel enables when an IOMMU is on, an endpoint moved behind
 * another bridge, a host bridge's allowlist status. Each returns a new, re-validated topology;
 * replays on it must use fresh map-type caches (the kernel never invalidates them).
 *
 * @module
 */

import type { TopologyResult } from "./validate_topology.ts";
import { validateTopology } from "./validate_topology.ts";
import { topologyToJson } from "./topology_to_json.ts";
import type { AcsBit, DomainType, PciDevice, Topology } from "./topology.ts";

function rebuild(t: Topology, devices: PciDevice[], hostBridges = t.hostBridges): TopologyResult {
  return validateTopology(topologyToJson({ ...t, devices, hostBridges }));
}

function unknownDevice(bdf: string): TopologyResult {
  return {
    ok: false,
    errors: [{ pointer: "/devices", message: `expected a device "${bdf}" in the topology` }],
  };
}

/**
 * Turn ACS P2P redirect (RR, CR; off also clears EC) on or off at one function.
 *
 * @param t The topology.
 * @param bdf The port (or multi-function endpoint).
 * @param on Redirect on.
 * @returns The changed topology.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTopology, withAcsRedirect } from "./mod.ts";
 * const base = validateTopology({
 *   hostBridges: [{ id: "pci0000:00" }],
 *   devices: [{ bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00", acsCtrl: ["SV"] }],
 * });
 * assert.ok(base.ok);
 * const r = withAcsRedirect(base.topology, "0000:00:01.0", true);
 * assert.ok(r.ok);
 * assert.deepEqual(r.topology.devices[0]!.acsCtrl, ["SV", "RR", "CR"]);
 * ```
 */
export function withAcsRedirect(t: Topology, bdf: string, on: boolean): TopologyResult {
  const i = t.devices.findIndex((d) => d.bdf.toLowerCase() === bdf.toLowerCase());
  if (i < 0) return unknownDevice(bdf);
  const d = t.devices[i]!;
  const bits: AcsBit[] = on
    ? [
      ...(d.acsCtrl ?? []),
      ...(["RR", "CR"] as const).filter((b) => !(d.acsCtrl ?? []).includes(b)),
    ]
    : (d.acsCtrl ?? []).filter((b) => b !== "RR" && b !== "CR" && b !== "EC");
  const devices = [...t.devices];
  devices[i] = { ...d, acsCtrl: on || d.acsCtrl !== null ? bits : null };
  return rebuild(t, devices);
}

/**
 * The ACS the kernel enables on every function with an ACS capability when an IOMMU is on
 * (`pci_std_enable_acs`: Source Validation, Request and Completion Redirect, Upstream
 * Forwarding), kernel-spec §3.6.
 *
 * @param t The topology.
 * @returns The changed topology.
 */
export function withKernelAcs(t: Topology): TopologyResult {
  const devices = t.devices.map((d) => {
    if (d.acsCtrl === null) return d;
    const bits = [...d.acsCtrl];
    for (const b of ["SV", "RR", "CR", "UF"] as const) if (!bits.includes(b)) bits.push(b);
    return { ...d, acsCtrl: bits };
  });
  return rebuild(t, devices);
}

/**
 * Move a device (and what is below it) behind another bridge, or onto a root bus.
 *
 * @param t The topology.
 * @param bdf The device to move.
 * @param newParent A bridge's BDF or a host bridge id.
 * @returns The changed topology (errors when the move breaks the tree rules).
 */
export function withDeviceMoved(t: Topology, bdf: string, newParent: string): TopologyResult {
  const i = t.devices.findIndex((d) => d.bdf.toLowerCase() === bdf.toLowerCase());
  if (i < 0) return unknownDevice(bdf);
  const devices = [...t.devices];
  const d = devices[i]!;
  const onRootBus = t.hostBridges.some((h) => h.id === newParent);
  // An endpoint moved onto a root bus becomes an RCiEP; one moved below a bridge, an endpoint.
  const kind = d.kind === "endpoint" && onRootBus
    ? "rciep"
    : d.kind === "rciep" && !onRootBus
    ? "endpoint"
    : d.kind;
  devices[i] = { ...d, parent: newParent, kind };
  return rebuild(t, devices);
}

/**
 * Override a host bridge's allowlist status (null: back to the kernel's list by its ids).
 *
 * @param t The topology.
 * @param id The host bridge (`pciDDDD:BB`).
 * @param allowed The override.
 * @returns The changed topology.
 */
export function withHostBridgeAllowlisted(
  t: Topology,
  id: string,
  allowed: boolean | null,
): TopologyResult {
  const i = t.hostBridges.findIndex((h) => h.id === id);
  if (i < 0) {
    return {
      ok: false,
      errors: [{ pointer: "/hostBridges", message: `expected a host bridge "${id}"` }],
    };
  }
  const hostBridges = [...t.hostBridges];
  hostBridges[i] = { ...hostBridges[i]!, allowlisted: allowed };
  return rebuild(t, [...t.devices], hostBridges);
}

/**
 * The IOMMU's domain type for one device, or the default for all (`iommu.strict=1` is `dma`,
 * lazy `dma-fq`, `iommu=pt` `identity`); with no IOMMU in the topology one is added.
 *
 * @param t The topology.
 * @param type The domain type.
 * @param bdf One device (its group's override), or null for the default domain.
 * @returns The changed topology.
 */
export function withIommuDomain(
  t: Topology,
  type: DomainType,
  bdf: string | null,
): TopologyResult {
  if (bdf === null) {
    return validateTopology(
      topologyToJson({ ...t, iommu: { ...t.iommu, present: true, defaultDomain: type } }),
    );
  }
  const i = t.devices.findIndex((d) => d.bdf.toLowerCase() === bdf.toLowerCase());
  if (i < 0) return unknownDevice(bdf);
  const devices = [...t.devices];
  devices[i] = { ...devices[i]!, iommuDomain: type };
  return validateTopology(
    topologyToJson({ ...t, devices, iommu: { ...t.iommu, present: true } }),
  );
}

/**
 * A device's DMA mask (`dma_set_mask`).
 *
 * @param t The topology.
 * @param bdf The device.
 * @param bits Mask width (1..64).
 * @returns The changed topology.
 */
export function withDmaMask(t: Topology, bdf: string, bits: number): TopologyResult {
  const i = t.devices.findIndex((d) => d.bdf.toLowerCase() === bdf.toLowerCase());
  if (i < 0) return unknownDevice(bdf);
  const devices = [...t.devices];
  devices[i] = { ...devices[i]!, dma: { ...devices[i]!.dma, maskBits: bits } };
  return rebuild(t, devices);
}

/**
 * The IOMMU's page sizes (`pgsize_bitmap`).
 *
 * @param t The topology.
 * @param bitmap The page sizes, a bit per size.
 * @returns The changed topology.
 */
export function withPgsizeBitmap(t: Topology, bitmap: bigint): TopologyResult {
  return validateTopology(topologyToJson({ ...t, iommu: { ...t.iommu, pgsizeBitmap: bitmap } }));
}
