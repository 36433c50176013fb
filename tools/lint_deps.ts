// Fails on an import that goes against the stage order (STYLE 2) or reaches into another
// stage's non-mod.ts file (STYLE 1), and on import cycles between stages.
// deno-lint-ignore-file no-console -- a command-line tool

const ORDER = ["ingest", "model", "revisions", "cost", "replay", "analysis", "charts", "report"];
const SYNTH_MAY_USE = new Set(["ingest", "model", "synth"]);
/** The synthesizer's tests also replay what it writes (the round trip). */
const SYNTH_TESTS_MAY_USE = new Set([...SYNTH_MAY_USE, "replay"]);

function stageOf(path: string): string | null {
  const m = /(?:^|\/)lib\/([^/]+)\//.exec(path);
  return m ? m[1]! : null;
}

function rank(stage: string): number {
  const i = ORDER.indexOf(stage);
  return i < 0 ? ORDER.length : i;
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

const IMPORT_REGEXP = /(?:import|export)[^"']*from\s*["']([^"']+)["']/g;
const problems: string[] = [];
for await (const file of tsFiles("lib")) {
  const from = stageOf(file)!;
  const text = await Deno.readTextFile(file);
  for (const m of text.matchAll(IMPORT_REGEXP)) {
    const spec = m[1]!;
    if (!spec.startsWith(".")) continue;
    const target = new URL(spec, `file:///${file}`).pathname.slice(1);
    const to = stageOf(target);
    if (to === null || to === from) continue;
    const isMod = /\/lib\/[^/]+\/(?:[^/]+\/)?mod\.ts$/.test("/" + target);
    if (!isMod) problems.push(`${file}: imports ${spec}, a non-mod.ts file of stage "${to}"`);
    const allowed = from === "synth"
      ? (file.endsWith("_test.ts") ? SYNTH_TESTS_MAY_USE : SYNTH_MAY_USE).has(to)
      : rank(to) < rank(from);
    if (!allowed) {
      problems.push(`${file}: stage "${from}" imports stage "${to}", which comes after it`);
    }
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  Deno.exit(1);
}
console.log("lint:deps: stage order holds");
