/**
 * The streaming ftrace parser: bytes in, columnar {@linkcode EventBatch}es out, for every
 * input form of kernel-spec §1 (`trace` with or without irq-info and TGID columns,
 * `trace_pipe`, `trace-cmd report` plain, `-R` and `-t`, instances, lost-event markers,
 * function_graph, gzip).
 *
 * The file is longer than 300 lines because it is the one loop every line goes through: the
 * per-line dispatch stays in one place so that the hot path reads top to bottom.
 *
 * @module
 */

import * as msg from "./_messages.ts";
import { newBatch, resetBatch, tableFor } from "./_batch_builder.ts";
import { FAST_PATHS, type FastPath } from "./_fast_paths.ts";
import { keyedFastPath } from "./_keyed_fast.ts";
import {
  CallStacks,
  FG_COMMENT,
  FG_ENTRY,
  FG_EXIT,
  FG_LEAF,
  looksLikeFunctionGraph,
  newFgScratch,
  parseFunctionGraph,
  recordCall,
} from "./_function_graph.ts";
import { linePieces, type SourceInfo } from "./_line_source.ts";
import { newTraceHeader, readHeaderComment, type TraceHeader } from "./_trace_header.ts";
import type { InputInfo, ParseTraceOptions, TraceParse } from "./parse_types.ts";
import { traceParseOf } from "./_trace_parse.ts";
import { type LineContext, parseGenericArgs, parseTracepoint } from "./_payload.ts";
import {
  fastPrefix,
  newPrefix,
  parsePrefix,
  type Prefix,
  PREFIX_BAD_TS,
  PREFIX_OK,
} from "./_prefix.ts";
import { looksLikeProbe, parseProbe, ProbeCache, ProbeStacks } from "./_probe.ts";
import {
  ascii,
  CH_COLON,
  CH_CR,
  CH_HASH,
  CH_NL,
  CH_SPACE,
  charIn,
  newlineIn,
  parseUint,
  skipSpaces,
  startsWithAt,
  textOf,
} from "./_scan.ts";
import { DiagnosticLog } from "./diagnostics.ts";
import { EVENT_KIND, type EventBatch, type SchemaTable } from "./event_batch.ts";
import { DEFAULT_PROBE_MAP } from "./default_probe_map.ts";
import { type EventSchema, SCHEMA_BY_NAME } from "./schemas.ts";
import { StringTable } from "./string_table.ts";

const TRACE_CMD_CPUS = ascii("cpus=");
const CPU_WORD = ascii("CPU");
const SEPARATOR = ascii("---");
const TRACE_CMD_VERSION = ascii("version = ");

export type { InputInfo, ParseTraceOptions, TraceHeader, TraceParse };

/**
 * Parse an ftrace text stream into columnar batches.
 *
 * @param stream The trace bytes (gzip detected by its magic bytes).
 * @param options Probe map and limits.
 * @returns The parse; iterate it once.
 *
 * @example Counting events of a two-line trace
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTrace } from "./parse_trace.ts";
 * const text = [
 *   "              dd-494     [001] .....     8.588976: map: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 paddr=0x000000000abe0000 size=4096",
 *   "          <idle>-0       [001] d.h1.     8.626346: unmap: IOMMU: iova=0x00000000fff80000 - 0x00000000fff81000 size=4096 unmapped_size=4096",
 * ].join("\n");
 * const parse = parseTrace(new Blob([text]).stream());
 * let rows = 0;
 * for await (const batch of parse) rows += batch.n;
 * assert.equal(rows, 2);
 * assert.deepEqual(parse.eventCounts(), { map: 1, unmap: 1 });
 * assert.equal(parse.log.total(), 0);
 * ```
 */
