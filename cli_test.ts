// The command line as a user runs it: exit codes (0 ok, 1 input errors, 2 usage), the JSON
// contracts of DESIGN.md, and the messages that point at the problem.

import assert from "node:assert/strict";

async function run(
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string; err: string }> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./cli.ts", import.meta.url).pathname, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: new URL(".", import.meta.url).pathname,
  });
  const child = cmd.spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  // A command that hangs fails its test (killed after 5 minutes) instead of stalling the run.
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, 300_000);
  const r = await child.output().finally(() => clearTimeout(timer));
  assert.equal(hung, false, `dmareplay ${args.join(" ")} did not finish within 5 minutes`);
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("dmareplay parse --json prints DESIGN.md's summary keys and exits 0", async () => {
  const r = await run(["parse", "traces/strict-6.12.trace", "--json"]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.deepEqual(Object.keys(s).slice(0, 3), ["input", "events", "diagnostics"]);
  assert.equal(s.input.lines, 400);
  assert.equal(s.diagnostics.total, 0);
  assert.equal(s.events.byName.iova_alloc > 0, true);
});

Deno.test("dmareplay parse exits 1 on input errors, reads stdin, and names the line", async () => {
  const r = await run(["parse", "-"], "not a trace line\n");
  assert.equal(r.code, 1);
  assert.match(r.out, /-:1: bad_line: /);
});

Deno.test("dmareplay exits 2 on usage errors", async () => {
  assert.equal((await run([])).code, 2);
  assert.equal((await run(["frobnicate"])).code, 2);
  assert.equal((await run(["parse"])).code, 2);
  assert.equal((await run(["parse", "--no-such-flag", "x"])).code, 2);
  assert.equal((await run(["parse", "/no/such/file"])).code, 2);
  assert.equal(
    (await run(["p2p", "traces/switch-acs-off.topology.json", "0000:09:00.0", "0000:04:00.0"]))
      .code,
    2,
  );
  for (const c of ["parse", "validate", "p2p"]) assert.equal((await run([c, "--help"])).code, 0, c);
});

Deno.test("dmareplay validate checks topologies and probe maps, each error with its pointer", async () => {
  const ok = await run(["validate", "traces/switch-acs-off.topology.json"]);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /valid topology \(1 host bridges, 6 devices, IOMMU on\)/);
  assert.equal((await run(["validate", "traces/default.probes.json"])).code, 0);
  const dir = await Deno.makeTempDir();
  const bad = `${dir}/bad.json`;
  await Deno.writeTextFile(
    bad,
    JSON.stringify({
      hostBridges: [{ id: "pci0000:00" }],
      devices: [{ bdf: "0000:00:01.0", kind: "root_port", parent: "pci0000:01" }],
    }),
  );
  const r = await run(["validate", bad]);
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /bad\.json#\/devices\/0\/parent: expected a host bridge id or a device's BDF/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dmareplay p2p --json answers mapType, distance, busOffset and reason", async () => {
  const r = await run([
    "p2p",
    "traces/arm-bus-offset.topology.json",
    "0000:03:00.0:0",
    "0000:04:00.0",
    "--json",
    "--phys",
    "0x4000200000",
  ]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.deepEqual([j.mapType, j.distance, j.busOffset, j.dmaAddress], [
    "BUS_ADDR",
    4,
    "0xffffffc080000000",
    "0x80200000",
  ]);
  assert.match(j.reason, /no ACS redirect/);
  const ns = JSON.parse(
    (await run([
      "p2p",
      "traces/root-ports-not-allowlisted.topology.json",
      "0000:02:00.0:2",
      "0000:01:00.0",
      "--json",
    ])).out,
  );
  assert.deepEqual([ns.mapType, ns.distance, ns.hops], ["NOT_SUPPORTED", -1, 4]);
  assert.match(ns.reason, /not in the P2PDMA allowlist/);
  const io = JSON.parse(
    (await run([
      "p2p",
      "traces/switch-acs-off.topology.json",
      "0000:04:00.0:3",
      "0000:03:00.0",
      "--json",
    ])).out,
  );
  assert.equal(io.mapType, "NOT_SUPPORTED");
  assert.match(io.reason, /BAR 3 of 0000:04:00.0 is not a memory BAR/);
});

Deno.test("dmareplay topology import writes a valid topology and notes on stderr", async () => {
  const r = await run(["topology", "import", "lib/model/topology/testdata/xeon-switch.dump"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).devices.length, 6);
  assert.match(r.err, /note: DMA segment boundary is not in sysfs/);
  const bad = await run(
    ["topology", "import", "-"],
    "[device 0000:00:02.0]\n  resource:\n    nonsense\n",
  );
  assert.equal(bad.code, 1);
  assert.match(bad.err, /-: line 3: expected a resource line/);
  assert.equal((await run(["topology", "export"])).code, 2);
});

Deno.test("dmareplay replay writes summary.json and anomalies.csv; --out is required", async () => {
  const out = await Deno.makeTempDir();
  const trace = [
    "  dd-1 [000] .....  1.000001: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=",
    "  dd-1 [000] .....  1.000002: dma_unmap_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs=",
  ].join("\n") + "\n";
  const r = await run(["replay", "-", "--out", out], trace);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
  assert.deepEqual(Object.keys(s).slice(0, 3), ["input", "events", "diagnostics"]);
  assert.deepEqual(s.anomalies.byCode, { DMA_UNMAP_DIR_MISMATCH: 1 });
  assert.equal(s.revision, "v8-2025");
  assert.equal(s.topology.given, false);
  const csv = (await Deno.readTextFile(`${out}/anomalies.csv`)).trim().split("\n");
  assert.equal(csv[0], "line,code,device,related,message,revision,severity");
  assert.match(csv[1]!, /^2,DMA_UNMAP_DIR_MISMATCH,0000:00:02\.0,1,.*,v8-2025,anomaly$/);
  const ops = (await Deno.readTextFile(`${out}/ops.csv`)).trim().split("\n");
  assert.match(ops[0]!, /^ts_s,cpu,task,line,op,device,/);
  assert.deepEqual(ops.slice(1).map((r) => r.split(",")[4]), ["dma_map_page", "dma_unmap_page"]);
  for (const t of ["ops", "timeline", "anomalies"]) {
    const head = (await Deno.readFile(`${out}/${t}.arrow`)).subarray(0, 4);
    assert.deepEqual([...head], [0xff, 0xff, 0xff, 0xff], t); // an Arrow IPC stream message
    const pq = await Deno.readFile(`${out}/${t}.parquet`);
    assert.equal(new TextDecoder().decode(pq.subarray(0, 4)), "PAR1", t);
  }
  assert.equal(s.ops.total, 2);
  assert.equal((await run(["replay", "-"], trace)).code, 2);
  assert.equal((await run(["replay", "-", "--out", out, "--revision", "v9-2030"], trace)).code, 2);
  for (const extra of [[], ["--one-thread"]]) {
    const missing = await run(["replay", "/no/such/trace", "--out", out, ...extra]);
    assert.equal(missing.code, 2, extra.join(" "));
    assert.match(missing.err, /Cannot open trace "\/no\/such\/trace": No such file/);
  }
});

Deno.test("dmareplay replay and report exit 1 naming an output they cannot write, with no stack", async () => {
  const trace =
    "  dd-1 [000] .....  1.000001: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=2d15000 attrs=\n";
  const out = await Deno.makeTempDir();
  await Deno.mkdir(`${out}/ops.csv`); // a directory where the table's file goes
  for (const command of ["replay", "report"]) {
    const r = await run([command, "-", "--out", out], trace);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, new RegExp(`^dmareplay: Cannot write "${out}/ops\\.csv": `));
    assert.doesNotMatch(r.err, /\n\s+at /); // no stack trace
  }
  const file = await Deno.makeTempFile();
  const r = await run(["replay", "-", "--out", `${file}/x`], trace);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /^dmareplay: .*Not a directory.*\/x/);
});

