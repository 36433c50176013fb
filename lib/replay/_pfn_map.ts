// A hash map from non-negative integer keys (page frame numbers: exact numbers) to two numbers
// each, in typed arrays with open addressing and backward-shift deletion: the IOVA replay's live
// allocations, set and deleted on every map and unmap. A Map of objects did the same with an
// object per entry and a table V8 reallocates as it shrinks and grows again.

const EMPTY = -1;

/** pfn → (pages, line). */
export class PfnMap {
  #keys = new Float64Array(64).fill(EMPTY);
  #pages = new Float64Array(64);
  #lines = new Float64Array(64);
  #size = 0;

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  #slot(key: number): number {
    const mask = this.#keys.length - 1;
    // A multiplicative hash of the key's low 32 bits and the bits above them.
    let i = (Math.imul(key | 0, 0x9e3779b1) ^ Math.imul((key / 4294967296) | 0, 0x85ebca6b)) &
      mask;
    for (;;) {
      const k = this.#keys[i]!;
      if (k === key || k === EMPTY) return i;
      i = (i + 1) & mask;
    }
  }

  has(key: number): boolean {
    return this.#keys[this.#slot(key)] === key;
  }

  /** The pages of `key`, or undefined. */
  pages(key: number): number | undefined {
    const i = this.#slot(key);
    return this.#keys[i] === key ? this.#pages[i] : undefined;
  }

  set(key: number, pages: number, line: number): void {
    let i = this.#slot(key);
    if (this.#keys[i] !== key) {
      if (2 * (this.#size + 1) > this.#keys.length) {
        this.#grow();
        i = this.#slot(key);
      }
      this.#keys[i] = key;
      ++this.#size;
    }
    this.#pages[i] = pages;
    this.#lines[i] = line;
  }

  /** Remove `key`; true when it was there. */
  delete(key: number): boolean {
    let i = this.#slot(key);
    if (this.#keys[i] !== key) return false;
    const mask = this.#keys.length - 1;
    // Backward-shift: move later entries of the probe run into the hole.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      const k = this.#keys[j]!;
      if (k === EMPTY) break;
      const home = this.#slotHome(k);
      // Entry j may move to i when its home is not within (i, j] cyclically.
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        this.#keys[i] = k;
        this.#pages[i] = this.#pages[j]!;
        this.#lines[i] = this.#lines[j]!;
        i = j;
      }
    }
    this.#keys[i] = EMPTY;
    --this.#size;
    return true;
  }

  #slotHome(key: number): number {
    const mask = this.#keys.length - 1;
    return (Math.imul(key | 0, 0x9e3779b1) ^ Math.imul((key / 4294967296) | 0, 0x85ebca6b)) &
      mask;
  }

  #grow(): void {
    const keys = this.#keys;
    const pages = this.#pages;
    const lines = this.#lines;
    this.#keys = new Float64Array(keys.length * 2).fill(EMPTY);
    this.#pages = new Float64Array(keys.length * 2);
    this.#lines = new Float64Array(keys.length * 2);
    for (let i = 0; i < keys.length; ++i) {
      if (keys[i] === EMPTY) continue;
      const j = this.#slot(keys[i]!);
      this.#keys[j] = keys[i]!;
      this.#pages[j] = pages[i]!;
      this.#lines[j] = lines[i]!;
    }
  }

  /** Every entry, in no order. */
  *entries(): IterableIterator<[number, { pages: number; line: number }]> {
    for (let i = 0; i < this.#keys.length; ++i) {
      if (this.#keys[i] !== EMPTY) {
        yield [this.#keys[i]!, { pages: this.#pages[i]!, line: this.#lines[i]! }];
      }
    }
  }
}
