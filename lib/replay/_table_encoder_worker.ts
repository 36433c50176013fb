// The worker of WorkerTableEncoder: encodes the chunks it is sent, in order, and sends the bytes
// back (transferred).
//
// The handler is attached as the module evaluates, with nothing awaited before it: a message that
// arrives while a module is still evaluating (a top-level await) finds no handler and is
// dropped, and the caller then waits for ever (seen on a loaded CI machine). Each message is
// encoded and answered synchronously, so the replies keep the order of the requests.

import { TableEncoder } from "./table_encoder.ts";
import { chunkArrays, type TableChunk } from "./table_builder.ts";

type Request = { kind: "chunk"; chunk: TableChunk } | { kind: "end" };

const self_ = globalThis as unknown as {
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  postMessage(m: unknown, transfer: ArrayBuffer[]): void;
};
const encoder = new TableEncoder();
self_.onmessage = (e) => {
  const request = e.data;
  try {
    const out = request.kind === "chunk" ? [encoder.encode(request.chunk)] : encoder.end();
    // The same buffer may back several results (the end-of-stream marker): transfer it once.
    const transfer = new Set(
      out.flatMap((x) => [x.csv.buffer, x.arrow.buffer, x.parquet.buffer] as ArrayBuffer[]),
    );
    // The chunk's typed arrays go back too (encoded, they are no longer read here), for the
    // table's next chunks.
    const back = request.kind === "chunk" ? chunkArrays(request.chunk) : [];
    for (const d of back) transfer.add(d.buffer as ArrayBuffer);
    self_.postMessage({ out, back }, [...transfer]);
  } catch (err) {
    // Every request gets its answer: a failure is one too, not a silence.
    self_.postMessage({ error: err instanceof Error ? err.message : String(err) }, []);
  }
};
