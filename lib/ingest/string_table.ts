/**
 * A string dictionary: each distinct string gets a small integer id once, and hot code keeps
 * and compares ids (Perfetto's `StringPool`).
 *
 * @module
 */

/**
 * Interns strings to dense integer ids, in order of first appearance.
 *
 * @example Interning
 * ```ts
 * import assert from "node:assert/strict";
 * import { StringTable } from "./string_table.ts";
 * const t = new StringTable();
 * assert.equal(t.intern("dd"), 0);
 * assert.equal(t.intern("kworker/0:1"), 1);
 * assert.equal(t.intern("dd"), 0);
 * assert.equal(t.get(1), "kworker/0:1");
 * ```
 */
export class StringTable {
  #ids = new Map<string, number>();
  #strings: string[] = [];
  // Direct-mapped cache of recent strings for internBytes: a hit compares bytes and decodes
  // nothing (task names, flags, event and device names repeat on almost every line).
  #cacheBytes: (Uint8Array | undefined)[] = new Array(1024);
  #cacheId = new Int32Array(1024);
  #decoder = new TextDecoder("utf-8");

  /**
   * The id of `s`, adding it when new.
   *
   * @param s The string.
   * @returns Its id (0-based).
   */
  intern(s: string): number {
    let id = this.#ids.get(s);
    if (id === undefined) {
      id = this.#strings.length;
      this.#ids.set(s, id);
      this.#strings.push(s);
    }
    return id;
  }

  /**
   * The id of the UTF-8 string `bytes[start, end)`, adding it when new; no decoding and no
   * allocation when it was seen lately.
   *
   * @param bytes The bytes holding the string.
   * @param start First byte.
   * @param end One past the last byte.
   * @returns Its id.
   */
  internBytes(bytes: Uint8Array, start: number, end: number): number {
    const n = end - start;
    if (n <= 0) return this.intern("");
    const h = (n * 31 + bytes[start]! * 17 + bytes[end - 1]! * 5 + bytes[start + (n >> 1)]!) & 1023;
    const hit = this.#cacheBytes[h];
    if (hit !== undefined && hit.length === n) {
      let k = 0;
      while (k < n && hit[k] === bytes[start + k]) ++k;
      if (k === n) return this.#cacheId[h]!;
    }
    const copy = bytes.slice(start, end);
    const id = this.intern(this.#decoder.decode(copy));
    this.#cacheBytes[h] = copy;
    this.#cacheId[h] = id;
    return id;
  }

  /**
   * The id of `s`, or -1 when it was never interned.
   *
   * @param s The string.
   * @returns Its id or -1.
   */
  find(s: string): number {
    return this.#ids.get(s) ?? -1;
  }

  /**
   * The string of an id; `""` for -1.
   *
   * @param id An id from {@linkcode StringTable.intern}.
   * @returns The string.
   * @throws {RangeError} When the id was never given out.
   */
  get(id: number): string {
    if (id === -1) return "";
    const s = this.#strings[id];
    if (s === undefined) throw new RangeError(`Cannot look up string id "${id}": not interned`);
    return s;
  }

  /** Number of distinct strings. */
  get size(): number {
    return this.#strings.length;
  }

  /**
   * All strings, indexed by id.
   *
   * @returns A read-only view of the strings.
   */
  values(): readonly string[] {
    return this.#strings;
  }
}
