// The context part of an event line (kernel-spec §1.2, §1.4):
//   comm "-" pid [ "(" tgid ")" ] "[" cpu "]" [ flags ] secs "." frac ":" " " event ":" payload
// comm may hold spaces, dashes and parentheses, so the line is anchored on the "[cpu]" field.

import {
  ascii,
  CH_0,
  CH_COLON,
  CH_DASH,
  CH_DOT,
  CH_LBRACKET,
  CH_LPAREN,
  CH_NL,
  CH_RBRACKET,
  CH_RPAREN,
  CH_SPACE,
  isDigit,
  isSpace,
  lastCharIn,
  parseUint,
  skipSpaces,
  strIn,
  toSpace,
  viewOf,
  wordEnd,
} from "./_scan.ts";
import { ByteKeys } from "./_byte_keys.ts";
import { grown } from "./_grown.ts";

const INSTANCE_SEP = ascii(": ");

/** What `parsePrefix` found; one object reused for every line (no allocation per line). */
export interface Prefix {
  commStart: number;
  commEnd: number;
  /** Instance name of a `trace-cmd report` line of several buffers (`[start, end)`), or -1. */
  instStart: number;
  instEnd: number;
  pid: number;
  tgid: number;
  cpu: number;
  flagsStart: number;
  flagsEnd: number;
  /** Whole seconds (or ticks for counter clocks). */
  secs: number;
  /** Fraction of a second in ns; 0 for ticks. */
  fracNs: number;
  /** Timestamp printed without a fraction (counter / x86-tsc clocks). */
  ticks: boolean;
  tsStart: number;
  nameStart: number;
  nameEnd: number;
  payloadStart: number;
  /**
   * The line's task field ("comm-pid [cpu] flags") in `spans`, or -1: then it is new and, when
   * `spanEnd > 0`, the caller adds it with the ids it interned.
   */
  span: number;
  /** One past the task field of a kernel-layout line whose field was not found; else -1. */
  spanEnd: number;
  /** Task fields seen before (the same few tasks print on every CPU all trace long). */
  spans: TaskSpans;
}

/**
 * The task fields of kernel-layout lines seen so far, by their bytes: a line whose field is
 * known takes comm, pid, cpu and flags from here and parses none of them. At most `MAX` fields
 * (a trace of many short-lived tasks parses the rest the long way).
 */
export class TaskSpans {
  static readonly MAX = 1 << 16;
  readonly keys: ByteKeys = new ByteKeys();
  pid: Int32Array = new Int32Array(256);
  cpu: Int32Array = new Int32Array(256);
  /** Interned ids of the comm and of the flags (-1: none). */
  comm: Int32Array = new Int32Array(256);
  flags: Int32Array = new Int32Array(256);

  /** Add the task field `s[a, e)` with what it holds; -1 when the table is full. */
  add(s: Uint8Array, a: number, e: number, pid: number, cpu: number, comm: number, flags: number) {
    if (this.keys.size >= TaskSpans.MAX) return -1;
    const id = this.keys.add(s, a, e);
    this.pid = grown(this.pid, id + 1);
    this.cpu = grown(this.cpu, id + 1);
    this.comm = grown(this.comm, id + 1);
    this.flags = grown(this.flags, id + 1);
    this.pid[id] = pid;
    this.cpu[id] = cpu;
    this.comm[id] = comm;
    this.flags[id] = flags;
    return id;
  }
}

/** A fresh scratch record. */
export function newPrefix(): Prefix {
  return {
    commStart: 0,
    commEnd: 0,
    instStart: -1,
    instEnd: -1,
    pid: 0,
    tgid: -1,
    cpu: 0,
    flagsStart: -1,
    flagsEnd: -1,
    secs: 0,
    fracNs: 0,
    ticks: false,
    tsStart: 0,
    nameStart: 0,
    nameEnd: 0,
    payloadStart: 0,
    span: -1,
    spanEnd: -1,
    spans: new TaskSpans(),
  };
}

/** First "[" in `s[from, end)`, or -1. */
function bracketIn(s: Uint8Array, from: number, end: number): number {
  for (let p = from; p < end; ++p) if (s[p] === CH_LBRACKET) return p;
  return -1;
}

/** Result codes of `parsePrefix`. */
export const PREFIX_OK = 0;
/** No `[cpu]` field: not an event line. */
export const PREFIX_NOT_EVENT = 1;
/** `[cpu]` found but the timestamp is malformed. */
export const PREFIX_BAD_TS = 2;

const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1];

/** The value of two decimal digits by the pair read big-endian (-1: not two digits). */
const DEC2 = new Int8Array(65536).fill(-1);
for (let hi = 0; hi < 10; ++hi) {
  for (let lo = 0; lo < 10; ++lo) DEC2[((CH_0 + hi) << 8) | (CH_0 + lo)] = 10 * hi + lo;
}

