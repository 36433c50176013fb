#!/usr/bin/env node
// npx entry: runs cli.ts under the Deno that package.json pins.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deno = join(root, "node_modules", ".bin", "deno");
// V8's young generation held at 8 MiB semi-spaces and its old generation grown by half the live
// size at most: a replay allocates fast, and V8 otherwise grows both (and the peak RSS,
// unevenly) as a long trace goes on; with these a replay is as fast and peaks 20-30 % lower, the
// same at 1 GB and 10 GB (bench/RESULTS.md).
const V8_FLAGS = "--v8-flags=--max-semi-space-size=8,--heap-growing-percent=50";
const r = spawnSync(deno, ["run", V8_FLAGS, "-A", join(root, "cli.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exit(r.status ?? 2);
