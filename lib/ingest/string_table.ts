/**
 * A string dictionary: each distinct string gets a small integer id once, and hot code keeps
 * and compares ids (Perfetto's `StringPool`).
 *
 * @module
 */

import { ByteKeys } from "./_byte_keys.ts";
import { grown } from "./_grown.ts";

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
  // The ids of strings met as bytes, by their ByteKeys id: a lookup hashes and compares the
  // bytes in place and decodes nothing (task names, flags, event and device names repeat on
  // almost every line).
  #keys = new ByteKeys();
  #idOfKey = new Int32Array(256);
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
   * allocation when its bytes were seen before.
   *
   * @param bytes The bytes holding the string.
   * @param start First byte.
   * @param end One past the last byte.
   * @returns Its id.
   */
  internBytes(bytes: Uint8Array, start: number, end: number): number {
    const k = this.#keys.find(bytes, start, end);
    if (k >= 0) return this.#idOfKey[k]!;
    const id = this.intern(this.#decoder.decode(bytes.subarray(start, end)));
    const key = this.#keys.add(bytes, start, end);
    this.#idOfKey = grown(this.#idOfKey, key + 1);
    this.#idOfKey[key] = id;
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
