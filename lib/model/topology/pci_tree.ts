/**
 * Navigation of a {@linkcode Topology}: devices by BDF, the upstream bridge of a device (the
 * kernel's `pci_upstream_bridge`), its host bridge, and the ACS redirect predicate.
 *
 * ```
 *   pci0000:00 (host bridge)
 *   ├── 0000:00:01.0 root port          up() = null (root bus)
 *   │   └── 0000:01:00.0 switch upstream     up() = 00:01.0
 *   │       ├── 0000:02:00.0 switch downstream
 *   │       │   └── 0000:03:00.0 GPU    up() = 02:00.0
 *   │       └── 0000:02:01.0 switch downstream
 *   │           └── 0000:04:00.0 NIC
 *   └── 0000:00:02.0 root port
 *       └── 0000:05:00.0 NVMe
 * ```
 *
 * @module
 */

import { ACS_REDIRECT_BITS, type HostBridge, type PciDevice, type Topology } from "./topology.ts";

/**
 * A read-only index over a topology.
 *
 * @example Walking up from an endpoint
 * ```ts
 * import assert from "node:assert/strict";
 * import { PciTree, validateTopology } from "./mod.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00" }],
 *   devices: [
 *     { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
 *     { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0" },
 *   ],
 * });
 * assert.ok(r.ok);
 * const tree = new PciTree(r.topology);
 * const ep = tree.device("0000:01:00.0")!;
 * assert.equal(tree.up(ep)!.bdf, "0000:00:01.0");
 * assert.equal(tree.up(tree.up(ep)!), null);
 * assert.equal(tree.hostBridgeOf(ep)!.id, "pci0000:00");
 * ```
 */
export class PciTree {
  /** The topology indexed. */
  readonly topology: Topology;
  #byBdf = new Map<string, PciDevice>();
  #hostBridges = new Map<string, HostBridge>();

  /**
   * Index a validated topology.
   *
   * @param topology From `validateTopology`.
   */
  constructor(topology: Topology) {
    this.topology = topology;
    for (const d of topology.devices) this.#byBdf.set(d.bdf.toLowerCase(), d);
    for (const h of topology.hostBridges) this.#hostBridges.set(h.id, h);
  }

  /**
   * A device by BDF (case-insensitive) or platform name.
   *
   * @param bdf `DDDD:BB:DD.F` or a platform device's name.
   * @returns The device, or undefined.
   */
  device(bdf: string): PciDevice | undefined {
    return this.#byBdf.get(bdf.toLowerCase());
  }

  /**
   * A host bridge by id.
   *
   * @param id `pciDDDD:BB`.
   * @returns The host bridge, or undefined.
   */
  hostBridge(id: string): HostBridge | undefined {
    return this.#hostBridges.get(id);
  }

  /**
   * Whether a device is a PCI function (`dev_is_pci`).
   *
   * @param dev The device.
   * @returns False for platform devices.
   */
  isPci(dev: PciDevice): boolean {
    return dev.kind !== "platform";
  }

  /**
   * The bridge whose secondary bus `dev` sits on (`pci_upstream_bridge`); null on a root bus.
   *
   * @param dev A PCI function.
   * @returns The upstream bridge, or null.
   */
  up(dev: PciDevice): PciDevice | null {
    if (dev.parent === null || this.#hostBridges.has(dev.parent)) return null;
    return this.#byBdf.get(dev.parent.toLowerCase()) ?? null;
  }

  /**
   * The host bridge above a device (`pci_find_host_bridge`).
   *
   * @param dev The device.
   * @returns Its host bridge, or null (a platform device without a PCI parent).
   */
  hostBridgeOf(dev: PciDevice): HostBridge | null {
    let d: PciDevice | undefined = dev;
    for (let steps = 0; d !== undefined && steps <= this.topology.devices.length; ++steps) {
      if (d.parent === null) return null;
      const hb = this.#hostBridges.get(d.parent);
      if (hb !== undefined) return hb;
      d = this.#byBdf.get(d.parent.toLowerCase());
    }
    return null;
  }

  /**
   * The first PCI function at or above `dev` (walking `dev->parent`), as
   * `pci_p2pdma_distance_many` finds it for a client; null when there is none.
   *
   * @param dev Any device.
   * @returns A PCI function, or null.
   */
  pciDeviceOf(dev: PciDevice): PciDevice | null {
    let d: PciDevice | undefined = dev;
    for (let steps = 0; d !== undefined && steps <= this.topology.devices.length; ++steps) {
      if (this.isPci(d)) return d;
      if (d.parent === null) return null;
      d = this.#byBdf.get(d.parent.toLowerCase());
    }
    return null;
  }

  /**
   * The function the allowlist looks at (`pci_host_bridge_dev` in p2pdma.c): the first device
   * on the host bridge's root bus (lowest devfn), and only when it is 00.0 or a root port.
   *
   * @param hb The host bridge.
   * @returns That device, or null.
   */
  rootBusFunction(hb: HostBridge): PciDevice | null {
    let first: PciDevice | null = null;
    for (const d of this.topology.devices) {
      if (
        d.parent === hb.id && d.kind !== "platform" && (first === null || d.devfn < first.devfn)
      ) first = d;
    }
    if (first === null) return null;
    return first.devfn === 0 || first.kind === "root_port" ? first : null;
  }
}

/**
 * Whether a function's ACS Control redirects peer-to-peer traffic: it has an ACS capability
 * and RR, CR or EC is set (kernel-spec §3.4 `acsRedir`).
 *
 * @param dev The function.
 * @returns True when P2P requests or completions go upstream.
 */
export function hasAcsRedirect(dev: PciDevice): boolean {
  if (dev.acsCtrl === null) return false;
  for (const b of ACS_REDIRECT_BITS) if (dev.acsCtrl.includes(b)) return true;
  return false;
}
