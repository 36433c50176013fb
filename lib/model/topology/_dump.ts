// The two dump forms `importTopologyDump` reads, parsed into one shape: the text of
// traces/collect-topology.sh, and the JSON the shared captures carry (their `pci_devices`,
// `iommu_groups`, `iommu_sysfs`, `iomem` and `kernel_cmdline`).

/** A PCI function as a dump describes it. */
export interface DumpDevice {
  bdf: string;
  /** sysfs path (`/sys/devices/pci0000:00/0000:00:01.0/...`), when the dump has it. */
  path: string | null;
  vendor: number | null;
  device: number | null;
  classCode: number | null;
  driver: string | null;
  iommuGroup: number | null;
  dmaMaskBits: number | null;
  /** DMA max segment size its driver set (from a block queue's limits), when known. */
  maxSegmentSize: number | null;
  /** Resources by BAR index (sysfs `resource` lines 0-5): start, end, flags. */
  bars: { index: number; start: bigint; end: bigint; flags: number }[];
  /** `lspci -vvv -nn` text of this function, when present. */
  lspci: string[] | null;
  /** Bus addresses of BARs from `lspci -b`, by BAR index. */
  busRegions: Map<number, bigint>;
}

/** An IOMMU group. */
export interface DumpGroup {
  id: number;
  type: string | null;
  devices: string[];
  reserved: { start: bigint; end: bigint; kind: string }[];
}

/** Everything a dump says. */
export interface TopologyDump {
  /** `GenuineIntel`, `AuthenticAMD`, or an ARM implementer; null when absent. */
  cpuVendor: string | null;
  cpuFamily: number | null;
  /** Kernel release (`6.12.95+deb12-amd64`), when known. */
  kernelRelease: string | null;
  cmdline: string;
  devices: DumpDevice[];
  groups: DumpGroup[];
  /** Intel VT-d capability registers by IOMMU name. */
  vtdCap: Map<string, bigint>;
  /** Top-level `PCI Bus DDDD:BB` ranges of /proc/iomem. */
  busWindows: { bus: string; start: bigint; end: bigint }[];
  /** Problems met while reading (line-precise where possible). */
  problems: string[];
}

const RESOURCE_REGEXP = /^\s*0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s*$/;
const IOMEM_REGEXP = /^([0-9a-fA-F]+)-([0-9a-fA-F]+) : PCI Bus ([0-9a-fA-F]{4}:[0-9a-fA-F]{2})/;
const RESERVED_REGEXP = /^\s*0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+)/;
const REGION_REGEXP = /Region (\d): Memory at ([0-9a-fA-F]+)/;

function num(v: string | undefined): number | null {
  if (v === undefined || v.trim() === "") return null;
  const n = Number(v.trim());
  return Number.isFinite(n) ? n : null;
}

function emptyDevice(bdf: string): DumpDevice {
  return {
    bdf,
    path: null,
    vendor: null,
    device: null,
    classCode: null,
    driver: null,
    iommuGroup: null,
    dmaMaskBits: null,
    maxSegmentSize: null,
    bars: [],
    lspci: null,
    busRegions: new Map(),
  };
}

function readResource(dev: DumpDevice, index: number, line: string): boolean {
  const m = RESOURCE_REGEXP.exec(line);
  if (m === null) return false;
  const start = BigInt("0x" + m[1]);
  const end = BigInt("0x" + m[2]);
  const flags = Number.parseInt(m[3]!, 16);
  if (index <= 5 && (start !== 0n || end !== 0n) && flags !== 0) {
    dev.bars.push({ index, start, end, flags });
  }
  return true;
}

