// deno-lint-ignore-file no-console -- the command line is the one module that prints
/**
 * The dmareplay command line: the only module that touches argv, files and the terminal.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  anomaliesCsv,
  calcMapTypeAndDist,
  DEFAULT_PROBE_MAP,
  importTopologyDump,
  P2pdmaMapTypes,
  P2pdmaProviders,
  type ParseSummary,
  pciP2pdmaBusAddrMap,
  PciTree,
  type ProbeMap,
  replayTrace,
  STATS,
  summarizeTrace,
  type Topology,
  validateProbeMap,
  validateTopology,
} from "./mod.ts";

const USAGE = `dmareplay: replay ftrace captures of PCI P2PDMA / IOMMU / DMA-API / dma-buf work

Usage: dmareplay <command> [options]

Commands:
  parse    TRACE|- [--probes P.json] [--json]        event counts by name, diagnostics
  replay   TRACE|- [--topology T.json] [--probes P.json] --out DIR
                                                     the checks so far: summary.json, anomalies.csv
  validate FILE.json                                 check a topology or a probe map
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
  `Usage: dmareplay replay TRACE|- [--topology T.json] [--probes P.json] [--revision R] --out DIR

Replay a capture through the checks the replay has so far (dma-debug's DMA_* checks, faults
after unmap, the dma-buf lifecycle's DMABUF_* invariants) and write into DIR:
  summary.json    DESIGN.md's contract (parse's keys plus anomalies, revision, ...)
  anomalies.csv   line,code,device,related,message - one row per anomaly, in trace order
A topology is optional: without it the sg segment checks (which need the devices' DMA limits)
are skipped and summary.json says so (topology.given = false).

Options:
  --topology T.json  the machine (dmareplay topology import makes one)
  --probes P.json    probe map (default: traces/default.probes.json, built in)
  --revision R       patch revision; only v8-2025 (the merged code) for now
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
  if (values.revision !== "v8-2025") {
    throw new UsageError(`--revision ${values.revision}: only v8-2025 is implemented so far`);
  }
  const path = positionals[0]!;
  const probeMap = await loadProbeMap(values.probes);
  let topology: Topology | undefined;
  try {
    topology = values.topology === undefined ? undefined : await loadTopology(values.topology);
  } catch (e) {
    if (e instanceof InputError) throw new UsageError(e.message);
    throw e;
  }
  const stream = await openInput(path);
  const onProgress = await progressFor(path, values.quiet);
  const r = await replayTrace(stream, {
    probeMap,
    ...(topology ? { topology } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
  if (onProgress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  await Deno.mkdir(values.out, { recursive: true });
  await Deno.writeTextFile(`${values.out}/summary.json`, JSON.stringify(r.summary, null, 2) + "\n");
  await Deno.writeTextFile(`${values.out}/anomalies.csv`, anomaliesCsv(r.anomalies));
  const s = r.summary;
  console.log(
    `${path}: ${s.input.lines} lines, ${s.events.total} events, ${s.diagnostics.total} diagnostics, ${s.anomalies.total} anomalies`,
  );
  for (const [code, n] of Object.entries(s.anomalies.byCode)) {
    console.log(`  ${code.padEnd(34)} ${String(n).padStart(8)}`);
  }
  for (const a of r.anomalies.slice(0, 10)) {
    console.log(`  ${path}:${a.line === 0 ? "end" : a.line}: ${a.code}: ${a.message}`);
  }
  console.log(`wrote ${values.out}/summary.json, ${values.out}/anomalies.csv`);
  const hasErrors = STATS.some((d) => d.severity === "error" && (s.stats[d.name] ?? 0) > 0);
  return hasErrors ? 1 : 0;
}

const VALIDATE_USAGE = `Usage: dmareplay validate FILE.json

Check a JSON input and print each error with its JSON pointer. Recognised: topologies
(objects with "hostBridges" or "devices") and probe maps (objects with "probes").
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

class UsageError extends Error {}
/** The input files had errors (exit 1). */
class InputError extends Error {}

async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  if (path === "-") return Deno.stdin.readable;
  try {
    const f = await Deno.open(path);
    return f.readable;
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
  const total = path === "-" ? 0 : (await Deno.stat(path)).size;
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
  console.log(
    `${path}#: expected a topology (an object with "hostBridges") or a probe map ("probes")`,
  );
  return 1;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "parse":
        return await cmdParse(rest);
      case "validate":
        return await cmdValidate(rest);
      case "replay":
        return await cmdReplay(rest);
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
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
