// Where the synthesizer's buffers come from: RAM page frames (never inside a BAR), or pieces of a
// peer's BAR (apart from the pieces in flight); and how dma_map_sg classifies them
// (pci_p2pdma_map_type between the BAR's provider and the mapping device).

import {
  calcMapTypeAndDist,
  type P2pdmaMapType,
  P2pdmaMapTypes,
  type P2pdmaProvider,
  P2pdmaProviders,
  PciTree,
  type Topology,
} from "../model/topology/mod.ts";

/**
 * Physical memory the buffers come from: page frames from 16 MiB to 3 GiB (a PC's RAM below the
 * 32-bit MMIO hole), and none inside a BAR of the topology.
 */
const RAM_FIRST_PFN = 0x1000;
const RAM_LAST_PFN = 0xbffff;

/** A peer BAR. */
export interface PeerBar {
  readonly device: string;
  readonly bar: number;
}

export class Buffers {
  readonly #int: (lo: number, hi: number) => number;
  /** The topology's BARs, as inclusive page-frame ranges (no RAM buffer comes from them). */
  readonly #barPfns: [number, number][];
  readonly #peers: readonly PeerBar[];
  readonly #tree: PciTree;
  readonly #providers = new P2pdmaProviders();
  readonly #mapTypes: P2pdmaMapTypes;
  /** RAM page frames of the I/Os in flight. */
  readonly #ramLive = new Set<number>();
  /** Peer BAR ranges `[start, end)` of the I/Os in flight. */
  #peerLive: [bigint, bigint][] = [];

