/**
 * Validation of the topology JSON (DESIGN.md "Topology schema", extended as README documents):
 * every problem is reported with its JSON pointer and what was expected, and a valid document
 * becomes a {@linkcode Topology} with numbers as `bigint` and defaults filled in.
 *
 * @module
 */

import { type JsonError, JsonReader } from "../../ingest/mod.ts";
import {
  type AcsBit,
  type Bar,
  BDF_REGEXP,
  type CpuInfo,
  type DeviceKind,
  type DomainType,
  type HostBridge,
  type IommuSettings,
  parseBdf,
  type PciDevice,
  type Topology,
} from "./topology.ts";

/** Result of {@linkcode validateTopology}. */
export type TopologyResult =
  | { readonly ok: true; readonly topology: Topology }
  | { readonly ok: false; readonly errors: readonly JsonError[] };

const KINDS: readonly DeviceKind[] = [
  "root_port",
  "switch_upstream",
  "switch_downstream",
  "bridge",
  "endpoint",
  "rciep",
  "platform",
];
const ACS_BITS: readonly AcsBit[] = ["SV", "TB", "RR", "CR", "UF", "EC", "DT"];
const DOMAINS: readonly DomainType[] = ["identity", "dma", "dma-fq", "blocked"];
const HOST_BRIDGE_REGEXP = /^pci[0-9a-fA-F]{4}:[0-9a-fA-F]{2}$/;
const PAGE_SIZE_REGEXP = /^(\d+)([KMGT])$/;
const U64_END = 1n << 64n;

/** Bridges below which other devices may sit, by the kind of the child. */
const PARENT_KINDS: Readonly<Record<DeviceKind, readonly (DeviceKind | "host")[]>> = {
  "root_port": ["host"],
  rciep: ["host"],
  "switch_upstream": ["root_port", "switch_downstream", "bridge"],
  "switch_downstream": ["switch_upstream"],
  bridge: ["host", "root_port", "switch_downstream", "bridge"],
  endpoint: ["host", "root_port", "switch_downstream", "bridge"],
  platform: KINDS.filter((k) => k !== "platform"),
};

/** The default IOMMU: none (dma-direct everywhere). */
export const NO_IOMMU: IommuSettings = {
  present: false,
  defaultDomain: "dma",
  granule: 4096,
  pgsizeBitmap: (1n << 12n) | (1n << 21n) | (1n << 30n),
  addressWidth: 48,
  forceDac: false,
  reserved: [],
  rcacheVersion: "6.7+",
};

function pageSizes(r: JsonReader, v: unknown, at: string): bigint | null {
  if (typeof v === "string") return r.u64(v, at, "a page-size bit mask");
  const arr = r.array(v, at, 'page sizes (["4K", "2M", "1G"] or a bit mask)');
  if (arr === null) return null;
  let mask = 0n;
  arr.forEach((s, i) => {
    const m = typeof s === "string" ? PAGE_SIZE_REGEXP.exec(s) : null;
    const shift = { K: 10n, M: 20n, G: 30n, T: 40n };
    const bytes = m
      ? BigInt(m[1]!) << shift[m[2] as keyof typeof shift]
      : typeof s === "number"
      ? BigInt(s)
      : 0n;
    if (bytes === 0n || (bytes & (bytes - 1n)) !== 0n || bytes < 4096n) {
      r.error(
        `${at}/${i}`,
        'expected a power-of-two page size of at least 4K ("4K", "2M", "1G" or bytes)',
      );
      return;
    }
    mask |= bytes;
  });
  return mask;
}

function readCpu(r: JsonReader, v: unknown): CpuInfo {
  if (v === undefined) return { vendor: "other", family: 0 };
  const o = r.object(v, "/cpu", "the CPU");
  if (o === null) return { vendor: "other", family: 0 };
  r.keys(o, "/cpu", ["vendor", "family"]);
  const vendor =
    r.oneOf(o.vendor, "/cpu/vendor", "the CPU vendor", ["intel", "amd", "arm", "other"] as const) ??
      "other";
  const family = o.family === undefined
    ? 0
    : r.integer(o.family, "/cpu/family", "the x86 family", 0, 0xffff) ?? 0;
  return { vendor, family };
}

