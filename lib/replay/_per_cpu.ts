// A value per CPU, in an array indexed by CPU number: what a Map<number, T> would hold for the
// replay's per-CPU state, without its cost. A Map that gets and drops its one entry per CPU on
// every event grows and shrinks its table each time (V8 reallocates a small OrderedHashMap on
// both), which was a tenth of the IOVA replay's allocation.

/** Per-CPU slots with the Map operations the replay uses. */
export class PerCpu<T> {
  readonly #v: (T | undefined)[] = [];

  get(cpu: number): T | undefined {
    return this.#v[cpu];
  }

  has(cpu: number): boolean {
    return this.#v[cpu] !== undefined;
  }

  set(cpu: number, v: T): void {
    while (this.#v.length <= cpu) this.#v.push(undefined);
    this.#v[cpu] = v;
  }

  /** Empty a slot; true when it held a value. */
  delete(cpu: number): boolean {
    if (this.#v[cpu] === undefined) return false;
    this.#v[cpu] = undefined;
    return true;
  }

  /** The values held, in CPU order. */
  *values(): IterableIterator<T> {
    for (const v of this.#v) if (v !== undefined) yield v;
  }

  clear(): void {
    this.#v.fill(undefined);
  }
}
