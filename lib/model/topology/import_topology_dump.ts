/**
 * `dmareplay topology import`: a topology from what traces/collect-topology.sh gathered on the
 * capture machine (sysfs, /proc, lspci), or from the sysfs dump a shared capture's JSON holds.
 * Says what it could not determine, and uses the documented defaults there.
 *
 * @module
 */

import { type DumpDevice, parseCaptureJson, parseDumpText, type TopologyDump } from "./_dump.ts";
import type { AcsBit, DeviceKind, DomainType } from "./topology.ts";
import { validateTopology } from "./validate_topology.ts";

/** Result of {@linkcode importTopologyDump}. */
export interface TopologyImport {
  /** The topology JSON (DESIGN.md's schema), ready to write. */
  readonly topology: Record<string, unknown>;
  /** What could not be determined, and the default used, one sentence each. */
  readonly notes: readonly string[];
  /** Problems with the dump itself (its line or device); the rest was imported. */
  readonly problems: readonly string[];
}

const IORESOURCE_IO = 0x100;
const IORESOURCE_MEM = 0x200;
const IORESOURCE_PREFETCH = 0x2000;

const LSPCI_ACS: Readonly<Record<string, AcsBit>> = {
  SrcValid: "SV",
  TransBlk: "TB",
  ReqRedir: "RR",
  CmpltRedir: "CR",
  UpstreamFwd: "UF",
  EgressCtrl: "EC",
  DirectTrans: "DT",
};

const GROUP_TYPES: Readonly<Record<string, DomainType>> = {
  "DMA": "dma",
  "DMA-FQ": "dma-fq",
  "identity": "identity",
  "blocked": "blocked",
};

const hex = (v: bigint | number) => "0x" + v.toString(16);
const id16 = (v: number) => "0x" + v.toString(16).padStart(4, "0");

/** Kind from the PCIe capability lspci prints ("Express (v2) Root Port (Slot+)"). */
function kindFromLspci(lspci: readonly string[]): DeviceKind | null {
  for (const l of lspci) {
    const m = /Express \(v\d\) ([A-Za-z /-]+?)(?: \(Slot[+-]\))?, MSI/.exec(l) ??
      /Express \(v\d\) (.+)$/.exec(l);
    if (!m) continue;
    const t = m[1]!.trim();
    if (t.startsWith("Root Port")) return "root_port";
    if (t.startsWith("Upstream Port")) return "switch_upstream";
    if (t.startsWith("Downstream Port")) return "switch_downstream";
    if (t.startsWith("Root Complex Integrated Endpoint")) return "rciep";
    if (t.includes("Endpoint")) return "endpoint";
    if (t.includes("Bridge")) return "bridge";
  }
  return null;
}

/** ACS Control bits from lspci: null when the function has no ACS capability. */
function acsFromLspci(lspci: readonly string[]): AcsBit[] | null {
  const ctl = lspci.find((l) => /^\s*ACSCtl:/.test(l));
  if (ctl === undefined) return null;
  const bits: AcsBit[] = [];
  for (const m of ctl.matchAll(/(\w+)([+-])/g)) {
    const bit = LSPCI_ACS[m[1]!];
    if (bit !== undefined && m[2] === "+") bits.push(bit);
  }
  return bits;
}

function parentOf(d: DumpDevice): string | null {
  if (d.path === null) return null;
  const parts = d.path.split("/").filter((p) => p !== "");
  const me = parts.lastIndexOf(d.bdf);
  return me > 0 ? parts[me - 1]! : null;
}

function isHostBridgeFunction(d: DumpDevice): boolean {
  return d.classCode !== null && d.classCode >> 8 === 0x0600;
}

