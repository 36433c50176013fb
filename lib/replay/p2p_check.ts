/**
 * The P2P checks of DESIGN.md "Anomalies" on single DMA mappings (`dma_map_resource`,
 * `dma_map_phys`, `dma_map_page`) and on the first entry of sg mappings, whose physical address
 * lies in a memory BAR of the topology:
 * the path the kernel's `pci_p2pdma_map_type()` gives the pair (kernel-spec §3) decides what the
 * DMA address must be (kernel-spec §8.5 `DMA_ADDR_MISMATCH`, `WRONG_PATH`,
 * `P2P_NOT_SUPPORTED_MAPPED`):
 *
 * - `BUS_ADDR`: phys + the BAR's bus offset. An IOVA instead is `P2P_WRONG_PATH` (the peer gets
 *   an address it cannot decode, the v2-2022 way); any other address `P2P_DMA_ADDR_MISMATCH`
 *   (e.g. phys on a host bridge that translates).
 * - `THRU_HOST_BRIDGE`: phys without translation (no IOMMU, identity), an IOVA with one. The bus
 *   address of a translating host bridge instead is `P2P_WRONG_PATH`; another address without
 *   translation `P2P_DMA_ADDR_MISMATCH`.
 * - `NOT_SUPPORTED`: the map must fail; a DMA address is `P2P_NOT_SUPPORTED_PATH`.
 *
 * Needs a topology (the BARs and the path); without one nothing is checked.
 *
 * @module
 */

import { EVENT_KIND, type EventBatch, u64At } from "../ingest/mod.ts";
import { p2pDmaAddrVerdict } from "../model/dma/mod.ts";
import {
  calcMapTypeAndDist,
  type P2pdmaMapType,
  P2pdmaMapTypes,
  type P2pdmaProvider,
  P2pdmaProviders,
  PciTree,
  type Topology,
} from "../model/topology/mod.ts";

/** A P2P anomaly. */
export interface P2pAnomaly {
  /** The code. */
  readonly code:
    | "P2P_DMA_ADDR_MISMATCH"
    | "P2P_WRONG_PATH"
    | "P2P_NOT_SUPPORTED_PATH"
    | "P2P_HOST_BRIDGE_WHEN_BUS_PATH";
  /** Line of the map. */
  readonly line: number;
  /** None. */
  readonly related: readonly number[];
  /** The importing (mapping) device. */
  readonly device: string;
  /** One line of explanation. */
  readonly message: string;
}

const SINGLE_MAPS = new Set(["dma_map_resource", "dma_map_phys", "dma_map_page"]);

/** P2P mappings of a trace against the topology's paths. */
export class P2pCheck {
  /** Anomalies in trace order. */
  readonly anomalies: P2pAnomaly[] = [];
  /** Mappings of BAR memory checked, by path. */
  readonly byPath: Record<P2pdmaMapType, number> = {
    UNKNOWN: 0,
    NONE: 0,
    NOT_SUPPORTED: 0,
    BUS_ADDR: 0,
    THRU_HOST_BRIDGE: 0,
  };
  readonly #topology: Topology;
  readonly #tree: PciTree;
  readonly #providers = new P2pdmaProviders();
  readonly #types: P2pdmaMapTypes;
  readonly #bars: { start: bigint; end: bigint; provider: P2pdmaProvider }[] = [];
  readonly #hostBridgeNoted = new Set<string>();

  /**
   * Checks over a topology: every function's memory BARs become providers (`pcim_p2pdma_init`).
   *
   * @param topology The machine.
   */
  constructor(topology: Topology) {
    this.#topology = topology;
    this.#tree = new PciTree(topology);
    for (const d of topology.devices) {
      const dev = this.#tree.device(d.bdf);
      if (dev === undefined || dev.kind === "platform") continue;
      this.#providers.pcimP2pdmaInit(dev);
      for (const b of d.bars) {
        const p = this.#providers.pcimP2pdmaProvider(dev, b.index);
        if (p !== null) {
          this.#bars.push({ start: b.cpuStart, end: b.cpuStart + b.lenBytes, provider: p });
        }
      }
    }
    this.#types = new P2pdmaMapTypes(this.#tree, this.#providers);
  }

  /**
   * The path of a mapping of `phys` by `device`: the pair's map type when `phys` is in a
   * memory BAR, else null (RAM, or a device the topology does not know).
   *
   * @param device The mapping device.
   * @param phys CPU physical address.
   * @returns The map type, or null.
   */
  pathOf(device: string, phys: bigint): P2pdmaMapType | null {
    const bar = this.#barOf(phys);
    if (bar === undefined) return null;
    const client = this.#tree.device(device);
    if (client === undefined) return null;
    return this.#types.pciP2pdmaMapType(bar.provider, client).mapType;
  }

  /**
   * The provider of one BAR (`pcim_p2pdma_provider`), or null when the topology has no such
   * memory BAR.
   *
   * @param bdf The owning function.
   * @param barIndex The BAR.
   * @returns The provider, or null.
   */
  providerOf(bdf: string, barIndex: number): P2pdmaProvider | null {
    const dev = this.#tree.device(bdf);
    if (dev === undefined || dev.kind === "platform") return null;
    return this.#providers.pcimP2pdmaProvider(dev, barIndex);
  }

