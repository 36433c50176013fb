// kernel-spec §8.1 and §8.5: each state-machine edge and each invariant, with a sequence that
// raises the anomaly and a correct one that must not.

import assert from "node:assert/strict";
import { DmaBufCore, type DmaBufExporter } from "./mod.ts";

const exporter = (over: Partial<DmaBufExporter> = {}): DmaBufExporter => ({
  name: "test",
  p2pMemory: true,
  revocable: true,
  attach: (_b, a) => (a.peer2peer ? 0 : "EOPNOTSUPP"),
  map: (b) => (b.state === "LIVE" ? 0 : "ENODEV"),
  unmap: () => {},
  ...over,
});

const codes = (c: DmaBufCore) => c.anomalies.map((a) => a.code);

function mapped(kind: "dynamic" | "pinned" | "static" = "dynamic", ex = exporter()) {
  const core = new DmaBufCore({ revokeGraceMs: 10 });
  const buf = core.exportBuf(ex, 0x13000n, 1);
  const att = core.attach(buf, "0000:41:00.0", kind, true, 2, kind === "static" ? 0 : undefined)
    .attach;
  core.map(att, 3, 0);
  return { core, buf, att };
}

Deno.test("a full correct lifecycle raises nothing and ends RELEASED", () => {
  const { core, buf, att } = mapped();
  core.unmap(att, 4, 1);
  core.detach(att, 5, 2);
  core.release(buf, 6, 3);
  core.end(4);
  assert.equal(core.anomalies.length, 0);
  assert.equal(core.buffer(buf)!.state, "RELEASED");
  assert.equal(core.attachment(att)!.attached, false);
});

Deno.test("attach: the exporter refuses a static importer of MMIO; a trace that shows it succeed is an anomaly", () => {
  const core = new DmaBufCore();
  const buf = core.exportBuf(exporter(), 0x1000n, 1);
  assert.deepEqual(core.attach(buf, "gpu", "static", true, 2), { errno: "EOPNOTSUPP", attach: -1 });
  assert.equal(core.anomalies.length, 0);
  const ok = core.attach(buf, "gpu", "static", true, 3, 0);
  assert.equal(ok.errno, 0);
  assert.equal(core.attachment(ok.attach)!.peer2peer, false);
  assert.deepEqual(codes(core), ["DMABUF_ATTACH_WITHOUT_P2P"]);
  // System memory exporters need no peer2peer.
  const ram = new DmaBufCore();
  const b2 = ram.exportBuf(exporter({ p2pMemory: false, attach: () => 0 }), 0x1000n, 1);
  assert.equal(ram.attach(b2, "gpu", "static", false, 2).errno, 0);
  assert.equal(ram.anomalies.length, 0);
});

Deno.test("map while revoked fails with ENODEV; a traced success is DMABUF_MAP_WHILE_REVOKED", () => {
  const { core, buf, att } = mapped();
  core.unmap(att, 4, 1);
  core.revoke(buf, 5, 2);
  assert.equal(core.map(att, 6, 3).errno, "ENODEV");
  assert.equal(core.anomalies.length, 0);
  assert.equal(core.map(att, 7, 4, 0).errno, 0);
  assert.deepEqual(core.anomalies.map((a) => [a.code, a.line, a.related]), [
    ["DMABUF_MAP_WHILE_REVOKED", 7, [5]],
  ]);
});

Deno.test("a buffer created revoked refuses maps until restored", () => {
  const core = new DmaBufCore();
  const buf = core.exportBuf(exporter({ attach: () => 0 }), 0x1000n, 1, true);
  assert.equal(core.buffer(buf)!.state, "REVOKED");
  const att = core.attach(buf, "nic", "dynamic", true, 2).attach;
  assert.equal(core.map(att, 3, 0).errno, "ENODEV");
  core.revoke(buf, 4, 1, false);
  assert.equal(core.buffer(buf)!.state, "LIVE");
  assert.equal(core.map(att, 5, 2).errno, 0);
  assert.equal(core.anomalies.length, 0);
});

Deno.test("revoke: a dynamic importer that unmaps within the grace period is fine", () => {
  const { core, buf, att } = mapped();
  core.revoke(buf, 4, 1_000_000);
  assert.equal(core.attachment(att)!.invalidating, true);
  core.unmap(att, 5, 9_000_000);
  core.end(100_000_000);
  assert.equal(core.anomalies.length, 0);
});

Deno.test("revoke: a dynamic importer still mapped after the grace period outlives the revoke", () => {
  const { core, buf, att } = mapped();
  core.revoke(buf, 4, 1_000_000);
  core.unmap(att, 5, 12_000_000); // 11 ms later, grace 10 ms
  assert.deepEqual(core.anomalies.map((a) => [a.code, a.line, a.related]), [
    ["DMABUF_MAPPING_OUTLIVES_REVOKE", 5, [3, 4]],
  ]);
});

