/**
 * Cost profiles: what each modeled operation costs on the CPU, and the data-path factors of
 * each P2P path, every number with its source (kernel-spec §10). A profile is JSON that users
 * write or `dmareplay calibrate` fits; {@linkcode DEFAULT_COST_PROFILE} ships with the tool.
 *
 * @module
 */

import type { JsonError } from "../ingest/mod.ts";

/** How far a number can be trusted. */
export type CostStatus = "confirmed" | "estimate" | "calibrated";

/** One number and where it comes from. */
export interface CostFigure {
  /** The cost in ns (CPU terms) or the factor (data-path terms). */
  readonly value: number;
  /** Paper, commit, or "calibrated from capture X". */
  readonly source: string;
  /** Confirmed in a cited source, an estimate, or fitted to a capture. */
  readonly status: CostStatus;
}

/**
 * The CPU cost terms. An operation's modeled cost is the sum of its terms, each times how often
 * the operation does it ({@linkcode costFeatures}).
 */
export const COST_TERMS = [
  "dma_map_single",
  "dma_unmap_single",
  "dma_map_sg",
  "dma_unmap_sg",
  "dma_alloc_coherent",
  "dma_free_coherent",
  "dma_sync",
  "sg_entry",
  "iova_alloc_rcache",
  "iova_alloc_rbtree",
  "iova_free_rcache",
  "iova_free_rbtree",
  "pte_write",
  "iotlb_invalidation",
  "fq_queue",
  "dma_buf_export",
  "dma_buf_attach",
  "dma_buf_map",
  "dma_buf_unmap",
  "dma_buf_detach",
  "dma_buf_release",
  "move_notify_round",
  "get_pfn",
] as const;

/** A CPU cost term. */
export type CostTerm = typeof COST_TERMS[number];

/** The data-path factors: what a device's DMA pays on each path. */
export const DATA_PATH_TERMS = [
  "iotlb_miss_ns",
  "root_complex_forwarding_factor",
  "switch_p2p_factor",
] as const;

/** A data-path term. */
export type DataPathTerm = typeof DATA_PATH_TERMS[number];

/** A cost profile (the JSON a user writes; numbers as `{value, source, status}`). */
export interface CostProfile {
  /** Profile name. */
  readonly name: string;
  /** What it describes (platform, kernel). */
  readonly description: string;
  /** CPU cost of each term, ns. */
  readonly cpu: Readonly<Record<CostTerm, CostFigure>>;
  /** Data-path factors. */
  readonly dataPath: Readonly<Record<DataPathTerm, CostFigure>>;
}

const est = (value: number, source: string): CostFigure => ({ value, source, status: "estimate" });
const PELEG = "Peleg et al., Utilizing the IOMMU Scalably, USENIX ATC 2015 §4-5 (unverified)";

/**
 * The shipped profile: starting figures from kernel-spec §10, labelled; most are estimates
 * until `dmareplay calibrate` fits them to a capture of the user's machine.
 */
