// The tables as other tools read them: DuckDB (the @duckdb/node-api package) reads the Parquet
// files, and DuckDB-Wasm (@duckdb/duckdb-wasm, which ingests Arrow IPC streams without an
// extension; native DuckDB needs the community `arrow` extension, downloaded) reads the Arrow
// streams; both find the rows, sums, paths and anomaly counts summary.json reports.

import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import * as duckdbWasm from "@duckdb/duckdb-wasm/blocking";
import { createRequire } from "node:module";

const ROOT = new URL("../../", import.meta.url);

async function replay(out: string, args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("cli.ts", ROOT).pathname,
      "replay",
      ...args,
      "--out",
      out,
      "--quiet",
    ],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
  return JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
}

Deno.test("DuckDB reads the Parquet tables: rows, sums and paths as summary.json says", async () => {
  const out = await Deno.makeTempDir();
  const s = await replay(out, [
    "traces/golden/vfio-p2p-ranges-6.18.trace",
    "--topology",
    "traces/switch-acs-off.topology.json",
    "--revision",
    "v2-2022",
  ]);
  const db = await DuckDBInstance.create(":memory:");
  const c = await db.connect();
  try {
    const q = async (sql: string) => (await c.runAndReadAll(sql)).getRowObjects();
    const [ops] = await q(
      `select count(*) as n, sum(modeled_ns) as modeled, count(observed_ns) as observed from read_parquet('${out}/ops.parquet')`,
    );
    assert.equal(Number(ops!.n), s.ops.total);
    assert.ok(Math.abs(Number(ops!.modeled) - s.ops.modeledNs) < 1e-6);
    assert.equal(Number(ops!.observed), s.ops.observed);
    const paths = await q(
      `select path, count(*) as n from read_parquet('${out}/ops.parquet') where path <> '' group by path order by path`,
    );
    assert.deepEqual(Object.fromEntries(paths.map((r) => [r.path, Number(r.n)])), s.ops.byPath);
    const codes = await q(
      `select code, count(*) as n from read_parquet('${out}/anomalies.parquet') where severity = 'anomaly' group by code order by code`,
    );
    assert.deepEqual(
      Object.fromEntries(codes.map((r) => [r.code, Number(r.n)])),
      s.anomalies.byCode,
    );
    const [tl] = await q(`select count(*) as n from read_parquet('${out}/timeline.parquet')`);
    assert.ok(Number(tl!.n) > 0);
  } finally {
    c.closeSync();
    db.closeSync();
  }
});

/** DuckDB-Wasm in this process (its blocking Node build: no worker). */
async function duckdbWasmConnection() {
  const dist = createRequire(import.meta.url).resolve("@duckdb/duckdb-wasm/dist/duckdb-eh.wasm")
    .replace(/duckdb-eh\.wasm$/, "");
  const db = await duckdbWasm.createDuckDB(
    {
      mvp: {
        mainModule: `${dist}duckdb-mvp.wasm`,
        mainWorker: `${dist}duckdb-node-mvp.worker.cjs`,
      },
      eh: { mainModule: `${dist}duckdb-eh.wasm`, mainWorker: `${dist}duckdb-node-eh.worker.cjs` },
    },
    new duckdbWasm.VoidLogger(),
    duckdbWasm.NODE_RUNTIME,
  );
  await db.instantiate();
  return db.connect();
}

Deno.test("DuckDB-Wasm reads the Arrow IPC streams: rows, sums, paths and anomalies as summary.json says", async () => {
  const out = await Deno.makeTempDir();
  const s = await replay(out, [
    "traces/captures/a_strict-6.12.trace.gz",
    "--topology",
    "traces/captures/a_strict-6.12.topology.json",
  ]);
  const g = await Deno.makeTempDir();
  const sg = await replay(g, [
    "traces/golden/vfio-p2p-6.18.trace",
    "--topology",
    "traces/switch-acs-off.topology.json",
    "--revision",
    "v2-2022",
  ]);
  const c = await duckdbWasmConnection();
  try {
    const q = (sql: string) =>
      c.query(sql).toArray().map((r) => r.toJSON() as Record<string, unknown>);
    c.insertArrowFromIPCStream(await Deno.readFile(`${out}/ops.arrow`), { name: "ops" });
    c.insertArrowFromIPCStream(await Deno.readFile(`${out}/timeline.arrow`), { name: "timeline" });
    const [ops] = q(
      "select count(*)::INTEGER as n, sum(modeled_ns)::DOUBLE as modeled, sum(pte_writes)::DOUBLE as pte from ops",
    );
    assert.equal(ops!.n, s.ops.total);
    assert.ok(Math.abs(Number(ops!.modeled) - s.ops.modeledNs) < 1e-6);
    assert.ok(Number(ops!.pte) > 0);
    const paths = q(
      "select path, count(*)::INTEGER as n from ops where path <> '' group by path order by path",
    );
    assert.deepEqual(Object.fromEntries(paths.map((r) => [r.path, r.n])), s.ops.byPath);
    const [tl] = q("select count(*)::INTEGER as n, max(iova_pages)::INTEGER as peak from timeline");
    assert.ok(Number(tl!.n) > 0);
    assert.ok(Number(tl!.peak) > 0 && Number(tl!.peak) <= s.iova.peakPages);
    // A run with anomalies: the anomalies stream's codes, and its dictionary-encoded strings.
    c.insertArrowFromIPCStream(await Deno.readFile(`${g}/anomalies.arrow`), { name: "anomalies" });
    const codes = q(
      "select code, count(*)::INTEGER as n from anomalies where severity = 'anomaly' group by code order by code",
    );
    assert.ok(codes.length > 0);
    assert.deepEqual(Object.fromEntries(codes.map((r) => [r.code, r.n])), sg.anomalies.byCode);
  } finally {
    c.close();
  }
});
