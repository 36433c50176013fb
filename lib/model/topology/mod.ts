/**
 * The PCI topology and the P2PDMA model (kernel-spec §3): the validated topology, p2pdma
 * providers per BAR, `calcMapTypeAndDist` with the host-bridge allowlist and ACS rules, the
 * per-provider map-type cache, `pci_p2pdma_distance_many`, and what-if changes.
 *
 * @example Which path would a GPU's BAR take to a NIC?
 * ```ts
 * import assert from "node:assert/strict";
 * import { P2pdmaMapTypes, P2pdmaProviders, PciTree, validateTopology } from "./mod.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00", vendor: "0x8086", device: "0x1234" }],
 *   devices: [
 *     { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
 *     { bdf: "0000:00:02.0", kind: "root_port", parent: "pci0000:00" },
 *     { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0", bars: [{ index: 0, cpuStart: "0x380000000000", len: "0x10000000" }] },
 *     { bdf: "0000:02:00.0", kind: "endpoint", parent: "0000:00:02.0" },
 *   ],
 * });
 * assert.ok(r.ok);
 * const tree = new PciTree(r.topology);
 * const providers = new P2pdmaProviders();
 * providers.pcimP2pdmaInit(tree.device("0000:01:00.0")!);
 * const types = new P2pdmaMapTypes(tree, providers);
 * const got = types.pciP2pdmaMapType(providers.pcimP2pdmaProvider(tree.device("0000:01:00.0")!, 0)!, tree.device("0000:02:00.0")!);
 * assert.equal(got.mapType, "NOT_SUPPORTED"); // 8086:1234 is not in the allowlist
 * ```
 *
 * @module
 */

export {
  type AllowlistEntry,
  calcMapTypeAndDist,
  cpuSupportsP2pdma,
  HOST_BRIDGE_ALLOWLIST,
  type MapTypeAndDist,
  P2PDMA_MAP_TYPE_VALUES,
  type P2pdmaMapType,
} from "./calc_map_type_and_dist.ts";
export {
  barBusOffset,
  type P2pdmaProvider,
  P2pdmaProviders,
  pciP2pdmaBusAddrMap,
} from "./p2pdma_provider.ts";
export { type MapTypeResult, mapTypesIdx, P2pdmaMapTypes } from "./p2pdma_map_types.ts";
export { hasAcsRedirect, PciTree } from "./pci_tree.ts";
export {
  ACS_REDIRECT_BITS,
  type AcsBit,
  type Bar,
  BDF_REGEXP,
  type CpuInfo,
  type DeviceKind,
  type DmaLimits,
  type DomainType,
  type HostBridge,
  type IommuSettings,
  parseBdf,
  type PciDevice,
  type Topology,
} from "./topology.ts";
export { topologyToJson } from "./topology_to_json.ts";
export { NO_IOMMU, type TopologyResult, validateTopology } from "./validate_topology.ts";
export {
  withAcsRedirect,
  withDeviceMoved,
  withDmaMask,
  withHostBridgeAllowlisted,
  withIommuDomain,
  withKernelAcs,
  withPgsizeBitmap,
} from "./what_if.ts";
export { applyWhatIf, type WhatIfResult } from "./apply_what_if.ts";
export { importTopologyDump, type TopologyImport } from "./import_topology_dump.ts";
