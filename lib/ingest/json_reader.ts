/**
 * Reading typed values out of parsed JSON (topologies, scenarios), recording each problem with
 * its JSON pointer instead of stopping at the first.
 *
 * @module
 */

import type { JsonError } from "./probe_map.ts";

/**
 * Collects errors while reading one JSON document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonReader } from "./mod.ts";
 * const r = new JsonReader();
 * assert.equal(r.integer(3, "/cpus", "cpus", 1, 64), 3);
 * assert.equal(r.integer(0, "/n", "n", 1, 8), null);
 * assert.deepEqual(r.errors, [{ pointer: "/n", message: "expected n: an integer from 1 to 8" }]);
 * ```
 */
export class JsonReader {
  /** The problems found so far. */
  readonly errors: JsonError[] = [];

  /**
   * Record a problem.
   *
   * @param pointer Where (RFC 6901).
   * @param message What was expected.
   */
  error(pointer: string, message: string): void {
    this.errors.push({ pointer, message });
  }

  /**
   * Whether `v` is a JSON object.
   *
   * @param v A value.
   * @returns True for a non-null, non-array object.
   */
  isObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
  }

  /**
   * An object, or null (recorded) when `v` is something else.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The object or null.
   */
  object(v: unknown, at: string, what: string): Record<string, unknown> | null {
    if (this.isObject(v)) return v;
    this.error(at, `expected ${what} (an object)`);
    return null;
  }

  /**
   * Unknown keys of an object are errors (a typo must not pass silently).
   *
   * @param o The object.
   * @param at Its pointer.
   * @param allowed The keys it may have (and any starting with "_", comments).
   */
  keys(o: Record<string, unknown>, at: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k) && !k.startsWith("_")) {
        this.error(
          `${at}/${escapeJsonPointer(k)}`,
          `unknown key; expected one of ${
            allowed.join(", ")
          } (keys starting with "_" are comments)`,
        );
      }
    }
  }

  /**
   * An unsigned 64-bit value: a JSON number (safe integer) or a `"0x..."` hex string.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The value or null.
   */
  u64(v: unknown, at: string, what: string): bigint | null {
    if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === "string" && HEX_REGEXP.test(v)) {
      const b = BigInt(v);
      if (b <= MAX_U64) return b;
    }
    if (typeof v === "string" && DEC_REGEXP.test(v)) {
      const b = BigInt(v);
      if (b <= MAX_U64) return b;
    }
    this.error(at, `expected ${what}: a non-negative integer or a "0x..." hex string below 2^64`);
    return null;
  }

  /**
   * A 16-bit id (`"0x8086"` or 32902).
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The id or null.
   */
  id16(v: unknown, at: string, what: string): number | null {
    const b = this.u64(v, at, what);
    if (b === null) return null;
    if (b > 0xffffn) {
      this.error(at, `expected ${what}: a 16-bit id`);
      return null;
    }
    return Number(b);
  }

  /**
   * An integer in `[min, max]`.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @param min Smallest.
   * @param max Largest.
   * @returns The integer or null.
   */
  integer(v: unknown, at: string, what: string, min: number, max: number): number | null {
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max) return v;
    this.error(at, `expected ${what}: an integer from ${min} to ${max}`);
    return null;
  }

  /**
   * A boolean.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The boolean or null.
   */
  boolean(v: unknown, at: string, what: string): boolean | null {
    if (typeof v === "boolean") return v;
    this.error(at, `expected ${what}: true or false`);
    return null;
  }

  /**
   * A non-empty string.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The string or null.
   */
  string(v: unknown, at: string, what: string): string | null {
    if (typeof v === "string" && v !== "") return v;
    this.error(at, `expected ${what}: a non-empty string`);
    return null;
  }

  /**
   * One of the given strings.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @param values The strings allowed.
   * @returns The string or null.
   */
  oneOf<T extends string>(v: unknown, at: string, what: string, values: readonly T[]): T | null {
    if (typeof v === "string" && (values as readonly string[]).includes(v)) return v as T;
    this.error(at, `expected ${what}: one of ${values.map((x) => `"${x}"`).join(", ")}`);
    return null;
  }

  /**
   * An array.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The array or null.
   */
  array(v: unknown, at: string, what: string): unknown[] | null {
    if (Array.isArray(v)) return v;
    this.error(at, `expected ${what} (an array)`);
    return null;
  }

  /**
   * `[first, last]` inclusive ranges.
   *
   * @param v The value.
   * @param at Its pointer.
   * @param what What it should be.
   * @returns The valid ranges (each bad one recorded).
   */
  ranges(v: unknown, at: string, what: string): [bigint, bigint][] {
    const arr = this.array(v, at, what);
    const out: [bigint, bigint][] = [];
    arr?.forEach((r, i) => {
      const p = `${at}/${i}`;
      if (!Array.isArray(r) || r.length !== 2) {
        this.error(p, `expected a range [first, last]`);
        return;
      }
      const a = this.u64(r[0], `${p}/0`, "the first address");
      const b = this.u64(r[1], `${p}/1`, "the last address");
      if (a === null || b === null) return;
      if (b < a) {
        this.error(p, `expected first <= last; got [0x${a.toString(16)}, 0x${b.toString(16)}]`);
        return;
      }
      out.push([a, b]);
    });
    return out;
  }
}

const HEX_REGEXP = /^0x[0-9a-fA-F]{1,16}$/;
const DEC_REGEXP = /^[0-9]{1,20}$/;
const MAX_U64 = (1n << 64n) - 1n;

/**
 * RFC 6901 escaping of one pointer segment.
 *
 * @param key An object key.
 * @returns The segment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeJsonPointer } from "./mod.ts";
 * assert.equal(escapeJsonPointer("a/b~c"), "a~1b~0c");
 * ```
 */
export function escapeJsonPointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}