  constructor(
    topology: Topology,
    peers: readonly PeerBar[],
    int: (lo: number, hi: number) => number,
  ) {
    this.#int = int;
    this.#peers = peers;
    this.#barPfns = topology.devices.flatMap((d) =>
      d.bars.map((b) => [Number(b.cpuStart >> 12n), Number((b.cpuStart + b.lenBytes - 1n) >> 12n)])
    ) as [number, number][];
    this.#tree = new PciTree(topology);
    for (const d of topology.devices) {
      const dev = this.#tree.device(d.bdf);
      if (dev !== undefined && dev.kind !== "platform") this.#providers.pcimP2pdmaInit(dev);
    }
    this.#mapTypes = new P2pdmaMapTypes(this.#tree, this.#providers);
  }

  /** A peer buffer's I/O completed: its piece of the BAR is free again. */
  release(physStart: bigint): void {
    this.#peerLive = this.#peerLive.filter(([a]) => a !== physStart);
  }

  /** A RAM buffer's I/O completed: its pages are free again. */
  releaseRam(first: bigint, pages: readonly bigint[] | number): void {
    if (typeof pages === "number") {
      for (let k = 0; k < pages; ++k) this.#ramLive.delete(Number(first >> 12n) + k);
    } else for (const p of pages) this.#ramLive.delete(Number(p >> 12n));
  }

  /** Whether a RAM page frame can be handed out: not in a BAR, not in an I/O in flight. */
  #free(pfn: number): boolean {
    return !this.#ramLive.has(pfn) && !this.inBar(pfn);
  }

  /** A random free RAM page frame (never one of a BAR, nor one in flight). */
  ramPfn(lo = RAM_FIRST_PFN, hi = RAM_LAST_PFN): number {
    for (;;) {
      const pfn = this.#int(lo, hi);
      if (this.#free(pfn)) return pfn;
    }
  }

  /** Whether a page frame lies in a BAR. */
  inBar(pfn: number): boolean {
    for (const [a, b] of this.#barPfns) if (pfn >= a && pfn <= b) return true;
    return false;
  }

  /** Pages of one buffer: random frames, each following the last with the given chance. */
  buffer(pages: number, contiguity: number): bigint[] {
    const out: bigint[] = [];
    let pfn = this.ramPfn(RAM_FIRST_PFN, RAM_LAST_PFN - pages);
    for (let i = 0; i < pages; ++i) {
      if (i > 0) {
        const follow = this.#int(0, 1 << 20) < contiguity * (1 << 20);
        pfn = follow && pfn < RAM_LAST_PFN && this.#free(pfn + 1) ? pfn + 1 : this.ramPfn();
      }
      // In flight from now (two I/Os never share a page: dma-debug could not tell them apart).
      this.#ramLive.add(pfn);
      out.push(BigInt(pfn) << 12n);
    }
    return out;
  }

  /** A buffer of physically contiguous bytes (`dma_map_page` of a kmalloc'ed buffer). */
  contiguous(pages: number): bigint {
    for (;;) {
      const pfn = this.ramPfn(RAM_FIRST_PFN, RAM_LAST_PFN - pages);
      let ok = true;
      for (let k = 1; k < pages && ok; ++k) ok = this.#free(pfn + k);
      if (ok) {
        for (let k = 0; k < pages; ++k) this.#ramLive.add(pfn + k);
        return BigInt(pfn) << 12n;
      }
    }
  }

  /** The provider of a peer BAR. */
  provider(peer: { device: string; bar: number }): P2pdmaProvider {
    const dev = this.#tree.device(peer.device)!;
    return this.#providers.pcimP2pdmaProvider(dev, peer.bar)!;
  }

  /**
   * Whether a pair goes through the host bridge although both sit below one bridge (ACS
   * redirect): what a replay reports as P2P_HOST_BRIDGE_WHEN_BUS_PATH at the pair's first map.
   *
   * @param peer The BAR.
   * @param client The mapping device.
   */
  hostBridgeDespiteBridge(peer: PeerBar, client: string): boolean {
    const p = this.#tree.device(peer.device);
    const c = this.#tree.device(client);
    if (p === undefined || c === undefined) return false;
    const r = calcMapTypeAndDist(this.#tree, p, c);
    return r.mapType === "THRU_HOST_BRIDGE" && r.sharedBridge !== null;
  }

  /** `pci_p2pdma_map_type` for the mapping device, as dma_map_sg classifies each entry. */
  classifier(client: string) {
    const c = this.#tree.device(client);
    return (phys: bigint): { mapType: P2pdmaMapType; busOffset: bigint } | null => {
      for (const peer of this.#peers) {
        const p = this.provider(peer);
        if (phys < p.cpuStart || phys >= p.cpuStart + p.lenBytes) continue;
        const mapType = c === undefined
          ? "NOT_SUPPORTED"
          : this.#mapTypes.pciP2pdmaMapType(p, c).mapType;
        return { mapType, busOffset: p.busOffset };
      }
      return null;
    };
  }

  /**
   * Pages of a buffer in a peer's BAR: page-aligned, contiguous (device memory is), and apart
   * from the buffers in flight (a target hands each I/O its own piece of the CMB).
   */
  peerBuffer(peer: { device: string; bar: number }, pages: number): bigint[] {
    const p = this.provider(peer);
    const slots = Number(p.lenBytes >> 12n) - pages;
    let first = p.cpuStart;
    for (let tries = 0; tries < 64; ++tries) {
      first = p.cpuStart + (BigInt(this.#int(0, Math.max(0, slots))) << 12n);
      const end = first + (BigInt(pages) << 12n);
      if (!this.#peerLive.some(([a, b]) => first < b && a < end)) break;
    }
    this.#peerLive.push([first, first + (BigInt(pages) << 12n)]);
    return Array.from({ length: pages }, (_, k) => first + (BigInt(k) << 12n));
  }
}

/**
 * The path `pci_p2pdma_map_type` gives a peer workload's pair and the BAR's bus offset (what
 * the P2P faults need of it), or null when the BAR is not a P2P provider.
 *
 * @param topology The machine.
 * @param peer The BAR the buffers are in.
 * @param client The mapping device.
 */
export function peerPair(
  topology: Topology,
  peer: PeerBar,
  client: string,
): { mapType: P2pdmaMapType; busOffset: bigint } | null {
  const b = new Buffers(topology, [peer], () => 0);
  return b.classifier(client)(b.provider(peer).cpuStart);
}
