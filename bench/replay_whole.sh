#!/usr/bin/env bash
# Whole-run replay benchmark (issue [5/8]): a real capture (../shared/captures/a_strict-6.12,
# strict IOMMU, NVMe) written again and again to 1 GB and 4 GB (bench/loop_capture.ts), then in
# the same run on the same file: `dmareplay parse --json` (the baseline) and `dmareplay replay`
# with its topology, every table written (ops, timeline, anomalies as CSV and Arrow), and the
# same replay with the V8 heap held small. Events/s and peak RSS from /usr/bin/time.
# Usage: bash bench/replay_whole.sh [SIZES...]   (default: 1000000000 4000000000)
# BENCH_DIR sets where the traces go (default /tmp/dmareplay-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
deno=node_modules/.bin/deno
# The allocator settings of `npx dmareplay` and `deno task dmareplay` (bin/dmareplay.mjs).
export MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=65536
dir=${BENCH_DIR:-/tmp/dmareplay-bench}
capture=../shared/captures/a_strict-6.12.trace.gz
topology=traces/captures/a_strict-6.12.topology.json
[ -f "$capture" ] || { echo "no $capture: nothing to loop"; exit 0; }
mkdir -p "$dir"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000000 4000000000)
small="--v8-flags=--max-semi-space-size=2,--max-old-space-size=64"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), deno $($deno --version | head -1 | cut -d' ' -f2)"
echo
echo "| input | events | run | wall s | M events/s | x parse | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for size in "${sizes[@]}"; do
  f="$dir/strict-loop-$size.trace"
  [ -f "$f" ] || $deno run -A bench/loop_capture.ts "$capture" "$size" > "$f"
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" $deno run --v8-flags=--max-semi-space-size=2,--heap-growing-percent=50 -A cli.ts parse "$f" --json --quiet > "$dir/summary.json" || true
  read -r psecs prss < "$dir/time.txt"
  events=$(python3 -c "import json; print(json.load(open('$dir/summary.json'))['events']['total'])")
  row() { # name secs rss_kb
    python3 -c "print(f'| $((size / 1000000)) MB | $events | $1 | $2 | {$events / $2 / 1e6:.2f} | {$2 / $psecs:.2f} | {$3 / 1024:.0f} |')"
  }
  row "parse --json" "$psecs" "$prss"
  rm -rf "$dir/out"
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" $deno run --v8-flags=--max-semi-space-size=2,--heap-growing-percent=50 -A cli.ts replay "$f" --topology "$topology" --out "$dir/out" --quiet > /dev/null || true
  read -r secs rss < "$dir/time.txt"
  row "replay, tables written" "$secs" "$rss"
  rm -rf "$dir/out"
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" $deno run "$small" -A cli.ts replay "$f" --topology "$topology" --out "$dir/out" --quiet > /dev/null || true
  read -r secs rss < "$dir/time.txt"
  row "replay, small heap" "$secs" "$rss"
done
