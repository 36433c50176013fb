// The page-table model against f_vfio-6.12: the NVMe bound to vfio-pci, whose type1 user
// mappings (IOVAs chosen by userspace, no DMA API owner) go straight to iommu_map/iommu_unmap
// after `attach_device_to_domain`. Every map is replayed into a fresh domain's page table
// with the capture's page sizes, and every unmap must report the kernel's `unmapped_size`
// and leave nothing mapped that the kernel had unmapped.

import assert from "node:assert/strict";
import { captureTopology, parseTrace, u64As } from "./_capture_test_deps.ts";
import { IommuPageTable } from "./mod.ts";

const DIR = new URL("../../../../shared/captures/", import.meta.url);
const NAME = "f_vfio-6.12";
const present = await Deno.stat(new URL(`${NAME}.trace.gz`, DIR)).then(() => true, () => false);

Deno.test({
  name: `${NAME}: vfio type1 maps and unmaps replay through the page table, unmapped_size exact`,
  ignore: !present,
  fn: async () => {
    const t = await captureTopology(NAME);
    let pt: IommuPageTable | null = null;
    const out = { maps: 0, unmaps: 0, sameSize: 0, pteWrites: 0, bad: [] as string[] };
    for await (
      const b of parseTrace((await Deno.open(new URL(`${NAME}.trace.gz`, DIR))).readable)
    ) {
      const maps = b.tables.get("map");
      const unmaps = b.tables.get("unmap");
      for (let r = 0; r < b.n; ++r) {
        const ev = b.eventNames.get(b.eventId[r]!);
        const row = b.tableRow[r]!;
        if (ev === "attach_device_to_domain") {
          // vfio attaches the group to its own (unmanaged) domain: an empty page table.
          pt = new IommuPageTable({ pgsizeBitmap: t.iommu.pgsizeBitmap });
        } else if (pt && ev === "map" && maps) {
          const iova = u64As(maps.cols.iova as Uint32Array, row);
          const paddr = u64As(maps.cols.paddr as Uint32Array, row);
          const size = BigInt((maps.cols.size as Float64Array)[row]!);
          const m = pt.iommuMap(iova, paddr, size);
          ++out.maps;
          out.pteWrites += m.pteWrites;
          if (m.errno !== 0) out.bad.push(`line ${b.lineNo1[r]}: map ${m.errno}`);
        } else if (pt && ev === "unmap" && unmaps) {
          const iova = u64As(unmaps.cols.iova as Uint32Array, row);
          const size = BigInt((unmaps.cols.size as Float64Array)[row]!);
          const want = BigInt((unmaps.cols.unmapped_size as Float64Array)[row]!);
          const got = pt.iommuUnmap(iova, size);
          ++out.unmaps;
          if (got === want) ++out.sameSize;
          else out.bad.push(`line ${b.lineNo1[r]}: unmapped ${got}, kernel ${want}`);
          if (pt.iovaToPhys(iova) !== -1n) out.bad.push(`line ${b.lineNo1[r]}: still mapped`);
        }
      }
    }
    assert.deepEqual(out.bad, []);
    assert.ok(out.maps >= 18 && out.unmaps >= 18, JSON.stringify(out));
    assert.equal(out.sameSize, out.unmaps);
    // The 2 MiB map at 0x1_0000_0000 → paddr 0x2e00000 is one 2M PTE; the rest are 4 KiB pages.
    assert.equal(out.pteWrites, 1 + 2 + 16);
  },
});
