// kprobe / kretprobe / fprobe lines (kernel-spec §1.5) and probe maps.

import assert from "node:assert/strict";
import fc from "fast-check";
import { ProbeStacks } from "./_probe.ts";
import { kline, parseAll } from "./_test_util.ts";
import { DEFAULT_PROBE_MAP } from "./default_probe_map.ts";
import { EVENT_KIND } from "./event_batch.ts";
import { printedArgName, resolveProbe, validateProbeMap } from "./probe_map.ts";
import { PROBE_MEANINGS } from "./probe_meanings.ts";

const meaningOf = (
  i: unknown,
) => (typeof i === "number" && i >= 0 ? DEFAULT_PROBE_MAP.probes[i]!.meaning : null);

Deno.test("parseTrace() reads kprobe entry and kretprobe return lines by their form", async () => {
  const text = [
    "      ib_uverbs-3301    [010] .....   901.000001: p_dma_buf_dynamic_attach_0: (dma_buf_dynamic_attach+0x0/0x2a0) dmabuf=0xffff8881224c3c00 dev=0xffff888105a000c8 ops=0xffffffffc0a1b2c0",
    "      ib_uverbs-3301    [010] .....   901.000019: r_dma_buf_dynamic_attach_0: (ib_umem_dmabuf_get+0x1b4/0x330 <- dma_buf_dynamic_attach) attach=0xffff88812e4d1a00",
    "    vfio_user-2001    [002] .....   950.000000: vfio_revoke: (vfio_pci_dma_buf_move+0x0/0x110) vdev=0xffff888110f80000 revoked=0x1",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.rows.map((x) => x.kind), [
    EVENT_KIND.PROBE_ENTRY,
    EVENT_KIND.PROBE_RETURN,
    EVENT_KIND.PROBE_ENTRY,
  ]);
  const [entry, ret, revoke] = r.rows.map((x) => x.fields);
  assert.equal(entry!.func, "dma_buf_dynamic_attach");
  assert.equal(entry!.funcOffset, 0);
  assert.deepEqual(entry!.args, {
    dmabuf: 0xffff8881224c3c00n,
    dev: 0xffff888105a000c8n,
    ops: 0xffffffffc0a1b2c0n,
  });
  assert.equal(meaningOf(entry!.meaning), "dma_buf_dynamic_attach"); // by function: default name
  assert.equal(ret!.func, "dma_buf_dynamic_attach");
  assert.equal(ret!.caller, "ib_umem_dmabuf_get");
  assert.equal(ret!.callerOffset, 0x1b4);
  assert.equal(ret!.durNs, 18000); // paired with the entry of the same function on pid 3301
  assert.deepEqual(ret!.args, { attach: 0xffff88812e4d1a00n });
  assert.equal(meaningOf(revoke!.meaning), "vfio_pci_dma_buf_move"); // by name
  assert.deepEqual(revoke!.args, { vdev: 0xffff888110f80000n, revoked: 1n });
});

Deno.test("parseTrace() reads $retval in hex (6.1) and in decimal (6.12+) alike", async () => {
  const text = [
    "              dd-494     [001] .....     8.588117: iova_alloc: (iommu_dma_alloc_iova+0xd4/0x120 <- alloc_iova_fast) ret=0xfff80",
    "              dd-494     [001] .....     8.588118: iova_alloc: (iommu_dma_alloc_iova+0xd4/0x120 <- alloc_iova_fast) ret=1048448",
    "          <idle>-0       [001] d.h1.     8.626517: iova_free: (free_iova_fast+0x4/0x140) pfn=0xfff80 size=0x20",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.rows.map((x) => (x.fields.args as Record<string, bigint>)), [
    { ret: 0xfff80n },
    { ret: 1048448n },
    { pfn: 0xfff80n, size: 0x20n },
  ]);
  assert.equal(meaningOf(r.rows[0]!.fields.meaning), "alloc_iova_fast");
  assert.equal(meaningOf(r.rows[2]!.fields.meaning), "free_iova_fast");
  assert.equal(r.rows[2]!.fields.funcOffset, 4); // the fentry offset of an x86 kprobe
});

