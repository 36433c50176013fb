/**
 * `pci_p2pdma_map_type()` and `pci_p2pdma_distance_many()` of drivers/pci/p2pdma.c
 * (kernel-spec §3.3, §3.5), with the per-provider-device cache of computed map types
 * (`p2pdma->map_types`, an xarray keyed by the client's domain/bus/devfn). As in the kernel
 * the cache is never invalidated while the device is bound: a changed ACS setting keeps the
 * cached answer, so what-if runs start with a fresh {@linkcode P2pdmaMapTypes}.
 *
 * @module
 */

import { calcMapTypeAndDist, type P2pdmaMapType } from "./calc_map_type_and_dist.ts";
import type { P2pdmaProvider, P2pdmaProviders } from "./p2pdma_provider.ts";
import type { PciTree } from "./pci_tree.ts";
import type { PciDevice } from "./topology.ts";

/** A map type with the reason for it. */
export interface MapTypeResult {
  /** The path. */
  readonly mapType: P2pdmaMapType;
  /** Why (computed when the type was first asked for; cached answers keep it). */
  readonly reason: string;
  /** Whether the answer came from the cache. */
  readonly cached: boolean;
}

/** `map_types_idx()`: the cache key of a client, `(domain << 16) | (bus << 8) | devfn`. */
export function mapTypesIdx(client: PciDevice): number {
  return client.domain * 65536 + ((client.bus << 8) | client.devfn);
}

/**
 * The map-type caches of all provider devices, with hit and miss counts.
 *
 * @example The cache keeps an answer after ACS changes (kernel-spec §11 test 22)
 * ```ts
 * import assert from "node:assert/strict";
 * import { P2pdmaMapTypes, P2pdmaProviders, PciTree, validateTopology } from "./mod.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00" }],
 *   devices: [
 *     { bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00" },
 *     { bdf: "0000:01:00.0", kind: "endpoint", parent: "0000:00:01.0", bars: [{ index: 0, cpuStart: "0x80000000", len: "0x100000" }] },
 *     { bdf: "0000:01:00.1", kind: "endpoint", parent: "0000:00:01.0" },
 *   ],
 * });
 * assert.ok(r.ok);
 * const tree = new PciTree(r.topology);
 * const providers = new P2pdmaProviders();
 * const gpu = tree.device("0000:01:00.0")!;
 * providers.pcimP2pdmaInit(gpu);
 * const types = new P2pdmaMapTypes(tree, providers);
 * const provider = providers.pcimP2pdmaProvider(gpu, 0)!;
 * const client = tree.device("0000:01:00.1")!;
 * assert.equal(types.pciP2pdmaMapType(provider, client).mapType, "BUS_ADDR");
 * assert.equal(types.pciP2pdmaMapType(provider, client).cached, true);
 * assert.deepEqual([types.hits, types.misses], [1, 1]);
 * ```
 */
export class P2pdmaMapTypes {
  /** Lookups answered from a cache. */
  hits = 0;
  /** Lookups that computed the type. */
  misses = 0;
  #tree: PciTree;
  #providers: P2pdmaProviders;
  // By the provider device's p2pdma state: a removed and re-probed device starts empty.
  #caches = new Map<number, Map<number, { mapType: P2pdmaMapType; reason: string }>>();

  /**
   * Caches over a topology and its providers.
   *
   * @param tree The topology.
   * @param providers Which devices have p2pdma state.
   */
  constructor(tree: PciTree, providers: P2pdmaProviders) {
    this.#tree = tree;
    this.#providers = providers;
  }

  #cacheOf(owner: PciDevice): Map<number, { mapType: P2pdmaMapType; reason: string }> {
    const id = this.#providers.stateId(owner);
    let c = this.#caches.get(id);
    if (c === undefined) {
      c = new Map();
      this.#caches.set(id, c);
    }
    return c;
  }

  /**
   * `pci_p2pdma_map_type(provider, dev)`: the path for DMA by `client` to the provider's
   * memory, from the cache or computed (and cached).
   *
   * @param provider The provider of the memory.
   * @param client The DMA device.
   * @returns The map type and its reason.
   */
  pciP2pdmaMapType(provider: P2pdmaProvider, client: PciDevice): MapTypeResult {
    const owner = this.#tree.device(provider.owner);
    if (owner === undefined || !this.#providers.hasState(owner)) {
      return {
        mapType: "NOT_SUPPORTED",
        reason: `provider ${provider.owner} has no p2pdma state (not probed, or removed)`,
        cached: false,
      };
    }
    if (!this.#tree.isPci(client)) {
      return {
        mapType: "NOT_SUPPORTED",
        reason: `client ${client.bdf} is not a PCI function`,
        cached: false,
      };
    }
    const cache = this.#cacheOf(owner);
    const hit = cache.get(mapTypesIdx(client));
    if (hit !== undefined) {
      ++this.hits;
      return { ...hit, cached: true };
    }
    ++this.misses;
    const got = calcMapTypeAndDist(this.#tree, owner, client);
    cache.set(mapTypesIdx(client), { mapType: got.mapType, reason: got.reason });
    return { mapType: got.mapType, reason: got.reason, cached: false };
  }

  /**
   * `pci_p2pdma_distance_many(provider, clients, num_clients, verbose)`: the summed distance
   * from the provider to every client, or -1 when any pair is NOT_SUPPORTED or a client has no
   * PCI function above it (fills the cache on the way, as the kernel does).
   *
   * @param provider The provider.
   * @param clients The clients (non-PCI devices are walked up to their PCI parent).
   * @param verbose Go on after the first unsupported pair (the kernel then warns about each).
   * @returns The distance, or -1.
   */
  pciP2pdmaDistanceMany(
    provider: P2pdmaProvider,
    clients: readonly PciDevice[],
    verbose = false,
  ): number {
    if (clients.length === 0) return -1;
    const owner = this.#tree.device(provider.owner);
    if (owner === undefined) return -1;
    let total = 0;
    let notSupported = false;
    for (const c of clients) {
      const pci = this.#tree.pciDeviceOf(c);
      if (pci === null) return -1;
      const got = calcMapTypeAndDist(this.#tree, owner, pci);
      this.#cacheOf(owner).set(mapTypesIdx(pci), {
        mapType: got.mapType,
        reason: got.reason,
      });
      if (got.mapType === "NOT_SUPPORTED") {
        notSupported = true;
        if (!verbose) break;
      }
      total += got.distance;
    }
    return notSupported ? -1 : total;
  }
}
