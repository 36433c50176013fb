// Test helpers: streams re-chunked at a stride, and a parse flattened into plain rows.

import { parseTrace, type ParseTraceOptions } from "./parse_trace.ts";
import { u64At } from "./u64.ts";
import { type EventBatch, INT_ABSENT } from "./event_batch.ts";

/**
 * A stream of `data` in chunks of `stride` bytes; `byob` makes it a byte stream (as
 * `Deno.FsFile.readable` is), read through the parser's BYOB path.
 */
export function streamOf(
  data: string | Uint8Array,
  stride = 1 << 20,
  byob = false,
): ReadableStream<Uint8Array> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let off = 0;
  if (byob) {
    return new ReadableStream({
      type: "bytes",
      pull(c) {
        if (off >= bytes.length) {
          c.close();
          c.byobRequest?.respond(0);
          return;
        }
        const req = c.byobRequest;
        if (req?.view) {
          const view = new Uint8Array(req.view.buffer, req.view.byteOffset, req.view.byteLength);
          const n = Math.min(stride, view.byteLength, bytes.length - off);
          view.set(bytes.subarray(off, off + n));
          off += n;
          req.respond(n);
        } else {
          c.enqueue(bytes.slice(off, off + stride));
          off += stride;
        }
      },
    });
  }
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= bytes.length) {
        c.close();
        return;
      }
      c.enqueue(bytes.slice(off, off + stride));
      off += stride;
    },
  });
}

