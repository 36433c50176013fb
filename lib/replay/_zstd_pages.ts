// zstd level 1 frames for Parquet pages, through one compression context kept for every page.
//
// node:zlib's zstdCompressSync makes a context for each call and frees it after: with a table's
// pages (two or three thousand a GB of trace) that was a third of the Parquet writer's zstd time
// (cpu-prof: the context's constructor alone 2 % of a replay). The context kept here is driven
// as node:zlib's own synchronous path drives it: one `writeSync` of the whole page with
// ZSTD_e_end into a buffer large enough for its frame, the bytes left over in `_writeState`. The
// frame is the one zstdCompressSync gives (which, for a frame over its 16 KiB output chunks, adds
// an empty frame after it; a test compares them). Where that handle is missing, or a frame did
// not fit, zstdCompressSync does every page from then on.

import zlib from "node:zlib";

/** What this module uses of node:zlib (the Node 20 types this project pins predate zstd). */
const Z = zlib as unknown as {
  zstdCompressSync(input: Uint8Array, options: { params: Record<number, number> }): Uint8Array;
  ZstdCompress: new (options: { params: Record<number, number> }) => {
    _handle?: ZstdHandle;
    _writeState?: Uint32Array;
  };
  constants: { ZSTD_c_compressionLevel: number; ZSTD_e_end: number };
};

/** The handle's synchronous call: compresses `in`, leaves [availOut, availIn] in the state. */
interface ZstdHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOff: number,
    inLen: number,
    out: Uint8Array,
    outOff: number,
    outLen: number,
  ): void;
}

/** zstd level 1, as the Rust writer's default. */
export const ZSTD_OPTIONS = { params: { [Z.constants.ZSTD_c_compressionLevel]: 1 } };

let context: { handle: ZstdHandle; state: Uint32Array } | null | undefined;
let out = new Uint8Array(1 << 16);

/** The kept context, made on first use (null: none to keep). */
function kept(): { handle: ZstdHandle; state: Uint32Array } | null {
  if (context !== undefined) return context;
  try {
    const stream = new Z.ZstdCompress(ZSTD_OPTIONS);
    const handle = stream._handle;
    const state = stream._writeState;
    context = typeof handle?.writeSync === "function" && state instanceof Uint32Array
      ? { handle, state }
      : null;
  } catch {
    context = null;
  }
  return context;
}

/**
 * One zstd frame (level 1) of `body`.
 *
 * @param body The page's bytes.
 * @param useKept Whether to use the kept context (false: one of its own, as zstdCompressSync).
 * @returns The frame: a view of a reused buffer, valid until the next call.
 */
export function zstdPage(body: Uint8Array, useKept = true): Uint8Array {
  const c = useKept ? kept() : null;
  if (c !== null) {
    // Room for any frame of the page (zstd's bound is its size plus 1/256 plus a little).
    const room = body.length + (body.length >> 7) + 1024;
    if (out.length < room) out = new Uint8Array(Math.max(room, out.length * 2));
    c.handle.writeSync(Z.constants.ZSTD_e_end, body, 0, body.length, out, 0, out.length);
    const availOut = c.state[0]!;
    const availIn = c.state[1]!;
    if (availIn === 0 && availOut > 0) return out.subarray(0, out.length - availOut);
    // The frame did not fit (the context is now inside it): never use it again.
    context = null;
  }
  return Z.zstdCompressSync(body, ZSTD_OPTIONS);
}
