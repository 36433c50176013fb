// Interleaved A/B runs of `dmareplay replay` (every table written): for each variant, the median,
// least and most wall time and peak RSS (from /usr/bin/time) of N runs, the variants taking turns
// so that the machine's drifts fall on all of them alike (its speed moves by up to x1.6 from one
// quarter hour to the next; two runs in a row of one configuration differ by up to 10 MB).
// deno-lint-ignore-file no-console -- a benchmark prints its figures
//
//   deno run -A bench/ab_replay.ts N TRACE TOPOLOGY "LABEL|CHECKOUT|ENV=V ...|V8FLAGS" ...
//
// CHECKOUT is a directory with cli.ts and node_modules (a `git worktree` of another commit, or
// "."); ENV adds variables to the CLI's malloc settings; V8FLAGS are appended to the CLI's
// `--max-semi-space-size=2,--heap-growing-percent=50` (a later flag wins). Example:
//   deno run -A bench/ab_replay.ts 3 /tmp/dmareplay-bench/synth-1G.trace \
//     traces/captures/a_strict-6.12.topology.json "now|." "h100|.||--heap-growing-percent=100"

const [count, trace, topology, ...specs] = Deno.args;
const n = Number(count);
if (!(n > 0) || trace === undefined || topology === undefined || specs.length === 0) {
  console.error('usage: deno run -A bench/ab_replay.ts N TRACE TOPOLOGY "LABEL|DIR|ENV|V8" ...');
  Deno.exit(2);
}

interface Variant {
  label: string;
  dir: string;
  env: Record<string, string>;
  v8: string;
  secs: number[];
  mb: number[];
}

const variants: Variant[] = specs.map((s) => {
  const [label = "", dir = ".", env = "", v8 = ""] = s.split("|");
  return {
    label,
    dir,
    env: Object.fromEntries(env.split(" ").filter(Boolean).map((kv) => kv.split("=", 2))),
    v8,
    secs: [],
    mb: [],
  };
});

const timeFile = await Deno.makeTempFile();
const abs = (p: string) => (p.startsWith("/") ? p : `${Deno.cwd()}/${p}`);
for (let i = 0; i < n; ++i) {
  for (const v of variants) {
    const out = await Deno.makeTempDir();
    const flags = "--max-semi-space-size=2,--heap-growing-percent=50" + (v.v8 ? `,${v.v8}` : "");
    const r = await new Deno.Command("/usr/bin/time", {
      args: [
        "-f",
        "%e %M",
        "-o",
        timeFile,
        `${v.dir}/node_modules/.bin/deno`,
        "run",
        `--v8-flags=${flags}`,
        "-A",
        `${v.dir}/cli.ts`,
        "replay",
        abs(trace),
        "--topology",
        abs(topology),
        "--out",
        out,
        "--quiet",
      ],
      env: {
        MALLOC_ARENA_MAX: "1",
        MALLOC_MMAP_THRESHOLD_: "65536",
        MALLOC_TRIM_THRESHOLD_: "65536",
        ...v.env,
      },
      stdout: "null",
    }).output();
    await Deno.remove(out, { recursive: true });
    const [secs = NaN, kb = NaN] = (await Deno.readTextFile(timeFile)).trim().split(/\s+/)
      .map(Number);
    v.secs.push(secs);
    v.mb.push(kb / 1024);
    console.log(`${i} ${v.label}: ${secs} s, ${(kb / 1024).toFixed(0)} MB (exit ${r.code})`);
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log("\n| variant | wall s median (least-most) | peak RSS MB median (least-most) |");
console.log("| --- | --- | --- |");
for (const v of variants) {
  console.log(
    `| ${v.label} | ${median(v.secs).toFixed(2)} (${Math.min(...v.secs).toFixed(2)}-${
      Math.max(...v.secs).toFixed(2)
    }) | ${median(v.mb).toFixed(0)} (${Math.min(...v.mb).toFixed(0)}-${
      Math.max(...v.mb).toFixed(0)
    }) |`,
  );
}
