/**
 * `struct p2pdma_provider` (S001 patches 01–03, kernel-spec §3.1): one per memory BAR of a
 * PCI function, carrying the owner and the bus offset that turns a CPU physical address of
 * the BAR into the address a peer sees on the bus. Created by `pcim_p2pdma_init()` at probe,
 * gone when the device is removed. Leaves out the struct-page layer (ZONE_DEVICE pgmap).
 *
 * @module
 */

import type { Bar, PciDevice } from "./topology.ts";

const U64_MASK = (1n << 64n) - 1n;

/** The p2pdma provider of one BAR. */
export interface P2pdmaProvider {
  /** BDF of the owning PCI function. */
  readonly owner: string;
  /** BAR number. */
  readonly barIndex: number;
  /** `pci_bus_address(bar) - cpu_phys_start(bar)`, modulo 2^64 (it may be "negative"). */
  readonly busOffset: bigint;
  /** CPU physical start of the BAR. */
  readonly cpuStart: bigint;
  /** Length of the BAR in bytes. */
  readonly lenBytes: bigint;
}

/** The bus offset of a BAR, modulo 2^64. */
export function barBusOffset(bar: Bar): bigint {
  return (bar.busStart - bar.cpuStart) & U64_MASK;
}

/**
 * `pci_p2pdma_bus_addr_map()`: the bus address a peer uses for CPU physical address `phys`
 * of the provider's BAR (BUS_ADDR mappings: no IOVA, no IOMMU).
 *
 * @param provider The provider.
 * @param phys A CPU physical address in the BAR.
 * @returns `phys + busOffset` modulo 2^64.
 *
 * @example An ARM-style host bridge that translates (kernel-spec §11 tests 25–26 setup)
 * ```ts
 * import assert from "node:assert/strict";
 * import { pciP2pdmaBusAddrMap } from "./p2pdma_provider.ts";
 * const provider = {
 *   owner: "0000:03:00.0", barIndex: 0, cpuStart: 0x40_0000_0000n, lenBytes: 16n << 30n,
 *   busOffset: 0xffff_ffc0_8000_0000n,
 * };
 * assert.equal(pciP2pdmaBusAddrMap(provider, 0x40_0000_0000n), 0x8000_0000n);
 * ```
 */
export function pciP2pdmaBusAddrMap(provider: P2pdmaProvider, phys: bigint): bigint {
  return (phys + provider.busOffset) & U64_MASK;
}

/**
 * The providers of the devices probed so far: `pcim_p2pdma_init()` creates them, device
 * removal drops them, `pcim_p2pdma_provider()` looks one up.
 *
 * @example Providers exist only for memory BARs, between probe and remove
 * ```ts
 * import assert from "node:assert/strict";
 * import { P2pdmaProviders, PciTree, validateTopology } from "./mod.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00" }],
 *   devices: [{
 *     bdf: "0000:00:02.0", kind: "rciep", parent: "pci0000:00",
 *     bars: [{ index: 0, cpuStart: "0xfebd0000", len: "0x4000" }, { index: 4, cpuStart: "0xc000", len: "0x20", mem: false }],
 *   }],
 * });
 * assert.ok(r.ok);
 * const dev = new PciTree(r.topology).device("0000:00:02.0")!;
 * const providers = new P2pdmaProviders();
 * assert.equal(providers.pcimP2pdmaProvider(dev, 0), null); // not probed yet
 * providers.pcimP2pdmaInit(dev);
 * assert.equal(providers.pcimP2pdmaProvider(dev, 0)!.busOffset, 0n);
 * assert.equal(providers.pcimP2pdmaProvider(dev, 4), null); // an I/O BAR has none
 * providers.remove(dev);
 * assert.equal(providers.pcimP2pdmaProvider(dev, 0), null);
 * ```
 */
export class P2pdmaProviders {
  #byDevice = new Map<string, Map<number, P2pdmaProvider>>();
  #stateIds = new Map<string, number>();
  #nextStateId = 0;

  /**
   * `pcim_p2pdma_init()`: create the providers of every memory BAR (idempotent).
   *
   * @param dev The PCI function being probed.
   * @returns The number of providers it has.
   */
  pcimP2pdmaInit(dev: PciDevice): number {
    const key = dev.bdf.toLowerCase();
    let bars = this.#byDevice.get(key);
    if (bars === undefined) {
      bars = new Map();
      for (const bar of dev.bars) {
        if (!bar.mem) continue;
        bars.set(bar.index, {
          owner: dev.bdf,
          barIndex: bar.index,
          busOffset: barBusOffset(bar),
          cpuStart: bar.cpuStart,
          lenBytes: bar.lenBytes,
        });
      }
      this.#byDevice.set(key, bars);
      this.#stateIds.set(key, this.#nextStateId++);
    }
    return bars.size;
  }

  /**
   * `pcim_p2pdma_provider()`: the provider of a BAR.
   *
   * @param dev The owning function.
   * @param barIndex The BAR.
   * @returns The provider, or null (not a memory BAR, or the device was not probed / is gone).
   */
  pcimP2pdmaProvider(dev: PciDevice, barIndex: number): P2pdmaProvider | null {
    return this.#byDevice.get(dev.bdf.toLowerCase())?.get(barIndex) ?? null;
  }

  /**
   * Whether a function has p2pdma state (`pdev->p2pdma`), i.e. was probed and not removed.
   *
   * @param dev The function.
   * @returns True when `pcimP2pdmaInit` ran for it.
   */
  hasState(dev: PciDevice): boolean {
    return this.#byDevice.has(dev.bdf.toLowerCase());
  }

  /**
   * Which probe of a device its p2pdma state belongs to: a new number after every remove and
   * re-probe (the kernel frees `p2pdma->map_types` with the state), -1 when it has none.
   *
   * @param dev The function.
   * @returns The state's id, or -1.
   */
  stateId(dev: PciDevice): number {
    return this.#stateIds.get(dev.bdf.toLowerCase()) ?? -1;
  }

  /**
   * Device removal: its providers are gone (later lookups give null), and with them the
   * state that held its map-type cache (`pci_p2pdma_release`).
   *
   * @param dev The function removed.
   */
  remove(dev: PciDevice): void {
    this.#byDevice.delete(dev.bdf.toLowerCase());
    this.#stateIds.delete(dev.bdf.toLowerCase());
  }
}
