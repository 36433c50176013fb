/**
 * A file's bytes as a byte stream whose reads fill the reader's whole buffer with one read
 * each: `FsFile.readable` hands out 64 KiB a read, and the parser then waited on reads for 6 %
 * of a parse of a file in the page cache.
 *
 * @module
 */

/**
 * The bytes of an open file, read straight into each BYOB request's view (1 MiB for the
 * parser's reads); the file is closed at its end or when the stream is cancelled.
 *
 * @param f The file, open for reading.
 * @returns Its bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileStream } from "./file_stream.ts";
 * const text = await new Response(fileStream(await Deno.open("traces/strict-6.12.trace"))).text();
 * assert.ok(text.startsWith("# tracer"));
 * ```
 */
export function fileStream(f: Deno.FsFile): ReadableStream<Uint8Array> {
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 1 << 20,
    async pull(c) {
      const req = c.byobRequest!;
      const view = req.view!;
      const n = await f.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      if (n === null) {
        f.close();
        c.close();
        req.respond(0);
      } else req.respond(n);
    },
    cancel() {
      f.close();
    },
  });
}
