// The synthesizer's lines not yet written, merged across CPUs in time order as the kernel's
// trace file is: a line is written once no action to come can precede it.

import { Heap } from "./_heap.ts";
import { type TraceContext, traceLine } from "./ftrace_text.ts";

interface Line {
  readonly t: number;
  readonly seq: number;
  readonly text: string;
  /** The anomalies this line shows (`A+B` for several), when it shows any. */
  readonly fault?: string;
}

export class LineMerger {
  readonly #heap = new Heap<Line>();
  #seq = 0;
  #lastTs = 0;

  /** A line at `t` (never before a line already written). */
  push(c: TraceContext, t: number, event: string, body: string, fault?: string): void {
    const ts = Math.max(t, this.#lastTs);
    const text = traceLine(c, ts, event, body);
    this.#heap.push(
      fault === undefined
        ? { t: ts, seq: this.#seq++, text }
        : { t: ts, seq: this.#seq++, text, fault },
    );
  }

  /**
   * Move the lines before `horizon` to `out`, counting them (and the faults they show, at their
   * line numbers) in `stats`; returns the characters moved.
   */
  writeBefore(
    horizon: number,
    out: string[],
    stats: { events: number; injected: { code: string; line: number }[] },
  ): number {
    let n = 0;
    while (this.#heap.size > 0 && this.#heap.peek()!.t < horizon) {
      const l = this.#heap.pop()!;
      out.push(l.text);
      n += l.text.length;
      this.#lastTs = l.t;
      ++stats.events;
      if (l.fault !== undefined) {
        for (const code of l.fault.split("+")) stats.injected.push({ code, line: stats.events });
      }
    }
    return n;
  }
}
