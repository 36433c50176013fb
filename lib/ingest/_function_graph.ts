// function_graph lines (kernel-spec §1.6):
//   [abstime " | "] cpu ") " [proc " | "] duration " |  " indent call
// with the call text "func() {", "func();", "}" (maybe "} /* func */"), or "/* event: ... */".
// Entries and exits pair up on a per-CPU stack into call durations.

import * as msg from "./_messages.ts";
import { addCallRow } from "./_batch_builder.ts";
import type { LineContext } from "./_payload.ts";
import {
  ascii,
  CH_DASH,
  CH_DOT,
  CH_LBRACE,
  CH_PIPE,
  CH_RBRACE,
  CH_RPAREN,
  charIn,
  isDigit,
  isSpace,
  lastCharIn,
  lastStrIn,
  parseUint,
  skipSpaces,
  startsWithAt,
  strIn,
  textOf,
} from "./_scan.ts";

const IRQ_ENTER = ascii("==>");
const IRQ_EXIT = ascii("<==");
const COMMENT_OPEN = ascii("/*");
const COMMENT_CLOSE = ascii("*/");
const CALL_PARENS = ascii("()");
const LEAF_END = ascii("();");
const MODULE_OPEN = ascii(" [");
const MICROSECONDS = ascii("us");

/** What a function_graph line was. */
export const FG_NOT = 0;
export const FG_ENTRY = 1;
export const FG_LEAF = 2;
export const FG_EXIT = 3;
export const FG_COMMENT = 4;
/** Well-formed but not a call: irq arrows, context-switch lines. */
export const FG_OTHER = 5;

/** Parse results shared with the caller (reused; no allocation per line). */
export interface FgScratch {
  cpu: number;
  /** Function name `[start, end)` of an entry or leaf (module suffix excluded). */
  fnStart: number;
  fnEnd: number;
  modStart: number;
  modEnd: number;
  /** Comment text `[start, end)` without the comment markers. */
  textStart: number;
  textEnd: number;
  /** Absolute time (secs, frac ns) when funcgraph-abstime is on, else secs = -1. */
  secs: number;
  fracNs: number;
  pid: number;
  durNs: number;
  depth: number;
}

/** A fresh scratch record. */
export function newFgScratch(): FgScratch {
  return {
    cpu: 0,
    fnStart: 0,
    fnEnd: 0,
    modStart: -1,
    modEnd: -1,
    textStart: 0,
    textEnd: 0,
    secs: -1,
    fracNs: 0,
    pid: -1,
    durNs: NaN,
    depth: 0,
  };
}

/**
 * Whether `s[start, end)` starts like a function_graph line (`  4) ` or `  812.3 |  4) `); in a
 * function_graph trace (`graphTracer`), any line with a `|` column separator.
 */
export function looksLikeFunctionGraph(
  s: Uint8Array,
  start: number,
  end: number,
  graphTracer: boolean,
): boolean {
  if (graphTracer && charIn(s, CH_PIPE, start, end) >= 0) return true;
  let p = skipSpaces(s, start, end);
  const d0 = p;
  while (p < end && isDigit(s[p]!)) ++p;
  if (p === d0 || p >= end) return false;
  const c = s[p]!;
  if (c === CH_RPAREN) return true;
  if (c !== CH_DOT) return false;
  ++p;
  while (p < end && isDigit(s[p]!)) ++p;
  p = skipSpaces(s, p, end);
  return p < end && s[p]! === CH_PIPE;
}

const POW10 = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1];

