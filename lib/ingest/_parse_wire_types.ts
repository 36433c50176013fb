// The messages between parseTraceOnWorker and its worker (_parse_worker.ts).

import type { WireBatch } from "./_batch_wire.ts";
import type { TraceHeader } from "./_trace_header.ts";
import type { DiagnosticLogState } from "./diagnostics.ts";
import type { InputInfo, ParseTraceOptions } from "./parse_types.ts";

/** The parse's options as the worker gets them: `onProgress` becomes a flag. */
export interface WorkerOptions {
  /** A file the worker reads itself; without it, the bytes come in `input` messages. */
  path?: string;
  /** Every option but the callback (structured-clone safe). */
  parse: Omit<ParseTraceOptions, "onProgress">;
  /** Whether to post progress after each piece of input. */
  progress: boolean;
}

/** To the worker. */
export type ToWorker =
  | { kind: "start"; options: WorkerOptions }
  /** The next bytes of the input (transferred; given back by `input-free`). */
  | { kind: "input"; bytes: Uint8Array }
  | { kind: "input-end" }
  /** Reading the input failed: the parse reports it as it would in one thread. */
  | { kind: "input-error"; reason: string }
  /** A batch's buffer, given back once the batch was used. */
  | { kind: "free"; buffer: ArrayBuffer };

/** To the main thread. */
export type ToMain =
  | { kind: "batch"; batch: WireBatch; strings: string[]; eventNames: string[] }
  | { kind: "input-free"; buffer: ArrayBuffer }
  | { kind: "progress"; bytes: number; lines: number }
  | {
    kind: "end";
    input: InputInfo;
    header: TraceHeader;
    log: DiagnosticLogState;
    eventCounts: Record<string, number>;
    unknownCounts: Record<string, number>;
  }
  | { kind: "error"; message: string };