/**
 * Parse a timestamp word `s[a, e)` that ends with ":" into `out` (one pass: seconds up to the
 * dot, then the fraction); false when malformed.
 */
function parseTs(s: Uint8Array, a: number, e: number, out: Prefix): boolean {
  if (e - a < 2 || s[e - 1]! !== CH_COLON) return false;
  const end = e - 1;
  let secs = 0;
  let q = a;
  for (; q < end; ++q) {
    const d = s[q]! - CH_0;
    if (d < 0 || d > 9) break;
    secs = secs * 10 + d;
  }
  if (q === end) {
    out.secs = secs;
    out.fracNs = 0;
    out.ticks = true;
    return true;
  }
  if (s[q]! !== CH_DOT || q === a) return false;
  const dot = q;
  const digits = end - dot - 1;
  if (digits < 1 || digits > 9) return false;
  let frac = 0;
  q = dot + 1;
  // Two digits a step (a pair read as one 16-bit word), then a last odd one.
  const v = viewOf(s);
  for (; q + 1 < end; q += 2) {
    const d = DEC2[v.getUint16(q, false)]!;
    if (d < 0) return false;
    frac = frac * 100 + d;
  }
  if (q < end) {
    const d = s[q]! - CH_0;
    if (d < 0 || d > 9) return false;
    frac = frac * 10 + d;
  }
  out.secs = secs;
  out.fracNs = frac * POW10[digits]!;
  out.ticks = false;
  out.tsStart = a;
  return true;
}

/** Whether `s[p]` starts a `[digits]` cpu field followed by a space. */
function cpuFieldEnd(s: Uint8Array, p: number, end: number): number {
  let q = p + 1;
  while (q < end && isDigit(s[q]!)) ++q;
  if (q === p + 1 || q >= end || s[q]! !== CH_RBRACKET) return -1;
  if (q + 1 < end && !isSpace(s[q + 1]!)) return -1;
  return q;
}

/**
 * Parse the context of an event line `s[start, end)` into `out`.
 *
 * `instances`: a `name: ` before the task is a trace-cmd buffer name.
 *
 * @returns `PREFIX_OK`, `PREFIX_NOT_EVENT` or `PREFIX_BAD_TS`.
 */
export function parsePrefix(
  s: Uint8Array,
  start: number,
  end: number,
  out: Prefix,
  instances: boolean,
): number {
  if (fastPrefix(s, start, end, out)) return PREFIX_OK;
  out.span = -1;
  out.spanEnd = -1;
  let lb = bracketIn(s, start, end);
  let close = -1;
  while (lb >= 0) {
    if (lb > start && isSpace(s[lb - 1]!)) {
      close = cpuFieldEnd(s, lb, end);
      if (close > 0) break;
    }
    lb = bracketIn(s, lb + 1, end);
  }
  if (close < 0 || lb < 0 || lb >= end) return PREFIX_NOT_EVENT;
  if (!splitTask(s, start, lb, out, instances)) return PREFIX_NOT_EVENT;
  out.cpu = parseUint(s, lb + 1, close);
  // After "[cpu]": an optional irq-flags word, then the timestamp word ending in ":".
  let p = skipSpaces(s, close + 1, end);
  let w = toSpace(s, p, end);
  out.flagsStart = -1;
  out.flagsEnd = -1;
  if (!parseTs(s, p, w, out)) {
    out.flagsStart = p;
    out.flagsEnd = w;
    p = skipSpaces(s, w, end);
    w = toSpace(s, p, end);
    if (!parseTs(s, p, w, out)) return PREFIX_BAD_TS;
  }
  out.tsStart = p;
  // Event name: up to ":" (trace-cmd pads it: "name:   payload").
  p = skipSpaces(s, w, end);
  let q = p;
  while (q < end) {
    const c = s[q]!;
    if (c === CH_COLON || isSpace(c)) break;
    ++q;
  }
  if (q >= end || s[q]! !== CH_COLON || q === p) return PREFIX_NOT_EVENT;
  out.nameStart = p;
  out.nameEnd = q;
  out.payloadStart = skipSpaces(s, q + 1, end);
  return PREFIX_OK;
}

/**
 * The kernel's own layout, without TGID: comm right-aligned in 16 columns (TASK_COMM_LEN
 * holds at most 15 characters), "-", pid "%-7d" (pid_max is at most 4194304, 7 digits), " [",
 * cpu "%03d", "] ", then the flags word and the timestamp. Every trace and trace_pipe line of a
 * kernel with fewer than 1000 CPUs has "-" at column 16 and "[" at column 25. False when the
 * line differs in any way; the general parser then takes it.
 *
 * `end` may lie past the line's end (the parse loop calls this before it has looked for the
 * newline): every byte taken is checked not to be one, so what is found is the same.
 */