function readHostBridge(r: JsonReader, v: unknown, at: string): HostBridge | null {
  const o = r.object(v, at, "a host bridge");
  if (o === null) return null;
  r.keys(o, at, ["id", "vendor", "device", "allowlisted", "windows"]);
  const id = r.string(o.id, `${at}/id`, 'the host bridge id ("pci0000:00")');
  if (id !== null && !HOST_BRIDGE_REGEXP.test(id)) {
    r.error(`${at}/id`, 'expected "pciDDDD:BB" as sysfs names a root bus');
  }
  return {
    id: id ?? "",
    vendor: o.vendor === undefined ? null : r.id16(o.vendor, `${at}/vendor`, "the vendor id"),
    device: o.device === undefined ? null : r.id16(o.device, `${at}/device`, "the device id"),
    allowlisted: o.allowlisted === undefined
      ? null
      : r.boolean(o.allowlisted, `${at}/allowlisted`, "an allowlist override"),
    windows: o.windows === undefined ? [] : r.ranges(o.windows, `${at}/windows`, "MEM windows"),
  };
}

function readBar(r: JsonReader, v: unknown, at: string): Bar | null {
  const o = r.object(v, at, "a BAR");
  if (o === null) return null;
  r.keys(o, at, ["index", "cpuStart", "busStart", "len", "mem", "prefetch", "mmap"]);
  const index = r.integer(o.index, `${at}/index`, "the BAR number", 0, 5);
  const cpuStart = r.u64(o.cpuStart, `${at}/cpuStart`, "the CPU physical start");
  const busStart = o.busStart === undefined
    ? cpuStart
    : r.u64(o.busStart, `${at}/busStart`, "the PCI bus address");
  const lenBytes = r.u64(o.len, `${at}/len`, "the length in bytes");
  if (lenBytes === 0n) r.error(`${at}/len`, "expected a length above 0");
  const mem = o.mem === undefined
    ? true
    : r.boolean(o.mem, `${at}/mem`, "memory (true) or I/O (false)");
  const prefetch = o.prefetch === undefined
    ? false
    : r.boolean(o.prefetch, `${at}/prefetch`, "prefetchable");
  const mmap = o.mmap === undefined ? mem : r.boolean(o.mmap, `${at}/mmap`, "mmap-able");
  if (
    index === null || cpuStart === null || busStart === null || lenBytes === null || lenBytes === 0n
  ) return null;
  if (cpuStart + lenBytes > U64_END) {
    r.error(`${at}/len`, "expected the CPU range to end below 2^64; it wraps");
  }
  if (busStart + lenBytes > U64_END) {
    r.error(`${at}/busStart`, "expected the bus range to end below 2^64; it wraps");
  }
  return {
    index,
    cpuStart,
    busStart,
    lenBytes,
    mem: mem ?? true,
    prefetch: prefetch ?? false,
    mmap: mmap ?? true,
  };
}

