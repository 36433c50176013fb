// The context part of an event line (kernel-spec §1.2, §1.4):
//   comm "-" pid [ "(" tgid ")" ] "[" cpu "]" [ flags ] secs "." frac ":" " " event ":" payload
// comm may hold spaces, dashes and parentheses, so the line is anchored on the "[cpu]" field.

import {
  CH_COLON,
  CH_DASH,
  CH_DOT,
  CH_RBRACKET,
  CH_RPAREN,
  isDigit,
  isSpace,
  parseUint,
  skipSpaces,
  toSpace,
} from "./_scan.ts";

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
  };
}

/** Result codes of `parsePrefix`. */
export const PREFIX_OK = 0;
/** No `[cpu]` field: not an event line. */
export const PREFIX_NOT_EVENT = 1;
/** `[cpu]` found but the timestamp is malformed. */
export const PREFIX_BAD_TS = 2;

const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1];

/** Parse a timestamp word `s[a, e)` that ends with ":" into `out`; false when malformed. */
function parseTs(s: string, a: number, e: number, out: Prefix): boolean {
  if (e - a < 2 || s.charCodeAt(e - 1) !== CH_COLON) return false;
  const end = e - 1;
  let dot = -1;
  for (let q = a; q < end; ++q) {
    const c = s.charCodeAt(q);
    if (c === CH_DOT) {
      if (dot >= 0) return false;
      dot = q;
    } else if (!isDigit(c)) return false;
  }
  if (dot < 0) {
    const v = parseUint(s, a, end);
    if (v < 0) return false;
    out.secs = v;
    out.fracNs = 0;
    out.ticks = true;
    return true;
  }
  const digits = end - dot - 1;
  if (dot === a || digits < 1 || digits > 9) return false;
  out.secs = parseUint(s, a, dot);
  out.fracNs = parseUint(s, dot + 1, end) * POW10[digits]!;
  out.ticks = false;
  out.tsStart = a;
  return true;
}

/** Whether `s[p]` starts a `[digits]` cpu field followed by a space. */
function cpuFieldEnd(s: string, p: number, end: number): number {
  let q = p + 1;
  while (q < end && isDigit(s.charCodeAt(q))) ++q;
  if (q === p + 1 || q >= end || s.charCodeAt(q) !== CH_RBRACKET) return -1;
  if (q + 1 < end && !isSpace(s.charCodeAt(q + 1))) return -1;
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
  s: string,
  start: number,
  end: number,
  out: Prefix,
  instances: boolean,
): number {
  let lb = s.indexOf("[", start);
  let close = -1;
  while (lb >= 0 && lb < end) {
    if (lb > start && isSpace(s.charCodeAt(lb - 1))) {
      close = cpuFieldEnd(s, lb, end);
      if (close > 0) break;
    }
    lb = s.indexOf("[", lb + 1);
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
    const c = s.charCodeAt(q);
    if (c === CH_COLON || isSpace(c)) break;
    ++q;
  }
  if (q >= end || s.charCodeAt(q) !== CH_COLON || q === p) return PREFIX_NOT_EVENT;
  out.nameStart = p;
  out.nameEnd = q;
  out.payloadStart = skipSpaces(s, q + 1, end);
  return PREFIX_OK;
}

/** Split `s[start, lb)` into instance, comm, pid and tgid; false when there is no `-pid`. */
function splitTask(
  s: string,
  start: number,
  lb: number,
  out: Prefix,
  instances: boolean,
): boolean {
  let e = lb;
  while (e > start && isSpace(s.charCodeAt(e - 1))) --e;
  out.tgid = -1;
  if (e > start && s.charCodeAt(e - 1) === CH_RPAREN) {
    const open = s.lastIndexOf("(", e - 1);
    if (open >= start) {
      const a = skipSpaces(s, open + 1, e - 1);
      const v = parseUint(s, a, e - 1);
      let dashes = a < e - 1;
      for (let k = a; k < e - 1; ++k) if (s.charCodeAt(k) !== CH_DASH) dashes = false;
      if (v >= 0 || dashes) {
        out.tgid = v >= 0 ? v : -1;
        e = open;
        while (e > start && isSpace(s.charCodeAt(e - 1))) --e;
      }
    }
  }
  let d = e;
  while (d > start && isDigit(s.charCodeAt(d - 1))) --d;
  if (d === e || d <= start || s.charCodeAt(d - 1) !== CH_DASH) return false;
  out.pid = parseUint(s, d, e);
  let cs = skipSpaces(s, start, d - 1);
  out.instStart = -1;
  out.instEnd = -1;
  // "name: " before the task: a trace-cmd buffer (instance) name.
  const colon = instances ? s.indexOf(": ", cs) : -1;
  if (colon > cs && colon < d - 1) {
    let plain = true;
    for (let k = cs; k < colon; ++k) if (isSpace(s.charCodeAt(k))) plain = false;
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
