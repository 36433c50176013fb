/**
 * `calc_map_type_and_dist()` of drivers/pci/p2pdma.c (kernel-spec §3.4, checked against
 * K-P2P @04673b71 and a 7.1-rc4 tree): which path a peer-to-peer transfer between a provider's
 * memory and a client takes, and the PCI distance between them. Leaves out the warning text
 * the kernel logs and the per-device cache (see `p2pdma_map_types.ts`).
 *
 * ```
 *        host bridge ── allowlist? ── THRU_HOST_BRIDGE or NOT_SUPPORTED
 *         │        │
 *        RP        RP           common upstream bridge found and no ACS redirect
 *         │         │           on either side ─────────────────── BUS_ADDR
 *        USP      NVMe
 *       /   \
 *     DSP   DSP    ← ACS RR/CR/EC here forces the host-bridge path
 *      │     │
 *     GPU   NIC
 * ```
 *
 * @module
 */

import { hasAcsRedirect, type PciTree } from "./pci_tree.ts";
import type { HostBridge, PciDevice } from "./topology.ts";

/** `enum pci_p2pdma_map_type` (S001 patch 04 ordering: 0 UNKNOWN .. 4 THRU_HOST_BRIDGE). */
export type P2pdmaMapType = "UNKNOWN" | "NONE" | "NOT_SUPPORTED" | "BUS_ADDR" | "THRU_HOST_BRIDGE";

/** The kernel's numeric value of each map type (kprobe returns print these). */
export const P2PDMA_MAP_TYPE_VALUES: Readonly<Record<P2pdmaMapType, number>> = {
  UNKNOWN: 0,
  NONE: 1,
  NOT_SUPPORTED: 2,
  BUS_ADDR: 3,
  THRU_HOST_BRIDGE: 4,
};

/** What `calcMapTypeAndDist` found, and why. */
export interface MapTypeAndDist {
  /** The path. */
  readonly mapType: P2pdmaMapType;
  /** PCI hops from provider to client (kernel-spec §3.4 "Distance meaning"). */
  readonly distance: number;
  /** The common upstream bridge (BDF), or null when the path crosses the host bridge(s). */
  readonly commonUpstream: string | null;
  /** Functions on the path whose ACS Control redirects P2P traffic (BDFs). */
  readonly acsRedirect: readonly string[];
  /**
   * The bridge both devices sit below, even when ACS redirect sends their traffic past it to
   * the root complex (then a bus-address path exists but is not used); null when none.
   */
  readonly sharedBridge: string | null;
  /** One sentence: why this path. */
  readonly reason: string;
}

/** One entry of the host-bridge allowlist (`pci_p2pdma_whitelist[]`). */
export interface AllowlistEntry {
  /** PCI vendor id. */
  readonly vendor: number;
  /** Device id, or -1 for any device of the vendor. */
  readonly device: number;
  /** Allowed only when both devices sit below this one host bridge (`REQ_SAME_HOST_BRIDGE`). */
  readonly reqSameHostBridge: boolean;
  /** What it is. */
  readonly name: string;
}

function intel(device: number, name: string, same = false): AllowlistEntry {
  return { vendor: 0x8086, device, reqSameHostBridge: same, name };
}

