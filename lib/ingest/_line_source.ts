// Bytes → pieces of complete lines. Reads into one reused 1 MiB buffer (with a
// BYOB reader when the stream is a byte stream: Deno's default readers hand out 64 KiB chunks,
// which cost ~8x more per byte than 1 MiB reads), cuts at the last newline and hands that span
// out as bytes; the tail moves to the other buffer. The next read is started before a piece is handed
// out, so reading overlaps parsing. Memory stays at the buffer size whatever the input. Gzip
// input (magic 1f 8b) is inflated with the platform's DecompressionStream.

const BUFFER_BYTES = 1024 * 1024;
const NEWLINE = 10;

/**
 * Whole lines `bytes[0, end)` (valid until the next piece is asked for), or a notice.
 */
export type LinePiece =
  | { kind: "bytes"; bytes: Uint8Array; end: number }
  /** A line longer than the buffer: skipped to its end. */
  | { kind: "overlong" }
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

/** Something that fills a buffer: a BYOB reader, or chunks copied from a default reader. */
export interface ByteSource {
  /**
   * Read into `buf[off..]` (`off` below its length); resolves to the buffer to use from now on
   * (a BYOB read transfers it) and the count, -1 at the end of the input.
   */
  readInto(buf: Uint8Array, off: number): Promise<{ buf: Uint8Array; n: number }>;
}

function byobSource(reader: ReadableStreamBYOBReader): ByteSource {
  return {
    async readInto(buf, off) {
      const r = await reader.read(new Uint8Array(buf.buffer, off, buf.byteLength - off));
      // The read transferred the buffer: keep using the memory it handed back.
      const view = r.value;
      const back = view === undefined
        ? new Uint8Array(buf.byteLength)
        : new Uint8Array(view.buffer);
      if (r.done) return { buf: back, n: -1 };
      return { buf: back, n: view!.byteLength };
    },
  };
}

function chunkSource(reader: ReadableStreamDefaultReader<Uint8Array>): ByteSource {
  let rest: Uint8Array | undefined;
  return {
    async readInto(buf, off) {
      if (rest === undefined) {
        const r = await reader.read();
        if (r.done) return { buf, n: -1 };
        rest = r.value;
      }
      const n = Math.min(rest.byteLength, buf.byteLength - off);
      buf.set(rest.subarray(0, n), off);
      rest = n < rest.byteLength ? rest.subarray(n) : undefined;
      return { buf, n };
    },
  };
}

/** A stream's bytes read into buffers the caller gives: BYOB when it is a byte stream. */
export function openSource(stream: ReadableStream<Uint8Array>): ByteSource {
  try {
    return byobSource(stream.getReader({ mode: "byob" }));
  } catch {
    return chunkSource(stream.getReader());
  }
}

/** The inflated bytes of a gzip source whose first `head` bytes were already read. */
function gunzipSource(head: Uint8Array, src: ByteSource, info: SourceInfo): ByteSource {
  let first: Uint8Array | undefined = head;
  const compressed = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      if (first !== undefined) {
        controller.enqueue(first as Uint8Array<ArrayBuffer>);
        first = undefined;
        return;
      }
      try {
        const r = await src.readInto(new Uint8Array(1 << 20), 0);
        if (r.n < 0) controller.close();
        else {
          info.rawBytes += r.n;
          controller.enqueue(r.buf.subarray(0, r.n) as Uint8Array<ArrayBuffer>);
        }
      } catch (e) {
        controller.error(e);
      }
    },
  });
  return chunkSource(
    compressed.pipeThrough<Uint8Array>(new DecompressionStream("gzip")).getReader(),
  );
}

/** What {@linkcode fillUp} read. */
export interface Filled {
  /** The buffer to use from now on. */
  buf: Uint8Array;
  /** Bytes read, -1 at the end of the input with none. */
  n: number;
  /** Why a read failed (the input then ends). */
  error?: string;
  /** The failed read took the buffer, and the bytes before `off` with it. */
  lost?: true;
}