export const DEFAULT_COST_PROFILE: CostProfile = {
  name: "default",
  description: "Starting figures for an x86 host with VT-d or AMD-Vi (kernel-spec §10)",
  cpu: {
    "dma_map_single": est(150, "estimate: dispatch, checks and tracepoint of dma_map_phys"),
    "dma_unmap_single": est(120, "estimate: dispatch and tracepoint of dma_unmap_phys"),
    "dma_map_sg": est(250, "estimate: iommu_dma_map_sg set-up"),
    "dma_unmap_sg": est(200, "estimate: iommu_dma_unmap_sg set-up"),
    "dma_alloc_coherent": est(2000, "estimate: page allocation and zeroing"),
    "dma_free_coherent": est(1000, "estimate: page free"),
    "dma_sync": est(100, "estimate: cache maintenance is a no-op on coherent x86"),
    "sg_entry": est(40, "estimate: one scatterlist entry built or walked"),
    "iova_alloc_rcache": est(100, `magazine hit: a few hundred cycles, ${PELEG}`),
    "iova_alloc_rbtree": est(1500, `rbtree allocation: thousands of cycles, ${PELEG}`),
    "iova_free_rcache": est(100, `magazine insert, ${PELEG}`),
    "iova_free_rbtree": est(1200, `rbtree erase, ${PELEG}`),
    "pte_write": est(60, "estimate: one leaf PTE set or cleared with its cache flush"),
    "iotlb_invalidation": {
      value: 800,
      source: "Akaros commit 81b6433a: one IOTLB flush with wait ~800 ns (single platform)",
      status: "confirmed",
    },
    "fq_queue": est(80, "estimate: one IOVA queued on the per-CPU flush queue"),
    "dma_buf_export": est(5000, "estimate: dma_buf_export with file and inode"),
    "dma_buf_attach": est(2000, "estimate: attach with pci_p2pdma_distance"),
    "dma_buf_map": est(500, "estimate: map_dma_buf set-up, besides its sg entries"),
    "dma_buf_unmap": est(400, "estimate: unmap_dma_buf set-up"),
    "dma_buf_detach": est(1000, "estimate"),
    "dma_buf_release": est(3000, "estimate"),
    "move_notify_round": est(2000, "estimate: one move_notify to every importer under resv lock"),
    "get_pfn": est(200, "estimate: get_pfn op under resv lock"),
  },
  dataPath: {
    "iotlb_miss_ns": est(
      300,
      "IOTLB miss ~ one page walk, up to 4 memory reads (general; unverified)",
    ),
    "root_complex_forwarding_factor": est(
      1.3,
      "root-complex P2P forwarding adds latency vs switch-local P2P (general; unverified)",
    ),
    "switch_p2p_factor": est(1, "reference: P2P through the common switch"),
  },
};

/** An operation as the cost model sees it (a row of the ops table). */
export interface CostedOp {
  /** Operation name (`dma_map_page`, `dma_buf_map_attachment`, ...). */
  readonly op: string;
  /** Where the IOVA came from or went (`rcache`, `rbtree`, `fq`), or "". */
  readonly iovaSource: string;
  /** Leaf PTEs written or cleared. */
  readonly pteWrites: number;
  /** IOTLB invalidations waited for. */
  readonly iotlbInvalidations: number;
  /** Scatter-gather entries. */
  readonly sgEntries: number;
}

const BASE_TERM: Record<string, CostTerm> = {
  "dma_map_page": "dma_map_single",
  "dma_map_phys": "dma_map_single",
  "dma_map_resource": "dma_map_single",
  "dma_unmap_page": "dma_unmap_single",
  "dma_unmap_phys": "dma_unmap_single",
  "dma_unmap_resource": "dma_unmap_single",
  "dma_map_sg": "dma_map_sg",
  "dma_unmap_sg": "dma_unmap_sg",
  "dma_alloc": "dma_alloc_coherent",
  "dma_alloc_pages": "dma_alloc_coherent",
  "dma_free": "dma_free_coherent",
  "dma_free_pages": "dma_free_coherent",
  "dma_sync_single_for_cpu": "dma_sync",
  "dma_sync_single_for_device": "dma_sync",
  "dma_sync_sg_for_cpu": "dma_sync",
  "dma_sync_sg_for_device": "dma_sync",
  "dma_buf_export": "dma_buf_export",
  "dma_buf_attach": "dma_buf_attach",
  "dma_buf_map_attachment": "dma_buf_map",
  "dma_buf_unmap_attachment": "dma_buf_unmap",
  "dma_buf_detach": "dma_buf_detach",
  "dma_buf_release": "dma_buf_release",
  "dma_buf_move_notify": "move_notify_round",
  "dma_buf_get_pfn": "get_pfn",
};

/**
 * The terms an operation pays and how often: its base term, its IOVA allocation or free by
 * source, its PTE writes, IOTLB invalidations and sg entries.
 *
 * @param o The operation.
 * @returns `[term, count]` pairs (counts > 0).
 *
 * @example A strict unmap of 4 pages whose IOVA goes back to the rcache
 * ```ts
 * import assert from "node:assert/strict";
 * import { costFeatures } from "./mod.ts";
 * assert.deepEqual(
 *   costFeatures({ op: "dma_unmap_page", iovaSource: "rcache", pteWrites: 4, iotlbInvalidations: 1, sgEntries: 0 }),
 *   [["dma_unmap_single", 1], ["iova_free_rcache", 1], ["pte_write", 4], ["iotlb_invalidation", 1]],
 * );
 * ```
 */