/** The kernel's allowlist (K-P2P @04673b71 plus upstream commit 0ba76b19fd4c's accelerators). */
export const HOST_BRIDGE_ALLOWLIST: readonly AllowlistEntry[] = [
  intel(0x3c00, "Intel Xeon E5 (Sandy Bridge-EP) root port 0", true),
  intel(0x3c01, "Intel Xeon E5 (Sandy Bridge-EP) root port 1", true),
  intel(0x2f00, "Intel Xeon E5 v3 (Haswell-EP) root port 0", true),
  intel(0x2f01, "Intel Xeon E5 v3 (Haswell-EP) root port 1", true),
  intel(0x2030, "Intel Xeon Scalable root port"),
  intel(0x2031, "Intel Xeon Scalable root port"),
  intel(0x2032, "Intel Xeon Scalable root port"),
  intel(0x2033, "Intel Xeon Scalable root port"),
  intel(0x2020, "Intel Xeon Scalable (Skylake-SP) host bridge"),
  intel(0x09a2, "Intel Xeon (Ice Lake-SP) host bridge"),
  intel(0x0b25, "Intel DSA (Sapphire Rapids)"),
  intel(0x0cfe, "Intel IAA (Sapphire Rapids)"),
  intel(0x11fb, "Intel DSA (Granite Rapids-D)"),
  intel(0x1212, "Intel DSA (Diamond Rapids)"),
  intel(0x1216, "Intel IAA (Diamond Rapids)"),
  intel(0x4940, "Intel QAT 4xxx"),
  intel(0x4942, "Intel QAT 401xx"),
  intel(0x4944, "Intel QAT 402xx"),
  intel(0x4946, "Intel QAT 420xx"),
  intel(0x4948, "Intel QAT 6xxx"),
  { vendor: 0x1ae0, device: -1, reqSameHostBridge: false, name: "Google (any device)" },
  { vendor: 0x10de, device: 0x2f95, reqSameHostBridge: false, name: "NVIDIA host bridge" },
  { vendor: 0x10de, device: 0x2f96, reqSameHostBridge: false, name: "NVIDIA host bridge" },
  { vendor: 0x10de, device: 0x2f97, reqSameHostBridge: false, name: "NVIDIA host bridge" },
  { vendor: 0x10de, device: 0x2f98, reqSameHostBridge: false, name: "NVIDIA host bridge" },
];

const hex4 = (v: number) => v.toString(16).padStart(4, "0");

/** Verdict of the allowlist for one host bridge, with the words for a reason. */
interface Allowed {
  ok: boolean;
  why: string;
}

/** `__host_bridge_whitelist()`: is P2P through this host bridge allowed? */
function hostBridgeAllowlisted(tree: PciTree, hb: HostBridge, sameHostBridge: boolean): Allowed {
  if (hb.allowlisted !== null) {
    return {
      ok: hb.allowlisted,
      why: `host bridge ${hb.id} is ${
        hb.allowlisted ? "" : "not "
      }allowed by the topology's override`,
    };
  }
  let vendor = hb.vendor;
  let device = hb.device;
  if (vendor === null || device === null) {
    const root = tree.rootBusFunction(hb);
    vendor = root?.vendor ?? null;
    device = root?.device ?? null;
  }
  if (vendor === null || device === null) {
    return {
      ok: false,
      why: `host bridge ${hb.id} has no known vendor/device ids (not in the allowlist)`,
    };
  }
  const ids = `${hex4(vendor)}:${hex4(device)}`;
  for (const e of HOST_BRIDGE_ALLOWLIST) {
    if (e.vendor !== vendor) continue;
    if (e.device !== -1 && e.device !== device) continue;
    if (e.reqSameHostBridge && !sameHostBridge) {
      return {
        ok: false,
        why: `host bridge ${hb.id} (${ids}, ${e.name}) allows P2P only between devices below it`,
      };
    }
    return { ok: true, why: `host bridge ${hb.id} (${ids}, ${e.name}) is in the P2PDMA allowlist` };
  }
  return { ok: false, why: `host bridge ${hb.id} (${ids}) is not in the P2PDMA allowlist` };
}

/** `host_bridge_whitelist()`: both host bridges must be allowed (or the one they share). */
function hostBridgeAllowed(tree: PciTree, a: PciDevice, b: PciDevice): Allowed {
  const ha = tree.hostBridgeOf(a);
  const hb = tree.hostBridgeOf(b);
  if (ha === null || hb === null) return { ok: false, why: "a device has no host bridge" };
  if (ha === hb) return hostBridgeAllowlisted(tree, ha, true);
  const va = hostBridgeAllowlisted(tree, ha, false);
  if (!va.ok) return va;
  const vb = hostBridgeAllowlisted(tree, hb, false);
  if (!vb.ok) return vb;
  return { ok: true, why: `${va.why}, and ${vb.why}` };
}

/** `cpu_supports_p2pdma()`: AMD Zen (family 0x17) and later allow every host-bridge path. */
export function cpuSupportsP2pdma(tree: PciTree): boolean {
  const cpu = tree.topology.cpu;
  return cpu.vendor === "amd" && cpu.family >= 0x17;
}