/** A duration cell (`+ 41.870 us`, `2.113 us`, blank); ns, or -1 for blank, -2 malformed. */
function parseDuration(s: Uint8Array, a: number, e: number): number {
  let p = skipSpaces(s, a, e);
  if (p >= e) return -1;
  const c = s[p]!;
  if (c === 43 || c === 33 || c === 35 || c === 42 || c === 64 || c === 36) {
    p = skipSpaces(s, p + 1, e);
  }
  const n0 = p;
  while (p < e && isDigit(s[p]!)) ++p;
  if (p === n0) return -2;
  const whole = parseUint(s, n0, p);
  let fracNs = 0;
  if (p < e && s[p]! === CH_DOT) {
    const f0 = ++p;
    while (p < e && isDigit(s[p]!)) ++p;
    const digits = p - f0;
    if (digits > 0 && digits <= 9) fracNs = parseUint(s, f0, p) * Math.pow(10, 3 - digits);
  }
  p = skipSpaces(s, p, e);
  if (!startsWithAt(s, p, MICROSECONDS)) return -2;
  return whole * 1000 + fracNs;
}

/**
 * Classify and parse one function_graph line into `out`. `noCpuColumn`: the trace is a
 * function_graph one, so a line without the "cpu)" column is one printed with funcgraph-cpu off.
 *
 * @returns One of the `FG_*` codes; `FG_NOT` when malformed (diagnosed).
 */
export function parseFunctionGraph(
  ctx: LineContext,
  s: Uint8Array,
  start: number,
  end: number,
  out: FgScratch,
  noCpuColumn: boolean,
): number {
  let p = skipSpaces(s, start, end);
  out.secs = -1;
  out.pid = -1;
  out.modStart = -1;
  // Optional abstime column.
  let q = p;
  while (q < end && isDigit(s[q]!)) ++q;
  if (q < end && s[q]! === CH_DOT) {
    const f0 = q + 1;
    let f1 = f0;
    while (f1 < end && isDigit(s[f1]!)) ++f1;
    const bar = skipSpaces(s, f1, end);
    // "secs.frac |" is the abstime column; "2.113 us |" is a duration (CPU column off).
    if (bar < end && s[bar]! === CH_PIPE) {
      out.secs = parseUint(s, p, q);
      const digits = f1 - f0;
      out.fracNs = digits > 0 && digits <= 9 ? parseUint(s, f0, f1) * POW10[digits]! : 0;
      p = skipSpaces(s, bar + 1, end);
      q = p;
      while (q < end && isDigit(s[q]!)) ++q;
    } else if (!noCpuColumn) return bad(ctx, s, start, end);
  }
  if (q > p && q < end && s[q]! === CH_RPAREN) {
    out.cpu = parseUint(s, p, q);
    p = q + 1;
  } else if (noCpuColumn) {
    out.cpu = -1; // funcgraph-cpu off: calls pair on one stack
  } else return bad(ctx, s, start, end);
  let bar = charIn(s, CH_PIPE, p, end);
  if (bar < 0 || bar >= end) return FG_OTHER; // context switch "a-1 => b-2", separators
  let dur = parseDuration(s, p, bar);
  if (dur === -2) {
    // Not a duration: the funcgraph-proc column ("comm-pid"), or irq arrows.
    if (strIn(s, IRQ_ENTER, p, bar) >= 0 || strIn(s, IRQ_EXIT, p, bar) >= 0) return FG_OTHER;
    let ce = bar;
    while (ce > p && isSpace(s[ce - 1]!)) --ce;
    const dash = lastCharIn(s, CH_DASH, p, ce);
    const pid = dash >= 0 ? parseUint(s, dash + 1, ce) : -1;
    if (pid < 0) return bad(ctx, s, start, end);
    out.pid = pid;
    p = bar + 1;
    bar = charIn(s, CH_PIPE, p, end);
    if (bar < 0 || bar >= end) return bad(ctx, s, start, end);
    dur = parseDuration(s, p, bar);
    if (dur === -2) {
      if (strIn(s, IRQ_ENTER, p, bar) >= 0 || strIn(s, IRQ_EXIT, p, bar) >= 0) return FG_OTHER;
      return bad(ctx, s, start, end);
    }
  }
  out.durNs = dur < 0 ? NaN : dur;
  // Call text: "|  " then two spaces per depth.
  let t = bar + 1;
  let e = end;
  while (e > t && s[e - 1]! === 32) --e;
  const t0 = skipSpaces(s, t, e);
  out.depth = Math.max(0, (t0 - t - 2) >> 1);
  t = t0;
  if (t >= e) return FG_OTHER;
  if (startsWithAt(s, t, COMMENT_OPEN)) {
    out.textStart = skipSpaces(s, t + 2, e);
    let te = e;
    if (startsWithAt(s, e - 2, COMMENT_CLOSE)) te = e - 2;
    while (te > out.textStart && s[te - 1]! === 32) --te;
    out.textEnd = te;
    return FG_COMMENT;
  }
  if (s[t]! === CH_RBRACE) {
    // "}" with an optional "/* func */" or "/* func = 0x0 */" tail.
    out.fnStart = -1;
    const c = strIn(s, COMMENT_OPEN, t, e);
    if (c >= 0 && c < e) {
      const a = skipSpaces(s, c + 2, e);
      let b = a;
      while (b < e && s[b]! !== 32 && s[b]! !== 42) ++b;
      if (b > a) {
        out.fnStart = a;
        out.fnEnd = b;
      }
    }
    return FG_EXIT;
  }
  let kind: number;
  let fe: number;
  if (s[e - 1]! === CH_LBRACE && startsWithAt(s, skipBack(s, e - 1) - 2, CALL_PARENS)) {
    kind = FG_ENTRY;
    fe = skipBack(s, e - 1) - 2;
  } else if (startsWithAt(s, e - 3, LEAF_END)) {
    kind = FG_LEAF;
    fe = e - 3;
  } else return bad(ctx, s, start, end);
  // "nvme_irq [nvme]": a module function.
  let ne = fe;
  if (ne > t && s[ne - 1]! === 93) {
    const lb = lastStrIn(s, MODULE_OPEN, t, ne);
    if (lb > t) {
      out.modStart = lb + 2;
      out.modEnd = ne - 1;
      ne = lb;
    }
  }
  if (ne <= t) return bad(ctx, s, start, end);
  out.fnStart = t;
  out.fnEnd = ne;
  return kind;
}