Deno.test("parseTrace() reads string, signed and symbol probe arguments", async () => {
  const text = [
    '     dmabuf_test-555     [000] .....    16.994350: dmabuf_export: (dma_buf_export+0x4/0x2b0) exp_name="udmabuf" size=65536',
    '     dmabuf_test-555     [000] .....    16.998964: dmabuf_attach: (dma_buf_attach+0x4/0x20) dmabuf=0xff352ed781b21000 size=65536 dev="my dev"',
    "     vfio_dmabuf-582     [001] .....    29.001494: vfio_feature_dma_buf_ret: (vfio_pci_core_ioctl_feature+0x9c/0x1a0 <- vfio_pci_core_feature_dma_buf) ret=-25",
  ].join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.rows[0]!.fields.args, { exp_name: "udmabuf", size: 65536n });
  assert.deepEqual(r.rows[1]!.fields.args, {
    dmabuf: 0xff352ed781b21000n,
    size: 65536n,
    dev: "my dev",
  });
  // -25 (ENOTTY) is kept as its two's complement, as the kernel's s64 holds it.
  assert.deepEqual(r.rows[2]!.fields.args, { ret: 0xffffffffffffffe7n });
  assert.equal(meaningOf(r.rows[2]!.fields.meaning), "vfio_pci_core_feature_dma_buf");
});

Deno.test("parseTrace() reads fprobe entry and exit lines", async () => {
  const text = [
    "      ib_uverbs-3301    [010] .....   901.000031: f_map: (dma_buf_map_attachment+0x4/0x1a0) attach=0xffff88812e4d1a00",
    "      ib_uverbs-3301    [010] .....   901.000507: f_map__exit: (ib_umem_dmabuf_map_pages+0x8d/0x230 <- dma_buf_map_attachment) sgt=0xffff8881393e7800",
  ].join("\n");
  const r = await parseAll(text);
  assert.equal(r.rows[1]!.fields.durNs, 476000);
  assert.equal(meaningOf(r.rows[1]!.fields.meaning), "dma_buf_map_attachment");
});

Deno.test("parseTrace() diagnoses a probe line with no closing parenthesis", async () => {
  const line = kline("t", 1, 0, ".....", 1, 0, "p_x", "(dma_buf_attach+0x4/0x20 dmabuf=0x1");
  const r = await parseAll(line);
  assert.deepEqual(r.diags.map((d) => [d.line, d.code, d.column]), [[
    1,
    "bad_kprobe",
    line.indexOf("(") + 1,
  ]]);
  assert.deepEqual(r.unknown, {});
  assert.equal(r.rows.length, 1); // the event is kept, its probe fields are not
});

Deno.test("parseTrace() uses the probe map it is given", async () => {
  const v = validateProbeMap({
    version: 1,
    probes: [{ name: "mine", meaning: "dma_buf_move_notify", args: { dmabuf: "buf" } }],
  });
  assert.ok(v.ok);
  const text = kline("t", 1, 0, ".....", 1, 0, "mine", "(some_fn+0x0/0x10) buf=0x10");
  const r = await parseAll(text, { probeMap: v.map });
  assert.equal(r.rows[0]!.fields.meaning, 0);
  assert.equal(printedArgName(v.map.probes[0]!, "dmabuf"), "buf");
});

