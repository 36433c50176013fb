// The generic key=value payload parser: walks the words of a tracepoint payload once and
// stores each field by its schema's kind (kernel-spec §2). Never throws on content.

import * as msg from "./_messages.ts";
import { addArg, addSchemaRow, valueAbsent } from "./_batch_builder.ts";
import {
  ascii,
  CH_EQ,
  CH_QUOTE,
  CH_SLASH,
  charIn,
  equalsAt,
  parseAutoNumber,
  parseInt10,
  skipSpaces,
  startsWithAt,
  textOf,
  toSpace,
} from "./_scan.ts";
import type { DiagnosticLog } from "./diagnostics.ts";
import { ARG_KIND, type EventBatch, type SchemaTable } from "./event_batch.ts";
import type { EventSchema, FieldDef } from "./schemas.ts";
import { parseAutoU64, parseHexU64 } from "./u64.ts";
import { parseArray, parseDir, storeAttrs } from "./_print_helpers.ts";

const HEX_PREFIX = ascii("0x");

/** DMA_TRACE_MAX_ENTRIES: arrays of dma_map_sg are cut at this many elements. */
const DMA_TRACE_MAX_ENTRIES = 128;

/** Where the parser is: shared by the line parsers. */
export interface LineContext {
  b: EventBatch;
  log: DiagnosticLog;
  lineNo1: number;
  /** Index in the text where the current line starts (for 1-based columns). */
  lineStart: number;
  /** Bits of each distinct `attrs=` text, by its string id (-1 - bits when a name is unknown). */
  attrBits: Map<number, number>;
  /** The string id of the empty `attrs=` text once met (-1 before): most maps print it. */
  emptyAttrs: number;
}

interface SchemaIndex {
  text: Map<string, number>;
  raw: Map<string, number>;
  required: number[];
  /** `textKey + "="` of each field (empty for bare fields): compared in place on the fast path. */
  keyEq: Uint8Array[];
  /** `textKey` of each field, as bytes. */
  textKeyBytes: Uint8Array[];
  /** `symbols` of each field, as bytes. */
  symbolBytes: Uint8Array[][];
  /** Colon keys (`attachment`) as bytes, with their field index. */
  colonKeyBytes: { key: Uint8Array; field: number }[];
  /** Each bare entry's `literal` and `prefix`, as bytes. */
  bareLiteral: (Uint8Array | undefined)[];
  barePrefix: (Uint8Array | undefined)[];
  /** First field at or after i that the text form prints as `key=` (nFields when none). */
  nextKeyed: number[];
}

const INDEX = new Map<EventSchema, SchemaIndex>();

function indexOf(schema: EventSchema): SchemaIndex {
  let ix = INDEX.get(schema);
  if (ix === undefined) {
    ix = {
      text: new Map(),
      raw: new Map(),
      required: [],
      keyEq: [],
      textKeyBytes: [],
      symbolBytes: [],
      colonKeyBytes: [],
      bareLiteral: schema.bare.map((bd) =>
        bd.literal === undefined ? undefined : ascii(bd.literal)
      ),
      barePrefix: schema.bare.map((bd) => bd.prefix === undefined ? undefined : ascii(bd.prefix)),
      nextKeyed: [],
    };
    const keyed = (fd: FieldDef) => fd.textKey !== "" && !schema.colonKeys.includes(fd.textKey);
    schema.fields.forEach((fd, i) => {
      if (fd.textKey !== "") ix!.text.set(fd.textKey, i);
      ix!.raw.set(fd.rawKey, i);
      if (fd.required) ix!.required.push(i);
      ix!.keyEq.push(ascii(keyed(fd) ? fd.textKey + "=" : ""));
      ix!.textKeyBytes.push(ascii(fd.textKey));
      ix!.symbolBytes.push((fd.symbols ?? []).map(ascii));
    });
    for (const key of schema.colonKeys) {
      ix.colonKeyBytes.push({ key: ascii(key), field: ix.text.get(key) ?? -1 });
    }
    const n = schema.fields.length;
    for (let i = 0; i <= n; ++i) {
      let j = i;
      while (j < n && !keyed(schema.fields[j]!)) ++j;
      ix.nextKeyed.push(j);
    }
    INDEX.set(schema, ix);
  }
  return ix;
}