function readDevice(r: JsonReader, v: unknown, at: string): PciDevice | null {
  const o = r.object(v, at, "a device");
  if (o === null) return null;
  r.keys(o, at, [
    "bdf",
    "kind",
    "parent",
    "name",
    "vendor",
    "device",
    "bars",
    "acsCtrl",
    "dma",
    "iommuDomain",
    "iommuGroup",
  ]);
  const kind = r.oneOf(o.kind, `${at}/kind`, "the device kind", KINDS);
  const bdf = r.string(o.bdf, `${at}/bdf`, 'the BDF ("DDDD:BB:DD.F")');
  let addr = { domain: -1, bus: -1, devfn: -1 };
  if (bdf !== null && kind !== "platform") {
    const p = parseBdf(bdf);
    if (p === null || !BDF_REGEXP.test(bdf)) {
      r.error(`${at}/bdf`, 'expected "DDDD:BB:DD.F" (hex, function 0-7)');
    } else addr = p;
  }
  const parent = o.parent === undefined
    ? null
    : r.string(o.parent, `${at}/parent`, "the parent (host bridge id or BDF)");
  if (parent === null && kind !== "platform" && o.parent === undefined) {
    r.error(`${at}/parent`, "expected the parent: a host bridge id or the upstream bridge's BDF");
  }
  const bars: Bar[] = [];
  if (o.bars !== undefined) {
    r.array(o.bars, `${at}/bars`, "BARs")?.forEach((b, i) => {
      const bar = readBar(r, b, `${at}/bars/${i}`);
      if (bar === null) return;
      if (bars.some((x) => x.index === bar.index)) {
        r.error(`${at}/bars/${i}/index`, `expected each BAR number once; ${bar.index} repeats`);
      }
      bars.push(bar);
    });
    bars.sort((a, b) => a.index - b.index);
  }
  let acsCtrl: AcsBit[] | null = null;
  if (o.acsCtrl !== undefined) {
    acsCtrl = [];
    r.array(o.acsCtrl, `${at}/acsCtrl`, "ACS Control bits")?.forEach((b, i) => {
      const bit = r.oneOf(b, `${at}/acsCtrl/${i}`, "an ACS Control bit", ACS_BITS);
      if (bit !== null && !acsCtrl!.includes(bit)) acsCtrl!.push(bit);
    });
  }
  let maskBits = 64;
  let maxSegmentSize = 65536;
  let maxSegmentSizeStated = false;
  let segmentBoundary = 0xffffffffn;
  if (o.dma !== undefined) {
    const d = r.object(o.dma, `${at}/dma`, "DMA limits");
    if (d !== null) {
      r.keys(d, `${at}/dma`, ["maskBits", "maxSegmentSize", "segmentBoundary"]);
      if (d.maskBits !== undefined) {
        maskBits = r.integer(d.maskBits, `${at}/dma/maskBits`, "the DMA mask width", 1, 64) ?? 64;
      }
      if (d.maxSegmentSize !== undefined) {
        maxSegmentSizeStated = true;
        maxSegmentSize = r.integer(
          d.maxSegmentSize,
          `${at}/dma/maxSegmentSize`,
          "the max segment size",
          1,
          0xffffffff,
        ) ?? 65536;
      }
      if (d.segmentBoundary !== undefined) {
        const b = r.u64(
          d.segmentBoundary,
          `${at}/dma/segmentBoundary`,
          "the segment boundary mask",
        );
        if (b !== null && (b & (b + 1n)) !== 0n) {
          r.error(`${at}/dma/segmentBoundary`, "expected a mask of the form 2^n - 1 (0xffffffff)");
        } else if (b !== null) segmentBoundary = b;
      }
    }
  }
  return {
    bdf: bdf ?? "",
    ...addr,
    kind: kind ?? "endpoint",
    parent,
    name: o.name === undefined ? null : r.string(o.name, `${at}/name`, "a label"),
    vendor: o.vendor === undefined ? null : r.id16(o.vendor, `${at}/vendor`, "the vendor id"),
    device: o.device === undefined ? null : r.id16(o.device, `${at}/device`, "the device id"),
    bars,
    acsCtrl,
    dma: { maskBits, maxSegmentSize, maxSegmentSizeStated, segmentBoundary },
    iommuDomain: o.iommuDomain === undefined
      ? null
      : r.oneOf(o.iommuDomain, `${at}/iommuDomain`, "a domain type", DOMAINS),
    iommuGroup: o.iommuGroup === undefined
      ? null
      : r.integer(o.iommuGroup, `${at}/iommuGroup`, "the IOMMU group", 0, 1 << 30),
  };
}