Deno.test("validateProbeMap() reports every error with its JSON pointer", () => {
  const r = validateProbeMap({
    version: 2,
    probes: [
      { meaning: "dma_buf_detach" },
      { name: "", kind: "exit", meaning: "nope" },
      {
        function: "free_iova_fast",
        meaning: "free_iova_fast",
        args: { pfn: 3, bogus: "x" },
        extra: 1,
      },
      7,
    ],
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.errors.map((e) => e.pointer), [
    "/version",
    "/probes/0",
    "/probes/1/name",
    "/probes/1/kind",
    "/probes/1/meaning",
    "/probes/2/extra",
    "/probes/2/args/pfn",
    "/probes/2/args/bogus",
    "/probes/3",
  ]);
  assert.equal(validateProbeMap([]).ok, false);
  assert.equal(validateProbeMap({ version: 1 }).ok, false);
});

Deno.test("resolveProbe() prefers a name match, then the function and kind", () => {
  const v = validateProbeMap({
    version: 1,
    probes: [
      { function: "dma_buf_map_attachment", kind: "return", meaning: "dma_buf_map_attachment" },
      { name: "m", kind: "entry", meaning: "dma_buf_map_attachment_unlocked" },
      { function: "dma_buf_map_attachment", kind: "entry", meaning: "dma_buf_map_attachment" },
    ],
  });
  assert.ok(v.ok);
  assert.equal(resolveProbe(v.map, "m", "dma_buf_map_attachment", "entry"), 1);
  assert.equal(resolveProbe(v.map, "m", "dma_buf_map_attachment", "return"), 0);
  assert.equal(resolveProbe(v.map, "x", "dma_buf_map_attachment", "entry"), 2);
  assert.equal(resolveProbe(v.map, "x", "other", "entry"), -1);
});

Deno.test("DEFAULT_PROBE_MAP covers every function of kernel-spec §2.4 and the captures' probes", async () => {
  for (const fn of Object.keys(PROBE_MEANINGS)) {
    assert.ok(resolveProbe(DEFAULT_PROBE_MAP, "p_" + fn + "_0", fn, "entry") >= 0, fn);
  }
  // Every kprobe of the shared captures binds by name.
  for (const cap of ["a_strict", "e_dmabuf", "f_vfio"]) {
    const meta = JSON.parse(
      await Deno.readTextFile(
        new URL(`../../../shared/captures/${cap}-6.12.json`, import.meta.url),
      ),
    );
    for (const def of meta.kprobe_events as string[]) {
      const [type, name] = def.split(" ")[0]!.split(":") as [string, string];
      const probe = name.split("/").pop()!;
      const kind = type.startsWith("r") ? "return" : "entry";
      const i = resolveProbe(DEFAULT_PROBE_MAP, probe, "?", kind);
      assert.ok(i >= 0 && DEFAULT_PROBE_MAP.probes[i]!.name === probe, `${cap}: ${probe}`);
    }
  }
});

Deno.test("parseTrace() reads a probe named like a tracepoint as a probe", async () => {
  const r = await parseAll(
    kline("t", 1, 0, ".....", 1, 0, "dma_buf_export", "(dma_buf_export+0x4/0x2b0) size=4096"),
  );
  assert.deepEqual(r.diags, []);
  assert.equal(r.rows[0]!.kind, EVENT_KIND.PROBE_ENTRY);
  assert.equal(meaningOf(r.rows[0]!.fields.meaning), "dma_buf_export");
});

Deno.test("ProbeStacks pops what was pushed, newest first, and drops the oldest past MAX_DEPTH", () => {
  // Against plain arrays (push, shift when full, pop): random pushes and pops on three keys,
  // deep enough to fill a ring and turn it.
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ key: fc.integer({ min: 0, max: 2 }), push: fc.boolean(), n: fc.nat(90) }),
        { maxLength: 40 },
      ),
      (steps) => {
        const st = new ProbeStacks();
        const ref = new Map<number, number[]>();
        let t = 0;
        for (const { key, push, n } of steps) {
          const a = ref.get(key) ?? [];
          ref.set(key, a);
          for (let i = 0; i < n; ++i) {
            if (push) {
              if (a.length >= ProbeStacks.MAX_DEPTH) a.shift();
              a.push(++t);
              st.push(7, key, t);
            } else assert.equal(st.pop(7, key), a.length === 0 ? NaN : a.pop());
          }
        }
        assert.ok(Number.isNaN(st.pop(8, 0)));
      },
    ),
  );
});

Deno.test("parseTrace() reads each line's probe argument keys, whatever the text's last line had", async () => {
  // One probe text, its arguments' keys changed line by line: the memo of the last line's keys
  // must never stand in for another key (one byte off, longer, missing, past 12 bytes).
  const long = "averyveryverylongkey";
  const args = [
    "pfn=0x1 size=0x2",
    "pfx=0x1 size=0x2",
    "pfn=0x3",
    "pf=0x1 pfn=0x2",
    `${long}=5 pfn=0x1`,
    `${long}=6 pfn=0x1`,
    "pfn pfn=0x4",
    "pfnn=0x6 size=0x7",
    "pfn=0x8 sizes=0x9",
  ];
  const text = args.map((a, i) =>
    kline("dd", 1, 0, ".....", 1, i, "iova_free", `(free_iova_fast+0x4/0x140) ${a}`)
  ).join("\n");
  const r = await parseAll(text);
  assert.deepEqual(r.diags, []);
  assert.deepEqual(r.rows.map((x) => x.fields.args), [
    { pfn: 1n, size: 2n },
    { pfx: 1n, size: 2n },
    { pfn: 3n },
    { pf: 1n, pfn: 2n },
    { [long]: 5n, pfn: 1n },
    { [long]: 6n, pfn: 1n },
    { pfn: 4n },
    { pfnn: 6n, size: 7n },
    { pfn: 8n, sizes: 9n },
  ]);
});