function skipBack(s: Uint8Array, p: number): number {
  while (p > 0 && s[p - 1]! === 32) --p;
  return p;
}

function bad(ctx: LineContext, s: Uint8Array, start: number, end: number): number {
  ctx.log.report(
    "bad_function_graph",
    ctx.lineNo1,
    0,
    msg.badFunctionGraph(msg.excerpt(textOf(s, start, end))),
  );
  return FG_NOT;
}

/** One open entry on a CPU's stack. */
interface OpenCall {
  fn: number;
  mod: number;
  lineNo1: number;
  depth: number;
}

/** Per-CPU stacks of open `func() {` entries (bounded depth). */
export class CallStacks {
  #stacks: OpenCall[][] = [];
  static readonly MAX_DEPTH = 256;

  open(cpu: number, fn: number, mod: number, lineNo1: number, depth: number): void {
    let st = this.#stacks[cpu + 1]; // cpu -1: no CPU column
    if (st === undefined) {
      st = [];
      this.#stacks[cpu + 1] = st;
    }
    if (st.length >= CallStacks.MAX_DEPTH) st.shift();
    st.push({ fn, mod, lineNo1, depth });
  }

  close(cpu: number): OpenCall | undefined {
    return this.#stacks[cpu + 1]?.pop();
  }
}

/** Record a completed call in the batch. */
export function recordCall(
  ctx: LineContext,
  cpu: number,
  fn: number,
  mod: number,
  entryLineNo1: number,
  depth: number,
  durNs: number,
  tsNs: number,
  pid: number,
): void {
  const c = ctx.b.calls;
  const r = addCallRow(ctx.b);
  c.entryLineNo1[r] = entryLineNo1;
  c.exitLineNo1[r] = ctx.lineNo1;
  c.cpu[r] = cpu;
  c.depth[r] = depth;
  c.func[r] = fn;
  c.module[r] = mod;
  c.durNs[r] = durNs;
  c.tsNs[r] = tsNs;
  c.pid[r] = pid;
}
