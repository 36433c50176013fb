// Thrift's compact protocol, write side only, for the metadata of Parquet files (page headers
// and the footer): field headers with the id as a delta from the previous field, integers as
// zigzag varints, binaries length-prefixed, lists with their size and element type in one byte
// when short. Written from the protocol's specification (thrift's
// doc/specs/thrift-compact-protocol.md), into one growing buffer.

/** Compact-protocol type codes of the fields and list elements written here. */
export const T_TRUE = 1;
/** Boolean false (a field's type code carries the value). */
export const T_FALSE = 2;
/** 32-bit integer (zigzag varint). */
export const T_I32 = 5;
/** 64-bit integer (zigzag varint). */
export const T_I64 = 6;
/** Length-prefixed bytes (strings too). */
export const T_BINARY = 8;
/** A list. */
export const T_LIST = 9;
/** A struct (fields until a stop byte). */
export const T_STRUCT = 12;

const TEXT = new TextEncoder();

/** Writes one Thrift value (usually a struct) field by field. */
export class ThriftWriter {
  #buf = new Uint8Array(256);
  #at = 0;
  /** The last field id of each struct being written, innermost last. */
  readonly #lastId: number[] = [0];

  /** The bytes written so far (a view: copy it before writing more). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }

  /** Start again, empty. */
  reset(): void {
    this.#at = 0;
    this.#lastId.length = 1;
    this.#lastId[0] = 0;
  }

  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#at + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#at));
    this.#buf = grown;
  }

  #byte(b: number): void {
    this.#room(1);
    this.#buf[this.#at++] = b;
  }

  /** An unsigned varint of a safe integer (7 bits a byte, low first). */
  #varint(v: number): void {
    this.#room(10);
    let x = v;
    while (x >= 0x80) {
      this.#buf[this.#at++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.#buf[this.#at++] = x;
  }

  /** A signed safe integer, zigzag-encoded (0, -1, 1, -2, ... as 0, 1, 2, 3, ...). */
  #zigzag(v: number): void {
    this.#varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  #header(id: number, type: number): void {
    const last = this.#lastId[this.#lastId.length - 1]!;
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.#byte((delta << 4) | type);
    else {
      this.#byte(type);
      this.#zigzag(id);
    }
    this.#lastId[this.#lastId.length - 1] = id;
  }

  /** A 32-bit integer field (an enum too). */
  i32(id: number, v: number): void {
    this.#header(id, T_I32);
    this.#zigzag(v);
  }

  /** A 64-bit integer field (a safe integer). */
  i64(id: number, v: number): void {
    this.#header(id, T_I64);
    this.#zigzag(v);
  }

  /** A boolean field. */
  bool(id: number, v: boolean): void {
    this.#header(id, v ? T_TRUE : T_FALSE);
  }

  /** A binary field. */
  binary(id: number, bytes: Uint8Array): void {
    this.#header(id, T_BINARY);
    this.rawBinary(bytes);
  }

  /** A string field (UTF-8). */
  string(id: number, s: string): void {
    this.binary(id, TEXT.encode(s));
  }

  /** A binary with no field header (a list element). */
  rawBinary(bytes: Uint8Array): void {
    this.#varint(bytes.length);
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#at);
    this.#at += bytes.length;
  }

  /** A 32-bit integer with no field header (a list element). */
  rawI32(v: number): void {
    this.#zigzag(v);
  }

  /** Bytes already encoded (list elements written by another writer). */
  raw(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#at);
    this.#at += bytes.length;
  }

  /** A list field's header: `size` elements of `type` follow. */
  list(id: number, type: number, size: number): void {
    this.#header(id, T_LIST);
    this.listHeader(type, size);
  }

  /** A list's header with no field header (a top-level list, or a list in a list). */
  listHeader(type: number, size: number): void {
    if (size < 15) this.#byte((size << 4) | type);
    else {
      this.#byte(0xf0 | type);
      this.#varint(size);
    }
  }

  /** Start a struct field (its fields follow; {@linkcode end} closes it). */
  struct(id: number): void {
    this.#header(id, T_STRUCT);
    this.#lastId.push(0);
  }

  /** Start a struct that is a list element (or the top-level value). */
  begin(): void {
    this.#lastId.push(0);
  }

  /** Close the innermost struct (its stop byte). */
  end(): void {
    this.#byte(0);
    this.#lastId.pop();
  }
}
