// The timeline table: the live state sampled at the first event past each grid step.

import type { EventBatch } from "../ingest/mod.ts";
import { TIMELINE_SCHEMA } from "./replay_tables.ts";
import { TableBuilder, type TableChunk } from "./table_builder.ts";

/** The live state at one moment. */
export interface LiveState {
  iovaPages: number;
  liveMappings: number;
  dmabufAttachments: number;
  dmabufMappings: number;
  dmabufRevoked: () => number;
}

export class TimelineSampler {
  readonly #t: TableBuilder;
  readonly #stepNs: number;
  readonly #revision: string;
  #nextNs = NaN;

  constructor(sink: (c: TableChunk) => void, stepNs: number, revision: string, rows: number) {
    this.#t = new TableBuilder(TIMELINE_SCHEMA, sink, rows);
    this.#stepNs = stepNs;
    this.#revision = revision;
  }

  /** Whether event `r` is past the next grid point (then {@linkcode sample} it). */
  due(b: EventBatch, r: number): boolean {
    const t = b.tsBaseNsNumber + b.tsNs[r]!;
    if (Number.isNaN(this.#nextNs)) this.#nextNs = Math.floor(t / this.#stepNs) * this.#stepNs;
    return t >= this.#nextNs;
  }

  /** Before event `r` (when {@linkcode due}): a sample of the live state. */
  sample(b: EventBatch, r: number, s: LiveState): void {
    const t = b.tsBaseNsNumber + b.tsNs[r]!;
    const g = Math.floor(t / this.#stepNs) * this.#stepNs;
    const tl = this.#t;
    const row = tl.addRow();
    tl.setNum(0, row, g / 1e9);
    tl.setNum(1, row, b.lineNo1[r]!);
    tl.setNum(2, row, s.iovaPages);
    tl.setNum(3, row, s.liveMappings);
    tl.setNum(4, row, s.dmabufAttachments);
    tl.setNum(5, row, s.dmabufMappings);
    tl.setNum(6, row, s.dmabufRevoked());
    tl.setStr(7, row, this.#revision);
    this.#nextNs = g + this.#stepNs;
  }

  flush(): void {
    this.#t.flush();
  }
}
