/**
 * What-if files: a list of changes to a topology, applied in order, each checked with its JSON
 * pointer (DESIGN.md "Compare patch revisions and what-ifs"):
 *
 * ```json
 * { "name": "lazy-acs-redirect",
 *   "changes": [
 *     { "acsRedirect": { "port": "0000:02:00.0", "on": true } },
 *     { "iommu": { "domain": "dma-fq" } },
 *     { "iommu": { "domain": "identity", "device": "0000:04:00.0" } },
 *     { "moveDevice": { "device": "0000:04:00.0", "parent": "0000:00:01.0" } },
 *     { "dmaMask": { "device": "0000:04:00.0", "bits": 32 } },
 *     { "pgsizeBitmap": ["4K", "2M"] },
 *     { "kernelAcs": true },
 *     { "hostBridgeAllowlisted": { "id": "pci0000:00", "allowlisted": true } } ] }
 * ```
 *
 * @module
 */

import type { JsonError } from "../../ingest/mod.ts";
import type { DomainType, Topology } from "./topology.ts";
import {
  withAcsRedirect,
  withDeviceMoved,
  withDmaMask,
  withHostBridgeAllowlisted,
  withIommuDomain,
  withKernelAcs,
  withPgsizeBitmap,
} from "./what_if.ts";
import type { TopologyResult } from "./validate_topology.ts";

/** What {@linkcode applyWhatIf} returns. */
export type WhatIfResult =
  | {
    readonly ok: true;
    /** The changed topology. */
    readonly topology: Topology;
    /** The what-if's name. */
    readonly name: string;
    /** One line per change applied. */
    readonly applied: readonly string[];
  }
  | { readonly ok: false; readonly errors: readonly JsonError[] };

const DOMAINS: readonly DomainType[] = ["identity", "dma", "dma-fq", "blocked"];
const MODES: Readonly<Record<string, DomainType>> = {
  strict: "dma",
  lazy: "dma-fq",
  identity: "identity",
  passthrough: "identity",
  blocked: "blocked",
};
const KINDS = [
  "acsRedirect",
  "iommu",
  "moveDevice",
  "dmaMask",
  "pgsizeBitmap",
  "kernelAcs",
  "hostBridgeAllowlisted",
];

function pageBits(v: unknown): bigint | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  let bits = 0n;
  for (const x of v) {
    const m = typeof x === "string" ? /^(\d+)([KMG])$/.exec(x) : null;
    if (m === null) return null;
    const b = BigInt(m[1]!) << (m[2] === "K" ? 10n : m[2] === "M" ? 20n : 30n);
    if ((b & (b - 1n)) !== 0n || b < 4096n) return null;
    bits |= b;
  }
  return bits;
}

/**
 * Apply a what-if file's changes to a topology, in order.
 *
 * @param t The topology.
 * @param json The parsed what-if.
 * @returns The changed topology and what was applied, or every error with its pointer.
 *
 * @example Lazy invalidation for every device, then a 32-bit mask for one
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyWhatIf, validateTopology } from "./mod.ts";
 * const base = validateTopology({
 *   hostBridges: [{ id: "pci0000:00" }],
 *   devices: [{ bdf: "0000:00:02.0", kind: "rciep", parent: "pci0000:00" }],
 *   iommu: { present: true, defaultDomain: "dma" },
 * });
 * assert.ok(base.ok);
 * const r = applyWhatIf(base.topology, {
 *   name: "lazy-32",
 *   changes: [{ iommu: { domain: "lazy" } }, { dmaMask: { device: "0000:00:02.0", bits: 32 } }],
 * });
 * assert.ok(r.ok);
 * assert.equal(r.topology.iommu.defaultDomain, "dma-fq");
 * assert.equal(r.topology.devices[0]!.dma.maskBits, 32);
 * assert.deepEqual(r.applied, ["IOMMU default domain dma-fq", "0000:00:02.0 DMA mask 32 bits"]);
 * ```
 */
