import assert from "node:assert/strict";
import fc from "fast-check";
import { dmaBufSource, Findings, listSource, mismatchSource } from "./_findings.ts";
import type { ReplayAnomaly } from "./replay.ts";
import { IovaMismatches } from "./_iova_report.ts";

const anomaly = (code: string, line: number, tag: number): ReplayAnomaly => ({
  code,
  line,
  related: [tag],
  device: "",
  message: `m${tag}`,
});

/** The reference: every finding built, concatenated, stably sorted by line (0 last), split. */
function reference(lists: ReplayAnomaly[][], explains: (a: ReplayAnomaly) => boolean) {
  const key = (a: ReplayAnomaly) => (a.line === 0 ? Infinity : a.line);
  const all = lists.flat().sort((a, b) => key(a) - key(b));
  return { anomalies: all.filter((a) => !explains(a)), warnings: all.filter(explains) };
}

Deno.test("findings: trace order, counts, kept lists and parts match building every finding", () => {
  const finding = fc.record({
    code: fc.constantFrom("A", "B", "C"),
    line: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
  });
  fc.assert(
    fc.property(
      fc.array(fc.array(finding, { maxLength: 30 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 0, max: 3 }),
      (raw, rows, keep, modulus) => {
        let tag = 0;
        const lists = raw.map((l) => l.map((f) => anomaly(f.code, f.line, tag++)));
        // A finding is a warning when its tag is a multiple of `modulus` (none when 0).
        const explains = (a: ReplayAnomaly) => modulus > 0 && a.related[0]! % modulus === 0;
        const ref = reference(lists, explains);
        const f = new Findings(lists.map(listSource), explains, keep);
        assert.equal(f.total, ref.anomalies.length);
        assert.equal(f.downgraded.total, ref.warnings.length);
        assert.deepEqual(f.kept, ref.anomalies.slice(0, keep));
        assert.deepEqual(f.keptWarnings, ref.warnings.slice(0, keep));
        assert.deepEqual(
          f.first,
          ref.anomalies.slice(0, 20).map((a) => ({
            line: a.line,
            code: a.code,
            message: a.message,
          })),
        );
        const count = (l: ReplayAnomaly[]) => {
          const c: Record<string, number> = {};
          for (const a of l) c[a.code] = (c[a.code] ?? 0) + 1;
          return c;
        };
        assert.deepEqual(f.byCode, count(ref.anomalies));
        assert.deepEqual(Object.keys(f.byCode), Object.keys(f.byCode).sort());
        assert.deepEqual(f.downgraded.byCode, count(ref.warnings));
        const parts = [...f.parts(rows)];
        assert.ok(parts.length >= 1);
        assert.ok(
          parts.every((p) => p.rows.length <= rows && (p.rows.length > 0 || parts.length === 1)),
        );
        assert.deepEqual(parts.flatMap((p) => p.rows), [...ref.anomalies, ...ref.warnings]);
        // Each part's first `errors` rows are anomalies, the rest warnings.
        let seen = 0;
        for (const p of parts) {
          assert.equal(p.errors, Math.max(0, Math.min(ref.anomalies.length - seen, p.rows.length)));
          seen += p.rows.length;
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("findings: none give one empty part and empty counts", () => {
  const f = new Findings([listSource([]), listSource([])], () => false);
  assert.deepEqual([...f.parts(4)], [{ rows: [], errors: 0 }]);
  assert.deepEqual([f.total, f.byCode, f.downgraded, f.kept], [
    0,
    {},
    { total: 0, byCode: {} },
    [],
  ]);
});

Deno.test("findings: IOVA mismatches and dma-buf findings are built when read", () => {
  const list = new IovaMismatches();
  list.push({ line: 9, device: "0000:00:02.0", actualPfn: 0xfff60, predictedPfn: 0xfff20 });
  list.push({ line: 3, device: "0000:00:02.0", actualPfn: 0x10, predictedPfn: -1 });
  const m = mismatchSource(list);
  const devices: number[] = [];
  const d = dmaBufSource(
    [
      { code: "DMABUF_DOUBLE_UNMAP", line: 5, related: [2], buf: 0, attach: 7, message: "x" },
      { code: "DMABUF_OP_AFTER_RELEASE", line: 0, related: [], buf: 0, attach: -1, message: "y" },
    ],
    (at) => (devices.push(at), `dev${at}`),
  );
  assert.deepEqual(devices, []); // nothing built yet
  const f = new Findings([m, d], () => false);
  assert.deepEqual(f.kept, [
    {
      code: "IOMMU_IOVA_MISMATCH",
      line: 3,
      related: [],
      device: "0000:00:02.0",
      message: "0000:00:02.0: the kernel gave IOVA 0x10000, the allocator model another one " +
        "(strict domain, after warm-up)",
    },
    { code: "DMABUF_DOUBLE_UNMAP", line: 5, related: [2], device: "dev7", message: "x" },
    {
      code: "IOMMU_IOVA_MISMATCH",
      line: 9,
      related: [],
      device: "0000:00:02.0",
      message: "0000:00:02.0: the kernel gave IOVA 0xfff60000, the allocator model 0xfff20000 " +
        "(strict domain, after warm-up)",
    },
    { code: "DMABUF_OP_AFTER_RELEASE", line: 0, related: [], device: "", message: "y" },
  ]);
});

Deno.test("IovaMismatches: property: what was pushed, in order, past its first capacity", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          line: fc.integer({ min: 1, max: 2 ** 40 }),
          device: fc.constantFrom("0000:00:02.0", "0000:00:03.0", "0000:65:00.0"),
          actualPfn: fc.integer({ min: 0, max: 2 ** 40 }),
          predictedPfn: fc.integer({ min: -1, max: 2 ** 40 }),
        }),
        { maxLength: 300 },
      ),
      (ms) => {
        const list = new IovaMismatches();
        for (const m of ms) list.push(m);
        assert.equal(list.length, ms.length);
        assert.deepEqual(ms.map((_, i) => list.at(i)), ms.map((m) => ({ ...m })));
        assert.deepEqual(ms.map((_, i) => list.lineAt(i)), ms.map((m) => m.line));
      },
    ),
    { numRuns: 50 },
  );
});
