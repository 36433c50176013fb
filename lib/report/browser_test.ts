// The report in a real browser (Debian's chromium, headless; the test task installs it when
// missing): it loads with no console error and no network request (its Content-Security-Policy
// forbids every fetch, so one would be a logged violation), the charts are drawn (the
// screenshot is far from blank), and markup in a trace's task names runs nothing.

import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

async function chromium(): Promise<string | null> {
  for (const c of CHROMIUM) if (await Deno.stat(c).then(() => true, () => false)) return c;
  return null;
}

async function cli(args: string[], stdin?: string) {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("cli.ts", ROOT).pathname, ...args],
    cwd: ROOT.pathname,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const r = await p.output();
  assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
}

async function browse(bin: string, file: string, extra: string[]) {
  const profile = await Deno.makeTempDir();
  const r = await new Deno.Command(bin, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--user-data-dir=${profile}`,
      "--enable-logging=stderr",
      "--v=0",
      ...extra,
      `file://${file}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(profile, { recursive: true }).catch(() => {});
  return { dom: new TextDecoder().decode(r.stdout), log: new TextDecoder().decode(r.stderr) };
}

Deno.test("report.html in headless chromium: no console error, no request, charts drawn", async () => {
  const bin = await chromium();
  assert.ok(bin !== null, "chromium (Debian package; the test task installs it)");
  const out = await Deno.makeTempDir();
  await cli([
    "report",
    "traces/golden/vfio-p2p-6.18.trace",
    "--topology",
    "traces/switch-acs-off.topology.json",
    "--revisions",
    "all",
    "--out",
    out,
  ]);
  const { dom, log } = await browse(bin, `${out}/report.html`, ["--dump-dom"]);
  assert.match(dom, /<svg/);
  assert.match(dom, /dmareplay report/);
  const bad = log.split("\n").filter((l) =>
    /CONSOLE|Uncaught|Content Security Policy|Refused to|net::ERR/i.test(l)
  );
  assert.deepEqual(bad, []);
  const shot = `${out}/shot.png`;
  await browse(bin, `${out}/report.html`, [
    `--screenshot=${shot}`,
    "--window-size=1200,1600",
    "--hide-scrollbars",
  ]);
  // A blank page of that size compresses to a few KB; charts and tables take far more.
  assert.ok((await Deno.stat(shot)).size > 40_000, "the screenshot shows the charts");
});

Deno.test("report.html in headless chromium: task names with markup run no script", async () => {
  const bin = await chromium();
  assert.ok(bin !== null, "chromium");
  const out = await Deno.makeTempDir();
  const tasks = [
    "<script>document.title='PWNED'</script>",
    `"><img src=x onerror="document.title='PWNED'">`,
  ];
  const trace =
    tasks.map((t, i) =>
      `${t}-${100 + i} [000] .....  1.00000${
        i + 1
      }: dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=${i + 1}000 size=4096 phys_addr=${
        i + 1
      }000 attrs=`
    ).join("\n") + "\n";
  await cli(["report", "-", "--out", out], trace);
  const { dom } = await browse(bin, `${out}/report.html`, ["--dump-dom"]);
  assert.match(dom, /<title>dmareplay: stdin<\/title>/);
  assert.ok(!dom.includes("PWNED</title>"));
  assert.ok(!/<img/i.test(dom));
  assert.ok(dom.includes("document.title='PWNED'"), "the text is shown, as text");
});
