#!/usr/bin/env bash
# Whole-run parse benchmark: generates 1 GB and 4 GB traces of dma:/iommu: lines and iova
# probes (bench/gen_trace.ts, seed 1), then times in the same run, on the same file:
#   wc -l, grep -c map (the floor), and `dmareplay parse FILE --json` (lines/s, MB/s, peak RSS).
# Usage: bash bench/parse_whole.sh [SIZES...]   (default: 1000000000 4000000000)
# BENCH_DIR sets where the traces go (default /tmp/dmareplay-bench); with less free disk than a
# trace needs, that size is streamed through a pipe instead (then wc/grep read the pipe too).
set -euo pipefail
cd "$(dirname "$0")/.."
deno=node_modules/.bin/deno
# The allocator settings of `npx dmareplay` and `deno task dmareplay` (bin/dmareplay.mjs).
export MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=65536
dir=${BENCH_DIR:-/tmp/dmareplay-bench}
mkdir -p "$dir"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000000 4000000000)

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), deno $($deno --version | head -1 | cut -d' ' -f2)"
echo
echo "| input | lines | wc -l s | grep -c s | parse s | parse M lines/s | parse MB/s | peak RSS MB | parse / wc |"
echo "|---|---|---|---|---|---|---|---|---|"
for size in "${sizes[@]}"; do
  f="$dir/gen-$size-seed1.trace"
  free=$(df -B1 --output=avail "$dir" | tail -1)
  if [ ! -f "$f" ] && [ "$free" -gt $((size + 1000000000)) ]; then
    $deno run bench/gen_trace.ts "$size" 1 > "$f"
  fi
  if [ -f "$f" ]; then
    t0=$(date +%s.%N); lines=$(wc -l < "$f"); t1=$(date +%s.%N)
    grep -c map "$f" > "$dir/grep.txt"; t2=$(date +%s.%N)  # not /dev/null: grep stops at the first match there
    /usr/bin/time -f "%e %M" -o "$dir/time.txt" $deno run -A cli.ts parse "$f" --json --quiet > "$dir/summary.json" || true
    src="file"
  else
    # Not enough disk: generate into a pipe for each tool.
    t0=$(date +%s.%N); lines=$($deno run bench/gen_trace.ts "$size" 1 | wc -l); t1=$(date +%s.%N)
    $deno run bench/gen_trace.ts "$size" 1 | grep -c map > "$dir/grep.txt"; t2=$(date +%s.%N)
    /usr/bin/time -f "%e %M" -o "$dir/time.txt" sh -c "$deno run bench/gen_trace.ts $size 1 | $deno run -A cli.ts parse - --json --quiet > $dir/summary.json" || true
    src="pipe (generation included)"
  fi
  read -r secs rss_kb < "$dir/time.txt"
  wc_s=$(echo "$t1 - $t0" | bc); grep_s=$(echo "$t2 - $t1" | bc)
  parsed=$(python3 -c "import json; d=json.load(open('$dir/summary.json')); print(d['input']['lines'])")
  [ "$parsed" = "$lines" ] || echo "warning: parse saw $parsed lines, wc -l $lines"
  printf "| %s MB %s | %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.0f | x%.0f |\n" \
    $((size / 1000000)) "$src" "$lines" "$wc_s" "$grep_s" "$secs" \
    "$(echo "$lines / $secs / 1000000" | bc -l)" "$(echo "$size / $secs / 1000000" | bc -l)" \
    "$(echo "$rss_kb / 1024" | bc -l)" "$(echo "$secs / $wc_s" | bc -l)"
done
