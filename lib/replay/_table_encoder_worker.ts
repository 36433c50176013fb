// The worker of WorkerTableEncoder: encodes the chunks it is sent, in order, and sends the bytes
// back (transferred).

import { TableEncoder } from "./table_encoder.ts";
import type { TableChunk } from "./table_builder.ts";

const enc = await TableEncoder.create();
const self_ = globalThis as unknown as {
  onmessage:
    | ((e: MessageEvent<{ kind: "chunk"; chunk: TableChunk } | { kind: "end" }>) => void)
    | null;
  postMessage(m: unknown, transfer: ArrayBuffer[]): void;
};
self_.onmessage = async (e) => {
  const out = e.data.kind === "chunk" ? [enc.encode(e.data.chunk)] : await enc.end();
  // The same buffer may back several results (the end-of-stream marker): transfer it once.
  // (The Parquet bytes are copied, not moved: they may be views of the writer's memory.)
  const transfer = new Set(out.flatMap((x) => [x.csv.buffer, x.arrow.buffer] as ArrayBuffer[]));
  self_.postMessage(out, [...transfer]);
};