Deno.test("dmareplay replay, report and compare write the same files whether the parse is on a worker or not", async () => {
  const strict = ["traces/strict-6.12.trace"];
  for (
    const [cmd, args] of [
      ["replay", strict],
      ["report", [...strict, "--revisions", "all"]],
      ["compare", [...strict, "traces/dmabuf-6.12.trace"]],
    ] as const
  ) {
    const outs: string[] = [];
    for (const thread of [[], ["--one-thread"]]) {
      const out = await Deno.makeTempDir();
      const r = await run([cmd, ...args, "--out", out, ...thread]);
      assert.equal(r.code, 0, r.err);
      outs.push(out);
    }
    const files = (dir: string) => Array.from(Deno.readDirSync(dir), (e) => e.name).sort();
    const names = files(outs[0]!);
    assert.deepEqual(files(outs[1]!), names, cmd);
    for (const want of ["summary.json", "ops.csv", "timeline.csv", "anomalies.csv"]) {
      assert.ok(names.includes(want), `${cmd}: ${want}`);
    }
    if (cmd !== "replay") assert.ok(names.includes("report.html"), cmd);
    for (const f of names.filter((n) => !Deno.statSync(`${outs[0]}/${n}`).isDirectory)) {
      const [a = new Uint8Array(), b] = outs.map((o) => Deno.readFileSync(`${o}/${f}`));
      assert.ok(a.length > 0, `${cmd}: ${f}`);
      assert.deepEqual(a, b, `${cmd}: ${f}`);
    }
  }
});

