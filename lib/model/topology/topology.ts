/**
 * The validated topology: the PCI hierarchy, BARs, ACS and IOMMU settings the model runs on.
 * Built by {@linkcode validateTopology} from the topology JSON of DESIGN.md (numbers as
 * `bigint`, BDFs split, defaults filled in).
 *
 * @module
 */

/** What a PCI function is in the hierarchy (DESIGN.md `kind`), plus non-PCI devices. */
export type DeviceKind =
  | "root_port"
  | "switch_upstream"
  | "switch_downstream"
  | "bridge"
  | "endpoint"
  | "rciep"
  | "platform";

/** ACS Control bits by their lspci names (PCIe spec: ACS Control register). */
export type AcsBit = "SV" | "TB" | "RR" | "CR" | "UF" | "EC" | "DT";

/** IOMMU domain types (`iommu_group/type`: DMA, DMA-FQ, identity, blocked). */
export type DomainType = "identity" | "dma" | "dma-fq" | "blocked";

/** The CPU, for the AMD Zen rule of `calcMapTypeAndDist` (kernel-spec §3.4 note 3). */
export interface CpuInfo {
  /** Vendor. */
  readonly vendor: "intel" | "amd" | "arm" | "other";
  /** x86 family (AMD family >= 0x17: every host-bridge path allowed). */
  readonly family: number;
}

/** A PCI host bridge (a root complex's root bus). */
export interface HostBridge {
  /** Its name, `pciDDDD:BB` as sysfs prints it. */
  readonly id: string;
  /** Vendor id of the root bus's 00.0 function (or first root port); null when unknown. */
  readonly vendor: number | null;
  /** Device id of that function; null when unknown. */
  readonly device: number | null;
  /** Override of the kernel's allowlist: true/false; null = decide by the ids. */
  readonly allowlisted: boolean | null;
  /** MEM windows `[first, last]` (inclusive), reserved in IOVA space. */
  readonly windows: readonly (readonly [bigint, bigint])[];
}

/** A BAR of a PCI function. */
export interface Bar {
  /** BAR number 0..5. */
  readonly index: number;
  /** CPU physical start. */
  readonly cpuStart: bigint;
  /** PCI bus address of the start (equal to `cpuStart` unless the host bridge translates). */
  readonly busStart: bigint;
  /** Length in bytes. */
  readonly lenBytes: bigint;
  /** A memory BAR (false: I/O ports; those get no p2pdma provider). */
  readonly mem: boolean;
  /** Prefetchable. */
  readonly prefetch: boolean;
  /** User space may mmap it (vfio). */
  readonly mmap: boolean;
}

/** DMA limits of a device. */
export interface DmaLimits {
  /** DMA mask width in bits (1..64). */
  readonly maskBits: number;
  /** `dma_get_max_seg_size`, bytes. */
  readonly maxSegmentSize: number;
  /**
   * Whether the topology states `maxSegmentSize` (else it is the PCI core's default, 65536,
   * which many drivers raise: NVMe to 4 GiB - 1; checks against it would be guesses).
   */
  readonly maxSegmentSizeStated: boolean;
  /** `dma_get_seg_boundary` mask. */
  readonly segmentBoundary: bigint;
}

/** A device of the topology. */
export interface PciDevice {
  /** `DDDD:BB:DD.F` for PCI functions; a name for platform devices. */
  readonly bdf: string;
  /** PCI domain; -1 for platform devices. */
  readonly domain: number;
  /** PCI bus number; -1 for platform devices. */
  readonly bus: number;
  /** Device and function, `dev << 3 | fn`; -1 for platform devices. */
  readonly devfn: number;
  /** What it is. */
  readonly kind: DeviceKind;
  /** Parent: a host bridge id for root-bus devices, else the upstream bridge's BDF; null for a platform device without one. */
  readonly parent: string | null;
  /** A label (`gpu0`, the driver name). */
  readonly name: string | null;
  /** Vendor id, when known. */
  readonly vendor: number | null;
  /** Device id, when known. */
  readonly device: number | null;
  /** BARs, by index order. */
  readonly bars: readonly Bar[];
  /** ACS Control bits set; null when the function has no ACS capability. */
  readonly acsCtrl: readonly AcsBit[] | null;
  /** DMA limits. */
  readonly dma: DmaLimits;
  /** Per-device IOMMU domain type override; null = the IOMMU's default. */
  readonly iommuDomain: DomainType | null;
  /** IOMMU group number, when known. */
  readonly iommuGroup: number | null;
}

/** IOMMU settings. */
export interface IommuSettings {
  /** An IOMMU translates DMA (false: dma-direct everywhere). */
  readonly present: boolean;
  /** Default domain type of devices without an override. */
  readonly defaultDomain: DomainType;
  /** IOVA granule in bytes (power of two, >= 4096). */
  readonly granule: number;
  /** Supported page sizes as a bit mask (bit n = 2^n bytes). */
  readonly pgsizeBitmap: bigint;
  /** Input address width in bits. */
  readonly addressWidth: number;
  /** `iommu.forcedac`: skip the 32-bit IOVA space first. */
  readonly forceDac: boolean;
  /** Reserved IOVA ranges `[first, last]` (MSI window, RMRRs). */
  readonly reserved: readonly (readonly [bigint, bigint])[];
  /** Which per-CPU rcache layout (magazine size 127 from 6.7, 128 before). */
  readonly rcacheVersion: "6.7+" | "pre-6.7";
}

/** A validated topology. */
export interface Topology {
  /** The CPU. */
  readonly cpu: CpuInfo;
  /** Host bridges. */
  readonly hostBridges: readonly HostBridge[];
  /** Devices, in file order. */
  readonly devices: readonly PciDevice[];
  /** The IOMMU. */
  readonly iommu: IommuSettings;
}

/**
 * Split a BDF.
 *
 * @param bdf `DDDD:BB:DD.F` (hex).
 * @returns `{domain, bus, devfn}`, or null when it is not a BDF.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBdf } from "./topology.ts";
 * assert.deepEqual(parseBdf("0000:41:00.1"), { domain: 0, bus: 0x41, devfn: 1 });
 * assert.equal(parseBdf("41:00.1"), null);
 * ```
 */
export function parseBdf(bdf: string): { domain: number; bus: number; devfn: number } | null {
  const m = BDF_REGEXP.exec(bdf);
  if (m === null) return null;
  const dev = Number.parseInt(m[3]!, 16);
  const fn = Number.parseInt(m[4]!, 16);
  if (dev > 31 || fn > 7) return null;
  return {
    domain: Number.parseInt(m[1]!, 16),
    bus: Number.parseInt(m[2]!, 16),
    devfn: (dev << 3) | fn,
  };
}

/** `DDDD:BB:DD.F` (hex; the kernel prints lower case). */
export const BDF_REGEXP: RegExp = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;

/** The ACS Control bits that redirect peer-to-peer traffic upstream (kernel-spec §3.4). */
export const ACS_REDIRECT_BITS: readonly AcsBit[] = ["RR", "CR", "EC"];