function readIommu(r: JsonReader, v: unknown): IommuSettings {
  if (v === undefined) return NO_IOMMU;
  const o = r.object(v, "/iommu", "the IOMMU settings");
  if (o === null) return NO_IOMMU;
  r.keys(o, "/iommu", [
    "present",
    "defaultDomain",
    "granule",
    "pgsizeBitmap",
    "addressWidth",
    "forceDac",
    "reserved",
    "rcacheVersion",
  ]);
  const present = o.present === undefined
    ? true
    : r.boolean(o.present, "/iommu/present", "whether an IOMMU translates DMA") ?? false;
  const granule = o.granule === undefined
    ? 4096
    : r.integer(o.granule, "/iommu/granule", "the IOVA granule", 4096, 1 << 30) ?? 4096;
  if ((granule & (granule - 1)) !== 0) r.error("/iommu/granule", "expected a power of two");
  return {
    present,
    defaultDomain: o.defaultDomain === undefined
      ? "dma"
      : r.oneOf(o.defaultDomain, "/iommu/defaultDomain", "the default domain type", DOMAINS) ??
        "dma",
    granule,
    pgsizeBitmap: o.pgsizeBitmap === undefined
      ? NO_IOMMU.pgsizeBitmap
      : pageSizes(r, o.pgsizeBitmap, "/iommu/pgsizeBitmap") ?? NO_IOMMU.pgsizeBitmap,
    addressWidth: o.addressWidth === undefined
      ? 48
      : r.integer(o.addressWidth, "/iommu/addressWidth", "the IOVA width in bits", 32, 64) ?? 48,
    forceDac: o.forceDac === undefined
      ? false
      : r.boolean(o.forceDac, "/iommu/forceDac", "iommu.forcedac") ?? false,
    reserved: o.reserved === undefined
      ? []
      : r.ranges(o.reserved, "/iommu/reserved", "reserved IOVA ranges"),
    rcacheVersion: o.rcacheVersion === undefined ? "6.7+" : r.oneOf(
      o.rcacheVersion,
      "/iommu/rcacheVersion",
      "the rcache layout",
      ["6.7+", "pre-6.7"] as const,
    ) ?? "6.7+",
  };
}

/** The checks across devices: duplicates, parents, cycles, overlapping BARs. */
function crossCheck(
  r: JsonReader,
  hostBridges: readonly HostBridge[],
  devices: readonly PciDevice[],
): void {
  const hbIndex = new Map<string, number>();
  hostBridges.forEach((h, i) => {
    if (hbIndex.has(h.id)) {
      r.error(`/hostBridges/${i}/id`, `expected each host bridge once; "${h.id}" repeats`);
    } else hbIndex.set(h.id, i);
  });
  const devIndex = new Map<string, number>();
  devices.forEach((d, i) => {
    const key = d.bdf.toLowerCase();
    if (devIndex.has(key) || hbIndex.has(d.bdf)) {
      r.error(`/devices/${i}/bdf`, `expected each device once; "${d.bdf}" repeats`);
    } else devIndex.set(key, i);
  });
  devices.forEach((d, i) => {
    if (d.parent === null) return;
    const pi = devIndex.get(d.parent.toLowerCase());
    const kinds = PARENT_KINDS[d.kind];
    if (hbIndex.has(d.parent)) {
      if (!kinds.includes("host")) {
        r.error(
          `/devices/${i}/parent`,
          `expected a ${d.kind} below a bridge (${
            kinds.join(", ")
          }), not on the root bus of "${d.parent}"`,
        );
      }
    } else if (pi === undefined) {
      r.error(
        `/devices/${i}/parent`,
        `expected a host bridge id or a device's BDF; "${d.parent}" is neither`,
      );
    } else if (!kinds.includes(devices[pi]!.kind)) {
      r.error(
        `/devices/${i}/parent`,
        `expected the parent of a ${d.kind} to be one of ${kinds.join(", ")}; "${d.parent}" is a ${
          devices[pi]!.kind
        }`,
      );
    }
  });
  // Cycles: follow parents; a chain longer than the device count loops.
  const reported = new Set<number>();
  devices.forEach((d, i) => {
    let p = d.parent;
    for (let steps = 0; p !== null && steps <= devices.length; ++steps) {
      const pi = devIndex.get(p.toLowerCase());
      if (pi === undefined) return;
      if (pi === i) {
        if (!reported.has(i)) {
          r.error(`/devices/${i}/parent`, `expected a tree; "${d.bdf}" is its own ancestor`);
        }
        reported.add(i);
        return;
      }
      p = devices[pi]!.parent;
    }
  });
  // Overlapping BARs: CPU ranges of memory BARs, and of I/O BARs, across all devices.
  for (const mem of [true, false]) {
    const spans: { start: bigint; end: bigint; at: string; who: string }[] = [];
    devices.forEach((d, i) =>
      d.bars.forEach((b, k) => {
        if (b.mem === mem) {
          spans.push({
            start: b.cpuStart,
            end: b.cpuStart + b.lenBytes,
            at: `/devices/${i}/bars/${k}`,
            who: `BAR ${b.index} of ${d.bdf}`,
          });
        }
      })
    );
    spans.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    for (let k = 1; k < spans.length; ++k) {
      const prev = spans[k - 1]!;
      const cur = spans[k]!;
      if (cur.start < prev.end) {
        r.error(
          `${cur.at}/cpuStart`,
          `expected BARs not to overlap; this one overlaps ${prev.who} [0x${
            prev.start.toString(16)
          }, 0x${(prev.end - 1n).toString(16)}]`,
        );
      }
    }
  }
}