/** Parse the text of collect-topology.sh. */
export function parseDumpText(text: string): TopologyDump {
  const dump: TopologyDump = {
    cpuVendor: null,
    cpuFamily: null,
    kernelRelease: null,
    cmdline: "",
    devices: [],
    groups: [],
    vtdCap: new Map(),
    busWindows: [],
    problems: [],
  };
  const lines = text.split("\n");
  let section = "";
  let dev: DumpDevice | null = null;
  let group: DumpGroup | null = null;
  let iommu = "";
  let list = ""; // the "  key:" list being read (resource, lspci, lspci_bus, reserved)
  let resourceIndex = 0;
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.startsWith("# Linux ")) dump.kernelRelease = line.split(" ")[2] ?? null;
    if (line.startsWith("#") || line.trim() === "") return;
    if (line.startsWith("[")) {
      const m = /^\[(\w+)(?: (.+))?\]$/.exec(line);
      section = m?.[1] ?? "";
      list = "";
      dev = null;
      group = null;
      if (section === "device" && m?.[2]) {
        dev = emptyDevice(m[2]);
        dump.devices.push(dev);
      } else if (section === "iommu_group" && m?.[2]) {
        group = { id: Number(m[2]), type: null, devices: [], reserved: [] };
        dump.groups.push(group);
      } else if (section === "iommu" && m?.[2]) iommu = m[2];
      else if (m === null) {
        dump.problems.push(`line ${i + 1}: expected a section header "[name ...]"; got "${line}"`);
      }
      return;
    }
    if (list !== "" && line.startsWith("    ")) {
      const item = line.slice(4);
      if (list === "resource" && dev !== null) {
        if (!readResource(dev, resourceIndex, item)) {
          dump.problems.push(`line ${i + 1}: expected a resource line "0xSTART 0xEND 0xFLAGS"`);
        }
        ++resourceIndex;
      } else if (list === "lspci" && dev !== null) (dev.lspci ??= []).push(item);
      else if (list === "lspci_bus" && dev !== null) {
        const m = REGION_REGEXP.exec(item);
        if (m) dev.busRegions.set(Number(m[1]), BigInt("0x" + m[2]));
      } else if (list === "reserved" && group !== null) {
        const m = RESERVED_REGEXP.exec(item);
        if (m) {
          group.reserved.push({
            start: BigInt("0x" + m[1]),
            end: BigInt("0x" + m[2]),
            kind: m[3]!,
          });
        }
      }
      return;
    }
    const item = line.replace(/^\s+/, "");
    if (item.endsWith(":") && !item.includes("=")) {
      list = item.slice(0, -1);
      resourceIndex = 0;
      return;
    }
    list = "";
    if (section === "cmdline") {
      dump.cmdline = item;
      return;
    }
    if (section === "iomem") {
      const m = IOMEM_REGEXP.exec(line.slice(2)); // top level only: no indentation inside
      if (m) {
        dump.busWindows.push({
          bus: m[3]!.toLowerCase(),
          start: BigInt("0x" + m[1]),
          end: BigInt("0x" + m[2]),
        });
      }
      return;
    }
    const eq = item.indexOf("=");
    if (eq < 0) return;
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (section === "cpu") {
      if (key === "vendor_id") dump.cpuVendor = value;
      else if (key === "cpu_family") dump.cpuFamily = num(value);
      else if (key === "CPU_implementer") dump.cpuVendor ??= `arm:${value}`;
    } else if (section === "device" && dev !== null) {
      const d: DumpDevice = dev;
      if (key === "path") d.path = value;
      else if (key === "vendor") d.vendor = num(value);
      else if (key === "device") d.device = num(value);
      else if (key === "class") d.classCode = num(value);
      else if (key === "driver") d.driver = value;
      else if (key === "iommu_group") d.iommuGroup = num(value);
      else if (key === "dma_mask_bits") d.dmaMaskBits = num(value);
      else if (key === "max_segment_size") d.maxSegmentSize = num(value);
    } else if (section === "iommu_group" && group !== null) {
      const g: DumpGroup = group;
      if (key === "type") g.type = value;
      else if (key === "devices") g.devices = value.trim().split(/\s+/).filter((x) => x !== "");
    } else if (section === "iommu" && key === "cap" && /^[0-9a-fA-F]+$/.test(value)) {
      dump.vtdCap.set(iommu, BigInt("0x" + value));
    }
  });
  return dump;
}

/** Bytes 0..63 of config space from a `hexdump -C` listing. */
function configBytes(lines: unknown): Uint8Array | null {
  if (!Array.isArray(lines)) return null;
  const out = new Uint8Array(64);
  let seen = 0;
  for (const l of lines) {
    if (typeof l !== "string") continue;
    const m = /^([0-9a-f]{8})\s+((?:[0-9a-f]{2}\s+){1,16})/.exec(l);
    if (!m) continue;
    const off = Number.parseInt(m[1]!, 16);
    const bytes = m[2]!.trim().split(/\s+/);
    bytes.forEach((b, k) => {
      if (off + k < 64) out[off + k] = Number.parseInt(b, 16);
    });
    seen += bytes.length;
  }
  return seen >= 0x28 ? out : null;
}

/**
 * BAR indexes of compacted resource lines, from the BAR registers of config space: each
 * memory BAR register's address matched to a resource start (64-bit BARs take two slots).
 */
function barIndexes(cfg: Uint8Array): Map<bigint, number> {
  const byAddr = new Map<bigint, number>();
  const dv = new DataView(cfg.buffer);
  for (let i = 0; i < 6; ++i) {
    const lo = dv.getUint32(0x10 + 4 * i, true);
    if (lo === 0) continue;
    if (lo & 1) {
      byAddr.set(BigInt(lo & ~3), i);
      continue;
    }
    let addr = BigInt(lo & ~0xf) & 0xffffffffn;
    if (((lo >> 1) & 3) === 2 && i < 5) {
      addr |= BigInt(dv.getUint32(0x10 + 4 * (i + 1), true)) << 32n;
      byAddr.set(addr, i);
      ++i;
    } else byAddr.set(addr, i);
  }
  return byAddr;
}