export function fastPrefix(s: Uint8Array, a: number, end: number, out: Prefix): boolean {
  if (end - a < 40 || s[a + 25]! !== CH_LBRACKET || s[a + 16]! !== CH_DASH) {
    return false;
  }
  if (s[a + 29]! !== CH_RBRACKET || s[a + 30]! !== CH_SPACE) return false;
  // The word after "] ": flags (4..8 characters) when irq-info is on, else the timestamp.
  let p = a + 31;
  while (p < end && s[p]! === CH_SPACE) ++p;
  let w = wordEnd(s, p, end);
  if (w >= end || s[w]! !== CH_SPACE) return false;
  let flagsStart = -1;
  let flagsEnd = -1;
  let spanEnd = a + 31;
  if (s[w - 1]! !== CH_COLON) {
    flagsStart = p;
    flagsEnd = w;
    spanEnd = w;
    p = w + 1;
    while (p < end && s[p]! === CH_SPACE) ++p;
    w = wordEnd(s, p, end);
    if (w >= end || s[w]! !== CH_SPACE) return false;
  }
  const spans = out.spans;
  const span = spans.keys.find(s, a, spanEnd);
  let pid: number;
  let cpu: number;
  let cs = a;
  if (span >= 0) {
    pid = spans.pid[span]!;
    cpu = spans.cpu[span]!;
  } else {
    const c0 = s[a + 26]! - CH_0;
    const c1 = s[a + 27]! - CH_0;
    const c2 = s[a + 28]! - CH_0;
    if (c0 < 0 || c0 > 9 || c1 < 0 || c1 > 9 || c2 < 0 || c2 > 9) return false;
    cpu = c0 * 100 + c1 * 10 + c2;
    // pid: digits from column 17, then spaces up to column 24.
    pid = 0;
    let q = a + 17;
    for (; q < a + 24; ++q) {
      const d = s[q]! - CH_0;
      if (d < 0 || d > 9) break;
      pid = pid * 10 + d;
    }
    if (q === a + 17) return false;
    for (; q < a + 25; ++q) if (s[q]! !== CH_SPACE) return false;
    while (cs < a + 16 && s[cs]! === CH_SPACE) ++cs;
    for (let k = cs; k < a + 16; ++k) if (s[k]! === CH_NL) return false;
  }
  if (!parseTs(s, p, w, out)) return false;
  // " event:" then the payload.
  const n0 = w + 1;
  let n1 = n0;
  while (n1 < end) {
    const c = s[n1]!;
    if (c === CH_COLON || c === CH_SPACE || c === CH_NL) break;
    ++n1;
  }
  if (n1 >= end || n1 === n0 || s[n1]! !== CH_COLON) return false;
  out.span = span;
  out.spanEnd = span >= 0 ? -1 : spanEnd;
  out.commStart = cs;
  out.commEnd = a + 16;
  out.instStart = -1;
  out.instEnd = -1;
  out.pid = pid;
  out.tgid = -1;
  out.cpu = cpu;
  out.flagsStart = flagsStart;
  out.flagsEnd = flagsEnd;
  out.tsStart = p;
  out.nameStart = n0;
  out.nameEnd = n1;
  let ps = n1 + 1;
  while (ps < end && s[ps]! === CH_SPACE) ++ps;
  out.payloadStart = ps;
  return true;
}

/** Split `s[start, lb)` into instance, comm, pid and tgid; false when there is no `-pid`. */
function splitTask(
  s: Uint8Array,
  start: number,
  lb: number,
  out: Prefix,
  instances: boolean,
): boolean {
  let e = lb;
  while (e > start && isSpace(s[e - 1]!)) --e;
  out.tgid = -1;
  if (e > start && s[e - 1]! === CH_RPAREN) {
    const open = lastCharIn(s, CH_LPAREN, start, e - 1);
    if (open >= start) {
      const a = skipSpaces(s, open + 1, e - 1);
      const v = parseUint(s, a, e - 1);
      let dashes = a < e - 1;
      for (let k = a; k < e - 1; ++k) if (s[k]! !== CH_DASH) dashes = false;
      if (v >= 0 || dashes) {
        out.tgid = v >= 0 ? v : -1;
        e = open;
        while (e > start && isSpace(s[e - 1]!)) --e;
      }
    }
  }
  let d = e;
  while (d > start && isDigit(s[d - 1]!)) --d;
  if (d === e || d <= start || s[d - 1]! !== CH_DASH) return false;
  out.pid = parseUint(s, d, e);
  let cs = skipSpaces(s, start, d - 1);
  out.instStart = -1;
  out.instEnd = -1;
  // "name: " before the task: a trace-cmd buffer (instance) name.
  const colon = instances ? strIn(s, INSTANCE_SEP, cs, d - 1) : -1;
  if (colon > cs && colon < d - 1) {
    let plain = true;
    for (let k = cs; k < colon; ++k) if (isSpace(s[k]!)) plain = false;
    if (plain) {
      out.instStart = cs;
      out.instEnd = colon;
      cs = skipSpaces(s, colon + 1, d - 1);
    }
  }
  out.commStart = cs;
  out.commEnd = d - 1;
  return true;
}
