// The tables as other tools read them: DuckDB (the @duckdb/node-api package) reads the Parquet
// files and finds the rows and sums summary.json reports; the Arrow IPC streams read back the
// same (DuckDB reads Arrow IPC only through its community `arrow` extension, which it downloads:
// not here, so the streams are read with flechette, arquero's reader).

import assert from "node:assert/strict";
import { DuckDBInstance } from "@duckdb/node-api";
import { tableFromIPC } from "@uwdata/flechette";

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
  // The Arrow streams hold the same rows.
  const arrow = tableFromIPC(await Deno.readFile(`${out}/ops.arrow`));
  assert.equal(arrow.numRows, s.ops.total);
  const modeled = arrow.getChild("modeled_ns")!.toArray() as Float64Array;
  assert.ok(Math.abs(modeled.reduce((a, b) => a + b, 0) - s.ops.modeledNs) < 1e-6);
});
