#!/usr/bin/env bash
# Scale benchmark (issue [7/8]): synthesize traces of the nvme-strict scenario (dmareplay synth)
# at each size, then in the same run on the same file: `wc -l` and `grep -c` (the floor: reading
# the bytes), `dmareplay parse --json`, `dmareplay replay` with every table written, and
# `dmareplay report` (sizes up to REPORT_MAX, default all: the report keeps ops digests, not the
# ops table, so its memory is flat too).
# Events/s, MB/s and peak RSS from /usr/bin/time. When the disk is short (less than twice the
# size free), the trace is not kept: synth streams into each command through a pipe instead.
# The synth row times the making of the file, or synth to a pipe when the file was there already
# or is not kept.
# Usage: bash bench/scale_whole.sh [SIZES...]   (default: 1G 10G; powers of 1000)
# BENCH_DIR sets where the traces go (default /tmp/dmareplay-bench); REPORT_MAX (default: no limit).
set -euo pipefail
cd "$(dirname "$0")/.."
deno=node_modules/.bin/deno
# The allocator settings of `npx dmareplay` and `deno task dmareplay` (bin/dmareplay.mjs).
export MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=65536
dir=${BENCH_DIR:-/tmp/dmareplay-bench}
scenario=traces/scenarios/nvme-strict.json
topology=traces/captures/a_strict-6.12.topology.json
mkdir -p "$dir"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1G 10G)
bytes_of() {
  python3 -c "import re; m = re.match(r'([0-9.]+)([KMGT]?)', '$1'); print(int(float(m[1]) * 1000 ** ' KMGT'.index(m[2] or ' ')))"
}
report_max=$(bytes_of "${REPORT_MAX:-1000T}")
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), deno $($deno --version | head -1 | cut -d' ' -f2)"
echo
echo "| input | events | run | wall s | M events/s | MB/s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
timed() { # timed CMD...: runs it (a shell string), sets secs and rss
  # Output to a file, not /dev/null: GNU grep stops at the first match when it writes there.
  /usr/bin/time -f "%e %M" -o "$dir/time.txt" bash -c "$1" > "$dir/stdout.txt" || true
  read -r secs rss < "$dir/time.txt"
}
for size in "${sizes[@]}"; do
  b=$(bytes_of "$size")
  f="$dir/synth-$size.trace"
  synth="$deno run --v8-flags=--max-semi-space-size=2,--heap-growing-percent=50 -A cli.ts synth $scenario --bytes $size --quiet"
  free=$(df -B1 --output=avail "$dir" | tail -1)
  if [ -f "$f" ] || [ "$free" -gt $((2 * b)) ]; then
    made=""
    if [ ! -f "$f" ]; then # timed as it is made (not a second synth to a pipe: minutes at 10G)
      timed "$synth --out $f"; made="$secs $rss"
    fi
    src="cat $f"
    input="$f"
    bytes=$(stat -c %s "$f")
    events=$(wc -l < "$f")
  else
    made=""
    src="$synth --out -"
    input=-
    bytes=$b
    events=$($synth --out - | wc -l)
  fi
  row() { # name
    python3 -c "s = max($secs, 0.01); print(f'| $size | $events | $1 | $secs | {$events / s / 1e6:.2f} | {$bytes / s / 1e6:.0f} | {$rss / 1024:.0f} |')"
  }
  if [ -n "$made" ]; then
    read -r secs rss <<< "$made"; row "synth (to the file)"
  else
    timed "$synth --out -"; row "synth (to a pipe)"
  fi
  if [ "$input" != - ]; then
    timed "wc -l $f"; row "wc -l (floor)"
    timed "grep -c dma_map_sg $f"; row "grep -c (floor)"
  fi
  # The file itself when kept (the CLI reads files through its fast path), else the pipe.
  if [ "$input" = - ]; then cli="$src | $deno run --v8-flags=--max-semi-space-size=2,--heap-growing-percent=50 -A cli.ts"; else cli="$deno run --v8-flags=--max-semi-space-size=2,--heap-growing-percent=50 -A cli.ts"; fi
  timed "$cli parse $input --json --quiet"; row "parse --json"
  rm -rf "$dir/out"
  timed "$cli replay $input --topology $topology --out $dir/out --quiet"; row "replay, tables written"
  if [ "$b" -le "$report_max" ]; then
    rm -rf "$dir/report"
    timed "$cli report $input --topology $topology --out $dir/report --quiet"; row "report"
  fi
done