export function parseTrace(
  stream: ReadableStream<Uint8Array>,
  options: ParseTraceOptions = {},
): TraceParse {
  const log = new DiagnosticLog({ samplesPerCode: options.samplesPerCode ?? 20 });
  const input: InputInfo = { bytes: 0, lines: 0, gzip: false, rawBytes: 0 };
  const header: TraceHeader = newTraceHeader();
  const eventNames = new StringTable();
  const strings = new StringTable();
  const counts: number[] = [];
  const unknown: number[] = [];
  const fgEntry = new Map<number, number>();
  const fgLeaf = new Map<number, number>();
  const fgComment = new Map<number, number>();
  let fgExit = 0;

  async function* run(): AsyncGenerator<EventBatch> {
    const probeMap = options.probeMap ?? DEFAULT_PROBE_MAP;
    const batchRows = options.batchRows ?? 16384;
    const maxLine = options.maxLineChars ?? 65536;
    // The fast route parses a line before checking its length: only when no line it takes
    // (a few hundred bytes at most) can be too long.
    const fastRoute = maxLine >= 4096;
    const fastPaths = options.fastPaths ?? true;
    const info: SourceInfo = { rawBytes: 0, gzip: false, textBytes: 0 };
    const pre: Prefix = newPrefix();
    const fg = newFgScratch();
    const callStacks = new CallStacks();
    const probeStacks = new ProbeStacks();
    const probeCache = new ProbeCache();
    const schemaOf: (EventSchema | null | undefined)[] = []; // by event id
    const fastOf: (FastPath | undefined)[] = []; // fixed-width parser, by event id
    const tableOf: (SchemaTable | undefined)[] = []; // the batch's table, by event id
    let haveBase = false;
    let baseSecs = 0;
    let baseFracNs = 0;
    let traceCmd = false;
    let fgraphTracer = false;
    const b = newBatch(batchRows + 1, strings, eventNames, 0n);
    const ctx: LineContext = {
      b,
      log,
      lineNo1: 0,
      lineStart: 0,
      attrBits: new Map(),
      emptyAttrs: -1,
    };

    function relTs(secs: number, fracNs: number): number {
      if (!haveBase) {
        haveBase = true;
        baseSecs = secs;
        baseFracNs = fracNs;
        b.tsBaseNs = BigInt(secs) * 1_000_000_000n + BigInt(fracNs);
        b.tsBaseNsNumber = Number(b.tsBaseNs);
      }
      return (secs - baseSecs) * 1e9 + (fracNs - baseFracNs);
    }

    // Event ids by the name's length and last byte (id + 1; 0: none): the names of one trace
    // differ there (map, unmap, iova_alloc, dma_map_sg, dma_map_page, dma_unmap_sg, ...), and
    // one slot and a byte comparison cost less than the string table's lookup, whose
    // last-found key misses whenever names alternate line by line.
    const nameSlot = new Int32Array(32 * 256);
    const nameBytes: Uint8Array[] = []; // by event id

    function eventIdOf(s: Uint8Array, a: number, e: number): number {
      const n = e - a;
      const slot = ((n & 31) << 8) | s[e - 1]!;
      const seen = nameSlot[slot]! - 1;
      if (seen >= 0) {
        const name = nameBytes[seen]!;
        if (name.length === n) {
          let k = 0;
          while (k < n && s[a + k]! === name[k]!) ++k;
          if (k === n) return seen;
        }
      }
      const id = eventNames.internBytes(s, a, e);
      nameSlot[slot] = id + 1;
      nameBytes[id] ??= s.slice(a, e);
      if (schemaOf[id] === undefined) {
        schemaOf[id] = SCHEMA_BY_NAME.get(eventNames.get(id)) ?? null;
        const schema = schemaOf[id];
        fastOf[id] = !fastPaths || schema === null
          ? undefined
          : FAST_PATHS.get(schema.name) ?? keyedFastPath(schema);
        counts[id] = 0;
        unknown[id] = 0;
      }
      return id;
    }

    /** Add a common row; its payload is parsed by the caller. */
    function addRow(id: number, tsNs: number, cpu: number, pid: number): number {
      const r = b.n++;
      b.lineNo1[r] = ctx.lineNo1;
      b.tsNs[r] = tsNs;
      b.cpu[r] = cpu;
      b.pid[r] = pid;
      b.eventId[r] = id;
      return r;
    }

    /** The table of event `id`'s format in this batch. */
    function tableOfEvent(id: number, schema: EventSchema): SchemaTable {
      return tableOf[id] ?? (tableOf[id] = tableFor(b, schema));
    }

    function payload(r: number, id: number, s: Uint8Array, a: number, e: number): void {
      const schema = schemaOf[id];
      // A probe's payload starts "(sym+0x..": no tracepoint format does, so a probe that
      // happens to share a tracepoint's name is still read as a probe.
      if (looksLikeProbe(s, a, e)) {
        b.tableRow[r] = parseProbe(
          ctx,
          s,
          a,
          e,
          r,
          eventNames.get(id),
          probeMap,
          probeCache,
          probeStacks,
        );
      } else if (schema) {
        b.kind[r] = EVENT_KIND.TRACEPOINT;
        const t = tableOfEvent(id, schema);
        // The fixed-width fast path first (it writes nothing unless the whole line fits).
        const fast = fastOf[id];
        const tr = t.n;
        if (fast !== undefined && tr < t.rows.length && fast(ctx, t, tr, s, a, e) >= 0) {
          t.rows[tr] = r;
          t.n = tr + 1;
          b.tableRow[r] = tr;
          return;
        }
        b.tableRow[r] = parseTracepoint(ctx, t, s, a, e, r);
      } else {
        b.kind[r] = EVENT_KIND.UNKNOWN;
        b.tableRow[r] = -1;
        unknown[id] = unknown[id]! + 1;
        log.add("unknown_event");
        parseGenericArgs(ctx, s, a, e, r);
      }
    }

    function onEventLine(s: Uint8Array, a: number, e: number): boolean {
      const code = parsePrefix(s, a, e, pre, traceCmd);
      if (code === PREFIX_BAD_TS) {
        log.report(
          "bad_timestamp",
          ctx.lineNo1,
          pre.flagsStart - a + 1,
          msg.badTimestamp(msg.excerpt(textOf(s, pre.flagsStart, e))),
        );
        return true;
      }
      if (code !== PREFIX_OK) return false;
      const id = eventIdOf(s, pre.nameStart, pre.nameEnd);
      payload(eventRow(s, a, id), id, s, pre.payloadStart, e);
      return true;
    }

    /** The row of an event line whose prefix `pre` holds: context columns filled. */
    function eventRow(s: Uint8Array, a: number, id: number): number {
      counts[id] = counts[id]! + 1;
      const r = addRow(
        id,
        pre.ticks ? relTs(0, pre.secs) : relTs(pre.secs, pre.fracNs),
        pre.cpu,
        pre.pid,
      );
      b.tgid[r] = pre.tgid;
      const span = pre.span;
      if (span >= 0) {
        b.comm[r] = pre.spans.comm[span]!;
        b.irqFlags[r] = pre.spans.flags[span]!;
      } else {
        const comm = strings.internBytes(s, pre.commStart, pre.commEnd);
        const flags = pre.flagsStart < 0
          ? -1
          : strings.internBytes(s, pre.flagsStart, pre.flagsEnd);
        b.comm[r] = comm;
        b.irqFlags[r] = flags;
        if (pre.spanEnd > 0) pre.spans.add(s, a, pre.spanEnd, pre.pid, pre.cpu, comm, flags);
      }
      b.instance[r] = pre.instStart < 0 ? -1 : strings.internBytes(s, pre.instStart, pre.instEnd);
      return r;
    }

    /**
     * A line at `a` in the kernel's own layout, parsed before its end is known (the piece's
     * end `len` bounds it): an iommu:map/unmap line's fast path finds where it ends, any other
     * line is searched for its newline only from its payload on. Returns the index of the
     * line's newline (or `len`), or -1 when the line is not in that layout (nothing done then).
     */
    function kernelLine(s: Uint8Array, v: DataView, a: number, len: number): number {
      if (!fastPrefix(s, a, len, pre)) return -1;
      const ps = pre.payloadStart;
      const id = eventIdOf(s, pre.nameStart, pre.nameEnd);
      const fast = fastOf[id];
      if (fast !== undefined && !looksLikeProbe(s, ps, len)) {
        const t = tableOfEvent(id, schemaOf[id]!);
        const tr = t.n;
        if (tr < t.rows.length) {
          const q = fast(ctx, t, tr, s, ps, len);
          if (q >= 0) {
            const r = eventRow(s, a, id);
            b.kind[r] = EVENT_KIND.TRACEPOINT;
            t.rows[tr] = r;
            t.n = tr + 1;
            b.tableRow[r] = tr;
            return q === len || s[q] === CH_NL ? q : q + 1;
          }
        }
      }
      const nl = newlineIn(v, s, ps, len);
      let e = nl;
      if (e > a && s[e - 1]! === CH_CR) --e;
      if (e - a < 40) {
        // Shorter than the layout's least: the general parser's, as before the fast route.
        onLine(s, a, e);
        return nl;
      }
      if (e - a > maxLine) {
        log.report("line_too_long", ctx.lineNo1, 0, msg.lineTooLong(maxLine));
        return nl;
      }
      payload(eventRow(s, a, id), id, s, ps, e);
      return nl;
    }

    function onFunctionGraph(s: Uint8Array, a: number, e: number): void {
      const kind = parseFunctionGraph(ctx, s, a, e, fg, fgraphTracer);
      const tsNs = fg.secs < 0 ? NaN : relTs(fg.secs, fg.fracNs);
      if (kind === FG_ENTRY) {
        const fn = strings.internBytes(s, fg.fnStart, fg.fnEnd);
        const mod = fg.modStart < 0 ? -1 : strings.internBytes(s, fg.modStart, fg.modEnd);
        fgEntry.set(fn, (fgEntry.get(fn) ?? 0) + 1);
        callStacks.open(fg.cpu, fn, mod, ctx.lineNo1, fg.depth);
      } else if (kind === FG_LEAF) {
        const fn = strings.internBytes(s, fg.fnStart, fg.fnEnd);
        const mod = fg.modStart < 0 ? -1 : strings.internBytes(s, fg.modStart, fg.modEnd);
        fgLeaf.set(fn, (fgLeaf.get(fn) ?? 0) + 1);
        recordCall(ctx, fg.cpu, fn, mod, ctx.lineNo1, fg.depth, fg.durNs, tsNs, fg.pid);
      } else if (kind === FG_EXIT) {
        ++fgExit;
        const open = callStacks.close(fg.cpu);
        if (open === undefined) {
          log.add("unbalanced_return");
          const fn = fg.fnStart < 0 ? -1 : strings.internBytes(s, fg.fnStart, fg.fnEnd);
          recordCall(ctx, fg.cpu, fn, -1, NaN, fg.depth, fg.durNs, tsNs, fg.pid);
        } else {
          recordCall(
            ctx,
            fg.cpu,
            open.fn,
            open.mod,
            open.lineNo1,
            open.depth,
            fg.durNs,
            tsNs,
            fg.pid,
          );
        }
      } else if (kind === FG_COMMENT) {
        // An event printed inside the graph: "/* map: IOMMU: iova=... */".
        const ta = fg.textStart;
        const colon = charIn(s, CH_COLON, ta, fg.textEnd);
        if (colon > ta && charIn(s, CH_SPACE, ta, colon) < 0) {
          const id = eventIdOf(s, ta, colon);
          fgComment.set(id, (fgComment.get(id) ?? 0) + 1);
          const r = addRow(id, tsNs, fg.cpu, fg.pid);
          b.comm[r] = -1;
          b.irqFlags[r] = -1;
          b.instance[r] = -1;
          b.tgid[r] = -1;
          payload(r, id, s, skipSpaces(s, colon + 1, fg.textEnd), fg.textEnd);
        }
      }
    }

    function onComment(s: Uint8Array, a: number, e: number): void {
      const cpu = readHeaderComment(s, a, e, header);
      fgraphTracer = header.tracer === "function_graph";
      if (cpu >= 0) {
        b.gaps.push({ lineNo1: ctx.lineNo1, cpu, lostEvents: -1, kind: "buffer_started" });
        log.report("buffer_started", ctx.lineNo1, 0, msg.bufferStarted(cpu));
      }
    }

    function onLine(s: Uint8Array, a: number, e: number): void {
      const c0 = s[a]!;
      if (c0 === CH_HASH) return onComment(s, a, e);
      if (c0 === 67 && startsWithAt(s, a, CPU_WORD)) {
        const m = /^CPU:?(\d+) \[LOST (\d+ )?EVENTS\]/.exec(textOf(s, a, e));
        if (m) {
          const cpu = Number(m[1]);
          const lost = m[2] === undefined ? -1 : Number(m[2]);
          b.gaps.push({ lineNo1: ctx.lineNo1, cpu, lostEvents: lost, kind: "lost" });
          log.add("lost_event_markers");
          if (lost > 0) log.add("lost_events", lost);
          log.report("lost_events", ctx.lineNo1, 0, msg.lostEvents(cpu, lost));
          log.add("lost_events", -1); // report() counted one; the counter sums events
          return;
        }
        if (/^CPU \d+ is empty/.test(textOf(s, a, e))) return;
      }
      if (c0 === 99 && startsWithAt(s, a, TRACE_CMD_CPUS)) {
        traceCmd = true;
        header.format = "trace-cmd";
        const v = parseUint(s, a + 5, e);
        if (v >= 0) header.cpus = v;
        return;
      }
      if (c0 === 118 && startsWithAt(s, a, TRACE_CMD_VERSION)) {
        traceCmd = true;
        header.format = "trace-cmd";
        return;
      }
      const graph = fgraphTracer;
      if (graph && looksLikeFunctionGraph(s, a, e, true)) return onFunctionGraph(s, a, e);
      if (onEventLine(s, a, e)) return;
      const p = skipSpaces(s, a, e);
      if (p === e) return; // blank
      if (startsWithAt(s, p, SEPARATOR)) return; // function_graph context-switch separator
      if (!graph && looksLikeFunctionGraph(s, a, e, false)) return onFunctionGraph(s, a, e);
      log.report("bad_line", ctx.lineNo1, 0, msg.badLine(msg.excerpt(textOf(s, a, e))));
    }

    for await (const piece of linePieces(stream, info, options.bufferBytes)) {
      if (piece.kind === "gzip_error") {
        log.report("gzip_truncated", input.lines, 0, msg.gzipTruncated(piece.reason));
        break;
      }
      if (piece.kind === "overlong") {
        ctx.lineNo1 = ++input.lines;
        log.report("line_too_long", ctx.lineNo1, 0, msg.lineTooLong(maxLine));
        continue;
      }
      options.onProgress?.(info.textBytes, input.lines);
      const s = piece.bytes;
      const len = piece.end;
      const view = new DataView(s.buffer, s.byteOffset, s.byteLength);
      let pos = 0;
      while (pos < len) {
        ctx.lineNo1 = ++input.lines;
        ctx.lineStart = pos;
        let nl = fastRoute && !fgraphTracer && s[pos] !== CH_HASH
          ? kernelLine(s, view, pos, len)
          : -1;
        if (nl < 0) {
          nl = newlineIn(view, s, pos, len);
          let end = nl;
          if (end > pos && s[end - 1]! === CH_CR) --end;
          if (end - pos > maxLine) {
            log.report("line_too_long", ctx.lineNo1, 0, msg.lineTooLong(maxLine));
          } else if (end > pos) onLine(s, pos, end);
        }
        pos = nl + 1;
        if (b.n >= batchRows) {
          yield b;
          // The consumer is done with the batch once it asks for the next: reuse its arrays
          // (allocation per batch is what made peak RSS grow past 200 MB).
          resetBatch(b, b.tsBaseNs);
        }
      }
    }
    input.bytes = info.textBytes;
    input.rawBytes = info.rawBytes;
    input.gzip = info.gzip;
    if (b.n > 0 || b.calls.n > 0 || b.gaps.length > 0) yield b;
  }

  return traceParseOf({
    input,
    header,
    log,
    eventCounts() {
      const out: Record<string, number> = {};
      eventNames.values().forEach((name, id) => {
        if ((counts[id] ?? 0) > 0) out[name] = counts[id]!;
      });
      for (const [id, n] of fgComment) out["fgraph-comment:" + eventNames.get(id)] = n;
      for (const [fn, n] of fgEntry) out["fgraph-entry:" + strings.get(fn)] = n;
      for (const [fn, n] of fgLeaf) out["fgraph-leaf:" + strings.get(fn)] = n;
      if (fgExit > 0) out["fgraph-exit"] = fgExit;
      return out;
    },
    unknownCounts() {
      const out: Record<string, number> = {};
      eventNames.values().forEach((name, id) => {
        if ((unknown[id] ?? 0) > 0) out[name] = unknown[id]!;
      });
      return out;
    },
  }, run);
}
