// deno-lint-ignore-file no-console -- the command line is the one module that prints
/**
 * The dmareplay command line: the only module that touches argv, files and the terminal.
 *
 * Over 500 lines on purpose: DESIGN.md makes this the one file that does I/O, so every
 * subcommand's flags, files and printing live here; the work itself is in lib/.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  DEFAULT_PROBE_MAP,
  fileStream,
  type ParseSummary,
  parseTrace,
  parseTraceOnWorker,
  type ParseTraceOptions,
  type ProbeMap,
  STATS,
  summarizeTrace,
  type TraceParse,
  validateProbeMap,
} from "./lib/ingest/mod.ts";
import {
  applyWhatIf,
  calcMapTypeAndDist,
  importTopologyDump,
  P2pdmaMapTypes,
  P2pdmaProviders,
  pciP2pdmaBusAddrMap,
  PciTree,
  type Topology,
  validateTopology,
} from "./lib/model/topology/mod.ts";
import { type CostProfile, DEFAULT_COST_PROFILE, validateCostProfile } from "./lib/cost/mod.ts";
import { REVISION_NAMES } from "./lib/revisions/mod.ts";
import {
  calibrateTrace,
  chunkArrays,
  type EncodedChunk,
  recycleChunkArrays,
  replayParse,
  type TableChunk,
  TableEncoder,
} from "./lib/replay/mod.ts";
import type { ReplayRun } from "./lib/analysis/mod.ts";
import { type Scenario, synthesizeTrace, validateScenario } from "./lib/synth/mod.ts";

/** The analysis, charts and report rooms (vega, arquero, resvg): loaded by report and compare. */
const reporting = () =>
  Promise.all([
    import("./lib/analysis/mod.ts"),
    import("./lib/charts/mod.ts"),
    import("./lib/report/mod.ts"),
  ]).then(([analysis, charts, report]) => ({ ...analysis, ...charts, ...report }));

const USAGE = `dmareplay: replay ftrace captures of PCI P2PDMA / IOMMU / DMA-API / dma-buf work

Usage: dmareplay <command> [options]

Commands:
  parse    TRACE|- [--probes P.json] [--json]        event counts by name, diagnostics
  replay   TRACE|- [--topology T.json] [--probes P.json] [--revision R] [--whatif W.json]
           [--cost C.json] --out DIR                 replay through the model: summary.json and
                                                     the ops, timeline, attachments, anomalies tables
  calibrate TRACE|- [--topology T] [--probes P] [--cost BASE.json] --out PROFILE.json
                                                     fit a cost profile to the trace's durations
  report   TRACE|- [--topology T] [--revisions all|a,b] [--whatif W.json...] --out DIR
                                                     report.html (offline), report.md, charts,
                                                     tables; revisions and what-ifs compared
  compare  A.trace B.trace [--topology T] --out DIR  two captures side by side (B - A)
  synth    SCENARIO.json --out FILE|- [--events N | --bytes SIZE] [--seed S]
                                                     write a realistic trace of a scenario
  validate FILE.json                                 check a topology, probe map, scenario or
                                                     cost profile
  p2p      T.json PROVIDER_BDF[:BAR] CLIENT_BDF [--json] [--phys ADDR]
                                                     map type, distance, reason, bus offset
  topology import DUMP                               topology JSON from traces/collect-topology.sh
                                                     output (or a shared capture's JSON)

Every command has --help. Exit codes: 0 success, 1 the input had errors (still processed),
2 usage error. Gzip input is detected by its magic bytes; "-" reads stdin.
`;

const PARSE_USAGE =
  `Usage: dmareplay parse TRACE|- [--probes P.json] [--instance NAME] [--json] [--quiet]

Parse an ftrace text capture (trace, trace_pipe, trace-cmd report; gzip or plain) and print
the events by name and the diagnostics (each with its line number).

Options:
  --probes P.json   probe map binding kprobe names/functions to meanings
                    (default: traces/default.probes.json, built in)
  --instance NAME   the tracing instance the text was read from (instances/NAME/trace);
                    its text does not say, so it is recorded as input.instance
  --json            print the summary as JSON (DESIGN.md's contract: input, events, diagnostics)
  --quiet           no progress on stderr
  -h, --help        this help
`;

const REPLAY_USAGE =
  `Usage: dmareplay replay TRACE|- [--topology T.json] [--probes P.json] [--revision R]
                        [--whatif W.json] [--whatif-*] [--cost C.json] --out DIR

Replay a capture through the model (dma-debug's DMA_* checks, the IOVA allocator, faults
after unmap, P2P paths, the dma-buf lifecycle's DMABUF_* invariants) and write into DIR:
  summary.json                DESIGN.md's contract (parse's keys plus ops, anomalies, iova, ...)
  ops.csv, .arrow, .parquet   one row per modeled operation (README lists the columns)
  timeline.csv, .arrow        IOVA in use, live mappings, dma-buf state on a time grid
  attachments.csv, .arrow     one row per dma-buf attachment (when the trace has dma-buf work)
  anomalies.csv, .arrow       line,code,device,related,message,revision,severity, in trace order
.arrow files are Arrow IPC streams (Polars, pyarrow, arquero read them); .parquet the same
tables as Parquet (zstd) for DuckDB, Spark and the rest.
A topology is optional: without it the replay infers what the trace shows of the machine
(summary.json topology.inferred, also printed) and skips the checks that need one (P2P paths,
sg segment limits, the revisions' dma-buf mappings).

Options:
  --topology T.json  the machine (dmareplay topology import makes one)
  --probes P.json    probe map (default: traces/default.probes.json, built in)
  --revision R       patch revision whose strategy models the dma-buf maps: v2-2022, v1-2024,
                     v8-2025 (default, the merged code) or rfc-2025-pfn (needs --topology and
                     the vfio export probe's fetch-args; README "Revisions")
  --cost C.json      cost profile for modeled_ns (default: the built-in one; see calibrate)
  --whatif W.json    apply a what-if to the topology (README "What-ifs"); then the flags:
  --whatif-acs PORT=on|off        ACS P2P redirect at a port (repeatable)
  --whatif-iommu MODE[@BDF]       strict, lazy, identity or blocked, for all or one device
  --whatif-move BDF=PARENT        move a device behind another bridge (repeatable)
  --whatif-mask BDF=BITS          a device's DMA mask (repeatable)
  --whatif-pgsize 4K,2M,...       the IOMMU's page sizes
  --timeline-step-ms N  timeline grid step (default 1)
  --one-thread       parse on the replay's thread (default with two or more cores: the parse
                     runs on a worker beside the replay, 25-35 % sooner for ~20 MB more memory)
  --out DIR          output directory (created)
  --quiet            no progress on stderr
  -h, --help         this help
`;

