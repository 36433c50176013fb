// kprobe / kretprobe / fprobe lines (kernel-spec §1.5), recognised by their form:
//   entry:  NAME: (SYMBOL+0xOFF/0xSIZE) ARG=VAL ...
//   return: NAME: (CALLER+0xOFF/0xSIZE <- SYMBOL) ARG=VAL ...

import * as msg from "./_messages.ts";
import { addArg, addProbeRow } from "./_batch_builder.ts";
import type { LineContext } from "./_payload.ts";
import {
  ascii,
  CH_DASH,
  CH_EQ,
  CH_LPAREN,
  CH_PLUS,
  CH_QUOTE,
  CH_RPAREN,
  CH_SLASH,
  charIn,
  parseHexNumber,
  skipSpaces,
  startsWithAt,
  strIn,
  textOf,
  toSpace,
} from "./_scan.ts";
import { ARG_KIND, EVENT_KIND } from "./event_batch.ts";
import { type ProbeMap, resolveProbe } from "./probe_map.ts";
import { parseAutoU64 } from "./u64.ts";
import { ByteKeys } from "./_byte_keys.ts";
import { grown } from "./_grown.ts";

const HEX_PREFIX = ascii("0x");
const RETURN_ARROW = ascii(" <- ");

/**
 * Whether a payload has a probe's form: "(" then a symbol or address character. No
 * tracepoint format starts with "(", so a malformed rest is a malformed probe line.
 */
export function looksLikeProbe(s: Uint8Array, start: number, end: number): boolean {
  if (end - start < 2 || s[start]! !== CH_LPAREN) return false;
  const c = s[start + 1]!;
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 122) || c === 95;
}

/**
 * Bounded per-(pid, function) stacks of entry times, for entry→return durations. A full stack
 * drops its oldest entry (an entry probe without a return probe, like free_iova_fast's, fills
 * its stack at once and stays full): each stack is a ring of `MAX_DEPTH` slots in one pool, so
 * that costs a store, not a shift of the whole stack.
 */
export class ProbeStacks {
  /** Stack index by key (pid, function). */
  #index = new Map<number, number>();
  /** Per stack: its ring's first slot and its depth. */
  #first = new Int32Array(64);
  #depth = new Int32Array(64);
  static readonly MAX_KEYS = 65536;
  /** A power of two (a ring's slots are taken modulo it). */
  static readonly MAX_DEPTH = 64;
  #times = new Float64Array(64 * ProbeStacks.MAX_DEPTH);

  push(pid: number, fn: number, tsNs: number): void {
    const key = pid * 1048576 + fn;
    let st = this.#index.get(key);
    if (st === undefined) {
      if (this.#index.size >= ProbeStacks.MAX_KEYS) this.#index.clear();
      st = this.#index.size;
      this.#index.set(key, st);
      this.#first = grown(this.#first, st + 1);
      this.#depth = grown(this.#depth, st + 1);
      this.#times = grown(this.#times, (st + 1) * ProbeStacks.MAX_DEPTH);
      this.#first[st] = 0;
      this.#depth[st] = 0;
    }
    const max = ProbeStacks.MAX_DEPTH;
    const d = this.#depth[st]!;
    const first = this.#first[st]!;
    if (d < max) {
      this.#times[st * max + ((first + d) & (max - 1))] = tsNs;
      this.#depth[st] = d + 1;
    } else {
      // Full: the oldest slot takes the newest time and the ring turns by one.
      this.#times[st * max + first] = tsNs;
      this.#first[st] = (first + 1) & (max - 1);
    }
  }

  pop(pid: number, fn: number): number {
    const st = this.#index.get(pid * 1048576 + fn);
    if (st === undefined) return NaN;
    const d = this.#depth[st]!;
    if (d === 0) return NaN;
    this.#depth[st] = d - 1;
    const max = ProbeStacks.MAX_DEPTH;
    return this.#times[st * max + ((this.#first[st]! + d - 1) & (max - 1))]!;
  }
}

/**
 * Split `SYM+0xOFF/0xSIZE` into a symbol id (returned) and offset (`SYMBOL_OFF[0]`): no object
 * per probe line.
 */
function symbol(
  ctx: LineContext,
  s: Uint8Array,
  a: number,
  e: number,
): number {
  let plus = -1;
  for (let q = a; q < e; ++q) {
    if (s[q]! === CH_PLUS) {
      plus = q;
      break;
    }
  }
  if (plus < 0) {
    SYMBOL_OFF[0] = 0;
    return ctx.b.strings.internBytes(s, a, e);
  }
  let slash = plus;
  while (slash < e && s[slash]! !== CH_SLASH) ++slash;
  const off = parseHexNumber(s, plus + 1, slash);
  SYMBOL_OFF[0] = off < 0 ? 0 : off;
  return ctx.b.strings.internBytes(s, a, plus);
}
const SYMBOL_OFF = new Float64Array(1);

/**
 * What the "(...)" part of probe lines seen before says, by its bytes: a probe prints the
 * same few texts all trace long, so a known one costs one lookup instead of two symbol splits,
 * two interned names and a meaning lookup. At most `MAX` texts; and the meaning's cache.
 */
export class ProbeCache {
  static readonly MAX = 1 << 14;
  readonly keys: ByteKeys = new ByteKeys();
  /** Per text: event id, 1 for a return, function, its offset, caller, its offset, meaning. */
  eventId: Int32Array = new Int32Array(64);
  isReturn: Uint8Array = new Uint8Array(64);
  func: Int32Array = new Int32Array(64);
  funcOffset: Float64Array = new Float64Array(64);
  caller: Int32Array = new Int32Array(64);
  callerOffset: Float64Array = new Float64Array(64);
  meaning: Int32Array = new Int32Array(64);
  /**
   * The keys of a text's first `ARG_MEMO` arguments as a line of it printed them: per text and
   * argument, the key's string id, its length (0: none) and its bytes (`ARG_KEY_MAX` a slot).
   * The next line of that text reads a key by comparing its bytes, without looking for its "="
   * or looking it up.
   */
  static readonly ARG_MEMO = 4;
  static readonly ARG_KEY_MAX = 12;
  argKey: Int32Array = new Int32Array(64 * ProbeCache.ARG_MEMO);
  argKeyLen: Uint8Array = new Uint8Array(64 * ProbeCache.ARG_MEMO);
  argKeyBytes: Uint8Array = new Uint8Array(64 * ProbeCache.ARG_MEMO * ProbeCache.ARG_KEY_MAX);
  /** Meaning by (event, side, function). */
  readonly meanings: Map<number, number> = new Map();

