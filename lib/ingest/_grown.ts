// Growing a typed array by doubling: every column, pool and table of the ingest grows this way.

/** A typed array the ingest grows. */
export type Typed = Int32Array | Float64Array | Uint32Array | Uint8Array;

/**
 * `a` when it holds `need` entries, else a copy at least twice as long (rest zero).
 *
 * @param a The array.
 * @param need Entries wanted.
 * @returns An array of at least `need` entries starting with `a`'s.
 */
export function grown<T extends Typed>(a: T, need: number): T {
  if (need <= a.length) return a;
  let cap = Math.max(a.length * 2, 1);
  while (cap < need) cap *= 2;
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}