export function costFeatures(o: CostedOp): [CostTerm, number][] {
  const out: [CostTerm, number][] = [];
  const base = BASE_TERM[o.op];
  if (base !== undefined) out.push([base, 1]);
  const unmap = o.op.includes("unmap") || o.op.includes("free");
  if (o.iovaSource === "rcache") out.push([unmap ? "iova_free_rcache" : "iova_alloc_rcache", 1]);
  else if (o.iovaSource === "rbtree") {
    out.push([unmap ? "iova_free_rbtree" : "iova_alloc_rbtree", 1]);
  } else if (o.iovaSource === "fq") out.push(["fq_queue", 1]);
  if (o.pteWrites > 0) out.push(["pte_write", o.pteWrites]);
  if (o.iotlbInvalidations > 0) out.push(["iotlb_invalidation", o.iotlbInvalidations]);
  if (o.sgEntries > 0) out.push(["sg_entry", o.sgEntries]);
  return out;
}

/**
 * The modeled CPU cost of an operation under a profile.
 *
 * @param profile The profile.
 * @param o The operation.
 * @returns ns; NaN for an operation the profile has no term for.
 *
 * @example A 4 KiB map from the rcache: base + rcache + one PTE
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_COST_PROFILE, modeledNs } from "./mod.ts";
 * const o = { op: "dma_map_page", iovaSource: "rcache", pteWrites: 1, iotlbInvalidations: 0, sgEntries: 0 };
 * assert.equal(modeledNs(DEFAULT_COST_PROFILE, o), 150 + 100 + 60);
 * ```
 */
export function modeledNs(profile: CostProfile, o: CostedOp): number {
  return modeledNsOf(profile, o.op, o.iovaSource, o.pteWrites, o.iotlbInvalidations, o.sgEntries);
}

/** Whether an operation gives memory back (its IOVA source is then a free's), by name. */
const UNMAPS = new Map<string, boolean>();

/**
 * {@linkcode modeledNs} of an operation given field by field: the same terms as
 * {@linkcode costFeatures}, summed without building them (one call per ops row).
 *
 * @param profile The profile.
 * @param op Operation name.
 * @param iovaSource Where the IOVA came from or went, or "".
 * @param pteWrites Leaf PTEs written or cleared.
 * @param iotlbInvalidations IOTLB invalidations waited for.
 * @param sgEntries Scatter-gather entries.
 * @returns ns; NaN for an operation the profile has no term for.
 *
 * @example The same as modeledNs
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_COST_PROFILE, modeledNsOf } from "./mod.ts";
 * assert.equal(modeledNsOf(DEFAULT_COST_PROFILE, "dma_map_page", "rcache", 1, 0, 0), 150 + 100 + 60);
 * ```
 */
export function modeledNsOf(
  profile: CostProfile,
  op: string,
  iovaSource: string,
  pteWrites: number,
  iotlbInvalidations: number,
  sgEntries: number,
): number {
  const c = profile.cpu;
  const base = BASE_TERM[op];
  let terms = 0;
  let ns = 0;
  if (base !== undefined) {
    ns += c[base].value;
    ++terms;
  }
  if (iovaSource === "rcache" || iovaSource === "rbtree") {
    let unmap = UNMAPS.get(op);
    if (unmap === undefined) UNMAPS.set(op, unmap = op.includes("unmap") || op.includes("free"));
    ns += iovaSource === "rcache"
      ? c[unmap ? "iova_free_rcache" : "iova_alloc_rcache"].value
      : c[unmap ? "iova_free_rbtree" : "iova_alloc_rbtree"].value;
    ++terms;
  } else if (iovaSource === "fq") {
    ns += c.fq_queue.value;
    ++terms;
  }
  if (pteWrites > 0) {
    ns += c.pte_write.value * pteWrites;
    ++terms;
  }
  if (iotlbInvalidations > 0) {
    ns += c.iotlb_invalidation.value * iotlbInvalidations;
    ++terms;
  }
  if (sgEntries > 0) {
    ns += c.sg_entry.value * sgEntries;
    ++terms;
  }
  return terms === 0 ? NaN : ns;
}

