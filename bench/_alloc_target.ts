// The process bench/alloc_sites.ts samples: replay a trace (every consumer, tables handed to a
// no-op sink), print "replayed", then wait to be sampled and killed.
// deno-lint-ignore-file no-console -- a benchmark prints its figures

import { replayTrace, validateTopology } from "../mod.ts";

const [trace, topoFile] = Deno.args;
const topo = topoFile === undefined || topoFile === ""
  ? undefined
  : validateTopology(JSON.parse(await Deno.readTextFile(topoFile)));
if (topo !== undefined && !topo.ok) throw new Error(`${topoFile}: not a valid topology`);
const f = await Deno.open(trace!);
const r = await replayTrace(f.readable, {
  ...(topo?.ok ? { topology: topo.topology } : {}),
  tables: () => {},
});
console.log(`replayed ${r.summary.events.total} events`);
await new Promise((res) => setTimeout(res, 600_000));