  /**
   * `pci_p2pdma_map_type(provider, client)` (cached, as the kernel does).
   *
   * @param provider The provider.
   * @param client The importing device.
   * @returns The map type (NOT_SUPPORTED for a device the topology does not know).
   */
  mapTypeOf(provider: P2pdmaProvider, client: string): P2pdmaMapType {
    const c = this.#tree.device(client);
    if (c === undefined) return "NOT_SUPPORTED";
    return this.#types.pciP2pdmaMapType(provider, c).mapType;
  }

  /**
   * A P2P mapping that goes through the host bridge although both devices sit below one
   * bridge (ACS redirect sends the traffic up): `P2P_HOST_BRIDGE_WHEN_BUS_PATH`, once per
   * provider BAR and client.
   *
   * @param provider The provider.
   * @param client The importing device.
   * @param line The map's line.
   */
  noteHostBridgePath(provider: P2pdmaProvider, client: string, line: number): void {
    const key = `${provider.owner}:${provider.barIndex}>${client}`;
    if (this.#hostBridgeNoted.has(key)) return;
    this.#hostBridgeNoted.add(key);
    const p = this.#tree.device(provider.owner);
    const c = this.#tree.device(client);
    if (p === undefined || c === undefined) return;
    const r = calcMapTypeAndDist(this.#tree, p, c);
    if (r.mapType !== "THRU_HOST_BRIDGE" || r.sharedBridge === null) return;
    this.anomalies.push({
      code: "P2P_HOST_BRIDGE_WHEN_BUS_PATH",
      line,
      related: [],
      device: client,
      message:
        `${client} maps ${provider.owner} BAR ${provider.barIndex} through the host bridge, though both sit below ${r.sharedBridge}: ACS redirect at ${
          r.acsRedirect.join(", ")
        } sends the traffic up (what-if: ${
          r.acsRedirect.map((b) => `--whatif-acs ${b}=off`).join(" ")
        })`,
    });
  }

  #barOf(phys: bigint) {
    return this.#bars.find((b) => phys >= b.start && phys < b.end);
  }

  /**
   * Whether the device's DMA goes through IOMMU translation (a DMA or DMA-FQ domain).
   *
   * @param bdf The device.
   * @returns True when translated.
   */
  translates(bdf: string): boolean {
    const t = this.#topology;
    if (!t.iommu.present) return false;
    const d = t.devices.find((x) => x.bdf === bdf);
    const type = d?.iommuDomain ?? t.iommu.defaultDomain;
    return type === "dma" || type === "dma-fq";
  }

  /**
   * One single mapping as the trace printed it.
   *
   * @param device The mapping device.
   * @param phys CPU physical address.
   * @param dmaAddr The DMA address returned (`DMA_MAPPING_ERROR` when it failed).
   * @param line Trace line.
   */
  map(device: string, phys: bigint, dmaAddr: bigint, line: number): void {
    const t = this.pathOf(device, phys);
    if (t === null) return; // RAM, or a device the topology does not know: not P2P
    const bar = this.#barOf(phys)!;
    if (t === "THRU_HOST_BRIDGE") this.noteHostBridgePath(bar.provider, device, line);
    ++this.byPath[t];
    const what = `${device} mapping 0x${
      phys.toString(16)
    } of ${bar.provider.owner} BAR ${bar.provider.barIndex}`;
    const v = p2pDmaAddrVerdict(t, this.translates(device), phys, bar.provider.busOffset, dmaAddr);
    if (v !== null) {
      this.anomalies.push({
        code: v.code,
        line,
        related: [],
        device,
        message: `${what}: ${v.why}`,
      });
    }
  }

  /**
   * Apply a batch's single-map events, and the first entry of each `dma_map_sg` (a P2P entry
   * is a DMA segment of its own: bus-address entries are not merged, kernel-spec §6.4).
   *
   * @param b A parsed batch.
   */
  feed(b: EventBatch): void {
    for (let r = 0; r < b.n; ++r) {
      if (b.kind[r] !== EVENT_KIND.TRACEPOINT) continue;
      const name = b.eventNames.get(b.eventId[r]!);
      if (name === "dma_map_sg") {
        const t = b.tables.get(name)!;
        const row = b.tableRow[r]!;
        if (t.incomplete[row]) continue;
        const c = t.cols;
        if ((c.phys_addrs_len as Int32Array)[row]! <= 0) continue;
        if ((c.dma_addrs_len as Int32Array)[row]! <= 0) continue;
        this.map(
          b.strings.get((c.device as Int32Array)[row]!),
          u64At(b.pool, (c.phys_addrs_start as Int32Array)[row]!),
          u64At(b.pool, (c.dma_addrs_start as Int32Array)[row]!),
          b.lineNo1[r]!,
        );
        continue;
      }
      if (!SINGLE_MAPS.has(name)) continue;
      const t = b.tables.get(name)!;
      const row = b.tableRow[r]!;
      if (t.incomplete[row]) continue; // diagnosed, not guessed
      this.map(
        b.strings.get((t.cols.device as Int32Array)[row]!),
        u64At(t.cols.phys_addr as Uint32Array, row),
        u64At(t.cols.dma_addr as Uint32Array, row),
        b.lineNo1[r]!,
      );
    }
  }
}
