/**
 * Cross-CPU event order (kernel-spec §1.3): the `trace` file merges the per-CPU buffers by
 * timestamp, but `trace_pipe` output can run a few events behind across CPUs. Before the
 * replay, a batch whose rows go back in time across CPUs is merged again: each CPU's rows keep
 * their file order, and the CPUs' runs are interleaved by timestamp (file order breaks ties).
 * Lines keep their numbers. Rows out of order across two batches stay as they are (batches
 * hold thousands of lines; trace_pipe runs a page or so behind).
 *
 * @module
 */

import type { EventBatch } from "../ingest/mod.ts";

/**
 * Merge a batch's rows by timestamp, per CPU in file order.
 *
 * @param b A parsed batch (changed in place).
 * @returns How many rows moved (0 when the batch was in order).
 *
 * @example CPU 0's line printed after CPU 1's later one
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace } from "../ingest/mod.ts";
 * import { orderBatch } from "./mod.ts";
 * const l = (cpu: number, ts: string) => `  dd-1 [00${cpu}] .....  ${ts}: dma_unmap_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=1000 size=4096 attrs=`;
 * const text = [l(1, "1.000005"), l(0, "1.000002"), l(0, "1.000007")].join("\n") + "\n";
 * for await (const b of parseTrace(new Blob([text]).stream())) {
 *   assert.equal(orderBatch(b), 2);
 *   assert.deepEqual(Array.from(b.lineNo1.subarray(0, b.n)), [2, 1, 3]);
 * }
 * ```
 */
export function orderBatch(b: EventBatch): number {
  const n = b.n;
  const ts = b.tsNs;
  let inOrder = true;
  for (let r = 1; r < n; ++r) {
    const t = ts[r]!;
    if (Number.isNaN(t)) return 0; // no timestamps (function_graph without abstime): file order
    if (t < ts[r - 1]!) inOrder = false;
  }
  if (inOrder) return 0;
  // Per-CPU runs in file order, merged by their heads' timestamps.
  const byCpu = new Map<number, number[]>();
  for (let r = 0; r < n; ++r) {
    const c = b.cpu[r]!;
    let list = byCpu.get(c);
    if (list === undefined) byCpu.set(c, list = []);
    list.push(r);
  }
  const runs = [...byCpu.values()];
  const heads = new Int32Array(runs.length);
  const perm = new Int32Array(n);
  for (let k = 0; k < n; ++k) {
    let best = -1;
    for (let i = 0; i < runs.length; ++i) {
      const run = runs[i]!;
      if (heads[i]! >= run.length) continue;
      const r = run[heads[i]!]!;
      if (best < 0) best = i;
      else {
        const q = runs[best]![heads[best]!]!;
        if (ts[r]! < ts[q]! || (ts[r]! === ts[q]! && r < q)) best = i;
      }
    }
    perm[k] = runs[best]![heads[best]!++]!;
  }
  let moved = 0;
  const inv = new Int32Array(n);
  for (let k = 0; k < n; ++k) {
    inv[perm[k]!] = k;
    if (perm[k] !== k) ++moved;
  }
  const permute = <T extends Float64Array | Int32Array | Uint8Array>(a: T) => {
    const copy = a.slice(0, n) as T;
    for (let k = 0; k < n; ++k) a[k] = copy[perm[k]!]!;
  };
  permute(b.lineNo1);
  permute(b.tsNs);
  permute(b.cpu);
  permute(b.pid);
  permute(b.tgid);
  permute(b.comm);
  permute(b.irqFlags);
  permute(b.instance);
  permute(b.eventId);
  permute(b.kind);
  permute(b.tableRow);
  permute(b.argStart);
  permute(b.argLen);
  // The tables point at batch rows: follow the rows to their new places.
  for (const t of b.tables.values()) for (let i = 0; i < t.n; ++i) t.rows[i] = inv[t.rows[i]!]!;
  for (let i = 0; i < b.probes.n; ++i) b.probes.rows[i] = inv[b.probes.rows[i]!]!;
  return moved;
}