Deno.test("dmareplay replay of a shared capture with its topology finds no anomaly", async () => {
  const file = new URL("../shared/captures/a_strict-6.12.trace.gz", import.meta.url).pathname;
  if (!(await Deno.stat(file).then(() => true, () => false))) return;
  const out = await Deno.makeTempDir();
  const r = await run([
    "replay",
    file,
    "--topology",
    "traces/captures/a_strict-6.12.topology.json",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
  assert.equal(s.anomalies.total, 0, JSON.stringify(s.anomalies));
  assert.equal(s.topology.given, true);
  // The one miss: an interrupt freed an IOVA between the task's allocation and its map (§4.4).
  assert.deepEqual(s.iova.prediction, {
    checked: 5217,
    matched: 5216,
    firstMismatchLine: 89714,
    explained: { lazyFlushTiming: 0, interruptOrder: 1, warmUp: 0 },
    unexplained: 0,
  });
  assert.equal(s.iova.leakedPages, 0);
});

Deno.test("dmareplay calibrate fits a profile to function_graph durations; validate accepts it", async () => {
  const dir = await Deno.makeTempDir();
  const r = await run(["calibrate", "traces/fgraph-6.12.trace", "--out", `${dir}/p.json`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /timed operations/);
  assert.match(r.out, /R\^2/);
  const p = JSON.parse(await Deno.readTextFile(`${dir}/p.json`));
  assert.equal(p.cpu.pte_write.status, "calibrated");
  assert.match(p.cpu.pte_write.source, /calibrated from capture fgraph-6\.12/);
  const v = await run(["validate", `${dir}/p.json`]);
  assert.equal(v.code, 0, v.out);
  // A profile with a figure but no source is refused by replay (usage error) and validate.
  await Deno.writeTextFile(`${dir}/bad.json`, '{"name":"x","cpu":{"pte_write":{"value":1}}}');
  assert.equal((await run(["validate", `${dir}/bad.json`])).code, 1);
  const bad = await run([
    "replay",
    "traces/strict-6.12.trace",
    "--cost",
    `${dir}/bad.json`,
    "--out",
    dir,
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /\/cpu\/pte_write\/source/);
  // No durations: nothing to fit.
  assert.equal(
    (await run(["calibrate", "traces/strict-6.12.trace", "--out", `${dir}/q.json`])).code,
    1,
  );
});

Deno.test("dmareplay replay --revision and what-ifs (file and flags) change the modeled path and cost", async () => {
  const out = await Deno.makeTempDir();
  const base = [
    "replay",
    "traces/golden/vfio-p2p-6.18.trace",
    "--topology",
    "traces/switch-acs-off.topology.json",
  ];
  const pathOf = async (args: string[]) => {
    const r = await run([...base, ...args, "--out", out]);
    assert.equal(r.code, 0, r.err);
    const ops = (await Deno.readTextFile(`${out}/ops.csv`)).split("\n");
    const map = ops.find((l) => l.includes("dma_buf_map_attachment"))!.split(",");
    const s = JSON.parse(await Deno.readTextFile(`${out}/summary.json`));
    return [
      map[8],
      s.revision,
      Object.keys(s.anomalies.byCode).join(" "),
      s.whatIf?.applied ?? null,
    ];
  };
  assert.deepEqual(await pathOf([]), ["BUS_ADDR", "v8-2025", "", null]);
  assert.deepEqual(await pathOf(["--revision", "v2-2022"]), [
    "THRU_HOST_BRIDGE",
    "v2-2022",
    "P2P_WRONG_PATH",
    null,
  ]);
  assert.deepEqual(await pathOf(["--whatif-acs", "0000:02:01.0=on"]), [
    "THRU_HOST_BRIDGE",
    "v8-2025",
    "P2P_HOST_BRIDGE_WHEN_BUS_PATH", // both below the switch: the redirect costs the bus path
    ["0000:02:01.0 ACS redirect on"],
  ]);
  await Deno.writeTextFile(
    `${out}/w.json`,
    JSON.stringify({
      name: "move",
      changes: [{ moveDevice: { device: "0000:04:00.0", parent: "0000:00:01.0" } }],
    }),
  );
  assert.equal((await pathOf(["--whatif", `${out}/w.json`]))[0], "THRU_HOST_BRIDGE");
  // A bad what-if and a what-if without a topology are usage errors.
  assert.equal((await run([...base, "--whatif-iommu", "fast", "--out", out])).code, 2);
  assert.equal(
    (await run(["replay", "traces/strict-6.12.trace", "--whatif-iommu", "lazy", "--out", out]))
      .code,
    2,
  );
});

Deno.test("dmareplay report: an offline report.html, report.md, charts and tables; revisions compared", async () => {
  const out = await Deno.makeTempDir();
  const r = await run([
    "report",
    "traces/golden/vfio-p2p-6.18.trace",
    "--topology",
    "traces/switch-acs-off.topology.json",
    "--revisions",
    "v8-2025,v2-2022",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.err);
  const html = await Deno.readTextFile(`${out}/report.html`);
  // Self-contained: no fetch of anything (the SVG namespace is a name, not a request).
  assert.doesNotMatch(html, /<(script|img|link|iframe)[^>]+(src|href)=/i);
  assert.doesNotMatch(
    html.replaceAll('xmlns="http://www.w3.org/2000/svg"', "").replaceAll(
      'xmlns:xlink="http://www.w3.org/1999/xlink"',
      "",
    ),
    /https?:\/\//,
  );
  assert.match(html, /v8-2025 vs v2-2022: anomalies/);
  assert.match(html, /P2P_WRONG_PATH/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 4);
  const md = await Deno.readTextFile(`${out}/report.md`);
  assert.match(md, /^# dmareplay report: vfio-p2p-6\.18\.trace/);
  for (
    const f of [
      "summary.json",
      "ops.csv",
      "ops.arrow",
      "charts/cost-by-path.svg",
      "charts/cost-by-path.png",
    ]
  ) {
    assert.ok((await Deno.stat(`${out}/${f}`)).size > 0, f);
  }
  assert.equal(JSON.parse(await Deno.readTextFile(`${out}/summary.json`)).revision, "v8-2025");
  assert.equal(
    (await run(["report", "traces/strict-6.12.trace", "--revisions", "v9", "--out", out])).code,
    2,
  );
});

Deno.test("dmareplay report escapes what the trace says: task names with markup run nothing", async () => {
  const out = await Deno.makeTempDir();
  const evil = ["<script>alert(1)</script>", '"><img onerror=alert(2) src=x>'];
  const trace =
    evil.map((task, i) =>
      `${task}-${100 + i} [000] .....  1.00000${
        i + 1
      }: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=${i + 1}000 size=4096 phys_addr=${
        i + 1
      }000 attrs=`
    ).join("\n") + "\n";
  const r = await run(["report", "-", "--out", out], trace);
  assert.equal(r.code, 0, r.err);
  const html = await Deno.readTextFile(`${out}/report.html`);
  assert.ok(
    html.includes("&lt;script&gt;alert(1)&lt;/script&gt;"),
    "the task name is shown, escaped",
  );
  assert.ok(!html.includes("<script>alert"));
  assert.ok(!html.includes("<img onerror"));
  assert.equal((html.match(/<script>/g) ?? []).length, 1); // the table sorter, ours
});

Deno.test("dmareplay compare: two captures side by side, what changed (B - A)", async () => {
  const out = await Deno.makeTempDir();
  const r = await run([
    "compare",
    "traces/anomalies/DMABUF_DOUBLE_UNMAP.ok.trace",
    "traces/anomalies/DMABUF_DOUBLE_UNMAP.trace",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /1 anomalies \(\+1\)/);
  const md = await Deno.readTextFile(`${out}/report.md`);
  assert.match(md, /\| DMABUF_DOUBLE_UNMAP \| 0 \| 1 \| 1 \|/);
  assert.ok((await Deno.stat(`${out}/report.html`)).size > 1000);
  assert.equal((await run(["compare", "traces/strict-6.12.trace", "--out", out])).code, 2);
});

Deno.test("dmareplay synth writes a scenario's trace (gzip when .gz) that replays clean; validate checks scenarios", async () => {
  const dir = await Deno.makeTempDir();
  const r = await run([
    "synth",
    "traces/scenarios/nvme-strict.json",
    "--out",
    `${dir}/t.trace.gz`,
    "--events",
    "20000",
    "--seed",
    "4",
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.out,
    /t\.trace\.gz: 20\d\d\d events, \d+ bytes of text, \d+ maps \(scenario nvme-strict, seed 4\)/,
  );
  const gz = await Deno.readFile(`${dir}/t.trace.gz`);
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b]);
  const rp = await run([
    "replay",
    `${dir}/t.trace.gz`,
    "--topology",
    "traces/captures/a_strict-6.12.topology.json",
    "--out",
    `${dir}/out`,
  ]);
  assert.equal(rp.code, 0, rp.err);
  assert.match(rp.out, /: 20\d\d\d lines, 20\d\d\d events, 0 diagnostics, 0 anomalies/);
  // --bytes, to stdout.
  const s = await run([
    "synth",
    "traces/scenarios/nvme-lazy.json",
    "--out",
    "-",
    "--bytes",
    "200K",
  ]);
  assert.equal(s.code, 0, s.err);
  assert.ok(s.out.length >= 200_000 && s.out.length < 200_000 + (1 << 20) + 50_000);
  assert.match(s.err, /stdout: \d+ events/);
  // Usage errors: 2, each saying what was expected.
  for (
    const [args, msg] of [
      [["synth", "traces/scenarios/nvme-lazy.json"], /needs --out/],
      [
        ["synth", "traces/scenarios/nvme-lazy.json", "--out", "-", "--bytes", "lots"],
        /expected a size/,
      ],
      [
        [
          "synth",
          "traces/scenarios/nvme-lazy.json",
          "--out",
          "-",
          "--events",
          "1",
          "--bytes",
          "1M",
        ],
        /not both/,
      ],
      [["synth", "traces/switch-acs-off.topology.json", "--out", "-"], /not a valid scenario/],
    ] as const
  ) {
    const u = await run([...args]);
    assert.equal(u.code, 2, args.join(" "));
    assert.match(u.err, msg);
  }
  assert.equal((await run(["synth", "--help"])).code, 0);
  const v = await run(["validate", "traces/scenarios/nvme-strict.json"]);
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, /valid scenario "nvme-strict" \(2 workloads, 2 CPUs, 7 devices\)/);
  await Deno.writeTextFile(
    `${dir}/bad.json`,
    JSON.stringify({ name: "x", topology: "../nope.json", workloads: [] }),
  );
  const b = await run(["validate", `${dir}/bad.json`]);
  assert.equal(b.code, 1, b.out + b.err);
  assert.match(b.out, /bad\.json#\/topology: Cannot read ".*nope\.json"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("dmareplay synth of the anomalies scenario: the replay finds exactly the injected anomalies, at their lines", async () => {
  const dir = await Deno.makeTempDir();
  const s = await run([
    "synth",
    "traces/scenarios/anomalies.json",
    "--out",
    `${dir}/a.trace`,
    "--events",
    "40000",
  ]);
  assert.equal(s.code, 0, s.err);
  assert.match(s.out, /\d+ anomalies injected \(listed in .*a\.trace\.injected\.json\)/);
  const injected: { code: string; line: number }[] =
    JSON.parse(await Deno.readTextFile(`${dir}/a.trace.injected.json`)).injected;
  const r = await run([
    "replay",
    `${dir}/a.trace`,
    "--topology",
    "traces/switch-nvme-cmb.topology.json",
    "--out",
    `${dir}/out`,
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.err);
  const rows = (await Deno.readTextFile(`${dir}/out/anomalies.csv`)).trimEnd().split("\n").slice(1);
  const found = rows.map((l) => {
    const [line, code] = l.split(",");
    return `${line} ${code}`;
  }).sort();
  assert.deepEqual(found, injected.map((x) => `${x.line} ${x.code}`).sort());
  // The DMA-API, IOMMU, P2P and dma-buf codes the synthesizer injects.
  assert.ok(new Set(injected.map((x) => x.code)).size >= 27);
  await Deno.remove(dir, { recursive: true });
});