export function applyWhatIf(t: Topology, json: unknown): WhatIfResult {
  const err = (pointer: string, message: string): WhatIfResult => ({
    ok: false,
    errors: [{ pointer, message }],
  });
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return err("", 'expected a what-if: {"name", "changes": [...]}');
  }
  const o = json as Record<string, unknown>;
  const name = typeof o.name === "string" && o.name !== "" ? o.name : "what-if";
  if (!Array.isArray(o.changes)) return err("/changes", "expected the list of changes");
  let topo = t;
  const applied: string[] = [];
  for (let i = 0; i < o.changes.length; ++i) {
    const at = `/changes/${i}`;
    const c = o.changes[i] as Record<string, unknown>;
    const keys = typeof c === "object" && c !== null ? Object.keys(c) : [];
    if (keys.length !== 1 || !KINDS.includes(keys[0]!)) {
      return err(at, `expected one of ${KINDS.map((k) => `{"${k}": ...}`).join(", ")}`);
    }
    const kind = keys[0]!;
    const v = c[kind] as Record<string, unknown>;
    const str = (k: string) => (typeof v?.[k] === "string" && v[k] !== "" ? v[k] as string : null);
    let r: TopologyResult;
    let what: string;
    switch (kind) {
      case "acsRedirect": {
        const port = str("port");
        if (port === null || typeof v.on !== "boolean") {
          return err(`${at}/acsRedirect`, 'expected {"port": BDF, "on": true|false}');
        }
        r = withAcsRedirect(topo, port, v.on);
        what = `${port} ACS redirect ${v.on ? "on" : "off"}`;
        break;
      }
      case "iommu": {
        const d = str("domain");
        const type = d === null
          ? undefined
          : MODES[d] ?? (DOMAINS.includes(d as DomainType) ? d as DomainType : undefined);
        if (type === undefined) {
          return err(
            `${at}/iommu/domain`,
            `expected strict, lazy, identity, blocked or a domain type (${DOMAINS.join(", ")})`,
          );
        }
        const dev = str("device");
        r = withIommuDomain(topo, type, dev);
        what = dev === null ? `IOMMU default domain ${type}` : `${dev} IOMMU domain ${type}`;
        break;
      }
      case "moveDevice": {
        const dev = str("device");
        const parent = str("parent");
        if (dev === null || parent === null) {
          return err(
            `${at}/moveDevice`,
            'expected {"device": BDF, "parent": BDF or host bridge id}',
          );
        }
        r = withDeviceMoved(topo, dev, parent);
        what = `${dev} moved behind ${parent}`;
        break;
      }
      case "dmaMask": {
        const dev = str("device");
        const bits = v?.bits;
        if (
          dev === null || typeof bits !== "number" || !Number.isInteger(bits) || bits < 1 ||
          bits > 64
        ) {
          return err(`${at}/dmaMask`, 'expected {"device": BDF, "bits": 1..64}');
        }
        r = withDmaMask(topo, dev, bits);
        what = `${dev} DMA mask ${bits} bits`;
        break;
      }
      case "pgsizeBitmap": {
        const bits = pageBits(c[kind]);
        if (bits === null) {
          return err(`${at}/pgsizeBitmap`, 'expected page sizes: ["4K", "2M", "1G"]');
        }
        r = withPgsizeBitmap(topo, bits);
        what = `IOMMU page sizes ${(c[kind] as string[]).join(", ")}`;
        break;
      }
      case "kernelAcs":
        r = withKernelAcs(topo);
        what = "the kernel's ACS (SV, RR, CR, UF) on every ACS-capable function";
        break;
      default: {
        const id = str("id");
        const a = v?.allowlisted;
        if (id === null || (typeof a !== "boolean" && a !== null)) {
          return err(
            `${at}/hostBridgeAllowlisted`,
            'expected {"id": "pciDDDD:BB", "allowlisted": true|false|null}',
          );
        }
        r = withHostBridgeAllowlisted(topo, id, a as boolean | null);
        what = `${id} allowlisted ${a}`;
      }
    }
    if (!r.ok) {
      return {
        ok: false,
        errors: r.errors.map((e) => ({ pointer: at, message: `${e.pointer}: ${e.message}` })),
      };
    }
    topo = r.topology;
    applied.push(what);
  }
  return { ok: true, topology: topo, name, applied };
}