function kindText(fd: FieldDef): string {
  switch (fd.kind) {
    case "hex":
      return "a hex number";
    case "dec":
    case "int":
      return "a decimal number";
    case "dir":
      return "a DMA direction (BIDIRECTIONAL, TO_DEVICE, FROM_DEVICE, NONE)";
    case "frac":
      return "shown/full counts";
    case "u64s":
      return "an array {0x..,0x..}";
    case "sym":
      return (fd.symbols ?? []).join(" or ");
    default:
      return "a value";
  }
}

const SYMBOL_WORDS = new Map<FieldDef, Uint8Array[]>();

/** Store one field's value; false when the value does not have the kind's form. */
function storeField(
  ctx: LineContext,
  fd: FieldDef,
  cols: ReadonlyArray<Int32Array | Float64Array | Uint32Array>,
  present: Uint8Array | undefined,
  r: number,
  s: Uint8Array,
  a: number,
  e: number,
  raw: boolean,
): boolean {
  const c0 = cols[0]!;
  switch (fd.kind) {
    case "str":
      (c0 as Int32Array)[r] = ctx.b.strings.internBytes(s, a, e);
      return true;
    case "gfp":
      (c0 as Int32Array)[r] = ctx.b.strings.internBytes(s, a, e);
      return true;
    case "hex": {
      const ok = raw
        ? parseAutoU64(s, a, e, c0 as Uint32Array, r)
        : parseHexU64(s, a, e, c0 as Uint32Array, r);
      if (ok && present !== undefined) present[r] = 1;
      return ok;
    }
    case "dec": {
      const v = raw ? parseAutoNumber(s, a, e) : parseInt10(s, a, e);
      if (Number.isNaN(v) || v < 0) return false;
      (c0 as Float64Array)[r] = v;
      return true;
    }
    case "int": {
      const v = raw ? parseAutoNumber(s, a, e) : parseInt10(s, a, e);
      if (Number.isNaN(v)) return false;
      (c0 as Int32Array)[r] = v;
      return true;
    }
    case "dir": {
      const v = parseDir(s, a, e);
      if (Number.isNaN(v)) return false;
      (c0 as Int32Array)[r] = v;
      return true;
    }
    case "attrs": {
      if (raw) {
        const v = parseAutoNumber(s, a, e);
        if (Number.isNaN(v)) return false;
        (c0 as Int32Array)[r] = v;
        (cols[1] as Int32Array)[r] = ctx.b.strings.internBytes(s, a, e);
        return true;
      }
      storeAttrs(ctx, c0 as Int32Array, cols[1] as Int32Array, r, s, a, e);
      return true;
    }
    case "frac": {
      if (raw) {
        const full = parseInt10(s, a, e);
        if (Number.isNaN(full)) return false;
        (c0 as Int32Array)[r] = Math.min(full, DMA_TRACE_MAX_ENTRIES);
        (cols[1] as Int32Array)[r] = full;
        return true;
      }
      const slash = charIn(s, CH_SLASH, a, e);
      if (slash < 0 || slash >= e || s[slash]! !== CH_SLASH) return false;
      const shown = parseInt10(s, a, slash);
      const full = parseInt10(s, slash + 1, e);
      if (Number.isNaN(shown) || Number.isNaN(full)) return false;
      (c0 as Int32Array)[r] = shown;
      (cols[1] as Int32Array)[r] = full;
      return true;
    }
    case "u64s":
      return parseArray(ctx.b, s, a, e, c0 as Int32Array, cols[1] as Int32Array, r);
    case "flag": {
      if (raw) {
        const v = parseAutoNumber(s, a, e);
        if (Number.isNaN(v)) return false;
        (c0 as Int32Array)[r] = v === 0 ? 0 : 1;
        return true;
      }
      (c0 as Int32Array)[r] = 1;
      return true;
    }
    case "sym": {
      let syms = SYMBOL_WORDS.get(fd);
      if (syms === undefined) {
        syms = (fd.symbols ?? []).map(ascii);
        SYMBOL_WORDS.set(fd, syms);
      }
      for (let k = 0; k < syms.length; ++k) {
        if (equalsAt(s, a, e, syms[k]!)) {
          (c0 as Int32Array)[r] = k;
          return true;
        }
      }
      const v = parseAutoNumber(s, a, e);
      if (raw && !Number.isNaN(v)) {
        (c0 as Int32Array)[r] = v;
        return true;
      }
      return false;
    }
  }
}