function kernelAtLeast(release: string | null, major: number, minor: number): boolean | null {
  const m = release === null ? null : /^(\d+)\.(\d+)/.exec(release);
  if (!m) return null;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

function cpuOf(dump: TopologyDump, notes: string[]): { vendor: string; family: number } {
  const v = dump.cpuVendor;
  if (v === "GenuineIntel") return { vendor: "intel", family: dump.cpuFamily ?? 6 };
  if (v === "AuthenticAMD" || v === "HygonGenuine") {
    return { vendor: "amd", family: dump.cpuFamily ?? 0 };
  }
  if (v !== null && v.startsWith("arm:")) return { vendor: "arm", family: 0 };
  notes.push(
    'CPU vendor not in the dump: "other" (no AMD Zen rule; the host-bridge allowlist decides)',
  );
  return { vendor: "other", family: 0 };
}

/** Kind of a function without a PCIe capability line: guessed from its class and place. */
function guessKind(
  d: DumpDevice,
  parent: string | null,
  kinds: Map<string, DeviceKind>,
): DeviceKind {
  const onRootBus = parent === null || parent.startsWith("pci");
  const bridge = d.classCode !== null && d.classCode >> 8 === 0x0604;
  if (!bridge) return onRootBus ? "rciep" : "endpoint";
  if (onRootBus) return "root_port";
  const pk = kinds.get(parent!);
  if (pk === "switch_upstream") return "switch_downstream";
  if (pk === "root_port" || pk === "switch_downstream") return "switch_upstream";
  return "bridge";
}

function buildTopology(dump: TopologyDump): TopologyImport {
  const notes: string[] = [];
  const problems = [...dump.problems];
  const cpu = cpuOf(dump, notes);
  // Host bridges: the pciDDDD:BB parents of root-bus functions (from sysfs paths, or bus 00).
  const hostIds: string[] = [];
  const parents = new Map<string, string>();
  let guessedParents = 0;
  for (const d of dump.devices) {
    let p = parentOf(d);
    if (p === null) {
      const [dom, bus] = d.bdf.split(":");
      if (bus === "00") p = `pci${dom}:${bus}`;
      else {
        problems.push(
          `${d.bdf}: no sysfs path in the dump, so its upstream bridge is unknown; put below its domain's root bus`,
        );
        p = `pci${dom}:00`;
      }
      ++guessedParents;
    }
    parents.set(d.bdf, p);
    if (p.startsWith("pci") && !hostIds.includes(p)) hostIds.push(p);
  }
  if (guessedParents > 0 && guessedParents === dump.devices.length) {
    notes.push(
      "no sysfs paths in the dump: root-bus devices (bus 00) are placed on their host bridge",
    );
  }
  const hostBridges = hostIds.map((id) => {
    const bus = id.slice(3).toLowerCase();
    const fn00 = dump.devices.find((d) =>
      parents.get(d.bdf) === id && d.bdf.toLowerCase().endsWith(":00.0")
    );
    const o: Record<string, unknown> = { id };
    if (fn00 && isHostBridgeFunction(fn00) && fn00.vendor !== null && fn00.device !== null) {
      o.vendor = id16(fn00.vendor);
      o.device = id16(fn00.device);
    }
    const windows = dump.busWindows.filter((w) => w.bus === bus).map((
      w,
    ) => [hex(w.start), hex(w.end)]);
    if (windows.length > 0) o.windows = windows;
    return o;
  });
  if (hostBridges.some((h) => h.vendor === undefined)) {
    notes.push(
      "a host bridge without a 00.0 host-bridge function: its allowlist status comes from its root bus's first function",
    );
  }
  // Domain types from the IOMMU groups.
  const groupType = new Map<number, DomainType>();
  const typeCount = new Map<DomainType, number>();
  for (const g of dump.groups) {
    const t = g.type === null ? undefined : GROUP_TYPES[g.type];
    if (t === undefined) continue;
    groupType.set(g.id, t);
    typeCount.set(t, (typeCount.get(t) ?? 0) + 1);
  }
  let defaultDomain: DomainType = "dma";
  let best = -1;
  for (const [t, n] of typeCount) {
    if (n > best) {
      best = n;
      defaultDomain = t;
    }
  }
  const present = dump.groups.length > 0 || dump.vtdCap.size > 0;
  const lspciSeen = dump.devices.some((d) => d.lspci !== null);
  if (!lspciSeen) {
    notes.push(
      "no lspci output: ACS Control bits unknown (treated as no ACS capability: BUS_ADDR wherever devices share a bridge)",
    );
    notes.push("no lspci -b output: bus addresses taken equal to CPU addresses (bus offset 0)");
  }
  notes.push(
    "DMA segment boundary is not in sysfs: default 0xffffffff; max segment size comes from a block device's queue limits where there is one, else the PCI default 65536 (set dma.maxSegmentSize where a driver raises it)",
  );
  const kinds = new Map<string, DeviceKind>();
  const devices: Record<string, unknown>[] = [];
  for (const d of dump.devices) {
    const parent = parents.get(d.bdf)!;
    if (
      parent.startsWith("pci") && d.bdf.toLowerCase().endsWith(":00.0") && isHostBridgeFunction(d)
    ) continue;
    const fromLspci = d.lspci === null ? null : kindFromLspci(d.lspci);
    let kind = fromLspci ?? guessKind(d, parent, kinds);
    if (kind === "endpoint" && parent.startsWith("pci")) kind = "rciep"; // conventional device on the root bus
    if (fromLspci === null && d.lspci !== null) {
      notes.push(`${d.bdf}: no PCIe capability in lspci; kind "${kind}" from its class code`);
    }
    kinds.set(d.bdf, kind);
    const o: Record<string, unknown> = { bdf: d.bdf, kind, parent };
    if (d.driver !== null) o.name = d.driver;
    if (d.vendor !== null) o.vendor = id16(d.vendor);
    if (d.device !== null) o.device = id16(d.device);
    const bars = d.bars.filter((b) => (b.flags & (IORESOURCE_MEM | IORESOURCE_IO)) !== 0).map(
      (b) => {
        const mem = (b.flags & IORESOURCE_MEM) !== 0;
        const bus = d.busRegions.get(b.index) ?? b.start;
        return {
          index: b.index,
          cpuStart: hex(b.start),
          busStart: hex(bus),
          len: hex(b.end - b.start + 1n),
          mem,
          prefetch: (b.flags & IORESOURCE_PREFETCH) !== 0,
        };
      },
    );
    if (bars.length > 0) o.bars = bars;
    if (d.lspci !== null) {
      const acs = acsFromLspci(d.lspci);
      if (acs !== null) o.acsCtrl = acs;
    }
    const dma: Record<string, unknown> = {};
    if (d.dmaMaskBits !== null && d.dmaMaskBits >= 1 && d.dmaMaskBits <= 64) {
      dma.maskBits = d.dmaMaskBits;
    }
    if (d.maxSegmentSize !== null && d.maxSegmentSize > 0) dma.maxSegmentSize = d.maxSegmentSize;
    if (Object.keys(dma).length > 0) o.dma = dma;
    if (d.iommuGroup !== null) {
      o.iommuGroup = d.iommuGroup;
      const t = groupType.get(d.iommuGroup);
      if (t !== undefined) o.iommuDomain = t;
    }
    devices.push(o);
  }
  // IOMMU: VT-d capability register → address width (MGAW) and large pages (SLLPS).
  const iommu: Record<string, unknown> = { present, defaultDomain, granule: 4096 };
  const cap = [...dump.vtdCap.values()][0];
  if (cap !== undefined) {
    iommu.addressWidth = Number((cap >> 16n) & 0x3fn) + 1;
    const sllps = Number((cap >> 34n) & 0xfn);
    iommu.pgsizeBitmap = ["4K", ...(sllps & 1 ? ["2M"] : []), ...(sllps & 2 ? ["1G"] : [])];
  } else if (present) {
    notes.push(
      "IOMMU address width and page sizes not in the dump (no VT-d capability register): 48 bits and 4K|2M|1G assumed",
    );
  }
  // Reserved regions every group has (the MSI window); a group's own extras (RMRRs, ISA
  // direct-mapped ranges) are noted, not modelled per group.
  const key = (r: { start: bigint; end: bigint }) => `${hex(r.start)}-${hex(r.end)}`;
  const first = dump.groups[0];
  const common = first === undefined
    ? []
    : first.reserved.filter((r) =>
      dump.groups.every((g) => g.reserved.some((x) => key(x) === key(r)))
    );
  iommu.reserved = common.map((r) => [hex(r.start), hex(r.end)]);
  for (const g of dump.groups) {
    for (const r of g.reserved) {
      if (!common.some((c) => key(c) === key(r))) {
        notes.push(
          `IOMMU group ${g.id} (${g.devices.join(" ")}) also reserves [${hex(r.start)}, ${
            hex(r.end)
          }] ${r.kind}: not modelled per group`,
        );
      }
    }
  }
  if (/\biommu\.forcedac=(1|y)/.test(dump.cmdline)) iommu.forceDac = true;
  const recent = kernelAtLeast(dump.kernelRelease, 6, 7);
  iommu.rcacheVersion = recent === false ? "pre-6.7" : "6.7+";
  if (recent === null) {
    notes.push(
      'kernel release not in the dump: IOVA rcache layout "6.7+" (127-entry magazines) assumed',
    );
  }
  const topology = { cpu, hostBridges, devices, iommu };
  const check = validateTopology(topology);
  if (!check.ok) {
    for (const e of check.errors) {
      problems.push(`the imported topology is invalid at ${e.pointer}: ${e.message}`);
    }
  }
  return { topology, notes, problems };
}

/**
 * A topology from a collector dump (text) or a shared capture's JSON.
 *
 * @param text The dump: collect-topology.sh output, or a capture's `NAME.json`.
 * @returns The topology JSON, notes on what was assumed, and problems met.
 *
 * @example A dump of two devices on one root port
 * ```ts
 * import assert from "node:assert/strict";
 * import { importTopologyDump, validateTopology } from "./mod.ts";
 * const dump = [
 *   "[device 0000:00:01.0]", "  path=/sys/devices/pci0000:00/0000:00:01.0", "  class=0x060400",
 *   "[device 0000:01:00.0]", "  path=/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0", "  class=0x030200",
 *   "  resource:", "    0x0000383000000000 0x0000383fffffffff 0x000000000014220c",
 * ].join("\n");
 * const r = importTopologyDump(dump);
 * assert.deepEqual(r.problems, []);
 * const t = validateTopology(r.topology);
 * assert.ok(t.ok);
 * assert.deepEqual(t.topology.devices.map((d) => [d.bdf, d.kind]), [["0000:00:01.0", "root_port"], ["0000:01:00.0", "endpoint"]]);
 * assert.equal(t.topology.devices[1]!.bars[0]!.lenBytes, 0x1000000000n);
 * ```
 */
export function importTopologyDump(text: string): TopologyImport {
  const trimmed = text.trimStart();
  if (trimmed.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      return {
        topology: {},
        notes: [],
        problems: [
          `the dump looks like JSON but does not parse: ${
            e instanceof Error ? e.message : String(e)
          }`,
        ],
      };
    }
    if (
      typeof json !== "object" || json === null ||
      !Array.isArray((json as Record<string, unknown>).pci_devices)
    ) {
      return {
        topology: {},
        notes: [],
        problems: ['expected a capture JSON with "pci_devices", or collect-topology.sh output'],
      };
    }
    return buildTopology(parseCaptureJson(json as Record<string, unknown>));
  }
  return buildTopology(parseDumpText(text));
}