  add(s: Uint8Array, a: number, e: number): number {
    if (this.keys.size >= ProbeCache.MAX) return -1;
    const id = this.keys.add(s, a, e);
    this.eventId = grown(this.eventId, id + 1);
    this.isReturn = grown(this.isReturn, id + 1);
    this.func = grown(this.func, id + 1);
    this.funcOffset = grown(this.funcOffset, id + 1);
    this.caller = grown(this.caller, id + 1);
    this.callerOffset = grown(this.callerOffset, id + 1);
    this.meaning = grown(this.meaning, id + 1);
    const memo = (id + 1) * ProbeCache.ARG_MEMO;
    this.argKey = grown(this.argKey, memo);
    this.argKeyLen = grown(this.argKeyLen, memo);
    this.argKeyBytes = grown(this.argKeyBytes, memo * ProbeCache.ARG_KEY_MAX);
    return id;
  }
}

/**
 * The symbols of a probe's "(...)" text `s[inner, close)` into probe row `r`; true for a
 * return ("CALLER+0x../0x.. <- FUNC").
 */
function splitProbeText(
  ctx: LineContext,
  s: Uint8Array,
  inner: number,
  close: number,
  r: number,
): boolean {
  const p = ctx.b.probes;
  const arrow = strIn(s, RETURN_ARROW, inner, close);
  if (arrow >= 0) {
    p.caller[r] = symbol(ctx, s, inner, arrow);
    p.callerOffset[r] = SYMBOL_OFF[0]!;
    p.func[r] = symbol(ctx, s, arrow + 4, close);
    p.funcOffset[r] = 0;
    return true;
  }
  p.func[r] = symbol(ctx, s, inner, close);
  p.funcOffset[r] = SYMBOL_OFF[0]!;
  p.caller[r] = -1;
  p.callerOffset[r] = 0;
  return false;
}

/**
 * Parse a probe payload into the batch's probe table.
 *
 * @returns The probe row, or -1 when malformed (diagnosed).
 */
export function parseProbe(
  ctx: LineContext,
  s: Uint8Array,
  start: number,
  end: number,
  commonRow: number,
  eventName: string,
  map: ProbeMap,
  cache: ProbeCache,
  stacks: ProbeStacks,
): number {
  const b = ctx.b;
  // A text seen on one of the last lines: its bytes end at its first ")" (no search for it).
  let known = cache.keys.recentAt(s, start, end);
  const close = known >= 0
    ? start + cache.keys.lengthOf(known) - 1
    : charIn(s, CH_RPAREN, start, end);
  if (close < 0) {
    ctx.log.report(
      "bad_kprobe",
      ctx.lineNo1,
      start - ctx.lineStart + 1,
      msg.badKprobe(msg.excerpt(textOf(s, start, end))),
    );
    b.kind[commonRow] = EVENT_KIND.UNKNOWN; // kept as a row; its payload is not a probe's
    return -1;
  }
  const r = addProbeRow(b, commonRow);
  const p = b.probes;
  const eventId = b.eventId[commonRow]!;
  if (known < 0) known = cache.keys.find(s, start, close + 1);
  if (known >= 0 && cache.eventId[known] !== eventId) known = -1; // one text, two probes
  let isReturn: boolean;
  let newText = -1;
  if (known >= 0) {
    isReturn = cache.isReturn[known] === 1;
    p.func[r] = cache.func[known]!;
    p.funcOffset[r] = cache.funcOffset[known]!;
    p.caller[r] = cache.caller[known]!;
    p.callerOffset[r] = cache.callerOffset[known]!;
    p.meaning[r] = cache.meaning[known]!;
  } else {
    isReturn = splitProbeText(ctx, s, start + 1, close, r);
    const kind = isReturn ? "return" : "entry";
    // Meaning by (event name, side, function): numeric key, no string built per line.
    const meaningKey = (eventId * 2 + (isReturn ? 1 : 0)) * 1048576 + p.func[r]!;
    let m = cache.meanings.get(meaningKey);
    if (m === undefined) {
      m = resolveProbe(map, eventName, b.strings.get(p.func[r]!), kind);
      cache.meanings.set(meaningKey, m);
    }
    p.meaning[r] = m;
    const k = cache.add(s, start, close + 1);
    newText = k;
    if (k >= 0) {
      cache.eventId[k] = eventId;
      cache.isReturn[k] = isReturn ? 1 : 0;
      cache.func[k] = p.func[r]!;
      cache.funcOffset[k] = p.funcOffset[r]!;
      cache.caller[k] = p.caller[r]!;
      cache.callerOffset[k] = p.callerOffset[r]!;
      cache.meaning[k] = m;
    }
  }
  const fn = p.func[r]!;
  const text = known >= 0 ? known : newText;
  if (isReturn) {
    b.kind[commonRow] = EVENT_KIND.PROBE_RETURN;
    const t0 = stacks.pop(b.pid[commonRow]!, fn);
    p.durNs[r] = Number.isNaN(t0) ? NaN : b.tsNs[commonRow]! - t0;
  } else {
    b.kind[commonRow] = EVENT_KIND.PROBE_ENTRY;
    stacks.push(b.pid[commonRow]!, fn, b.tsNs[commonRow]!);
  }
  // Arguments: name=value, value hex (0x..), decimal (maybe negative), "string", or a word.
  p.argStart[r] = b.args.n;
  let n = 0;
  let q = skipSpaces(s, close + 1, end);
  const MEMO = ProbeCache.ARG_MEMO;
  const KMAX = ProbeCache.ARG_KEY_MAX;
  while (q < end) {
    // The key this text's line had here last time, when its bytes and "=" are here again.
    const slot = text >= 0 && n < MEMO ? text * MEMO + n : -1;
    let eq = -1;
    let key = -1;
    if (slot >= 0) {
      const kl = cache.argKeyLen[slot]!;
      if (kl > 0 && q + kl < end && s[q + kl]! === CH_EQ) {
        const kb = cache.argKeyBytes;
        const at = slot * KMAX;
        let k = 0;
        while (k < kl && s[q + k]! === kb[at + k]!) ++k;
        if (k === kl) {
          eq = q + kl;
          key = cache.argKey[slot]!;
        }
      }
    }
    // (No space before a memo's "=": the word ends where it would from the key's start.)
    let w = toSpace(s, eq < 0 ? q : eq, end);
    if (eq < 0) {
      eq = charIn(s, CH_EQ, q, w);
      if (eq < 0) {
        q = skipSpaces(s, w, end);
        continue;
      }
      key = b.strings.internBytes(s, q, eq);
      if (slot >= 0 && cache.argKeyLen[slot] === 0 && eq - q <= KMAX) {
        cache.argKey[slot] = key;
        cache.argKeyLen[slot] = eq - q;
        cache.argKeyBytes.set(s.subarray(q, eq), slot * KMAX);
      }
    }
    const va = eq + 1;
    let ve = w;
    if (va < end && s[va]! === CH_QUOTE) {
      const cq = charIn(s, CH_QUOTE, va + 1, end);
      if (cq >= 0) {
        ve = cq + 1;
        w = ve;
      }
    }
    const i = addArg(b);
    ++n;
    b.args.key[i] = key;
    const c0 = s[va]!;
    if (c0 === CH_QUOTE) {
      b.args.kind[i] = ARG_KIND.STR;
      b.args.str[i] = b.strings.intern(
        textOf(s, va + 1, ve > va + 1 && s[ve - 1]! === CH_QUOTE ? ve - 1 : ve),
      );
    } else if (c0 === CH_DASH && parseAutoU64(s, va + 1, ve, b.args.val, i)) {
      // Two's complement of the magnitude, as the kernel's s64 would hold it.
      const lo = b.args.val[2 * i]!;
      const hi = b.args.val[2 * i + 1]!;
      const nlo = (~lo + 1) >>> 0;
      const nhi = (~hi + (nlo === 0 ? 1 : 0)) >>> 0;
      b.args.val[2 * i] = nlo;
      b.args.val[2 * i + 1] = nhi;
      b.args.kind[i] = ARG_KIND.NEG;
      b.args.str[i] = -1;
    } else if (parseAutoU64(s, va, ve, b.args.val, i)) {
      b.args.kind[i] = startsWithAt(s, va, HEX_PREFIX) ? ARG_KIND.HEX : ARG_KIND.DEC;
      b.args.str[i] = -1;
    } else {
      b.args.kind[i] = ARG_KIND.STR;
      b.args.str[i] = b.strings.internBytes(s, va, ve);
    }
    q = skipSpaces(s, w, end);
  }
  p.argLen[r] = n;
  return r;
}