Deno.test("revoke: a restore does not excuse a mapping kept across the revoke", () => {
  const { core, buf } = mapped();
  core.revoke(buf, 4, 0);
  core.revoke(buf, 5, 1_000, false); // restored 1 µs later, mapping still there
  core.end(2_000);
  assert.deepEqual(codes(core), ["DMABUF_MAPPING_OUTLIVES_REVOKE"]);
});

Deno.test("revoke: pinned and static importers keep their mapping: it outlives the revoke at once", () => {
  for (const kind of ["pinned", "static"] as const) {
    const ex = exporter({ attach: () => 0 });
    const { core, buf, att } = mapped(kind, ex);
    if (kind === "pinned") core.pin(att, 4);
    core.revoke(buf, 5, 0);
    const got = codes(core).filter((c) => c !== "DMABUF_ATTACH_WITHOUT_P2P");
    assert.deepEqual(
      got,
      kind === "pinned"
        ? ["DMABUF_PINNED_ON_REVOCABLE", "DMABUF_MAPPING_OUTLIVES_REVOKE"]
        : ["DMABUF_MAPPING_OUTLIVES_REVOKE"],
      kind,
    );
    assert.equal(core.anomalies.at(-1)!.line, 5);
  }
});

Deno.test("pin on an exporter that never revokes is fine; unpin clears it", () => {
  const { core, att } = mapped("pinned", exporter({ revocable: false }));
  core.pin(att, 4);
  assert.equal(core.attachment(att)!.pinned, true);
  core.unpin(att, 5);
  assert.equal(core.attachment(att)!.pinned, false);
  assert.equal(core.anomalies.length, 0);
});

Deno.test("unmap that matches no map, and a second unmap", () => {
  const core = new DmaBufCore();
  const buf = core.exportBuf(exporter(), 0x1000n, 1);
  const att = core.attach(buf, "nic", "dynamic", true, 2).attach;
  core.unmap(att, 3, 0);
  core.map(att, 4, 0);
  core.unmap(att, 5, 0);
  core.unmap(att, 6, 0);
  assert.deepEqual(core.anomalies.map((a) => [a.code, a.line, a.related]), [
    ["DMABUF_UNMAP_NOT_MAPPED", 3, []],
    ["DMABUF_DOUBLE_UNMAP", 6, [5]],
  ]);
});

Deno.test("two maps of one attachment need two unmaps", () => {
  const { core, att } = mapped();
  core.map(att, 4, 0);
  core.unmap(att, 5, 0);
  core.unmap(att, 6, 0);
  assert.equal(core.anomalies.length, 0);
  assert.deepEqual(core.attachment(att)!.mapLines, []);
});

Deno.test("detach with a live mapping, and release with a live attachment", () => {
  const { core, buf, att } = mapped();
  const other = core.attach(buf, "gpu", "dynamic", true, 4).attach;
  core.detach(att, 5, 0);
  core.release(buf, 6, 0);
  assert.deepEqual(core.anomalies.map((a) => [a.code, a.line, a.attach]), [
    ["DMABUF_DETACH_WITH_MAPPINGS", 5, att],
    ["DMABUF_RELEASE_WITH_ATTACHMENTS", 6, -1],
  ]);
  assert.equal(core.attachment(other)!.attached, true);
});

Deno.test("any operation after release is DMABUF_OP_AFTER_RELEASE, once per operation", () => {
  const core = new DmaBufCore();
  const buf = core.exportBuf(exporter(), 0x1000n, 1);
  const att = core.attach(buf, "nic", "dynamic", true, 2).attach;
  core.detach(att, 3, 0);
  core.release(buf, 4, 0);
  core.map(att, 5, 0);
  core.unmap(att, 6, 0);
  core.attach(buf, "nic", "dynamic", true, 7);
  core.pin(att, 8);
  core.moveNotify(buf, 9, 0);
  core.release(buf, 10, 0);
  assert.deepEqual(
    core.anomalies.map((a) => [a.code, a.line]),
    [5, 6, 7, 8, 9, 10].map((l) => [
      "DMABUF_OP_AFTER_RELEASE",
      l,
    ]),
  );
});

Deno.test("a permanent revoke (close) makes the buffer DEAD: no restore reaches it", () => {
  const { core, buf, att } = mapped();
  core.unmap(att, 4, 0);
  core.revoke(buf, 5, 0, true, true);
  core.revoke(buf, 6, 0, false);
  assert.equal(core.buffer(buf)!.state, "DEAD");
  assert.equal(core.map(att, 7, 0).errno, "ENODEV");
  assert.equal(core.anomalies.length, 0);
});