async function cmdReplay(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      topology: { type: "string" },
      probes: { type: "string" },
      revision: { type: "string", default: "v8-2025" },
      cost: { type: "string" },
      whatif: { type: "string" },
      "whatif-acs": { type: "string", multiple: true },
      "whatif-iommu": { type: "string", multiple: true },
      "whatif-move": { type: "string", multiple: true },
      "whatif-mask": { type: "string", multiple: true },
      "whatif-pgsize": { type: "string" },
      "timeline-step-ms": { type: "string", default: "1" },
      "one-thread": { type: "boolean", default: false },
      out: { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(REPLAY_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("replay takes one TRACE (or - for stdin)");
  if (values.out === undefined) throw new UsageError("replay needs --out DIR");
  const revision = revisionOf(values.revision);
  const path = positionals[0]!;
  const probeMap = await loadProbeMap(values.probes);
  let topology = await optionalTopology(values.topology);
  let replayWhatIf: { name: string; applied: readonly string[] } | null = null;
  const whatIf = await whatIfOf(values);
  if (whatIf !== null) {
    if (topology === undefined) throw new UsageError("what-ifs change a topology: give --topology");
    const w = applyWhatIf(topology, whatIf);
    if (!w.ok) {
      throw new UsageError(
        `what-if not applicable:\n${
          w.errors.map((e) => `  ${e.pointer}: ${e.message}`).join("\n")
        }`,
      );
    }
    topology = w.topology;
    for (const a of w.applied) console.log(`what-if ${w.name}: ${a}`);
    replayWhatIf = { name: w.name, applied: w.applied };
  }
  const stepMs = Number(values["timeline-step-ms"]);
  if (!(stepMs > 0)) throw new UsageError("--timeline-step-ms takes a positive number");
  const cost = await loadCostProfile(values.cost);
  const onProgress = await progressFor(path, values.quiet);
  const parse = await openParse(path, parseOnWorker(values["one-thread"]), {
    probeMap,
    ...(onProgress ? { onProgress } : {}),
  });
  await Deno.mkdir(values.out, { recursive: true });
  const files = new TableFiles(values.out);
  const r = await replayParse(parse, {
    probeMap,
    cost,
    revision,
    timelineStepNs: stepMs * 1e6,
    whatIf: replayWhatIf,
    // The terminal shows the first ten; the summary counts and the table holds every one.
    keepAnomalies: 10,
    tables: (c) => files.write(c),
    ...(topology ? { topology } : {}),
  });
  files.close();
  if (onProgress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  await Deno.writeTextFile(`${values.out}/summary.json`, JSON.stringify(r.summary, null, 2) + "\n");
  const s = r.summary;
  console.log(
    `${path}: ${s.input.lines} lines, ${s.events.total} events, ${s.diagnostics.total} diagnostics, ${s.anomalies.total} anomalies`,
  );
  for (const [code, n] of Object.entries(s.anomalies.byCode)) {
    console.log(`  ${code.padEnd(34)} ${String(n).padStart(8)}`);
  }
  if (s.topology.inferred !== undefined) {
    console.log("no topology given; from the trace:");
    for (const n of s.topology.inferred.notes) console.log(`  ${n}`);
    console.log("a topology file (dmareplay topology import) would add:");
    for (const n of s.topology.inferred.missing) console.log(`  ${n}`);
  }
  for (const a of r.anomalies.slice(0, 10)) {
    console.log(`  ${path}:${a.line === 0 ? "end" : a.line}: ${a.code}: ${a.message}`);
  }
  console.log(
    `wrote ${values.out}/summary.json and ${files.names().join(", ")} (.csv, .arrow, .parquet)`,
  );
  const hasErrors = STATS.some((d) => d.severity === "error" && (s.stats[d.name] ?? 0) > 0);
  return hasErrors ? 1 : 0;
}

const REPORT_USAGE =
  `Usage: dmareplay report TRACE|- [--topology T.json] [--probes P.json] [--revisions all|a,b]
                        [--whatif W.json ...] [--cost C.json] [--one-thread] --out DIR

Replay a capture once per revision asked (the first is the main one; default: v8-2025 only) and
once per what-if, and write into DIR: report.html (one self-contained file that opens offline:
the summary, the charts, the tables, the anomalies with their trace lines), report.md,
summary.json (the main run's), charts/*.svg and *.png, and the main run's tables (.csv, .arrow).
Each further run is compared with the main one (operations, paths, costs, anomalies: deltas).

Options:
  --revisions R      all, or a comma list of v2-2022, v1-2024, v8-2025, rfc-2025-pfn
  --whatif W.json    a what-if file (repeatable): one more run each, with the main revision
  --topology, --probes, --cost, --one-thread   as for replay
  --out DIR          output directory (created)
  --quiet            no progress on stderr
  -h, --help         this help
`;

const DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

async function cmdReport(args: string[]): Promise<number> {
  // The replays need only the analysis room; charts and report (vega, resvg) load after them.
  const A = await import("./lib/analysis/mod.ts");
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      topology: { type: "string" },
      probes: { type: "string" },
      revisions: { type: "string", default: "v8-2025" },
      whatif: { type: "string", multiple: true },
      cost: { type: "string" },
      out: { type: "string" },
      "one-thread": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(REPORT_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("report takes one TRACE (or - for stdin)");
  if (values.out === undefined) throw new UsageError("report needs --out DIR");
  const path = positionals[0]!;
  const revisions = values.revisions === "all"
    ? ["v8-2025", "v2-2022", "v1-2024", "rfc-2025-pfn"] as const
    : values.revisions.split(",").map((r) => {
      const n = REVISION_NAMES.find((x) => x === r);
      if (n === undefined) {
        throw new UsageError(`--revisions ${r}: expected all or ${REVISION_NAMES.join(", ")}`);
      }
      return n;
    });
  const probeMap = await loadProbeMap(values.probes);
  const topology = await optionalTopology(values.topology);
  const cost = await loadCostProfile(values.cost);
  const whatIfs: { name: string; topology: Topology; applied: readonly string[] }[] = [];
  for (const f of values.whatif ?? []) {
    if (topology === undefined) throw new UsageError("what-ifs change a topology: give --topology");
    const w = applyWhatIf(topology, await readJson(f));
    if (!w.ok) {
      throw new UsageError(
        `${f}: not applicable:\n${w.errors.map((e) => `  ${e.pointer}: ${e.message}`).join("\n")}`,
      );
    }
    whatIfs.push({ name: w.name, topology: w.topology, applied: w.applied });
  }
  // The trace is read once per run: keep stdin's bytes.
  const bytes = path === "-"
    ? new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer())
    : null;
  const onWorker = parseOnWorker(values["one-thread"]);
  const open = (onProgress?: (bytes: number, lines: number) => void) =>
    openParse(bytes ?? path, onWorker, { probeMap, ...(onProgress ? { onProgress } : {}) });
  const runs: ReplayRun[] = [];
  const out = values.out;
  await Deno.mkdir(out, { recursive: true });
  const plan = [
    ...revisions.map((r) => ({ label: r, revision: r, topology, whatIf: null })),
    ...whatIfs.map((w) => ({
      label: w.name,
      revision: revisions[0]!,
      topology: w.topology,
      whatIf: { name: w.name, applied: w.applied },
    })),
  ];
  for (const [i, p] of plan.entries()) {
    const onProgress = await progressFor(path, values.quiet);
    // Every run keeps its ops digest, not its ops: memory stays flat however long the trace.
    // The first run's tables go to files as they come.
    const files = i === 0 ? new TableFiles(out, keptByRun) : null;
    const run = await A.replayRun(p.label, await open(onProgress), {
      probeMap,
      cost,
      revision: p.revision,
      whatIf: p.whatIf,
      keepOps: false,
      keepAnomalies: A.REPORT_ANOMALIES,
      ...(files !== null ? { onChunk: (c: TableChunk) => files.write(c) } : {}),
      ...(p.topology ? { topology: p.topology } : {}),
    });
    files?.close();
    if (onProgress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
    runs.push(run);
  }
  const name = path === "-" ? "stdin" : path.split("/").pop()!;
  const model = await writeReport(out, name, runs);
  const s = runs[0]!.summary;
  console.log(
    `${path}: ${s.input.lines} lines, ${s.events.total} events, ${s.anomalies.total} anomalies; ${runs.length} run(s): ${
      runs.map((r) => r.label).join(", ")
    }`,
  );
  console.log(`wrote ${out}/report.html, report.md, summary.json, ${model.charts.length} charts`);
  const hasErrors = STATS.some((d) => d.severity === "error" && (s.stats[d.name] ?? 0) > 0);
  return hasErrors ? 1 : 0;
}

/**
 * Whether a run (with `keepOps` false) keeps a table's chunks: the attachments and anomalies;
 * of ops and timeline it keeps a digest and a sample, read before the chunk is written.
 */
function keptByRun(table: string): boolean {
  return table !== "ops" && table !== "timeline";
}

/**
 * report.html, report.md, summary.json and charts into `out` (the first run's tables were
 * written while it replayed).
 */
async function writeReport(
  out: string,
  name: string,
  runs: readonly ReplayRun[],
): Promise<{ charts: readonly unknown[] }> {
  const R = await reporting();
  await Deno.mkdir(`${out}/charts`, { recursive: true });
  const model = R.reportModel(name, runs);
  const svgs = new Map<string, string>();
  const fonts = await Deno.stat(DEJAVU).then(() => [DEJAVU], () => []);
  if (fonts.length === 0) {
    console.error(`dmareplay: ${DEJAVU} missing (fonts-dejavu-core): no PNG charts`);
  }
  for (const c of model.charts) {
    const svg = await R.renderSvg(c.spec);
    svgs.set(c.name, svg);
    await Deno.writeTextFile(`${out}/charts/${c.name}.svg`, svg);
    if (fonts.length > 0) {
      await Deno.writeFile(
        `${out}/charts/${c.name}.png`,
        await R.renderPng(svg, { fontFiles: fonts }),
      );
    }
  }
  await Deno.writeTextFile(`${out}/report.html`, R.renderHtmlReport(model, svgs));
  await Deno.writeTextFile(`${out}/report.md`, R.renderMarkdownReport(model));
  await Deno.writeTextFile(`${out}/summary.json`, JSON.stringify(runs[0]!.summary, null, 2) + "\n");
  return model;
}

const COMPARE_USAGE =
  `Usage: dmareplay compare A.trace B.trace [--topology T.json] [--probes P.json] [--revision R]
                         [--cost C.json] [--one-thread] --out DIR

Replay two captures (before and after a kernel patch) on one machine and write the report of
both side by side into DIR: what changed in operations, paths, costs and anomalies (B - A), with
the files of dmareplay report (report.html, report.md, charts, A's summary.json and tables).
--topology, --probes, --revision, --cost and --one-thread are as for replay.
`;

async function cmdCompare(args: string[]): Promise<number> {
  const A = await import("./lib/analysis/mod.ts");
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      topology: { type: "string" },
      probes: { type: "string" },
      revision: { type: "string", default: "v8-2025" },
      cost: { type: "string" },
      out: { type: "string" },
      "one-thread": { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(COMPARE_USAGE);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError("compare takes two traces, A and B");
  if (values.out === undefined) throw new UsageError("compare needs --out DIR");
  const revision = revisionOf(values.revision);
  const probeMap = await loadProbeMap(values.probes);
  const topology = await optionalTopology(values.topology);
  const cost = await loadCostProfile(values.cost);
  const runs: ReplayRun[] = [];
  await Deno.mkdir(values.out, { recursive: true });
  const onWorker = parseOnWorker(values["one-thread"]);
  for (const [i, path] of positionals.entries()) {
    const onProgress = await progressFor(path, values.quiet);
    const files = i === 0 ? new TableFiles(values.out, keptByRun) : null;
    const parse = await openParse(path, onWorker, {
      probeMap,
      ...(onProgress ? { onProgress } : {}),
    });
    runs.push(
      await A.replayRun(path.split("/").pop()!, parse, {
        probeMap,
        cost,
        revision,
        keepOps: false,
        keepAnomalies: A.REPORT_ANOMALIES,
        ...(files !== null
          ? {
            onChunk: (c: TableChunk) => files.write(c),
          }
          : {}),
        ...(topology ? { topology } : {}),
      }),
    );
    files?.close();
    if (onProgress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  }
  const [a, b] = runs as [ReplayRun, ReplayRun];
  await writeReport(values.out, `${a.label} vs ${b.label}`, runs);
  const d = b.summary.anomalies.total - a.summary.anomalies.total;
  console.log(
    `${a.label}: ${a.summary.ops.total} ops, ${a.summary.anomalies.total} anomalies; ${b.label}: ${b.summary.ops.total} ops, ${b.summary.anomalies.total} anomalies (${
      d >= 0 ? "+" : ""
    }${d})`,
  );
  console.log(`wrote ${values.out}/report.html, report.md, summary.json, charts`);
  return 0;
}

const CALIBRATE_USAGE =
  `Usage: dmareplay calibrate TRACE|- [--topology T.json] [--probes P.json] [--cost BASE.json]
                           [--name NAME] --out PROFILE.json

Replay a capture that measured durations (function_graph, kprobe/kretprobe pairs) and fit the
cost profile's per-operation CPU costs to them (non-negative least squares over the ops with an
observed duration). Prints each fitted term (before -> after, samples) and the fit's R^2 and
RMS error; writes the profile (terms the capture does not time keep BASE's figures, and every
fitted figure says "calibrated from capture <TRACE>").
Durations under function_graph include its own overhead (about 1 us per traced call): fit
on a capture whose graph is limited to the DMA-API functions (set_graph_function).

Options:
  --cost BASE.json   profile to start from (default: the built-in one)
  --name NAME        the new profile's name (default: BASE's name + "-calibrated")
  --topology, --probes  as for replay
  --out PROFILE.json where to write the profile
  --quiet            no progress on stderr
  -h, --help         this help
`;

async function cmdCalibrate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      topology: { type: "string" },
      probes: { type: "string" },
      cost: { type: "string" },
      name: { type: "string" },
      out: { type: "string" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(CALIBRATE_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("calibrate takes one TRACE (or - for stdin)");
  if (values.out === undefined) throw new UsageError("calibrate needs --out PROFILE.json");
  const path = positionals[0]!;
  const probeMap = await loadProbeMap(values.probes);
  const topology = await optionalTopology(values.topology);
  const base = await loadCostProfile(values.cost);
  const stream = await openInput(path);
  const onProgress = await progressFor(path, values.quiet);
  const name = path.split("/").pop()!.replace(/\.gz$/, "").replace(/\.trace$/, "");
  const r = await calibrateTrace(stream, {
    probeMap,
    base,
    source: `calibrated from capture ${name}`,
    ...(topology ? { topology } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
  if (onProgress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  if (r.samples === 0) {
    console.error(
      `${path}: no operation with a measured duration (function_graph or kretprobe pairs); nothing to fit`,
    );
    return 1;
  }
  const profile = values.name === undefined ? r.profile : { ...r.profile, name: values.name };
  await Deno.writeTextFile(values.out, JSON.stringify(profile, null, 2) + "\n");
  console.log(
    `${path}: ${r.samples} timed operations, mean ${(r.meanObservedNs / 1000).toFixed(2)} us`,
  );
  console.log(
    `  ${"term".padEnd(22)} ${"before ns".padStart(10)} ${"fitted ns".padStart(10)} ${
      "samples".padStart(8)
    }`,
  );
  for (const t of r.terms) {
    console.log(
      `  ${t.term.padEnd(22)} ${t.beforeNs.toFixed(0).padStart(10)} ${
        t.valueNs.toFixed(0).padStart(10)
      } ${String(t.samples).padStart(8)}`,
    );
  }
  console.log(`  fit: R^2 ${r.r2.toFixed(3)}, RMS error ${(r.rmseNs / 1000).toFixed(2)} us`);
  console.log(`wrote ${values.out}`);
  return 0;
}

const VALIDATE_USAGE = `Usage: dmareplay validate FILE.json

Check a JSON input and print each error with its JSON pointer. Recognised: topologies
(objects with "hostBridges" or "devices"), probe maps (objects with "probes"), scenarios
(objects with "workloads"; their "topology" may name a file, relative to the scenario) and cost
profiles (objects with "cpu" or "dataPath").
Exit 0 when valid, 1 when not, 2 when the file cannot be read.
`;

const P2P_USAGE = `Usage: dmareplay p2p T.json PROVIDER_BDF[:BAR] CLIENT_BDF [--json] [--phys ADDR]

Which path would DMA by CLIENT to the memory of PROVIDER's BAR take (the kernel's
pci_p2pdma_map_type: BUS_ADDR, THRU_HOST_BRIDGE or NOT_SUPPORTED), at what PCI distance,
and why. BAR defaults to the provider's first memory BAR.

Options:
  --json        {"mapType", "distance", "busOffset", "reason", ...}
  --phys ADDR   also give the DMA address of CPU physical address ADDR of the BAR
                (BUS_ADDR: phys + bus offset; THRU_HOST_BRIDGE: phys, or an IOVA with an IOMMU)
  -h, --help    this help
`;

/** `--revision R`: a revision's name, or a usage error. */
function revisionOf(name: string): typeof REVISION_NAMES[number] {
  const revision = REVISION_NAMES.find((n) => n === name);
  if (revision === undefined) {
    throw new UsageError(`--revision ${name}: expected one of ${REVISION_NAMES.join(", ")}`);
  }
  return revision;
}

/** `--topology T.json` of replay and calibrate: the topology, or undefined without the flag. */
async function optionalTopology(path: string | undefined): Promise<Topology | undefined> {
  if (path === undefined) return undefined;
  try {
    return await loadTopology(path);
  } catch (e) {
    if (e instanceof InputError) throw new UsageError(e.message);
    throw e;
  }
}

async function loadTopology(path: string): Promise<Topology> {
  const r = validateTopology(await readJson(path));
  if (!r.ok) {
    const lines = r.errors.map((e) => `  ${path}#${e.pointer}: ${e.message}`).join("\n");
    throw new InputError(`Invalid topology "${path}":\n${lines}`);
  }
  return r.topology;
}

const TOPOLOGY_USAGE = `Usage: dmareplay topology import DUMP > T.json

Turn the output of traces/collect-topology.sh (run on the capture machine) into a topology
JSON. Notes on what the dump could not tell go to stderr, with the defaults used; problems
with the dump (a malformed line, a device whose place is unknown) too, and then exit 1.
A shared capture's NAME.json (its sysfs dump) is read as well.
`;

async function cmdTopology(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(TOPOLOGY_USAGE);
    return 0;
  }
  if (positionals[0] !== "import" || positionals.length !== 2) {
    throw new UsageError("topology takes: import DUMP");
  }
  const path = positionals[1]!;
  let text: string;
  try {
    text = path === "-"
      ? await new Response(Deno.stdin.readable).text()
      : await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`Cannot read "${path}": ${e instanceof Error ? e.message : String(e)}`);
  }
  const r = importTopologyDump(text);
  console.log(JSON.stringify(r.topology, null, 2));
  for (const n of r.notes) console.error(`note: ${n}`);
  for (const p of r.problems) console.error(`${path}: ${p}`);
  return r.problems.length > 0 ? 1 : 0;
}

async function cmdP2p(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      phys: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(P2P_USAGE);
    return 0;
  }
  if (positionals.length !== 3) {
    throw new UsageError("p2p takes T.json PROVIDER_BDF[:BAR] CLIENT_BDF");
  }
  const [path, providerArg, clientArg] = positionals as [string, string, string];
  const topology = await loadTopology(path);
  const tree = new PciTree(topology);
  // "0000:03:00.0:2" names BAR 2; a bare BDF has a ":" too, so only a fifth field is a BAR.
  const parts = providerArg.split(":");
  const bdf = parts.length === 4 ? parts.slice(0, 3).join(":") : providerArg;
  const barArg = parts.length === 4 ? parts[3] : undefined;
  const owner = tree.device(bdf);
  if (owner === undefined) throw new UsageError(`No device "${bdf}" in ${path}`);
  const client = tree.device(clientArg);
  if (client === undefined) throw new UsageError(`No device "${clientArg}" in ${path}`);
  let phys: bigint | undefined;
  if (values.phys !== undefined) {
    try {
      phys = BigInt(values.phys);
    } catch {
      throw new UsageError(`--phys expects an address ("0x..."); got "${values.phys}"`);
    }
  }
  const barIndex = barArg === undefined ? owner.bars.find((b) => b.mem)?.index : Number(barArg);
  const providers = new P2pdmaProviders();
  for (const d of topology.devices) if (tree.isPci(d)) providers.pcimP2pdmaInit(d); // vfio-pci probes every device
  const provider = barIndex === undefined ? null : providers.pcimP2pdmaProvider(owner, barIndex);
  let out: Record<string, unknown>;
  if (provider === null) {
    out = {
      mapType: "NOT_SUPPORTED",
      distance: -1,
      busOffset: null,
      reason: barIndex === undefined
        ? `${owner.bdf} has no memory BAR, so no p2pdma provider`
        : `BAR ${barIndex} of ${owner.bdf} is not a memory BAR (no p2pdma provider)`,
      provider: owner.bdf,
      bar: barIndex ?? null,
      client: client.bdf,
    };
  } else {
    const types = new P2pdmaMapTypes(tree, providers);
    const t = types.pciP2pdmaMapType(provider, client);
    const pci = tree.pciDeviceOf(client);
    const calc = pci === null ? null : calcMapTypeAndDist(tree, owner, pci);
    out = {
      mapType: t.mapType,
      // pci_p2pdma_distance(): -1 when the pair is not supported; hops counts them anyway.
      distance: types.pciP2pdmaDistanceMany(provider, [client], true) >= 0 ? calc!.distance : -1,
      hops: calc?.distance ?? -1,
      busOffset: "0x" + provider.busOffset.toString(16),
      reason: t.reason,
      provider: owner.bdf,
      bar: provider.barIndex,
      client: client.bdf,
      commonUpstream: calc?.commonUpstream ?? null,
      acsRedirect: calc?.acsRedirect ?? [],
    };
    if (phys !== undefined) {
      if (phys < provider.cpuStart || phys >= provider.cpuStart + provider.lenBytes) {
        throw new UsageError(
          `--phys 0x${phys.toString(16)} is outside BAR ${provider.barIndex} of ${owner.bdf}`,
        );
      }
      out.phys = "0x" + phys.toString(16);
      out.dmaAddress = t.mapType === "BUS_ADDR"
        ? "0x" + pciP2pdmaBusAddrMap(provider, phys).toString(16)
        : t.mapType === "THRU_HOST_BRIDGE"
        ? topology.iommu.present ? "an IOVA mapped to phys (dma-iommu)" : "0x" + phys.toString(16)
        : null;
    }
  }
  if (values.json) console.log(JSON.stringify(out, null, 2));
  else {
    const name = (bdfOf: string) => {
      const d = tree.device(bdfOf);
      return d?.name ? ` (${d.name})` : "";
    };
    console.log(
      `provider ${out.provider}${name(String(out.provider))} BAR ${
        out.bar ?? "-"
      } -> client ${out.client}${name(String(out.client))}`,
    );
    console.log(
      `map type: ${out.mapType}   distance: ${out.distance}   bus offset: ${out.busOffset ?? "-"}`,
    );
    console.log(`why: ${out.reason}`);
    if (out.dmaAddress !== undefined) {
      console.log(`DMA address of ${out.phys}: ${out.dmaAddress ?? "none (mapping fails)"}`);
    }
  }
  return 0;
}

/**
 * Each table's CSV, Arrow IPC stream and Parquet files in one directory, written chunk by
 * chunk: each chunk is encoded as it comes, on this thread, into the encoders' reused buffers,
 * and written at once. (On a worker, as WorkerTableEncoder does, a 1 GB replay took 9-17 % less
 * time and 15-25 MB more memory: a Deno worker's own cost and the chunks on their way, which the
 * 150 MB bound of a replay's peak could not spare. Written asynchronously from copies, the bytes
 * made a replay 5-7 % slower: the copies, and the promises holding them, made V8 collect its
 * old generation 88 times a GB instead of 53.)
 */
class TableFiles {
  readonly #dir: string;
  readonly #kept: (table: string) => boolean;
  readonly #files = new Map<
    string,
    { csv: Deno.FsFile; arrow: Deno.FsFile; parquet: Deno.FsFile }
  >();
  readonly #enc = new TableEncoder({ reuse: true });

  /**
   * @param dir The directory.
   * @param kept Whether the caller keeps a table's chunks (their arrays are then not given
   *   back to the table's builder once encoded).
   */
  constructor(dir: string, kept: (table: string) => boolean = () => false) {
    this.#dir = dir;
    this.#kept = kept;
  }

  write(c: TableChunk): void {
    this.#append(this.#enc.encode(c));
    // (Only a builder's arrays go back to it: a chunk made elsewhere has no numbers.)
    if (!this.#kept(c.schema.name) && c.numbers !== undefined) {
      recycleChunkArrays(c.schema.name, chunkArrays(c));
    }
  }

  /** Write a chunk's bytes (views of the encoder's buffers: before its next call). */
  #append(e: EncodedChunk): void {
    let f = this.#files.get(e.table);
    if (f === undefined) {
      const path = (ext: string) => `${this.#dir}/${e.table}.${ext}`;
      f = {
        csv: openOut(path("csv")),
        arrow: openOut(path("arrow")),
        parquet: openOut(path("parquet")),
      };
      this.#files.set(e.table, f);
    }
    writeAll(f.csv, e.csv, `${this.#dir}/${e.table}.csv`);
    writeAll(f.arrow, e.arrow, `${this.#dir}/${e.table}.arrow`);
    writeAll(f.parquet, e.parquet, `${this.#dir}/${e.table}.parquet`);
  }

  names(): string[] {
    return [...this.#files.keys()];
  }

  close(): void {
    for (const e of this.#enc.end()) this.#append(e);
    for (const f of this.#files.values()) {
      f.csv.close();
      f.arrow.close();
      f.parquet.close();
    }
  }
}

/** An output file, created or emptied; a failure names the file (exit 1, not a stack). */
function openOut(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { write: true, create: true, truncate: true });
  } catch (e) {
    throw new OutputError(`Cannot write "${path}": ${e instanceof Error ? e.message : String(e)}`);
  }
}

function writeAll(f: Deno.FsFile, bytes: Uint8Array, path: string): void {
  let off = 0;
  try {
    while (off < bytes.byteLength) off += f.writeSync(bytes.subarray(off));
  } catch (e) {
    throw new OutputError(`Cannot write "${path}": ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** The what-if of `--whatif FILE` and the `--whatif-*` flags (applied after the file's). */
async function whatIfOf(v: {
  whatif?: string | undefined;
  "whatif-acs"?: string[] | undefined;
  "whatif-iommu"?: string[] | undefined;
  "whatif-move"?: string[] | undefined;
  "whatif-mask"?: string[] | undefined;
  "whatif-pgsize"?: string | undefined;
}): Promise<{ name: string; changes: unknown[] } | null> {
  const file = v.whatif === undefined ? null : await readJson(v.whatif) as Record<string, unknown>;
  if (file !== null && (typeof file !== "object" || !Array.isArray(file.changes))) {
    throw new UsageError(`${v.whatif}: expected a what-if {"name", "changes": [...]}`);
  }
  const changes: unknown[] = file === null ? [] : [...(file.changes as unknown[])];
  const pair = (flag: string, s: string) => {
    const i = s.lastIndexOf("=");
    if (i <= 0) throw new UsageError(`--${flag} ${s}: expected A=B`);
    return [s.slice(0, i), s.slice(i + 1)] as const;
  };
  for (const s of v["whatif-acs"] ?? []) {
    const [port, on] = pair("whatif-acs", s);
    if (on !== "on" && on !== "off") {
      throw new UsageError(`--whatif-acs ${s}: expected PORT=on|off`);
    }
    changes.push({ acsRedirect: { port, on: on === "on" } });
  }
  for (const s of v["whatif-iommu"] ?? []) {
    const [mode, dev] = s.split("@");
    changes.push({ iommu: dev === undefined ? { domain: mode } : { domain: mode, device: dev } });
  }
  for (const s of v["whatif-move"] ?? []) {
    const [device, parent] = pair("whatif-move", s);
    changes.push({ moveDevice: { device, parent } });
  }
  for (const s of v["whatif-mask"] ?? []) {
    const [device, bits] = pair("whatif-mask", s);
    changes.push({ dmaMask: { device, bits: Number(bits) } });
  }
  if (v["whatif-pgsize"] !== undefined) {
    changes.push({ pgsizeBitmap: v["whatif-pgsize"].split(",") });
  }
  if (changes.length === 0 && file === null) return null;
  return { name: typeof file?.name === "string" ? file.name : "flags", changes };
}

async function loadCostProfile(path: string | undefined): Promise<CostProfile> {
  if (path === undefined) return DEFAULT_COST_PROFILE;
  const r = validateCostProfile(await readJson(path));
  if (!r.ok) {
    throw new UsageError(
      `${path}: not a valid cost profile:\n${
        r.errors.map((e) => `  ${e.pointer || "/"}: ${e.message}`).join("\n")
      }`,
    );
  }
  return r.profile;
}

class UsageError extends Error {}
/** The input files had errors (exit 1). */
class InputError extends Error {}
/** An output could not be written (exit 1). */
class OutputError extends Error {}

/**
 * Whether replays parse on a worker: a second core parses (reading the file itself) while this
 * one replays; one core would only share itself.
 */
function parseOnWorker(oneThread: boolean): boolean {
  return !oneThread && navigator.hardwareConcurrency >= 2;
}

/**
 * The parse of a trace given by path ("-" for stdin) or as bytes already read; on a worker
 * when `onWorker`, which then reads a named file itself (checked here to open: a usage error
 * otherwise, as on this thread).
 */
async function openParse(
  trace: string | Uint8Array<ArrayBuffer>,
  onWorker: boolean,
  options: ParseTraceOptions,
): Promise<TraceParse> {
  if (onWorker && typeof trace === "string" && trace !== "-") {
    (await openTraceFile(trace)).close();
    return parseTraceOnWorker({ path: trace }, options);
  }
  const stream = typeof trace === "string" ? await openInput(trace) : new Blob([trace]).stream();
  return onWorker ? parseTraceOnWorker(stream, options) : parseTrace(stream, options);
}

async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  return path === "-" ? Deno.stdin.readable : fileStream(await openTraceFile(path));
}

async function openTraceFile(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path);
  } catch (e) {
    throw new UsageError(
      `Cannot open trace "${path}": ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Progress on stderr for inputs over 64 MB (or stdin) when stderr is a terminal. */
async function progressFor(
  path: string,
  quiet: boolean,
): Promise<((bytes: number, lines: number) => void) | undefined> {
  if (quiet || !Deno.stderr.isTerminal()) return undefined;
  // (A trace that does not open is the parse's usage error, not this one's.)
  const total = path === "-" ? 0 : await Deno.stat(path).then((st) => st.size, () => 0);
  if (path !== "-" && total < 64e6) return undefined;
  const enc = new TextEncoder();
  const t0 = performance.now();
  return (bytes, lines) => {
    const s = (performance.now() - t0) / 1000;
    const of = total > 0 ? ` (file ${(total / 1e6).toFixed(0)} MB)` : "";
    const text =
      `\r\x1b[Kparse: ${(bytes / 1e6).toFixed(0)} MB${of}, ${(lines / 1e6).toFixed(1)} M lines, ` +
      `${(bytes / 1e6 / Math.max(s, 1e-3)).toFixed(0)} MB/s`;
    Deno.stderr.writeSync(enc.encode(text));
  };
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`Cannot read "${path}": ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(
      `Cannot parse "${path}" as JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

async function loadProbeMap(path: string | undefined): Promise<ProbeMap> {
  if (path === undefined) return DEFAULT_PROBE_MAP;
  const r = validateProbeMap(await readJson(path));
  if (!r.ok) {
    const lines = r.errors.map((e) => `  ${path}#${e.pointer}: ${e.message}`).join("\n");
    throw new UsageError(`Invalid probe map "${path}":\n${lines}`);
  }
  return r.map;
}

function printSummary(path: string, s: ParseSummary): void {
  const out: string[] = [];
  out.push(
    `${path}: ${s.input.lines} lines, ${s.input.bytes} bytes${
      s.input.gzip ? ` (gzip, ${s.input.compressedBytes} bytes)` : ""
    }, format ${s.header.format}${s.header.tracer ? `, tracer ${s.header.tracer}` : ""}`,
  );
  out.push(
    `events: ${s.events.total} (${s.events.unknown} of unknown events)${
      s.events.calls > 0 ? `, ${s.events.calls} function_graph calls` : ""
    }`,
  );
  const names = Object.entries(s.events.byName).sort((a, b) => b[1] - a[1]);
  const width = Math.max(8, ...names.slice(0, 40).map(([n]) => n.length));
  for (const [name, n] of names.slice(0, 40)) {
    out.push(`  ${name.padEnd(width)} ${String(n).padStart(10)}`);
  }
  if (names.length > 40) out.push(`  ... ${names.length - 40} more names (--json lists all)`);
  if (s.lost.markers > 0) out.push(`lost: ${s.lost.events} events at ${s.lost.markers} markers`);
  out.push(`diagnostics: ${s.diagnostics.total}`);
  for (const d of s.diagnostics.first) {
    out.push(`  ${path}:${d.line}${d.column > 0 ? `:${d.column}` : ""}: ${d.code}: ${d.message}`);
  }
  const stats = Object.entries(s.stats);
  if (stats.length > 0) {
    out.push("stats:");
    for (const [name, v] of stats) {
      const def = STATS.find((d) => d.name === name)!;
      out.push(
        `  ${name.padEnd(20)} ${String(v).padStart(10)}  ${
          def.severity.padEnd(8)
        } ${def.description}`,
      );
    }
  }
  console.log(out.join("\n"));
}

async function cmdParse(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      probes: { type: "string" },
      instance: { type: "string" },
      json: { type: "boolean", default: false },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(PARSE_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("parse takes one TRACE (or - for stdin)");
  const path = positionals[0]!;
  const probeMap = await loadProbeMap(values.probes);
  const stream = await openInput(path);
  const onProgress = await progressFor(path, values.quiet);
  const summary = await summarizeTrace(
    stream,
    onProgress ? { probeMap, onProgress } : { probeMap },
  );
  if (onProgress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  // The instance name is not in an instance's trace text (kernel-spec §1.3): it is metadata.
  const out = values.instance === undefined
    ? summary
    : { ...summary, input: { ...summary.input, instance: values.instance } };
  if (values.json) console.log(JSON.stringify(out, null, 2));
  else {printSummary(
      values.instance === undefined ? path : `${path} (instance ${values.instance})`,
      summary,
    );}
  const hasErrors = STATS.some((d) => d.severity === "error" && (summary.stats[d.name] ?? 0) > 0);
  return hasErrors ? 1 : 0;
}

const SYNTH_USAGE =
  `Usage: dmareplay synth SCENARIO.json --out FILE|- [--events N | --bytes SIZE] [--seed S]

Write the trace a scenario makes (README "Synthesizer"): its workloads run against the kernel
model (DMA API, IOMMU domains, IOVA allocator) and what the tracepoints and the capture recipe's
kprobes would print is written as trace_pipe writes it. The same scenario and seed give the same
bytes. A FILE ending in .gz is gzipped; "-" writes to stdout. A scenario with "faults" also gets
FILE.injected.json: each injected anomaly with its line (what a replay must find).

Options:
  --out FILE    where (required)
  --events N    stop starting I/O after N events (default 100000); in-flight I/O completes
  --bytes SIZE  stop after SIZE bytes instead: 500M, 1G, 10G (powers of 1000), 1GiB (of 1024)
  --seed S      the random seed (default 1)
  --quiet       no summary line
  -h, --help    this help
`;

/** `10G`, `500M`, `1GiB`, `12345`: bytes. */
function parseSize(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?)[bB]?$/.exec(s);
  if (m === null) throw new UsageError(`--bytes ${s}: expected a size such as 500M, 1G or 1GiB`);
  const k = m[3] === "i" ? 1024 : 1000;
  const exp = " kmgt".indexOf(m[2]!.toLowerCase() || " ");
  return Math.round(Number(m[1]) * k ** exp);
}

/** A scenario file, its topology read from the file it names (relative to the scenario). */
async function loadScenario(path: string): Promise<Scenario> {
  const json = await readJson(path) as Record<string, unknown>;
  if (typeof json === "object" && json !== null && typeof json.topology === "string") {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
    const t = json.topology.startsWith("/") ? json.topology : dir + json.topology;
    json.topology = await readJson(t);
  }
  const r = validateScenario(json);
  if (!r.ok) {
    throw new UsageError(
      `${path}: not a valid scenario:\n${
        r.errors.map((e) => `  ${path}#${e.pointer}: ${e.message}`).join("\n")
      }`,
    );
  }
  return r.scenario;
}

async function cmdSynth(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      events: { type: "string" },
      bytes: { type: "string" },
      seed: { type: "string", default: "1" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(SYNTH_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("synth takes one SCENARIO.json");
  if (values.out === undefined) throw new UsageError("synth needs --out FILE (or - for stdout)");
  if (values.events !== undefined && values.bytes !== undefined) {
    throw new UsageError("synth takes --events or --bytes, not both");
  }
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) {
    throw new UsageError(`--seed ${values.seed}: expected an integer`);
  }
  const events = values.events === undefined ? undefined : Number(values.events);
  if (events !== undefined && !(Number.isSafeInteger(events) && events > 0)) {
    throw new UsageError(`--events ${values.events}: expected a positive integer`);
  }
  const scenario = await loadScenario(positionals[0]!);
  const { stream, stats } = synthesizeTrace(scenario, {
    seed,
    ...(events !== undefined ? { events } : {}),
    ...(values.bytes !== undefined ? { bytes: parseSize(values.bytes) } : {}),
  });
  const out = values.out;
  const body = out.endsWith(".gz")
    ? stream.pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
    )
    : stream;
  if (out === "-") await body.pipeTo(Deno.stdout.writable, { preventClose: true });
  else {
    const file = await Deno.open(out, { write: true, create: true, truncate: true });
    await body.pipeTo(file.writable);
  }
  if (scenario.faults.length > 0 && out !== "-") {
    // What a replay must find: each injected anomaly at its line.
    await Deno.writeTextFile(
      `${out}.injected.json`,
      JSON.stringify({ trace: out, seed, injected: stats.injected }, null, 1) + "\n",
    );
  }
  if (!values.quiet) {
    const where = out === "-" ? "stdout" : out;
    const faults = scenario.faults.length === 0
      ? ""
      : `; ${stats.injected.length} anomalies injected${
        out === "-" ? "" : ` (listed in ${out}.injected.json)`
      }`;
    const line =
      `${where}: ${stats.events} events, ${stats.bytes} bytes of text, ${stats.maps} maps (scenario ${scenario.name}, seed ${seed})${faults}`;
    if (out === "-") console.error(line);
    else console.log(line);
  }
  return 0;
}

async function cmdValidate(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h", default: false } },
  });
  if (values.help) {
    console.log(VALIDATE_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("validate takes one FILE.json");
  const path = positionals[0]!;
  const json = await readJson(path);
  if (typeof json === "object" && json !== null && "workloads" in json) {
    try {
      const sc = await loadScenario(path);
      console.log(
        `${path}: valid scenario "${sc.name}" (${sc.workloads.length} workloads, ${sc.cpus} CPUs, ${sc.topology.devices.length} devices)`,
      );
      return 0;
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      const lines = e.message.split("\n");
      // A validation error per line; else the topology file it names could not be read.
      console.log(
        lines.length > 1
          ? lines.slice(1).map((l) => l.trim()).join("\n")
          : `${path}#/topology: ${e.message}`,
      );
      return 1;
    }
  }
  if (typeof json === "object" && json !== null && ("hostBridges" in json || "devices" in json)) {
    const r = validateTopology(json);
    if (r.ok) {
      const t = r.topology;
      console.log(
        `${path}: valid topology (${t.hostBridges.length} host bridges, ${t.devices.length} devices, IOMMU ${
          t.iommu.present ? "on" : "off"
        })`,
      );
      return 0;
    }
    for (const e of r.errors) console.log(`${path}#${e.pointer}: ${e.message}`);
    return 1;
  }
  if (typeof json === "object" && json !== null && "probes" in json) {
    const r = validateProbeMap(json);
    if (r.ok) {
      console.log(`${path}: valid probe map (${r.map.probes.length} bindings)`);
      return 0;
    }
    for (const e of r.errors) console.log(`${path}#${e.pointer}: ${e.message}`);
    return 1;
  }
  if (typeof json === "object" && json !== null && ("cpu" in json || "dataPath" in json)) {
    const r = validateCostProfile(json);
    if (r.ok) {
      const n = Object.values(r.profile.cpu).filter((f) => f.status !== "estimate").length;
      console.log(
        `${path}: valid cost profile "${r.profile.name}" (${n} figures confirmed or calibrated)`,
      );
      return 0;
    }
    for (const e of r.errors) console.log(`${path}#${e.pointer}: ${e.message}`);
    return 1;
  }
  console.log(
    `${path}#: expected a topology (an object with "hostBridges"), a probe map ("probes"), a scenario ("workloads") or a cost profile ("cpu")`,
  );
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "parse":
        return await cmdParse(rest);
      case "synth":
        return await cmdSynth(rest);
      case "validate":
        return await cmdValidate(rest);
      case "replay":
        return await cmdReplay(rest);
      case "calibrate":
        return await cmdCalibrate(rest);
      case "report":
        return await cmdReport(rest);
      case "compare":
        return await cmdCompare(rest);
      case "p2p":
        return await cmdP2p(rest);
      case "topology":
        return await cmdTopology(rest);
      case undefined:
      case "-h":
      case "--help":
      case "help":
        if (command === undefined) {
          console.error(USAGE);
          return 2;
        }
        console.log(USAGE);
        return 0;
      default:
        throw new UsageError(`Unknown command "${command}"`);
    }
  } catch (e) {
    if (
      e instanceof UsageError ||
      (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS"))
    ) {
      console.error(`dmareplay: ${e.message}\nRun "dmareplay --help" for usage.`);
      return 2;
    }
    // A file that cannot be written (the output directory, a table, the summary): the message,
    // which names it, not a stack.
    if (e instanceof OutputError || Object.values(Deno.errors).some((k) => e instanceof k)) {
      console.error(`dmareplay: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