/**
 * Map type and distance between a provider (the PCI function owning the memory) and a client
 * PCI function, as `calc_map_type_and_dist()` computes them.
 *
 * @param tree The topology.
 * @param provider The provider's PCI function.
 * @param client The client's PCI function.
 * @returns Map type, distance and the reason.
 *
 * @example Two devices under one switch, no ACS redirect (kernel-spec §11 test 16)
 * ```ts
 * import assert from "node:assert/strict";
 * import { calcMapTypeAndDist, PciTree, validateTopology } from "./mod.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00", vendor: "0x8086", device: "0x2020" }],
 *   devices: [
 *     { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
 *     { bdf: "0000:01:00.0", kind: "switch_upstream", parent: "0000:00:01.0" },
 *     { bdf: "0000:02:00.0", kind: "switch_downstream", parent: "0000:01:00.0" },
 *     { bdf: "0000:02:01.0", kind: "switch_downstream", parent: "0000:01:00.0" },
 *     { bdf: "0000:03:00.0", kind: "endpoint", parent: "0000:02:00.0" },
 *     { bdf: "0000:04:00.0", kind: "endpoint", parent: "0000:02:01.0" },
 *   ],
 * });
 * assert.ok(r.ok);
 * const tree = new PciTree(r.topology);
 * const got = calcMapTypeAndDist(tree, tree.device("0000:03:00.0")!, tree.device("0000:04:00.0")!);
 * assert.equal(got.mapType, "BUS_ADDR");
 * assert.equal(got.distance, 4);
 * assert.equal(got.commonUpstream, "0000:01:00.0");
 * ```
 */
export function calcMapTypeAndDist(
  tree: PciTree,
  provider: PciDevice,
  client: PciDevice,
): MapTypeAndDist {
  const acs: string[] = [];
  let distA = 0;
  let distB = 0;
  let a: PciDevice | null = provider;
  let common: PciDevice | null = null;
  // Walk up from the provider; for each ancestor, walk up from the client looking for it.
  while (a !== null) {
    distB = 0;
    if (hasAcsRedirect(a)) acs.push(a.bdf); // every provider-side node, the common one too
    let bb: PciDevice | null = client;
    while (bb !== null) {
      if (bb === a) break;
      bb = tree.up(bb);
      ++distB;
    }
    if (bb === a) {
      common = a;
      break;
    }
    a = tree.up(a);
    ++distA;
  }
  const distance = distA + distB;
  if (common !== null) {
    for (let bb: PciDevice | null = client; bb !== null && bb !== common; bb = tree.up(bb)) {
      if (hasAcsRedirect(bb)) acs.push(bb.bdf);
    }
    if (acs.length === 0) {
      return {
        mapType: "BUS_ADDR",
        distance,
        commonUpstream: common.bdf,
        acsRedirect: acs,
        sharedBridge: common.bdf,
        reason: common === provider && common === client
          ? "provider and client are the same function: its own BAR is reached by bus address"
          : `both below ${common.bdf} with no ACS redirect on the path: TLPs are routed there, by bus address`,
      };
    }
  }
  const why = common === null
    ? "no common upstream bridge: the path goes through the root complex"
    : `ACS redirect (${acs.join(", ")}) sends P2P traffic up to the root complex`;
  if (cpuSupportsP2pdma(tree)) {
    return {
      mapType: "THRU_HOST_BRIDGE",
      distance,
      commonUpstream: null,
      acsRedirect: acs,
      sharedBridge: common?.bdf ?? null,
      reason: `${why}; AMD Zen (family >= 0x17) allows every host-bridge path`,
    };
  }
  const allowed = hostBridgeAllowed(tree, provider, client);
  return {
    mapType: allowed.ok ? "THRU_HOST_BRIDGE" : "NOT_SUPPORTED",
    distance,
    commonUpstream: null,
    acsRedirect: acs,
    sharedBridge: common?.bdf ?? null,
    reason: `${why}; ${allowed.why}`,
  };
}
