// Byte-level pieces of the Parquet writer (parquet_writer.ts): a kept, growing byte buffer (the
// Arrow stream's sink is one too) and the RLE / bit-packing hybrid encoding of definition levels and dictionary indices, written from
// parquet-format's Encodings.md.

/** Widest value the bit packer takes (its 32-bit accumulator holds 7 + 24 bits). */
export const MAX_RLE_BITS = 24;

/** A growing byte buffer, kept and reused (the pages of every row group pass through it). */
export class Bytes {
  buf = new Uint8Array(1 << 16);
  at = 0;

  room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.at));
    this.buf = grown;
  }

  set(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
  }

  /** Append a little-endian uint32. */
  u32(v: number): void {
    this.room(4);
    this.at += 4;
    this.setU32(this.at - 4, v);
  }

  /** A little-endian uint32 at `at` (already written). */
  setU32(at: number, v: number): void {
    const b = this.buf;
    b[at] = v & 0xff;
    b[at + 1] = (v >>> 8) & 0xff;
    b[at + 2] = (v >>> 16) & 0xff;
    b[at + 3] = v >>> 24;
  }

  varint(v: number): void {
    this.room(5);
    let x = v;
    while (x >= 0x80) {
      this.buf[this.at++] = (x & 0x7f) | 0x80;
      x >>>= 7;
    }
    this.buf[this.at++] = x;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

/**
 * Values in the RLE / bit-packing hybrid encoding (Encodings.md): a run of 8 or more equal
 * values as one RLE run, the rest bit-packed in groups of 8 (the last group padded with zeros;
 * readers stop at the page's value count).
 *
 * @param out Where the runs go.
 * @param v The values (non-negative, below 2^width).
 * @param n How many.
 * @param width Bits per value (1 to {@linkcode MAX_RLE_BITS}).
 */
export function writeRleHybrid(
  out: Bytes,
  v: Int32Array | Uint8Array,
  n: number,
  width: number,
): void {
  const valueBytes = (width + 7) >> 3;
  let i = 0;
  while (i < n) {
    const x = v[i]!;
    let run = 1;
    while (i + run < n && v[i + run] === x) ++run;
    if (run >= 8) {
      out.varint(run * 2);
      out.room(valueBytes);
      for (let k = 0; k < valueBytes; ++k) out.buf[out.at++] = (x >>> (8 * k)) & 0xff;
      i += run;
      continue;
    }
    // Groups of 8 until one starts a run of 8 equal values (or the values end).
    const start = i;
    i += 8;
    while (i < n && !startsRun(v, i, n)) i += 8;
    const count = i - start;
    out.varint((count / 8) * 2 + 1);
    packBits(out, v, start, count, n, width);
  }
}

function startsRun(v: Int32Array | Uint8Array, i: number, n: number): boolean {
  if (i + 8 > n) return false;
  const x = v[i];
  for (let k = 1; k < 8; ++k) if (v[i + k] !== x) return false;
  return true;
}

/** `count` values from `start`, `width` bits each, least significant bit first. */
function packBits(
  out: Bytes,
  v: Int32Array | Uint8Array,
  start: number,
  count: number,
  n: number,
  width: number,
): void {
  out.room((count * width) / 8);
  const buf = out.buf;
  let at = out.at;
  let acc = 0;
  let bits = 0;
  for (let k = 0; k < count; ++k) {
    const j = start + k;
    acc |= (j < n ? v[j]! : 0) << bits;
    bits += width;
    while (bits >= 8) {
      buf[at++] = acc & 0xff;
      acc >>>= 8;
      bits -= 8;
    }
  }
  out.at = at; // count * width is a multiple of 8: no bits left over
}
