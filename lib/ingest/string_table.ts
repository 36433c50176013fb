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
  // An open-addressing table keyed by the strings' UTF-8 bytes, for internBytes: a lookup hashes
  // and compares bytes and decodes nothing (task names, flags, event and device names repeat on
  // almost every line; a direct-mapped cache of a few bytes' hash thrashed on device names,
  // which differ only inside).
  #slotBytes: (Uint8Array | undefined)[] = new Array(4096);
  #slotId = new Int32Array(4096);
  #used = 0;
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
    const n = end - start;
    if (n <= 0) return this.intern("");
    let h = n;
    for (let k = start; k < end; ++k) h = Math.imul(h, 31) + bytes[k]! | 0;
    const slots = this.#slotBytes;
    const mask = slots.length - 1;
    for (let i = (h ^ (h >>> 15)) & mask;; i = (i + 1) & mask) {
      const hit = slots[i];
      if (hit === undefined) break;
      if (hit.length !== n) continue;
      let k = 0;
      while (k < n && hit[k] === bytes[start + k]) ++k;
      if (k === n) return this.#slotId[i]!;
    }
    const copy = bytes.slice(start, end);
    const id = this.intern(this.#decoder.decode(copy));
    this.#insert(copy, h, id);
    return id;
  }

  #insert(key: Uint8Array, h: number, id: number): void {
    if (2 * (this.#used + 1) > this.#slotBytes.length) this.#grow();
    const slots = this.#slotBytes;
    const mask = slots.length - 1;
    let i = (h ^ (h >>> 15)) & mask;
    while (slots[i] !== undefined) i = (i + 1) & mask;
    slots[i] = key;
    this.#slotId[i] = id;
    ++this.#used;
  }

  #grow(): void {
    const old = this.#slotBytes;
    const oldId = this.#slotId;
    this.#slotBytes = new Array(old.length * 2);
    this.#slotId = new Int32Array(old.length * 2);
    this.#used = 0;
    for (let i = 0; i < old.length; ++i) {
      const key = old[i];
      if (key === undefined) continue;
      let h = key.length;
      for (let k = 0; k < key.length; ++k) h = Math.imul(h, 31) + key[k]! | 0;
      this.#insert(key, h, oldId[i]!);
    }
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
