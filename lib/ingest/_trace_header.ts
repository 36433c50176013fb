/**
 * The `trace` file's header (kernel/trace/trace.c `print_trace_header`, `print_lat_help_header`,
 * kernel-spec §1.1): `# tracer:`, `# entries-in-buffer/entries-written: a/b   #P:N`, the column
 * header (irq-info and TGID columns), and the overwrite-mode `##### CPU N buffer started ####`.
 *
 * @module
 */

import { ascii, startsWithAt, strIn, textOf } from "./_scan.ts";

const TRACER_LINE = ascii("# tracer:");
const ENTRIES_LINE = ascii("# entries-in-buffer/entries-written:");
const TASK_PID = ascii("TASK-PID");
const BUFFER_STARTED = ascii("##### CPU ");

/** What the header lines said. */
export interface TraceHeader {
  /** `# tracer: X`, or null when absent (trace_pipe, trace-cmd). */
  tracer: string | null;
  /** `#P:N` or trace-cmd's `cpus=N`. */
  cpus: number | null;
  /** `entries-in-buffer/entries-written: a/b`. */
  entriesInBuffer: number | null;
  /** `entries-written` of the same line. */
  entriesWritten: number | null;
  /** The column header has the irq-flags columns; null when no column header was seen. */
  irqInfo: boolean | null;
  /** The column header has the TGID column. */
  tgid: boolean;
  /** Which producer the text looks like. */
  format: "trace" | "trace_pipe" | "trace-cmd";
}

/** A header before any line was read (trace_pipe until a header says otherwise). */
export function newTraceHeader(): TraceHeader {
  return {
    tracer: null,
    cpus: null,
    entriesInBuffer: null,
    entriesWritten: null,
    irqInfo: null,
    tgid: false,
    format: "trace_pipe",
  };
}

/**
 * Read one `#` line into the header.
 *
 * @returns The CPU of a `##### CPU N buffer started ####` line, else -1.
 */
export function readHeaderComment(
  s: Uint8Array,
  a: number,
  e: number,
  header: TraceHeader,
): number {
  if (startsWithAt(s, a, TRACER_LINE)) {
    header.tracer = textOf(s, a + 9, e).trim();
    header.format = "trace";
  } else if (startsWithAt(s, a, ENTRIES_LINE)) {
    const m = /(\d+)\/(\d+)\s+#P:(\d+)/.exec(textOf(s, a, e));
    if (m) {
      header.entriesInBuffer = Number(m[1]);
      header.entriesWritten = Number(m[2]);
      header.cpus = Number(m[3]);
    }
  } else if (strIn(s, TASK_PID, a, e) >= 0) {
    const text = textOf(s, a, e);
    header.irqInfo = text.includes("|||");
    header.tgid = text.includes("TGID");
  } else if (startsWithAt(s, a, BUFFER_STARTED)) {
    const m = /^##### CPU (\d+) buffer started ####/.exec(textOf(s, a, e));
    if (m) return Number(m[1]);
  }
  return -1;
}
