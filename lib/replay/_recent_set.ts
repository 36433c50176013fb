// A set of addresses that keeps only its most recently added members, in O(1) a call, in typed
// arrays. dma-debug remembers the latest unmapped addresses of each device this way.
//
// Why so: a JS Set evicting its oldest through `values().next()` walked past every deleted entry
// at its front (14 % of a replay); a Map of stamps with a ring of adds was 5 % of a replay of sg
// lists (every segment is added at its unmap) and, full, 6.5 MB of old-generation objects a
// device that the collector marks again and again (the largest live state of a 10 GB replay).
// Now the members sit in slots of typed arrays, linked oldest to newest, found through an
// open-addressing index: nothing for the collector to walk, nothing copied or left stale.

import { grown, type U64 } from "../ingest/mod.ts";

const NONE = -1;
const TWO_32 = 4294967296;

/** The most recent `max` addresses added (adding one again makes it the newest). */
export class RecentSet {
  readonly max: number;
  // Per slot: the member (numbers; a bigint member's is NaN and it is in #big), the next
  // older and the next newer slot (NONE at the ends).
  #key = new Float64Array(16);
  #older = new Int32Array(16);
  #newer = new Int32Array(16);
  #oldest = NONE;
  #newest = NONE;
  /** Slots given back by deletes, for the next adds. */
  #free = new Int32Array(16);
  #nFree = 0;
  /** Slots handed out so far (at most `max`). */
  #used = 0;
  #size = 0;
  /** Open addressing over number members: slot + 1 (0: empty), linear probing. */
  #index = new Int32Array(32);
  /** Members of 2^53 and above (rare: a bus address with its top bits set), by value. */
  readonly #big = new Map<bigint, number>();
  readonly #bigOf = new Map<number, bigint>();

  /** @param max How many members to keep. */
  constructor(max: number) {
    this.max = max;
  }

  /** Members now. */
  get size(): number {
    return this.#size;
  }

  /** Whether `x` is a member. */
  has(x: U64): boolean {
    return this.#find(x) !== NONE;
  }

  /** Remove `x`. */
  delete(x: U64): void {
    const s = this.#find(x);
    if (s === NONE) return;
    this.#forget(s);
  }

  /** Add `x` as the newest member; forget the oldest beyond `max`. */
  add(x: U64): void {
    let s = this.#find(x);
    if (s !== NONE) {
      if (s === this.#newest) return;
      this.#unlink(s);
      this.#link(s);
      return;
    }
    if (this.max <= 0) return;
    // Full: the oldest goes first, so that the slots never outnumber `max`.
    if (this.#size >= this.max) this.#forget(this.#oldest);
    s = this.#nFree > 0 ? this.#free[--this.#nFree]! : this.#fresh();
    if (typeof x === "number") {
      this.#key[s] = x;
      this.#insert(s);
    } else {
      this.#key[s] = NaN;
      this.#big.set(x, s);
      this.#bigOf.set(s, x);
    }
    ++this.#size;
    this.#link(s);
  }

  /** The slot of `x`, or NONE. */
  #find(x: U64): number {
    if (typeof x !== "number") return this.#big.get(x) ?? NONE;
    const index = this.#index;
    const mask = index.length - 1;
    for (let i = hashOf(x) & mask;; i = (i + 1) & mask) {
      const s = index[i]! - 1;
      if (s < 0) return NONE;
      if (this.#key[s] === x) return s;
    }
  }

  /** Take slot `s`'s member out of the set. */
  #forget(s: number): void {
    const big = this.#bigOf.get(s);
    if (big !== undefined) {
      this.#big.delete(big);
      this.#bigOf.delete(s);
    } else this.#remove(s);
    this.#unlink(s);
    --this.#size;
    if (this.#nFree === this.#free.length) this.#free = grown(this.#free, this.#nFree + 1);
    this.#free[this.#nFree++] = s;
  }

  /** A slot never used before (the arrays grow as the members do). */
  #fresh(): number {
    const s = this.#used++;
    if (s === this.#key.length) {
      this.#key = grown(this.#key, s + 1);
      this.#older = grown(this.#older, s + 1);
      this.#newer = grown(this.#newer, s + 1);
      // At most half the index in use: probes stay short.
      this.#reindex(2 * this.#index.length);
    }
    return s;
  }

  /** Index slot `s` (its key is a number). */
  #insert(s: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let i = hashOf(this.#key[s]!) & mask;
    while (index[i] !== 0) i = (i + 1) & mask;
    index[i] = s + 1;
  }

  /** Take slot `s` out of the index, shifting back the entries that probed past it. */
  #remove(s: number): void {
    const index = this.#index;
    const mask = index.length - 1;
    let i = hashOf(this.#key[s]!) & mask;
    while (index[i] !== s + 1) i = (i + 1) & mask;
    // Backward-shift deletion: each later entry of the run moves into the hole unless its home
    // lies (cyclically) after the hole and up to itself.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const t = index[j]! - 1;
      if (t < 0) break;
      const home = hashOf(this.#key[t]!) & mask;
      if (((j - home) & mask) >= ((j - i) & mask)) {
        index[i] = t + 1;
        i = j;
      }
    }
    index[i] = 0;
  }

  #reindex(size: number): void {
    this.#index = new Int32Array(size);
    for (let s = this.#oldest; s !== NONE; s = this.#newer[s]!) {
      if (!this.#bigOf.has(s)) this.#insert(s);
    }
  }

  /** Put slot `s` at the newest end. */
  #link(s: number): void {
    this.#older[s] = this.#newest;
    this.#newer[s] = NONE;
    if (this.#newest === NONE) this.#oldest = s;
    else this.#newer[this.#newest] = s;
    this.#newest = s;
  }

  /** Take slot `s` out of the order. */
  #unlink(s: number): void {
    const o = this.#older[s]!;
    const n = this.#newer[s]!;
    if (o === NONE) this.#oldest = n;
    else this.#newer[o] = n;
    if (n === NONE) this.#newest = o;
    else this.#older[n] = o;
  }
}

/** A number member's hash: its two 32-bit halves mixed (members are integers below 2^53). */
function hashOf(x: number): number {
  const h = Math.imul((x >>> 0) ^ Math.imul(Math.floor(x / TWO_32), 0x27d4eb2d), 0x9e3779b1);
  return h ^ (h >>> 15);
}