/** Gzip `text` with the platform's CompressionStream. */
export async function gzip(text: string): Promise<Uint8Array> {
  const s = (streamOf(text) as ReadableStream<BufferSource>).pipeThrough<Uint8Array>(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** A plain view of one event row: common columns and its table's fields. */
export interface FlatRow {
  line: number;
  ts: number;
  cpu: number;
  pid: number;
  tgid: number;
  comm: string;
  flags: string | null;
  instance: string | null;
  event: string;
  kind: number;
  fields: Record<string, unknown>;
}

function fieldsOf(b: EventBatch, r: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const tr = b.tableRow[r]!;
  const kind = b.kind[r]!;
  if (kind === 0) {
    const name = b.eventNames.get(b.eventId[r]!);
    const t = b.tables.get(name)!;
    for (const fd of t.schema.fields) {
      const c = t.cols;
      switch (fd.kind) {
        case "hex":
          if (t.present[fd.name]![tr]) out[fd.name] = u64At(c[fd.name] as Uint32Array, tr);
          break;
        case "dec":
          if (!Number.isNaN((c[fd.name] as Float64Array)[tr]!)) {
            out[fd.name] = (c[fd.name] as Float64Array)[tr];
          }
          break;
        case "str":
        case "gfp": {
          const id = (c[fd.name] as Int32Array)[tr]!;
          if (id >= 0) out[fd.name] = b.strings.get(id);
          break;
        }
        case "attrs":
          out[fd.name] = (c[fd.name] as Int32Array)[tr];
          out[fd.name + "_text"] = b.strings.get((c[fd.name + "_text"] as Int32Array)[tr]!);
          break;
        case "frac":
          out[fd.name] = [(c[fd.name] as Int32Array)[tr], (c[fd.name + "_full"] as Int32Array)[tr]];
          break;
        case "u64s": {
          const st = (c[fd.name + "_start"] as Int32Array)[tr]!;
          const n = (c[fd.name + "_len"] as Int32Array)[tr]!;
          if (n >= 0) {
            const arr: bigint[] = [];
            for (let k = 0; k < n; ++k) arr.push(u64At(b.pool, st + k));
            out[fd.name] = arr;
          }
          break;
        }
        case "int": {
          const v = (c[fd.name] as Int32Array)[tr]!;
          if (v !== INT_ABSENT) out[fd.name] = v;
          break;
        }
        default: {
          const v = (c[fd.name] as Int32Array)[tr]!;
          if (v !== -1 || fd.kind === "flag") out[fd.name] = v;
        }
      }
    }
  } else if (kind === 1 || kind === 2) {
    const p = b.probes;
    out.func = b.strings.get(p.func[tr]!);
    out.funcOffset = p.funcOffset[tr];
    if (kind === 2) {
      out.caller = b.strings.get(p.caller[tr]!);
      out.callerOffset = p.callerOffset[tr];
    }
    out.meaning = p.meaning[tr];
    if (!Number.isNaN(p.durNs[tr]!)) out.durNs = p.durNs[tr];
  }
  const args: Record<string, unknown> = {};
  const addArgs = (start: number, len: number) => {
    for (let k = start; k < start + len; ++k) {
      const key = b.strings.get(b.args.key[k]!);
      args[key] = b.args.kind[k] === 3 ? b.strings.get(b.args.str[k]!) : u64At(b.args.val, k);
    }
  };
  if (kind === 1 || kind === 2) addArgs(b.probes.argStart[tr]!, b.probes.argLen[tr]!);
  addArgs(b.argStart[r]!, b.argLen[r]!);
  if (Object.keys(args).length > 0) out.args = args;
  return out;
}

/** Every event row of a batch, flattened. */
export function flatten(b: EventBatch): FlatRow[] {
  const rows: FlatRow[] = [];
  for (let r = 0; r < b.n; ++r) {
    rows.push({
      line: b.lineNo1[r]!,
      ts: b.tsNs[r]!,
      cpu: b.cpu[r]!,
      pid: b.pid[r]!,
      tgid: b.tgid[r]!,
      comm: b.strings.get(b.comm[r]!),
      flags: b.irqFlags[r]! < 0 ? null : b.strings.get(b.irqFlags[r]!),
      instance: b.instance[r]! < 0 ? null : b.strings.get(b.instance[r]!),
      event: b.eventNames.get(b.eventId[r]!),
      kind: b.kind[r]!,
      fields: fieldsOf(b, r),
    });
  }
  return rows;
}

/** Everything a parse produced, flattened: rows, calls, gaps, diagnostics, counts. */
export async function parseAll(
  data: string | Uint8Array,
  options: ParseTraceOptions & { stride?: number; byob?: boolean } = {},
) {
  const p = parseTrace(streamOf(data, options.stride, options.byob ?? false), options);
  const rows: FlatRow[] = [];
  const calls: Record<string, unknown>[] = [];
  const gaps: unknown[] = [];
  let base = 0n;
  for await (const b of p) {
    base = b.tsBaseNs;
    rows.push(...flatten(b));
    gaps.push(...b.gaps);
    for (let i = 0; i < b.calls.n; ++i) {
      calls.push({
        fn: b.calls.func[i]! < 0 ? null : b.strings.get(b.calls.func[i]!),
        module: b.calls.module[i]! < 0 ? null : b.strings.get(b.calls.module[i]!),
        cpu: b.calls.cpu[i],
        depth: b.calls.depth[i],
        durNs: b.calls.durNs[i],
        entry: b.calls.entryLineNo1[i],
        exit: b.calls.exitLineNo1[i],
        ts: b.calls.tsNs[i],
        pid: b.calls.pid[i],
      });
    }
  }
  return {
    rows,
    calls,
    gaps,
    base,
    diags: p.log.samples(),
    byCode: p.log.byCode(),
    counters: p.log.counters(),
    counts: p.eventCounts(),
    unknown: p.unknownCounts(),
    header: p.header,
    input: p.input,
  };
}

/** An event line with the kernel's widths: "%16s-%-7d [%03d] flags %5lu.%06lu: event: payload". */
export function kline(
  comm: string,
  pid: number,
  cpu: number,
  flags: string | null,
  secs: number,
  usecs: number,
  event: string,
  payload: string,
): string {
  const task = `${comm.padStart(16)}-${String(pid).padEnd(7)}`;
  const ts = `${String(secs).padStart(5)}.${String(usecs).padStart(6, "0")}`;
  const f = flags === null ? "" : `${flags} `;
  return `${task}[${String(cpu).padStart(3, "0")}] ${f}${ts}: ${event}: ${payload}`;
}
