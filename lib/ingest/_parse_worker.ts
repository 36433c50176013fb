// The worker of parseTraceOnWorker: parses the file it is named, or the bytes it is sent, with
// parseTrace and posts each batch (one transferred buffer, see _batch_wire.ts) with the strings
// it added, then the parse's totals. At most MAX_IN_FLIGHT batches are out at a time: the parse
// waits for the receiver to give a buffer back, so memory stays flat when the receiver is the
// slower side.
//
// The handler is attached as the module evaluates, with nothing awaited before it (a message
// that arrives while a module still evaluates finds no handler and is lost).

import { packBatch, wireBytes } from "./_batch_wire.ts";
import { fileStream } from "./file_stream.ts";
import type { ToMain, ToWorker, WorkerOptions } from "./_parse_wire_types.ts";
import { parseTrace } from "./parse_trace.ts";

/** Batches posted and not yet given back. */
const MAX_IN_FLIGHT = 2;

const self_ = globalThis as unknown as {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(m: ToMain, transfer: Transferable[]): void;
};

// Input chunks as they arrive, and how the input ended.
const chunks: Uint8Array[] = [];
let inputEnded = false;
let inputError: string | undefined;
let wakeInput: (() => void) | null = null;
// Batch buffers given back.
const arenas: ArrayBuffer[] = [];
let inFlight = 0;
let wakeFreed: (() => void) | null = null;

function post(m: ToMain, transfer: Transferable[] = []): void {
  self_.postMessage(m, transfer);
}

self_.onmessage = (e) => {
  const m = e.data;
  switch (m.kind) {
    case "start":
      run(m.options).catch((err) =>
        post({ kind: "error", message: err instanceof Error ? err.message : String(err) })
      );
      break;
    case "input":
      chunks.push(m.bytes);
      break;
    case "input-end":
      inputEnded = true;
      break;
    case "input-error":
      inputError = m.reason;
      break;
    case "free":
      arenas.push(m.buffer);
      --inFlight;
      wakeFreed?.();
      wakeFreed = null;
      return;
  }
  wakeInput?.();
  wakeInput = null;
};

/**
 * The bytes sent, as a stream of the chunks themselves (no copy: the parser's reader copies
 * them into its buffer). Not a byte stream: a failed BYOB read would take the parser's buffer,
 * and the bytes in it, with it; here the bytes before a failure are parsed, as on one thread.
 */
function inputStream(): ReadableStream<Uint8Array> {
  let lent: Uint8Array | undefined; // enqueued last: read whole once the next is asked for
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (lent !== undefined) {
        const buffer = lent.buffer as ArrayBuffer;
        lent = undefined;
        post({ kind: "input-free", buffer }, [buffer]);
      }
      while (chunks.length === 0 && !inputEnded && inputError === undefined) {
        await new Promise<void>((resolve) => (wakeInput = resolve));
      }
      lent = chunks.shift();
      if (lent !== undefined) c.enqueue(lent);
      else if (inputError !== undefined) c.error(new Error(inputError));
      else c.close();
    },
  }, { highWaterMark: 0 }); // pulled only when the parser reads
}

/** A buffer of at least `bytes`: one given back, or a new one with room to spare. */
function arenaOf(bytes: number): ArrayBuffer {
  const i = arenas.findIndex((a) => a.byteLength >= bytes);
  if (i >= 0) return arenas.splice(i, 1)[0]!;
  arenas.pop(); // too small: dropped for a larger one
  return new ArrayBuffer(Math.ceil(bytes * 1.25 / 65536) * 65536);
}

async function run(o: WorkerOptions): Promise<void> {
  // A file is read here: reads on the sender's thread wait whenever it is busy with a batch.
  const input = o.path === undefined ? inputStream() : fileStream(await Deno.open(o.path));
  const parse = parseTrace(input, {
    ...o.parse,
    ...(o.progress
      ? { onProgress: (bytes, lines) => post({ kind: "progress", bytes, lines }) }
      : {}),
  });
  let strings = 0;
  let names = 0;
  for await (const b of parse) {
    while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => (wakeFreed = resolve));
    const arena = arenaOf(wireBytes(b));
    const batch = packBatch(b, arena);
    const newStrings = b.strings.values().slice(strings);
    const newNames = b.eventNames.values().slice(names);
    strings += newStrings.length;
    names += newNames.length;
    ++inFlight;
    post({ kind: "batch", batch, strings: newStrings, eventNames: newNames }, [arena]);
  }
  post({
    kind: "end",
    input: parse.input,
    header: parse.header,
    log: parse.log.state(),
    eventCounts: parse.eventCounts(),
    unknownCounts: parse.unknownCounts(),
  });
}
