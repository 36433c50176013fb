/**
 * {@linkcode parseTrace} on a worker thread: the same batches, counts and diagnostics, while
 * the caller's thread does something else with them (the replay, on a machine with a second
 * core, runs beside its own parse instead of after it).
 *
 * Given a file's path, the worker reads it itself. Given a stream, this thread reads it and
 * sends its bytes in 1 MiB pieces (at most three ahead), reading only when it is not busy with
 * a batch: a file parses sooner by path (a 1 GB replay about 7 %). The worker sends each batch
 * as one buffer, given back when the caller asks for the next batch (at most two out). The
 * string tables are mirrored here from the strings each batch added, so ids mean the same on
 * both sides.
 *
 * @module
 */

import { unpackBatch } from "./_batch_wire.ts";
import { fillUp, openSource } from "./_line_source.ts";
import type { ToMain, ToWorker } from "./_parse_wire_types.ts";
import { newTraceHeader, type TraceHeader } from "./_trace_header.ts";
import { DiagnosticLog } from "./diagnostics.ts";
import type { EventBatch } from "./event_batch.ts";
import type { InputInfo, ParseTraceOptions, TraceParse } from "./parse_types.ts";
import { traceParseOf } from "./_trace_parse.ts";
import { StringTable } from "./string_table.ts";

/** Input bytes a message. */
const PIECE_BYTES = 1 << 20;
/** Input messages sent and not yet read by the worker. */
const PIECES_AHEAD = 3;

/** A trace file for the worker to open and read itself. */
export interface TraceFile {
  /** Its path (plain or gzip). */
  readonly path: string;
}

/**
 * Parse a trace on a worker thread: what {@linkcode parseTrace} gives, batch for batch (each
 * valid until the next is asked for, as there), with `input`, `header`, `log` and the counts
 * filled when the iteration ends. A failure of the worker rejects the iteration.
 *
 * @param source The trace bytes (plain or gzip), or a file that the worker reads (the one
 *   place besides the command line where a file is opened: the worker's own reads keep it busy
 *   while this thread is).
 * @param options As for `parseTrace` (`onProgress` is called on this thread).
 * @returns The parse.
 *
 * @example The same events as a parse on this thread
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTraceOnWorker } from "./parse_on_worker.ts";
 * const line = "  dd-1 [000] .....  1.000002: unmap: IOMMU: iova=0x00000000fffe0000 - 0x00000000ffff3000 size=77824 unmapped_size=77824\n";
 * const parse = parseTraceOnWorker(new Blob([line]).stream());
 * let rows = 0;
 * for await (const b of parse) rows += b.tables.get("unmap")!.n;
 * assert.equal(rows, 1);
 * assert.deepEqual(parse.eventCounts(), { unmap: 1 });
 * ```
 */
export function parseTraceOnWorker(
  source: ReadableStream<Uint8Array> | TraceFile,
  options: ParseTraceOptions = {},
): TraceParse {
  const input: InputInfo = { bytes: 0, lines: 0, gzip: false, rawBytes: 0 };
  const header: TraceHeader = newTraceHeader();
  const log = new DiagnosticLog(
    options.samplesPerCode !== undefined ? { samplesPerCode: options.samplesPerCode } : {},
  );
  let eventCounts: Record<string, number> = {};
  let unknownCounts: Record<string, number> = {};

  async function* run(): AsyncGenerator<EventBatch> {
    const { onProgress, ...parseOptions } = options;
    const worker = new Worker(new URL("./_parse_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
    // Messages that the iteration waits for (batches, the end, failures), in arrival order.
    const inbox: ToMain[] = [];
    let wake: (() => void) | null = null;
    const arrive = (m: ToMain) => {
      inbox.push(m);
      wake?.();
      wake = null;
    };
    // Input pieces: free buffers, and a wake-up for the reader when one comes back.
    const free: Uint8Array[] = [];
    let out = 0;
    let pieceBack = null as (() => void) | null;
    let stopped = false;
    worker.onmessage = (e: MessageEvent<ToMain>) => {
      const m = e.data;
      if (m.kind === "input-free") {
        free.push(new Uint8Array(m.buffer));
        --out;
        pieceBack?.();
        pieceBack = null;
      } else if (m.kind === "progress") onProgress?.(m.bytes, m.lines);
      else arrive(m);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      arrive({ kind: "error", message: e.message });
    };

    async function feed(stream: ReadableStream<Uint8Array>): Promise<void> {
      const src = openSource(stream);
      for (;;) {
        while (out >= PIECES_AHEAD && !stopped) {
          await new Promise<void>((resolve) => (pieceBack = resolve));
        }
        if (stopped) return;
        const got = await fillUp(src, free.pop() ?? new Uint8Array(PIECE_BYTES), 0);
        if (stopped) return;
        if (got.n > 0) {
          ++out;
          const buffer = got.buf.buffer as ArrayBuffer;
          send({ kind: "input", bytes: got.buf.subarray(0, got.n) }, [buffer]);
        }
        // The bytes before a failure are parsed first, then the failure reported, as here.
        if (got.error !== undefined) return send({ kind: "input-error", reason: got.error });
        // (fillUp stops short of a full piece only at the end.)
        if (got.n < PIECE_BYTES) return send({ kind: "input-end" });
      }
    }

    const strings = new StringTable();
    const eventNames = new StringTable();
    const path = source instanceof ReadableStream ? undefined : source.path;
    send({
      kind: "start",
      options: {
        parse: parseOptions,
        progress: onProgress !== undefined,
        ...(path !== undefined ? { path } : {}),
      },
    });
    const feeding = source instanceof ReadableStream ? feed(source) : Promise.resolve();
    try {
      for (;;) {
        while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        const m = inbox.shift()!;
        if (m.kind === "error") throw new Error(`Cannot parse on the worker: ${m.message}`);
        if (m.kind === "end") {
          Object.assign(input, m.input);
          Object.assign(header, m.header);
          log.restore(m.log);
          eventCounts = m.eventCounts;
          unknownCounts = m.unknownCounts;
          break;
        }
        if (m.kind !== "batch") continue;
        for (const s of m.strings) strings.intern(s);
        for (const s of m.eventNames) eventNames.intern(s);
        yield unpackBatch(m.batch, strings, eventNames);
        // Asked for the next: this one's buffer goes back for the worker's next batch.
        const buffer = m.batch.lineNo1.buffer as ArrayBuffer;
        send({ kind: "free", buffer }, [buffer]);
      }
    } finally {
      stopped = true;
      pieceBack?.();
      worker.terminate();
      // (Not awaited: a read of a stream that never ends would hold the caller's break.)
      feeding.catch(() => {});
    }
  }

  return traceParseOf({
    input,
    header,
    log,
    eventCounts: () => ({ ...eventCounts }),
    unknownCounts: () => ({ ...unknownCounts }),
  }, run);
}
