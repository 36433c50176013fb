// The dma-buf lifecycle of the shared captures reconstructed with no false anomaly:
// e_dmabuf-6.12 (kprobes on export/attach/map/unmap/detach/release; udmabuf, system heap and
// drm buffers imported by vgem) and f_vfio-6.12 (no dma-buf export on that kernel).

import assert from "node:assert/strict";
import { parseTrace } from "../../ingest/mod.ts";
import { DmaBufTracker } from "./mod.ts";

const DIR = new URL("../../../../shared/captures/", import.meta.url);
const present = async (name: string) =>
  await Deno.stat(new URL(`${name}.trace.gz`, DIR)).then(() => true, () => false);

async function track(name: string) {
  const t = new DmaBufTracker();
  for await (const b of parseTrace((await Deno.open(new URL(`${name}.trace.gz`, DIR))).readable)) {
    t.feed(b);
  }
  t.end();
  return t;
}

Deno.test({
  name: "e_dmabuf-6.12: every buffer exported, attached, mapped, unmapped, detached, released",
  ignore: !(await present("e_dmabuf-6.12")),
  fn: async () => {
    const t = await track("e_dmabuf-6.12");
    assert.deepEqual(t.core.anomalies, []);
    assert.deepEqual(t.stats, {
      exports: 9,
      attaches: 6,
      maps: 6,
      unmaps: 6,
      detaches: 6,
      releases: 9,
      pfns: 0,
      zaps: 0,
      unknown: 0,
    });
    for (let id = 0; id < 9; ++id) assert.equal(t.core.buffer(id)!.state, "RELEASED");
    assert.equal(t.core.attachment(0)!.importer, "static"); // dma_buf_attach, importer_ops NULL
  },
});

Deno.test({
  name: "f_vfio-6.12: no dma-buf lifecycle, no anomaly",
  ignore: !(await present("f_vfio-6.12")),
  fn: async () => {
    const t = await track("f_vfio-6.12");
    assert.deepEqual(t.core.anomalies, []);
    assert.equal(t.stats.exports, 0);
  },
});