/**
 * Read into `buf[off..]` until it is full or the input ends: one promise for what may take
 * many reads (a file's readable hands out 64 KiB a read), so that all of them run while the
 * other buffer is parsed, not one of them. `n` counts the bytes read, -1 at the end with none;
 * a failing read ends it with `error`, the bytes read before it kept when the buffer still
 * holds them (a failed BYOB read takes its buffer with it: `lost`, and a new one in its place).
 */
export async function fillUp(
  src: ByteSource,
  buf: Uint8Array,
  off: number,
): Promise<Filled> {
  const size = buf.byteLength;
  let n = 0;
  try {
    while (off + n < buf.byteLength) {
      const r = await src.readInto(buf, off + n);
      buf = r.buf;
      if (r.n < 0) return { buf, n: n === 0 ? -1 : n };
      n += r.n;
    }
  } catch (e) {
    const error = reasonOf(e);
    return buf.byteLength === 0 && size > 0
      ? { buf: new Uint8Array(size), n: 0, error, lost: true }
      : { buf, n, error };
  }
  return { buf, n };
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
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
  // Two buffers: the piece handed out stays untouched while the next read fills the other.
  let front: Uint8Array = new Uint8Array(bufferBytes);
  let back: Uint8Array = new Uint8Array(bufferBytes);
  let src = openSource(stream);
  let fill = 0;
  let skipping = false; // inside an overlong line: drop bytes up to the next newline
  let error: string | undefined;

  // Sniff gzip from the first bytes.
  let ended = false;
  try {
    const first = await src.readInto(front, 0);
    front = first.buf;
    if (first.n < 0) ended = true;
    else {
      fill = first.n;
      info.rawBytes += first.n;
      if (fill >= 2 && front[0] === 0x1f && front[1] === 0x8b) {
        info.gzip = true;
        src = gunzipSource(front.slice(0, fill), src, info);
        fill = 0;
      } else info.textBytes += fill;
    }
  } catch (e) {
    error = reasonOf(e);
  }

  let pending: Promise<Filled> | null = null;
  while (!ended && error === undefined) {
    if (fill === front.byteLength) {
      // A full buffer: hand out its whole lines; the next read runs while they are parsed.
      const last = front.lastIndexOf(NEWLINE, fill - 1);
      if (last < 0) {
        // One line fills the whole buffer: report it, skip to its end.
        fill = 0;
        skipping = true;
        pending = src.readInto(front, 0);
        yield { kind: "overlong" };
      } else {
        const tail = fill - (last + 1);
        back.set(front.subarray(last + 1, fill), 0);
        pending = fillUp(src, back, tail);
        yield { kind: "bytes", bytes: front, end: last + 1 };
        const piece = front;
        front = back;
        back = piece;
        fill = tail;
      }
    }
    let got: Filled;
    try {
      got = await (pending ?? src.readInto(front, fill));
    } catch (e) {
      error = reasonOf(e);
      // A failed BYOB read took the buffer, and the bytes in it, with it.
      if (front.byteLength === 0) {
        front = new Uint8Array(bufferBytes);
        fill = 0;
      }
      break;
    }
    pending = null;
    front = got.buf;
    if (got.lost) fill = 0;
    if (got.n < 0) break;
    if (!info.gzip) info.rawBytes += got.n;
    info.textBytes += got.n;
    if (skipping) {
      const nl = front.subarray(fill, fill + got.n).indexOf(NEWLINE);
      if (nl < 0) continue; // still inside the overlong line; fill stays 0
      front.copyWithin(0, fill + nl + 1, fill + got.n);
      fill = got.n - nl - 1;
      skipping = false;
    } else fill += got.n;
    if (got.error !== undefined) error = got.error;
  }
  if (fill > 0 && !skipping) yield { kind: "bytes", bytes: front, end: fill };
  if (error !== undefined) yield { kind: "gzip_error", reason: error };
}
