// A set of byte strings with dense ids, looked up in place in the read buffer: the task field,
// flags, event and device names repeat on almost every line, and a lookup that hashes and
// compares four bytes at a time (DataView reads, which V8 compiles to single loads) costs a
// quarter of one that walks them byte by byte. Nothing is decoded or allocated on a hit.

import { grown } from "./_grown.ts";
import { viewOf } from "./_scan.ts";

/** Byte strings to dense ids (0, 1, ... in order of `add`). */
export class ByteKeys {
  // Open addressing over `#slots` (id + 1; 0 = empty); per id: offset and length in the arena
  // and the full hash (compared before any byte).
  #slots = new Int32Array(1024);
  #hash = new Int32Array(256);
  #off = new Int32Array(256);
  #len = new Int32Array(256);
  #arena = new Uint8Array(4096);
  #arenaView = new DataView(this.#arena.buffer);
  #arenaUsed = 0;
  #size = 0;
  #lastFound = -1;
  /** By fingerprint: the key last found under it (id + 1; 0: none). */
  readonly #recent = new Int32Array(RECENT);
  #prevFound = -1;
  readonly #hashMask: number;

  /**
   * @param hashBits Bits of the hash kept (tests keep two, so that keys collide and the byte
   *   comparison decides).
   */
  constructor(hashBits = 32) {
    this.#hashMask = hashBits >= 32 ? -1 : (1 << hashBits) - 1;
  }

  /**
   * The length of key `id` in bytes.
   *
   * @param id A key's id.
   * @returns Its length.
   */
  lengthOf(id: number): number {
    return this.#len[id]!;
  }

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  /**
   * The id of `bytes[start, end)`, or -1 when it was never added.
   *
   * @param bytes The bytes holding the key.
   * @param start First byte.
   * @param end One past the last byte.
   * @returns Its id or -1.
   */
  find(bytes: Uint8Array, start: number, end: number): number {
    const v = viewOf(bytes);
    const n = end - start;
    // The key found last first: lines come in bursts (the maps of one sg list, one task on one
    // CPU), and comparing its bytes costs less than hashing them.
    const last = this.#lastFound;
    if (last >= 0 && this.#len[last] === n && this.#equal(v, start, end, last)) return last;
    // Then the one before it (lines of two tasks, two CPUs, interleave).
    const prev = this.#prevFound;
    if (prev >= 0 && this.#len[prev] === n && this.#equal(v, start, end, prev)) {
      return this.#found(prev, last);
    }
    // Then the one last found under the key's fingerprint (three words: event names and
    // devices alternate line by line, and this costs a third of the full hash).
    const fp = fingerprintOf(v, start, end) & (RECENT - 1);
    const seen = this.#recent[fp]! - 1;
    if (seen >= 0 && this.#len[seen] === n && this.#equal(v, start, end, seen)) {
      return this.#found(seen, last);
    }
    const h = hashOf(v, start, end) & this.#hashMask;
    const slots = this.#slots;
    const mask = slots.length - 1;
    const hashes = this.#hash;
    for (let i = (h ^ (h >>> 13)) & mask;; i = (i + 1) & mask) {
      const id = slots[i]! - 1;
      if (id < 0) return -1;
      if (hashes[id] === h && this.#len[id] === n && this.#equal(v, start, end, id)) {
        this.#recent[fp] = id + 1;
        return this.#found(id, last);
      }
    }
  }

  /**
   * The id of the key last or next-to-last found when `bytes` hold it at `start` (its whole
   * length before `bound`), else -1: no hashing, and the caller need not know where the key
   * ends (the probe text's closing parenthesis).
   *
   * @param bytes The bytes.
   * @param start Where the key would start.
   * @param bound One past the last byte it may take.
   * @returns Its id or -1.
   */
  recentAt(bytes: Uint8Array, start: number, bound: number): number {
    const v = viewOf(bytes);
    const last = this.#lastFound;
    if (last >= 0 && start + this.#len[last]! <= bound) {
      if (this.#equal(v, start, start + this.#len[last]!, last)) return last;
    }
    const prev = this.#prevFound;
    if (prev >= 0 && start + this.#len[prev]! <= bound) {
      if (this.#equal(v, start, start + this.#len[prev]!, prev)) {
        return this.#found(prev, last);
      }
    }
    return -1;
  }

  /** Key `id` found, `last` the one found before it: both remembered, newest first. */
  #found(id: number, last: number): number {
    this.#prevFound = last;
    this.#lastFound = id;
    return id;
  }

  /** Whether `v[start, end)` is key `id`'s bytes (same length checked by the caller). */
  #equal(v: DataView, start: number, end: number, id: number): boolean {
    // Four bytes a step, the last step overlapping the one before (no byte loop).
    const w = this.#arenaView;
    const off = this.#off[id]! - start;
    let k = start;
    if (end - start >= 4) {
      for (; k + 4 < end; k += 4) {
        if (v.getInt32(k, true) !== w.getInt32(off + k, true)) return false;
      }
      return v.getInt32(end - 4, true) === w.getInt32(off + end - 4, true);
    }
    for (; k < end; ++k) if (v.getUint8(k) !== w.getUint8(off + k)) return false;
    return true;
  }