/** Keep a word no field takes, in the row's extra args. */
function keepArg(
  ctx: LineContext,
  row: number,
  s: Uint8Array,
  ka: number,
  ke: number,
  va: number,
  ve: number,
): void {
  const b = ctx.b;
  const i = addArg(b);
  if (b.argLen[row] === 0) b.argStart[row] = i;
  b.argLen[row] = b.argLen[row]! + 1;
  b.args.key[i] = b.strings.internBytes(s, ka, ke);
  if (parseAutoU64(s, va, ve, b.args.val, i)) {
    b.args.kind[i] = startsWithAt(s, va, HEX_PREFIX) ? ARG_KIND.HEX : ARG_KIND.DEC;
    b.args.str[i] = -1;
  } else {
    b.args.kind[i] = ARG_KIND.STR;
    b.args.str[i] = b.strings.internBytes(s, va, ve);
  }
}

function reportBadValue(
  ctx: LineContext,
  schema: EventSchema,
  fd: FieldDef,
  s: Uint8Array,
  a: number,
  e: number,
): void {
  ctx.log.report(
    "bad_field_value",
    ctx.lineNo1,
    a - ctx.lineStart + 1,
    msg.badFieldValue(schema.name, fd.name, kindText(fd), msg.excerpt(textOf(s, a, e))),
  );
}

/** End of a value starting at `a`: a quoted string runs to its closing quote. */
function valueEnd(s: Uint8Array, a: number, end: number): number {
  if (a < end && s[a]! === CH_QUOTE) {
    const q = charIn(s, CH_QUOTE, a + 1, end);
    if (q >= 0) return q + 1;
  }
  return toSpace(s, a, end);
}

/**
 * Parse a tracepoint payload `s[start, end)` into a row of the batch's table `t`.
 *
 * @returns The row within the schema table.
 */
