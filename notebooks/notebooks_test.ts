// Every notebook executed headlessly: with Debian's Jupyter (`nbconvert --execute` on Deno's
// kernel; the test task installs jupyter-nbconvert and python3-ipykernel when missing) and, the
// fallback for machines without Jupyter, each notebook's code cells run in order under Deno
// with `Deno.jupyter.display` recorded. Both must run every cell without error and display the
// expected tables and chart bundles.

import assert from "node:assert/strict";
import { VEGALITE_MIME } from "../mod.ts";

const DIR = new URL("./", import.meta.url);
const JUPYTER = "/usr/bin/jupyter";
const NOTEBOOKS = ["analyze_capture", "compare_revisions", "what_if", "compare_captures"] as const;
type Name = typeof NOTEBOOKS[number];

/** What one code cell displayed (MIME bundles), and its error if it failed. */
interface CellRun {
  readonly source: string;
  readonly bundles: readonly Record<string, unknown>[];
  readonly error: string | null;
  readonly ran: boolean;
}

interface NotebookJson {
  cells: {
    "cell_type": string;
    source: string[] | string;
    outputs?: {
      "output_type": string;
      data?: Record<string, unknown>;
      ename?: string;
      evalue?: string;
    }[];
    "execution_count"?: number | null;
    metadata: Record<string, unknown>;
  }[];
  metadata: { kernelspec?: { name: string } };
}

const text = (s: string[] | string) => Array.isArray(s) ? s.join("") : s;

async function readNotebook(name: Name): Promise<NotebookJson> {
  return JSON.parse(await Deno.readTextFile(new URL(`${name}.ipynb`, DIR)));
}

