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
  // Direct-mapped cache of recent strings for internRange: a hit costs one startsWith and no
  // slice (task names, flags, event and device names repeat on almost every line).
  #cacheStr: (string | undefined)[] = new Array(1024);
  #cacheId = new Int32Array(1024);

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
   * The id of `text[start, end)`, adding it when new; no allocation when it was seen lately.
   *
   * @param text The text holding the string.
   * @param start First character.
   * @param end One past the last character.
   * @returns Its id.
   */
  internRange(text: string, start: number, end: number): number {
    const n = end - start;
    if (n <= 0) return this.intern("");
    const h = (n * 31 + text.charCodeAt(start) * 17 + text.charCodeAt(end - 1) * 5 +
      text.charCodeAt(start + (n >> 1))) & 1023;
    const hit = this.#cacheStr[h];
    if (hit !== undefined && hit.length === n && text.startsWith(hit, start)) {
      return this.#cacheId[h]!;
    }
    const str = text.slice(start, end);
    const id = this.intern(str);
    this.#cacheStr[h] = str;
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