  /**
   * Add `bytes[start, end)` (not already present: call after `find` gave -1).
   *
   * @param bytes The bytes holding the key.
   * @param start First byte.
   * @param end One past the last byte.
   * @returns The new id.
   */
  add(bytes: Uint8Array, start: number, end: number): number {
    const n = end - start;
    const h = hashOf(viewOf(bytes), start, end) & this.#hashMask;
    const id = this.#size++;
    this.#hash = grown(this.#hash, id + 1);
    this.#off = grown(this.#off, id + 1);
    this.#len = grown(this.#len, id + 1);
    if (this.#arenaUsed + n > this.#arena.length) {
      this.#arena = grown(this.#arena, this.#arenaUsed + n);
      this.#arenaView = new DataView(this.#arena.buffer);
    }
    this.#arena.set(bytes.subarray(start, end), this.#arenaUsed);
    this.#hash[id] = h;
    this.#off[id] = this.#arenaUsed;
    this.#len[id] = n;
    this.#arenaUsed += n;
    if (2 * this.#size > this.#slots.length) this.#rehash(this.#slots.length * 2);
    else this.#place(id, h);
    return id;
  }

  #place(id: number, h: number): void {
    const slots = this.#slots;
    const mask = slots.length - 1;
    let i = (h ^ (h >>> 13)) & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = id + 1;
  }

  #rehash(n: number): void {
    this.#slots = new Int32Array(n);
    for (let id = 0; id < this.#size; ++id) this.#place(id, this.#hash[id]!);
  }
}

/** Slots of the fingerprint cache. */
const RECENT = 256;

/** A cheap hash of `v[start, end)`: its length and its first, middle and last words. */
function fingerprintOf(v: DataView, start: number, end: number): number {
  const n = end - start;
  let h = n;
  if (n >= 4) {
    h ^= Math.imul(v.getInt32(start, true), 0x9e3779b1);
    h ^= Math.imul(v.getInt32(end - 4, true), 0x85ebca6b);
    if (n >= 8) h ^= Math.imul(v.getInt32(start + (n >> 1) - 2, true), 0xc2b2ae35);
  } else {
    for (let k = start; k < end; ++k) h = Math.imul(h ^ v.getUint8(k), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

/**
 * Hash of `v[start, end)`: words xor-ed into a rotating accumulator, the last word overlapping
 * (no byte loop from four bytes up), one multiply at the end.
 */
function hashOf(v: DataView, start: number, end: number): number {
  let h = end - start;
  if (h >= 4) {
    let k = start;
    for (; k + 4 < end; k += 4) h = ((h << 7) | (h >>> 25)) ^ v.getInt32(k, true);
    h = ((h << 7) | (h >>> 25)) ^ v.getInt32(end - 4, true);
  } else {
    for (let k = start; k < end; ++k) h = ((h << 7) | (h >>> 25)) ^ v.getUint8(k);
  }
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 12);
}
