// The DMA API model against the shared captures without translation: c_pt-6.12 (identity
// domains: the NVMe's DMA address is its physical address) and e_dmabuf-6.12 (udmabuf and
// vgem are not PCI functions and sit behind no IOMMU: dma-direct). Every dma_map_page and
// dma_map_sg the kernel printed is replayed through dmaMapPhys/dmaMapSg on a device of that
// kind, and the addresses and entry counts it returns must be the kernel's.

import assert from "node:assert/strict";
import { parseTrace, u64At } from "../../ingest/mod.ts";
import { IommuDmaDomain } from "../iommu/mod.ts";
import { type DmaDevice, dmaMapPhys, dmaMapSg, newDmaDevice } from "./mod.ts";

const DIR = new URL("../../../../shared/captures/", import.meta.url);

async function replay(name: string, deviceFor: (name: string) => DmaDevice) {
  const out = { single: 0, singleOk: 0, sg: 0, sgOk: 0, entries: 0, firstBad: "" };
  const file = new URL(`${name}.trace.gz`, DIR);
  for await (const b of parseTrace((await Deno.open(file)).readable)) {
    const single = b.tables.get("dma_map_page");
    const sg = b.tables.get("dma_map_sg");
    for (let r = 0; r < b.n; ++r) {
      const ev = b.eventNames.get(b.eventId[r]!);
      const row = b.tableRow[r]!;
      if (ev === "dma_map_page" && single) {
        const c = single.cols;
        const dev = deviceFor(b.strings.get((c.device as Int32Array)[row]!));
        const phys = u64At(c.phys_addr as Uint32Array, row);
        const size = BigInt((c.size as Float64Array)[row]!);
        const got = dmaMapPhys(dev, phys, size, 0, b.cpu[r]!, 0);
        ++out.single;
        if (got.dmaAddr === u64At(c.dma_addr as Uint32Array, row)) ++out.singleOk;
        else out.firstBad ||= `line ${b.lineNo1[r]}`;
      } else if (ev === "dma_map_sg" && sg) {
        const c = sg.cols;
        if ((c.truncated as Int32Array)[row]! > 0) continue; // arrays cut at 128 entries
        const dev = deviceFor(b.strings.get((c.device as Int32Array)[row]!));
        const at = (col: string, k: number) =>
          u64At(b.pool, (c[col + "_start"] as Int32Array)[row]! + k);
        const n = (c.phys_addrs_len as Int32Array)[row]!;
        const entries = Array.from({ length: n }, (_, k) => ({
          phys: at("phys_addrs", k),
          lengthBytes: Number(at("sizes", k)),
        }));
        const got = dmaMapSg(dev, entries, () => null, b.cpu[r]!, 0);
        const ents = (c.ents as Int32Array)[row]!;
        ++out.sg;
        out.entries += n;
        const same = got.errno === 0 && got.segments.length === ents &&
          got.segments.every((s, k) => s.dmaAddr === at("dma_addrs", k));
        if (same) ++out.sgOk;
        else out.firstBad ||= `line ${b.lineNo1[r]}`;
      }
    }
  }
  return out;
}

const present = async (name: string) =>
  await Deno.stat(new URL(`${name}.trace.gz`, DIR)).then(() => true, () => false);

Deno.test({
  name: "c_pt-6.12: identity domains hand out physical addresses, no merging, for every map",
  ignore: !(await present("c_pt-6.12")),
  fn: async () => {
    const domain = new IommuDmaDomain({ type: "identity" });
    const devs = new Map<string, DmaDevice>();
    const s = await replay("c_pt-6.12", (n) => {
      if (!devs.has(n)) devs.set(n, newDmaDevice(n, domain));
      return devs.get(n)!;
    });
    assert.ok(s.single > 2000 && s.sg > 2000, JSON.stringify(s));
    assert.deepEqual([s.singleOk, s.sgOk, s.firstBad], [s.single, s.sg, ""]);
  },
});

Deno.test({
  name: "e_dmabuf-6.12: udmabuf and vgem map through dma-direct, entry for entry",
  ignore: !(await present("e_dmabuf-6.12")),
  fn: async () => {
    const s = await replay("e_dmabuf-6.12", (n) => newDmaDevice(n, null, { isPci: false }));
    assert.ok(s.sg >= 9, JSON.stringify(s));
    assert.deepEqual([s.sgOk, s.firstBad], [s.sg, ""]);
  },
});