/** The expansion ROM address (config offset 0x30), or -1. */
function romBase(cfg: Uint8Array): bigint {
  const v = new DataView(cfg.buffer).getUint32(0x30, true);
  return v === 0 ? -1n : BigInt((v & ~0x7ff) >>> 0);
}

/** Read the JSON of a shared capture (its sysfs dump) into a dump. */
export function parseCaptureJson(json: Record<string, unknown>): TopologyDump {
  const dump: TopologyDump = {
    cpuVendor: null,
    cpuFamily: null,
    kernelRelease: typeof json.kernel_release === "string"
      ? (json.kernel_release.split(" ")[2] ?? null)
      : null,
    cmdline: typeof json.kernel_cmdline === "string" ? json.kernel_cmdline : "",
    devices: [],
    groups: [],
    vtdCap: new Map(),
    busWindows: [],
    problems: [],
  };
  const devices = Array.isArray(json.pci_devices) ? json.pci_devices : [];
  for (const d of devices) {
    if (
      typeof d !== "object" || d === null || typeof (d as Record<string, unknown>).bdf !== "string"
    ) continue;
    const o = d as Record<string, unknown>;
    const dev = emptyDevice(o.bdf as string);
    dev.vendor = num(o.vendor as string);
    dev.device = num(o.device as string);
    dev.classCode = num(o.class as string);
    dev.driver = typeof o.driver === "string" ? o.driver : null;
    dev.iommuGroup = num(o.iommu_group as string);
    dev.dmaMaskBits = num(o.dma_mask_bits as string);
    // The capture's block queue limits belong to the NVMe controller.
    if (dev.driver === "nvme" && Array.isArray(json.nvme_queue_limits)) {
      for (const l of json.nvme_queue_limits) {
        const m = typeof l === "string" ? /max_segment_size=(\d+)/.exec(l) : null;
        if (m) dev.maxSegmentSize = Number(m[1]);
      }
    }
    const cfg = configBytes(o.config_hexdump_0_64);
    const byAddr = cfg === null ? null : barIndexes(cfg);
    const res = Array.isArray(o.resource) ? o.resource : [];
    res.forEach((line: unknown, k: number) => {
      if (typeof line !== "string") return;
      const m = RESOURCE_REGEXP.exec(line);
      if (!m) return;
      const start = BigInt("0x" + m[1]);
      // The capture lists only non-empty resources: find each one's BAR from config space.
      const index = res.length >= 6 ? k : byAddr?.get(start) ?? -1;
      // The expansion ROM (config 0x30, or its shadow copy: IORESOURCE_READONLY 0x4000 or the
      // ROM_ENABLE/ROM_SHADOW bus bits 0x3) is listed too, but it is not a BAR.
      const flags = Number.parseInt(m[3]!, 16);
      const rom = (cfg !== null && romBase(cfg) === start) || (flags & 0x4000) !== 0 ||
        (flags & 0x3) !== 0;
      if (index < 0 && rom) return;
      if (index < 0) {
        dump.problems.push(
          `${dev.bdf}: resource 0x${start.toString(16)} matches no BAR register in config space`,
        );
        return;
      }
      readResource(dev, index, line);
    });
    dump.devices.push(dev);
  }
  let group: DumpGroup | null = null;
  for (const l of Array.isArray(json.iommu_groups) ? json.iommu_groups : []) {
    if (typeof l !== "string") continue;
    const g = /^group (\d+) type=(\S*) devices=(.*)$/.exec(l);
    if (g) {
      group = {
        id: Number(g[1]),
        type: g[2] || null,
        devices: g[3]!.trim().split(/\s+/).filter((x) => x),
        reserved: [],
      };
      dump.groups.push(group);
      continue;
    }
    const r = /^\s*reserved: 0x([0-9a-fA-F]+) 0x([0-9a-fA-F]+) (\S+)/.exec(l);
    if (r && group) {
      group.reserved.push({ start: BigInt("0x" + r[1]), end: BigInt("0x" + r[2]), kind: r[3]! });
    }
  }
  for (const l of Array.isArray(json.iommu_sysfs) ? json.iommu_sysfs : []) {
    const m = typeof l === "string" ? /^(\w+)\/cap=([0-9a-fA-F]+)$/.exec(l) : null;
    if (m) dump.vtdCap.set(m[1]!, BigInt("0x" + m[2]));
  }
  for (const l of Array.isArray(json.iomem) ? json.iomem : []) {
    const m = typeof l === "string" ? IOMEM_REGEXP.exec(l) : null;
    if (m) {
      dump.busWindows.push({
        bus: m[3]!.toLowerCase(),
        start: BigInt("0x" + m[1]),
        end: BigInt("0x" + m[2]),
      });
    }
  }
  return dump;
}