export function parseTracepoint(
  ctx: LineContext,
  t: SchemaTable,
  s: Uint8Array,
  start: number,
  end: number,
  commonRow: number,
): number {
  const schema = t.schema;
  const r = addSchemaRow(t, commonRow);
  const ix = indexOf(schema);
  const fields = schema.fields;
  const nFields = fields.length;
  let seen = 0; // bit per field index below 31; schemas have at most 10 fields
  let p = skipSpaces(s, start, end);
  // -R raw output names every field: a first word with "=" where text starts with a bare word.
  let raw = false;
  if (schema.startsBare) {
    const w = toSpace(s, p, end);
    raw = charIn(s, CH_EQ, p, w) >= 0;
  }
  let bare = 0;
  let expect = 0; // next field in text order: the fast path compares its key in place
  while (p < end) {
    // Fast path: the field the text form prints next, its "key=" compared in place.
    if (!raw) {
      const nx = ix.nextKeyed[expect]!;
      if (nx < nFields && startsWithAt(s, p, ix.keyEq[nx]!)) {
        const va = p + ix.keyEq[nx]!.length;
        const we = valueEnd(s, va, end);
        if (
          !storeField(ctx, fields[nx]!, t.fieldCols[nx]!, t.fieldPresent[nx], r, s, va, we, raw)
        ) {
          reportBadValue(ctx, schema, fields[nx]!, s, va, we);
        }
        seen |= 1 << nx;
        expect = nx + 1;
        p = skipSpaces(s, we, end);
        continue;
      }
    }
    const w = valueEnd(s, p, end);
    let eq = -1;
    for (let q = p; q < w; ++q) {
      if (s[q]! === CH_EQ) {
        eq = q;
        break;
      }
    }
    let fi = -1;
    let va = p;
    if (eq > p) {
      if (!raw && expect < nFields && equalsAt(s, p, eq, ix.textKeyBytes[expect]!)) fi = expect;
      else fi = (raw ? ix.raw : ix.text).get(textOf(s, p, eq)) ?? -1;
      va = eq + 1;
      const we = valueEnd(s, va, end);
      if (fi < 0) {
        ctx.log.add("unexpected_field");
        keepArg(ctx, commonRow, s, p, eq, va, we);
        p = skipSpaces(s, we, end);
        continue;
      }
      if (!storeField(ctx, fields[fi]!, t.fieldCols[fi]!, t.fieldPresent[fi], r, s, va, we, raw)) {
        reportBadValue(ctx, schema, fields[fi]!, s, va, we);
      }
      seen |= 1 << fi;
      expect = fi + 1;
      p = skipSpaces(s, we, end);
      continue;
    }
    // A bare word: a colon key ("attachment:%p"), or the next bare entry of the text form.
    let handled = false;
    for (let k = 0; k < ix.colonKeyBytes.length; ++k) {
      const key = ix.colonKeyBytes[k]!.key;
      if (startsWithAt(s, p, key) && s[p + key.length]! === 58) {
        fi = ix.colonKeyBytes[k]!.field;
        if (fi >= 0) {
          const a = p + key.length + 1;
          if (
            !storeField(ctx, fields[fi]!, t.fieldCols[fi]!, t.fieldPresent[fi], r, s, a, w, raw)
          ) {
            reportBadValue(ctx, schema, fields[fi]!, s, a, w);
          }
          seen |= 1 << fi;
          expect = fi + 1;
          handled = true;
        }
        break;
      }
    }
    while (!handled && bare < schema.bare.length) {
      const bd = schema.bare[bare]!;
      const literal = ix.bareLiteral[bare];
      if (literal !== undefined) {
        if (equalsAt(s, p, w, literal)) {
          ++bare;
          handled = true;
          if (bd.field !== undefined) {
            fi = ix.raw.get(bd.field) ?? -1;
            if (fi >= 0) {
              storeField(ctx, fields[fi]!, t.fieldCols[fi]!, t.fieldPresent[fi], r, s, p, w, raw);
              seen |= 1 << fi;
            }
          }
          break;
        }
        if (bd.optional) {
          ++bare;
          continue;
        }
        break;
      }
      let a = p;
      const prefix = ix.barePrefix[bare];
      if (prefix !== undefined) {
        if (!startsWithAt(s, p, prefix)) {
          if (bd.optional) {
            ++bare;
            continue;
          }
          break;
        }
        a = p + prefix.length;
      }
      ++bare;
      fi = ix.raw.get(bd.field ?? "") ?? -1;
      if (fi >= 0) {
        if (fi >= expect) expect = fi + 1;
        if (!storeField(ctx, fields[fi]!, t.fieldCols[fi]!, t.fieldPresent[fi], r, s, a, w, raw)) {
          if (bd.optional) continue;
          reportBadValue(ctx, schema, fields[fi]!, s, a, w);
        }
        seen |= 1 << fi;
      }
      handled = true;
    }
    if (!handled) {
      ctx.log.report(
        "unexpected_token",
        ctx.lineNo1,
        p - ctx.lineStart + 1,
        msg.unexpectedToken(schema.name, msg.excerpt(textOf(s, p, w))),
      );
    }
    p = skipSpaces(s, w, end);
  }
  let reported = false;
  for (let k = 0; k < ix.required.length; ++k) {
    const fi = ix.required[k]!;
    if ((seen & (1 << fi)) === 0) {
      t.incomplete[r] = 1;
      if (!reported) {
        ctx.log.report(
          "missing_field",
          ctx.lineNo1,
          0,
          msg.missingField(schema.name, fields[fi]!.name),
        );
      }
      reported = true;
    } else if (valueAbsent(t, fields[fi]!, fi, r)) t.incomplete[r] = 1; // printed, did not parse
  }
  return r;
}

/** Keep every `key=value` word of an unknown event's payload as args of its row. */
export function parseGenericArgs(
  ctx: LineContext,
  s: Uint8Array,
  start: number,
  end: number,
  commonRow: number,
): void {
  let p = skipSpaces(s, start, end);
  while (p < end) {
    const w = valueEnd(s, p, end);
    const eq = charIn(s, CH_EQ, p, w);
    if (eq > p) {
      const we = valueEnd(s, eq + 1, end);
      keepArg(ctx, commonRow, s, p, eq, eq + 1, we);
      p = skipSpaces(s, we, end);
    } else p = skipSpaces(s, w, end);
  }
}
