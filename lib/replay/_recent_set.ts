// A set that keeps only its most recently added members, in O(1) a call. dma-debug remembers
// the latest unmapped addresses of each device this way; a JS Set evicting its oldest through
// `values().next()` walked past every deleted entry still at its front, which made dma-debug
// 14 % of a replay.

/** The most recent `max` members added (adding a member again makes it the newest). */
export class RecentSet<T> {
  readonly max: number;
  /** Each member's stamp: the order of its newest add. */
  #stamp = new Map<T, number>();
  // Adds in order; an entry whose stamp is not its member's current one is stale.
  #ring: T[] = [];
  #ringStamp: number[] = [];
  #head = 0;
  #next = 0;

  /** @param max How many members to keep. */
  constructor(max: number) {
    this.max = max;
  }

  /** Members now. */
  get size(): number {
    return this.#stamp.size;
  }

  /** Whether `x` is a member. */
  has(x: T): boolean {
    return this.#stamp.has(x);
  }

  /** Remove `x` (its place in the order goes stale). */
  delete(x: T): void {
    this.#stamp.delete(x);
  }

  /** Add `x` as the newest member; forget the oldest beyond `max`. */
  add(x: T): void {
    const st = this.#next++;
    this.#stamp.set(x, st);
    this.#ring.push(x);
    this.#ringStamp.push(st);
    while (this.#stamp.size > this.max) {
      const old = this.#ring[this.#head]!;
      if (this.#stamp.get(old) === this.#ringStamp[this.#head]) this.#stamp.delete(old);
      ++this.#head;
    }
    if (this.#ring.length - this.#head > 2 * this.max + 16 || this.#head > this.max + 16) {
      this.#compact();
    }
  }

  /** Drop stale entries and the consumed front (amortized: once every `max` adds or more). */
  #compact(): void {
    const ring: T[] = [];
    const stamps: number[] = [];
    for (let i = this.#head; i < this.#ring.length; ++i) {
      const x = this.#ring[i]!;
      if (this.#stamp.get(x) === this.#ringStamp[i]) {
        ring.push(x);
        stamps.push(this.#ringStamp[i]!);
      }
    }
    this.#ring = ring;
    this.#ringStamp = stamps;
    this.#head = 0;
  }
}
