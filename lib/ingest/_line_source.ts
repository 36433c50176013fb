// Bytes → complete lines, decoded in big pieces. Reads into one reused 4 MiB buffer (Deno's
// 64 KiB stream chunks are slow to scan one by one), cuts at the last newline, and decodes
// that span once; the tail moves to the front. Memory stays at the buffer size whatever the
// input. Gzip input (magic 1f 8b) is inflated with the platform's DecompressionStream.

const BUFFER_BYTES = 4 * 1024 * 1024;
const NEWLINE = 10;

/** A decoded span of whole lines, or a notice about the input. */
export type LinePiece =
  | { kind: "text"; text: string; bytes: number }
  /** A line longer than the buffer: its first `keptBytes` bytes are in `text`, the rest skipped. */
  | { kind: "overlong"; text: string; bytes: number }
  | { kind: "gzip_error"; reason: string };

/** Counts kept while reading. */
export interface SourceInfo {
  /** Bytes read from the stream as given (compressed size for gzip). */
  rawBytes: number;
  /** Whether the input was gzip. */
  gzip: boolean;
  /** Bytes of trace text (after inflating), overlong lines included. */
  textBytes: number;
}

async function* chunksOf(
  stream: ReadableStream<Uint8Array>,
  info: SourceInfo,
): AsyncGenerator<Uint8Array | { error: string }> {
  const reader = stream.getReader();
  let first: Uint8Array | undefined;
  try {
    const r = await reader.read();
    if (r.done) return;
    first = r.value;
  } catch (e) {
    yield { error: e instanceof Error ? e.message : String(e) };
    return;
  }
  info.rawBytes += first.byteLength;
  if (first.byteLength >= 2 && first[0] === 0x1f && first[1] === 0x8b) {
    info.gzip = true;
    let pending: Uint8Array | undefined = first;
    const source = new ReadableStream<BufferSource>({
      async pull(controller) {
        if (pending !== undefined) {
          controller.enqueue(pending as Uint8Array<ArrayBuffer>);
          pending = undefined;
          return;
        }
        try {
          const r = await reader.read();
          if (r.done) controller.close();
          else {
            info.rawBytes += r.value.byteLength;
            controller.enqueue(r.value as Uint8Array<ArrayBuffer>);
          }
        } catch (e) {
          controller.error(e);
        }
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    const inflated = source.pipeThrough<Uint8Array>(new DecompressionStream("gzip")).getReader();
    try {
      for (;;) {
        const r = await inflated.read();
        if (r.done) return;
        yield r.value;
      }
    } catch (e) {
      yield { error: e instanceof Error ? e.message : String(e) };
      return;
    }
  }
  yield first;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) return;
      info.rawBytes += r.value.byteLength;
      yield r.value;
    }
  } catch (e) {
    yield { error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Decoded pieces of whole lines from a byte stream.
 *
 * @param stream The input.
 * @param info Filled while reading.
 * @param bufferBytes Size of the reused buffer (tests make it small).
 */
export async function* linePieces(
  stream: ReadableStream<Uint8Array>,
  info: SourceInfo,
  bufferBytes = BUFFER_BYTES,
): AsyncGenerator<LinePiece> {
  const decoder = new TextDecoder("utf-8");
  const buf = new Uint8Array(bufferBytes);
  let fill = 0;
  let skipping = false; // inside an overlong line: drop bytes up to the next newline
  for await (const chunk of chunksOf(stream, info)) {
    if (!(chunk instanceof Uint8Array)) {
      if (fill > 0 && !skipping) {
        yield { kind: "text", text: decoder.decode(buf.subarray(0, fill)), bytes: fill };
      }
      fill = 0;
      yield { kind: "gzip_error", reason: chunk.error };
      return;
    }
    info.textBytes += chunk.byteLength;
    let off = 0;
    while (off < chunk.byteLength) {
      if (skipping) {
        const nl = chunk.indexOf(NEWLINE, off);
        if (nl < 0) {
          off = chunk.byteLength;
          continue;
        }
        off = nl + 1;
        skipping = false;
        continue;
      }
      const take = Math.min(chunk.byteLength - off, buf.length - fill);
      buf.set(chunk.subarray(off, off + take), fill);
      fill += take;
      off += take;
      if (fill < buf.length) continue;
      const last = buf.lastIndexOf(NEWLINE, fill - 1);
      if (last < 0) {
        // One line fills the whole buffer: keep its start, skip to its end.
        yield {
          kind: "overlong",
          text: decoder.decode(buf.subarray(0, Math.min(fill, 65536))),
          bytes: fill,
        };
        fill = 0;
        skipping = true;
        continue;
      }
      yield { kind: "text", text: decoder.decode(buf.subarray(0, last + 1)), bytes: last + 1 };
      buf.copyWithin(0, last + 1, fill);
      fill -= last + 1;
    }
  }
  if (fill > 0 && !skipping) {
    yield { kind: "text", text: decoder.decode(buf.subarray(0, fill)), bytes: fill };
  }
}