/** What {@linkcode validateCostProfile} returns. */
export type CostProfileResult =
  | { readonly ok: true; readonly profile: CostProfile }
  | { readonly ok: false; readonly errors: readonly JsonError[] };

const STATUSES: readonly CostStatus[] = ["confirmed", "estimate", "calibrated"];

function figures<K extends string>(
  v: unknown,
  at: string,
  keys: readonly K[],
  defaults: Readonly<Record<K, CostFigure>>,
  errors: JsonError[],
): Record<K, CostFigure> {
  const out = { ...defaults } as Record<K, CostFigure>;
  if (v === undefined) return out;
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    errors.push({ pointer: at, message: "expected an object of cost figures" });
    return out;
  }
  for (const [k, f] of Object.entries(v as Record<string, unknown>)) {
    const p = `${at}/${k.replaceAll("~", "~0").replaceAll("/", "~1")}`;
    if (k.startsWith("_")) continue;
    if (!(keys as readonly string[]).includes(k)) {
      errors.push({ pointer: p, message: `unknown term; expected one of ${keys.join(", ")}` });
      continue;
    }
    const o = f as Record<string, unknown>;
    if (typeof f !== "object" || f === null || Array.isArray(f)) {
      errors.push({ pointer: p, message: 'expected {"value", "source", "status"}' });
      continue;
    }
    if (typeof o.value !== "number" || !Number.isFinite(o.value) || o.value < 0) {
      errors.push({ pointer: `${p}/value`, message: "expected a non-negative number" });
      continue;
    }
    if (typeof o.source !== "string" || o.source === "") {
      errors.push({
        pointer: `${p}/source`,
        message: 'expected where the number comes from (paper, commit, or "calibrated from ...")',
      });
      continue;
    }
    const status = o.status ?? "estimate";
    if (!STATUSES.includes(status as CostStatus)) {
      errors.push({ pointer: `${p}/status`, message: `expected one of ${STATUSES.join(", ")}` });
      continue;
    }
    out[k as K] = { value: o.value, source: o.source, status: status as CostStatus };
  }
  return out;
}

/**
 * Check a cost profile. Terms it leaves out keep the default profile's figure; every figure it
 * gives must name its source.
 *
 * @param json Parsed JSON.
 * @returns The profile, or every error with its JSON pointer.
 *
 * @example A figure without a source is refused
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateCostProfile } from "./mod.ts";
 * const r = validateCostProfile({ name: "x", cpu: { pte_write: { value: 40 } } });
 * assert.ok(!r.ok);
 * assert.equal(r.errors[0]!.pointer, "/cpu/pte_write/source");
 * ```
 */
export function validateCostProfile(json: unknown): CostProfileResult {
  const errors: JsonError[] = [];
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, errors: [{ pointer: "", message: "expected a cost profile (an object)" }] };
  }
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!["name", "description", "cpu", "dataPath"].includes(k) && !k.startsWith("_")) {
      errors.push({
        pointer: `/${k}`,
        message: "unknown key; expected name, description, cpu, dataPath",
      });
    }
  }
  if (typeof o.name !== "string" || o.name === "") {
    errors.push({ pointer: "/name", message: "expected the profile's name: a non-empty string" });
  }
  if (o.description !== undefined && typeof o.description !== "string") {
    errors.push({ pointer: "/description", message: "expected a string" });
  }
  const cpu = figures(o.cpu, "/cpu", COST_TERMS, DEFAULT_COST_PROFILE.cpu, errors);
  const dataPath = figures(
    o.dataPath,
    "/dataPath",
    DATA_PATH_TERMS,
    DEFAULT_COST_PROFILE.dataPath,
    errors,
  );
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    profile: {
      name: o.name as string,
      description: (o.description as string | undefined) ?? "",
      cpu,
      dataPath,
    },
  };
}
