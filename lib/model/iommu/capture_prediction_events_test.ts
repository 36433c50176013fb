// Predicting the IOVAs of the shared captures from dma:* and iommu:* events alone (no kprobes,
// as most users capture): each DMA mapping's IOVA is the first `iommu:map` before its dma:*
// map event on that CPU, its size the pages mapped; each `iommu:unmap` frees (strict) or
// queues in the flush-queue model (lazy, kernel-spec §5.3). Targets: >= 99 % in strict mode; in
// lazy mode what the flush-queue model gets. Under emulation the flush timer runs late (the
// capture's first flush comes 20 ms after the first unmap, not 10-12 ms), so the replay runs the
// flush when the trace shows it ran: when the kernel hands out an IOVA the model still has
// queued, everything queued up to it is freed (FlushQueue timer "evidence", flushThrough).

import assert from "node:assert/strict";
import {
  captureTopology,
  learnPreTrace,
  parseTrace,
  predictorOptions,
  u64As,
} from "./_capture_test_deps.ts";
import { FlushQueue, IovaPredictor } from "./mod.ts";

const DIR = new URL("../../../../shared/captures/", import.meta.url);
const present = await Deno.stat(DIR).then(() => true, () => false);

const TIMER = (Deno.env.get("FQ_TIMER") ?? "evidence") as "timeout" | "evidence";
const MAP_EVENTS = new Set([
  "dma_map_page",
  "dma_map_sg",
  "dma_alloc",
  "dma_map_resource",
  "dma_map_phys",
]);

type Op =
  | {
    kind: "alloc";
    line: number;
    cpu: number;
    ts: number;
    pfn: number;
    pages: number;
    dev: string;
  }
  | {
    kind: "unmap";
    line: number;
    cpu: number;
    ts: number;
    pfn: number;
    pages: number;
    dev: string;
  };

async function opsOf(file: URL): Promise<Op[]> {
  const ops: Op[] = [];
  const pendingMaps = new Map<number, { pfn: number; bytes: number; op: Op }>(); // per CPU
  const devOfPfn = new Map<number, string>();
  for await (const b of parseTrace((await Deno.open(file)).readable)) {
    const maps = b.tables.get("map");
    const unmaps = b.tables.get("unmap");
    for (let r = 0; r < b.n; ++r) {
      const name = b.eventNames.get(b.eventId[r]!);
      const cpu = b.cpu[r]!;
      const base = { line: b.lineNo1[r]!, cpu, ts: b.tsNs[r]! };
      if (name === "map" && maps) {
        const t = b.tableRow[r]!;
        const iova = u64As(maps.cols.iova as Uint32Array, t);
        const bytes = (maps.cols.size as Float64Array)[t]!;
        const p = pendingMaps.get(cpu);
        if (p === undefined) {
          // The allocation happened before its first map: its op takes this place in the order
          // (an unmap in an interrupt between this map and the dma:* event comes after it).
          const op: Op = { kind: "alloc", ...base, pfn: Number(iova >> 12n), pages: 0, dev: "" };
          ops.push(op);
          pendingMaps.set(cpu, { pfn: Number(iova >> 12n), bytes, op });
        } else p.bytes += bytes;
      } else if (MAP_EVENTS.has(name)) {
        const p = pendingMaps.get(cpu);
        pendingMaps.delete(cpu);
        if (p === undefined) continue; // passthrough or a failed map: no IOVA
        const t = b.tables.get(name)!;
        const dev = b.strings.get((t.cols.device as Int32Array)[b.tableRow[r]!]!);
        devOfPfn.set(p.pfn, dev);
        p.op.dev = dev;
        p.op.pages = Math.ceil(p.bytes / 4096);
      } else if (name === "unmap" && unmaps) {
        const t = b.tableRow[r]!;
        const pfn = Number(u64As(unmaps.cols.iova as Uint32Array, t) >> 12n);
        const pages = Math.ceil((unmaps.cols.size as Float64Array)[t]! / 4096);
        ops.push({ kind: "unmap", ...base, pfn, pages, dev: devOfPfn.get(pfn) ?? "" });
      }
    }
  }
  return ops.filter((o) => o.kind !== "alloc" || o.dev !== ""); // maps no dma:* event owned (vfio type1)
}

async function predict(name: string) {
  const t = await captureTopology(name);
  const all = await opsOf(new URL(`${name}.trace.gz`, DIR));
  const total = {
    checked: 0,
    matched: 0,
    learned: 0,
    earlyFlushes: 0,
    mismatches: [] as unknown[],
  };
  for (const dev of new Set(all.filter((o) => o.kind === "alloc").map((o) => o.dev))) {
    const ops = all.filter((o) => o.dev === dev);
    const device = t.devices.find((d) => d.bdf === dev);
    const lazy = (device?.iommuDomain ?? t.iommu.defaultDomain) === "dma-fq";
    const p = new IovaPredictor(predictorOptions(t, dev));
    const fq = new FlushQueue((pfn, pages, cpu, now) => p.onFree(0, cpu, now, pfn, pages), {
      timer: TIMER,
    });
    learnPreTrace(p, ops);
    for (const o of ops) {
      if (o.kind === "alloc") {
        fq.advanceTo(o.ts);
        if (lazy && fq.isQueued(o.pfn) && fq.flushThrough(o.pfn, o.ts, o.cpu)) ++total.earlyFlushes;
        p.onAllocReturn(o.line, o.cpu, o.ts, o.pfn, o.pages);
      } else if (lazy) fq.queueIova(o.pfn, o.pages, o.cpu, o.ts);
      else p.onFree(o.line, o.cpu, o.ts, o.pfn, o.pages);
    }
    total.checked += p.stats.checked;
    total.matched += p.stats.matched;
    total.learned += p.stats.learned;
    total.mismatches.push(...p.stats.mismatches.slice(0, 3).map((m) => ({ dev, ...m })));
  }
  return total;
}

const CASES: [string, number][] = [["a_strict-6.12", 0.99], ["b_lazy_cmon-6.12", 0.99], [
  "b_lazy-6.12",
  0.97,
]];
for (const [name, atLeast] of CASES) {
  Deno.test({
    name: `IOVAs of capture ${name} predicted from dma:* and iommu:* events alone (>= ${
      atLeast * 100
    } %)`,
    ignore: !present,
    fn: async () => {
      const s = await predict(name);
      // deno-lint-ignore no-console -- SHOW_PREDICTION=1 prints the figures bench/RESULTS.md records
      if (Deno.env.get("SHOW_PREDICTION")) console.error(name, JSON.stringify(s));
      assert.ok(s.checked > 5000, `checked ${s.checked}`);
      assert.ok(s.matched / s.checked >= atLeast, JSON.stringify(s));
    },
  });
}