async function jupyterWorks(): Promise<boolean> {
  try {
    const r = await new Deno.Command(JUPYTER, {
      args: ["nbconvert", "--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return r.success;
  } catch {
    return false;
  }
}

/** `jupyter nbconvert --execute` with a kernelspec naming this Deno (in a scratch JUPYTER_PATH). */
async function runWithJupyter(name: Name): Promise<CellRun[]> {
  const tmp = await Deno.makeTempDir({ prefix: "dmareplay-nb-" });
  try {
    await Deno.mkdir(`${tmp}/kernels/deno`, { recursive: true });
    await Deno.writeTextFile(
      `${tmp}/kernels/deno/kernel.json`,
      JSON.stringify({
        argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
        "display_name": "Deno",
        language: "typescript",
      }),
    );
    const r = await new Deno.Command(JUPYTER, {
      args: [
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--ExecutePreprocessor.kernel_name=deno",
        "--ExecutePreprocessor.timeout=600",
        "--allow-errors",
        "--output-dir",
        tmp,
        `${name}.ipynb`,
      ],
      cwd: DIR,
      env: { JUPYTER_PATH: tmp, JUPYTER_RUNTIME_DIR: `${tmp}/runtime`, JUPYTER_DATA_DIR: tmp },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(r.success, `${name}: nbconvert failed:\n${new TextDecoder().decode(r.stderr)}`);
    const nb: NotebookJson = JSON.parse(await Deno.readTextFile(`${tmp}/${name}.ipynb`));
    return nb.cells.filter((c) => c.cell_type === "code").map((c) => {
      const err = (c.outputs ?? []).find((o) => o.output_type === "error");
      return {
        source: text(c.source),
        bundles: (c.outputs ?? []).filter((o) =>
          o.output_type === "display_data" || o.output_type === "execute_result"
        )
          .map((o) => joinLines(o.data ?? {})),
        error: err ? `${err.ename}: ${err.evalue}` : null,
        ran: typeof c.execution_count === "number",
      };
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** nbformat stores multi-line text as a list of lines. */
function joinLines(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(data).map((
      [k, v],
    ) => [k, Array.isArray(v) && v.every((x) => typeof x === "string") ? v.join("") : v]),
  );
}

const MARK = "\u0001dmareplay-cell\u0001";

/**
 * The fallback: the code cells in order as one module (type-checked), each
 * `Deno.jupyter.display` recorded.
 */
async function runWithDeno(name: Name): Promise<CellRun[]> {
  const cells = (await readNotebook(name)).cells.filter((c) => c.cell_type === "code").map((c) =>
    text(c.source)
  );
  const body = [
    `const __shown: unknown[][] = [];`,
    `const __display = async (v: unknown) => {`,
    `  const f = (v as Record<symbol, unknown> | null)?.[Symbol.for("Jupyter.display")];`,
    `  __shown[__shown.length - 1]!.push(typeof f === "function" ? f.call(v) : v);`,
    `};`,
    ...cells.flatMap((src, i) => [
      `__shown.push([]);`,
      `console.log(${JSON.stringify(MARK)} + ${i});`,
      // Outside the kernel, Deno.jupyter does not display: the runner records instead.
      src.replaceAll("Deno.jupyter.display(", "__display("),
    ]),
    `console.log(${JSON.stringify(MARK)} + "end" + JSON.stringify(__shown));`,
  ].join("\n");
  const file = new URL(`.fallback-${name}.ts`, DIR);
  await Deno.writeTextFile(file, body);
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--check", file.pathname],
      cwd: DIR,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    const marks = out.split("\n").filter((l) => l.startsWith(MARK)).map((l) =>
      l.slice(MARK.length)
    );
    const end = marks.find((m) => m.startsWith("end"));
    const shown: Record<string, unknown>[][] = end ? JSON.parse(end.slice(3)) : [];
    const reached = marks.filter((m) => !m.startsWith("end")).length;
    const err = r.success ? null : new TextDecoder().decode(r.stderr).slice(-2000);
    return cells.map((source, i) => ({
      source,
      bundles: shown[i] ?? [],
      // A failure is the last cell reached's.
      error: err !== null && i === reached - 1 ? err : null,
      ran: r.success || i < reached,
      ...(reached === 0 && !r.success && i === 0 ? { error: err } : {}),
    }));
  } finally {
    await Deno.remove(file);
  }
}

const plainTexts = (cells: readonly CellRun[]) =>
  cells.flatMap((c) => c.bundles.map((b) => String(b["text/plain"] ?? "")));

function charts(cells: readonly CellRun[]): Record<string, unknown>[] {
  return cells.flatMap((c) => c.bundles.filter((b) => VEGALITE_MIME in b));
}

function checkCommon(name: Name, how: string, cells: readonly CellRun[]): void {
  assert.ok(cells.length > 0, `${name}: no code cells`);
  for (const [i, c] of cells.entries()) {
    assert.equal(c.error, null, `${name} (${how}) cell ${i} failed:\n${c.source}\n${c.error}`);
    assert.ok(c.ran, `${name} (${how}) cell ${i} did not run`);
  }
  for (const b of cells.flatMap((c) => c.bundles)) {
    if (VEGALITE_MIME in b) {
      const spec = b[VEGALITE_MIME] as { $schema: string; data?: { values?: unknown[] } };
      assert.match(spec.$schema, /vega-lite\/v5\.json$/, `${name}: chart bundles are vega-lite v5`);
      assert.ok((spec.data?.values?.length ?? 0) > 0, `${name}: a chart without data`);
      assert.match(String(b["image/svg+xml"]), /^<svg/, `${name}: SVG fallback`);
    } else {
      assert.ok(
        typeof b["text/html"] === "string" && typeof b["text/plain"] === "string",
        `${name}: tables as HTML and text`,
      );
    }
  }
}

/** What each notebook must show, from its default inputs. */
const EXPECT: Record<Name, (cells: readonly CellRun[]) => void> = {
  "analyze_capture"(cells) {
    const t = plainTexts(cells);
    // a_strict-6.12: every line an event, no diagnostics, no anomalies (kernel-spec captures).
    assert.ok(t.some((s) => /^events +97854$/m.test(s) && /^diagnostics +0$/m.test(s)), "summary");
    assert.ok(
      t.some((s) => /^anomalies by code: none$/.test(s)),
      "no anomalies on a clean capture",
    );
    assert.ok(
      t.some((s) => s.startsWith("cost by path") && /^DIRECT +map +5216 /m.test(s)),
      "cost by path",
    );
    assert.ok(
      t.some((s) => s.startsWith("cost by device") && /0000:00:02\.0/.test(s)),
      "cost by device",
    );
    assert.ok(t.some((s) => s.startsWith("DMA API maps") && /dma_map_sg/.test(s)), "the ops table");
    const titles = charts(cells).map((b) => String(b["text/plain"]));
    assert.deepEqual(titles, [
      "[chart] CPU cost per operation by path (modeled)",
      "[chart] IOVA in use and live mappings over time",
      "[chart] Cumulative CPU cost of the DMA mappings (modeled)",
    ]);
  },
  "compare_revisions"(cells) {
    const t = plainTexts(cells);
    const revisions = t.find((s) => s.startsWith("the revisions"));
    assert.ok(revisions, "the revisions table");
    for (const r of ["v2-2022", "v1-2024", "v8-2025", "rfc-2025-pfn"]) {
      assert.match(revisions, new RegExp(`^${r} `, "m"));
    }
    assert.ok(
      t.some((s) => /^v2-2022 +THRU_HOST_BRIDGE +1 /m.test(s) && /^v8-2025 +BUS_ADDR +1 /m.test(s)),
      "paths per revision",
    );
    // v2-2022 maps a bus-address pair through the IOMMU: the check says so.
    assert.ok(
      t.some((s) =>
        s.startsWith("anomalies: v8-2025 (a) vs v2-2022 (b)") && /^P2P_WRONG_PATH +0 1 +1 /m.test(s)
      ),
    );
    assert.equal(charts(cells).length, 2);
  },
  "what_if"(cells) {
    const t = plainTexts(cells);
    const sweep = t.find((s) => s.startsWith("the sweep"));
    assert.ok(sweep, "the sweep table");
    assert.match(sweep, /^ACS redirect on .*0000:02:00\.0 ACS redirect on/m);
    assert.ok(
      t.some((s) => /^ACS redirect on +THRU_HOST_BRIDGE +1 /m.test(s)),
      "ACS on: through the host bridge",
    );
    assert.ok(
      t.some((s) => /^as given \(ACS redirect off, strict IOMMU\) +BUS_ADDR +1 /m.test(s)),
      "as given: bus address",
    );
    const acs = t.find((s) => s.startsWith("ACS redirect on: anomalies"));
    assert.match(acs ?? "", /^ +19 P2P_HOST_BRIDGE_WHEN_BUS_PATH /m);
    assert.ok(t.includes("as given (ACS redirect off, strict IOMMU): anomalies: none"));
    const [chart] = charts(cells);
    const spec = chart![VEGALITE_MIME] as { encoding: { y: { sort: string[] } } };
    assert.equal(spec.encoding.y.sort.length, 6);
  },
  "compare_captures"(cells) {
    const t = plainTexts(cells);
    const caps = t.find((s) => s.startsWith("the captures"));
    assert.match(caps ?? "", /^strict +97866 +97854 /m);
    assert.match(caps ?? "", /^lazy +51069 +51057 /m);
    // Strict unmaps invalidate the IOTLB each time; lazy ones are batched by the flush queue.
    const diff = t.find((s) => s.startsWith("strict (a) vs lazy (b)"));
    assert.ok(diff, "the comparison");
    assert.ok(t.includes("anomalies: none"));
    assert.equal(charts(cells).length, 3);
  },
};

const haveJupyter = await jupyterWorks();
if (!haveJupyter) {
  // deno-lint-ignore no-console -- the issue asks the test to say that Jupyter is missing
  console.warn(
    `notebooks: ${JUPYTER} nbconvert is not usable here (Debian: jupyter-nbconvert python3-ipykernel); running each notebook's cells under Deno instead`,
  );
}

for (const name of NOTEBOOKS) {
  Deno.test({
    name:
      `notebook ${name}.ipynb: every cell runs in Jupyter (nbconvert, Deno kernel) and shows its tables and charts`,
    ignore: !haveJupyter,
    fn: async () => {
      const cells = await runWithJupyter(name);
      checkCommon(name, "jupyter", cells);
      EXPECT[name](cells);
    },
  });
  Deno.test(`notebook ${name}.ipynb: its cells run in order under Deno with the same outputs`, async () => {
    const cells = await runWithDeno(name);
    checkCommon(name, "deno", cells);
    EXPECT[name](cells);
  });
}

Deno.test("notebooks import only from ../mod.ts, use the Deno kernel and are stored without outputs", async () => {
  for (const name of NOTEBOOKS) {
    const nb = await readNotebook(name);
    assert.equal(nb.metadata.kernelspec?.name, "deno", name);
    for (const c of nb.cells.filter((c) => c.cell_type === "code")) {
      for (const m of text(c.source).matchAll(/from\s+"([^"]+)"/g)) {
        assert.equal(m[1], "../mod.ts", name);
      }
      assert.deepEqual(c.outputs, [], `${name}: outputs stored`);
      assert.equal(c.execution_count, null, name);
    }
  }
});

Deno.test("the fallback runner reports the cell that fails", async () => {
  // A notebook of our own, written beside the others so that ../mod.ts resolves.
  const name = "_failing_test" as Name;
  const file = new URL(`${name}.ipynb`, DIR);
  const code = (s: string) => ({
    "cell_type": "code",
    source: [s],
    outputs: [],
    "execution_count": null,
    metadata: {},
  });
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      cells: [code("const x = 1;"), code("throw new Error('cell two ' + x);"), code("x;")],
      metadata: {},
    }),
  );
  try {
    const cells = await runWithDeno(name);
    assert.equal(cells[0]!.error, null);
    assert.match(cells[1]!.error ?? "", /cell two 1/);
    assert.equal(cells[2]!.ran, false);
  } finally {
    await Deno.remove(file);
  }
});
