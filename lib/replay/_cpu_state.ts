// What the ops recorder keeps per CPU and context: the IOMMU work printed and not yet given
// to an operation, the rows that may still take work or a duration, a completed call no
// tracepoint has claimed, and what the call tree said of the last IOVA allocation.

import type { Family } from "./_op_families.ts";
import { type EventBatch, grown } from "../ingest/mod.ts";
import { newWork, type OpenRow, type Work } from "./_ops_table.ts";

/** A completed DMA-API call, with the IOMMU work printed inside it. */
export interface PendingCall {
  family: Family;
  durNs: number;
  entry: number;
  exit: number;
  tsS: number;
  work: Work;
  allocSource: string;
}

export const isUnmap = (f: Family): boolean =>
  f === "unmap_single" || f === "unmap_sg" || f === "free";

export interface CpuState {
  cpu: number;
  map: Work;
  unmap: Work;
  /** The last DMA-API row on this CPU. */
  last: OpenRow | null;
  /** An unmap row waiting for its iommu:unmap. */
  openUnmap: OpenRow | null;
  /** A nested alloc_iova() call was seen since the last alloc_iova_fast(). */
  sawTree: boolean;
  /** Where the last alloc_iova_fast() call took its IOVA (function_graph), or "". */
  allocSource: string;
  /** A completed call no tracepoint has claimed yet. */
  call: PendingCall | null;
}

export function newCpuState(cpu: number): CpuState {
  return {
    cpu,
    map: newWork(),
    unmap: newWork(),
    last: null,
    openUnmap: null,
    sawTree: false,
    allocSource: "",
    call: null,
  };
}

/** The context an irq-flags field (`d.h1.`) says: 0 task, 1 softirq, 2 hardirq, 3 NMI. */
export function contextOf(flags: string): number {
  const ch = flags[2];
  return ch === "h" || ch === "H" ? 2 : ch === "s" ? 1 : ch === "z" || ch === "Z" ? 3 : 0;
}

/**
 * The states by CPU and context: an interrupt's DMA work interleaves with the task's it
 * interrupted, so each context of a CPU has its own.
 */
export class CpuStates {
  // By key cpu * 4 + context, and in order of first use (what values() gives); each flags
  // word's context by its string id (context + 1; 0: not met yet). Arrays, not Maps: a lookup
  // of each on every DMA event.
  readonly #states: (CpuState | undefined)[] = [];
  readonly #order: CpuState[] = [];
  #contexts = new Uint8Array(64);

  /** The state of batch row `r`'s CPU and context (b null: the CPU's task context). */
  get(cpu: number, b: EventBatch | null, r: number): CpuState {
    const key = cpu * 4 + (b === null ? 0 : this.#context(b, b.irqFlags[r]!));
    let s = this.#states[key];
    if (s === undefined) {
      s = newCpuState(cpu);
      this.#states[key] = s;
      this.#order.push(s);
    }
    return s;
  }

  #context(b: EventBatch, flagsId: number): number {
    if (flagsId < 0) return 0;
    if (flagsId >= this.#contexts.length) this.#contexts = grown(this.#contexts, flagsId + 1);
    let c = this.#contexts[flagsId]! - 1;
    if (c < 0) {
      c = contextOf(b.strings.get(flagsId));
      this.#contexts[flagsId] = c + 1;
    }
    return c;
  }

  /** Every state. */
  values(): IterableIterator<CpuState> {
    return this.#order.values();
  }
}