/**
 * Check a parsed topology JSON and build the {@linkcode Topology}.
 *
 * @param json The parsed JSON.
 * @returns The topology, or every error with its JSON pointer.
 *
 * @example A switch port with an unknown ACS bit
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTopology } from "./validate_topology.ts";
 * const r = validateTopology({
 *   hostBridges: [{ id: "pci0000:00" }],
 *   devices: [{ bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:00", acsCtrl: ["XX"] }],
 * });
 * assert.equal(r.ok, false);
 * if (!r.ok) assert.equal(r.errors[0]!.pointer, "/devices/0/acsCtrl/0");
 * ```
 */
export function validateTopology(json: unknown): TopologyResult {
  const r = new JsonReader();
  const root = r.object(json, "", "a topology");
  if (root === null) return { ok: false, errors: r.errors };
  r.keys(root, "", ["cpu", "hostBridges", "devices", "iommu"]);
  const cpu = readCpu(r, root.cpu);
  const hostBridges: HostBridge[] = [];
  if (root.hostBridges === undefined) {
    r.error("/hostBridges", "expected the host bridges (an array)");
  } else {
    r.array(root.hostBridges, "/hostBridges", "the host bridges")?.forEach((h, i) => {
      const hb = readHostBridge(r, h, `/hostBridges/${i}`);
      if (hb !== null) hostBridges.push(hb);
    });
  }
  const devices: PciDevice[] = [];
  if (root.devices !== undefined) {
    r.array(root.devices, "/devices", "the devices")?.forEach((d, i) => {
      const dev = readDevice(r, d, `/devices/${i}`);
      devices.push(dev ?? placeholder(i));
    });
  }
  const iommu = readIommu(r, root.iommu);
  if (r.errors.length === 0) crossCheck(r, hostBridges, devices);
  if (r.errors.length > 0) return { ok: false, errors: r.errors };
  return { ok: true, topology: { cpu, hostBridges, devices, iommu } };
}

/** Keeps indexes aligned when a device entry is not an object (its error is already recorded). */
function placeholder(i: number): PciDevice {
  return {
    bdf: `#${i}`,
    domain: -1,
    bus: -1,
    devfn: -1,
    kind: "platform",
    parent: null,
    name: null,
    vendor: null,
    device: null,
    bars: [],
    acsCtrl: null,
    dma: {
      maskBits: 64,
      maxSegmentSize: 65536,
      maxSegmentSizeStated: false,
      segmentBoundary: 0xffffffffn,
    },
    iommuDomain: null,
    iommuGroup: null,
  };
}
