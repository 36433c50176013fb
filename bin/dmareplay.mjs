#!/usr/bin/env node
// npx entry: runs cli.ts under the Deno that package.json pins.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deno = join(root, "node_modules", ".bin", "deno");
// V8's young generation held at 2 MiB semi-spaces and its old generation grown by half the live
// size at most: a replay allocates fast, and V8 otherwise grows both (and the peak RSS,
// unevenly) as a long trace goes on; with these a replay is as fast (a parse faster: the young
// generation stays in cache) and peaks lower, the same at 1 GB and 10 GB (bench/RESULTS.md).
const V8_FLAGS = "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=50";
// glibc's malloc with one arena, large blocks mapped and freed pages given back early: the typed
// arrays of batches and table chunks otherwise fragment the arenas as a long replay goes on (peaks 12-20 % lower, at 4 GB and 10 GB most; same speed). A
// variable the caller set wins.
const MALLOC = {
  MALLOC_ARENA_MAX: "1",
  MALLOC_MMAP_THRESHOLD_: "65536",
  MALLOC_TRIM_THRESHOLD_: "65536",
};
const r = spawnSync(deno, ["run", V8_FLAGS, "-A", join(root, "cli.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...MALLOC, ...process.env },
});
process.exit(r.status ?? 2);
