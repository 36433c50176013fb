#!/usr/bin/env bash
# Whole runs of several commits on one trace, taking turns: `dmareplay parse --json`,
# `dmareplay replay` (every table written) and optionally `dmareplay report` of each commit in
# turn, TURNS times, then for each
# commit and command the median wall time (least-most), lines or events a second, the median
# peak RSS, and the time against the first commit's in the same run.
#
# What it is for: a target set in figures (3 M lines/s, 1 M events/s) was measured on one
# machine; on another machine of the same kind the same commit can run 2-3x slower. Giving as
# the first commit one whose figures were recorded where the target was set, and the commit
# under test after it, says what the commit under test would do there: its time is the
# reference's recorded time times the ratio measured here, in the same minutes.
#
# Usage: bash bench/ab_whole.sh TRACE TURNS COMMIT...
#   COMMIT: anything `git rev-parse` takes (a worktree of it is made and removed), or "." for
#   the working tree. CMDS chooses the commands (default "parse replay"; "report" too); TOPOLOGY
#   the replay's topology (default the a_strict capture's); BENCH_DIR where the replay writes.
#   REF_SECS gives the first commit's recorded times on this trace elsewhere ("parse=23.24
#   replay=69.34"): each row then also says what it would do there (lines or events a second
#   at the recorded time times its ratio).
# Example (the reference of bench/RESULTS.md's twelfth pass, 51fcadd's 10 GB times of the
# seventh pass):
#   REF_SECS="parse=23.24 replay=69.34" \
#     bash bench/ab_whole.sh /tmp/dmareplay-bench/synth-10G.trace 3 51fcadd .
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ $# -lt 3 ]; then
  echo "usage: bash bench/ab_whole.sh TRACE TURNS COMMIT..." >&2
  exit 2
fi
trace=$(realpath "$1")
turns=$2
shift 2
deno=$root/node_modules/.bin/deno
# The allocator settings and V8 flags of `npx dmareplay` and `deno task dmareplay`.
export MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=65536
v8="--v8-flags=--max-semi-space-size=2,--heap-growing-percent=50"
topology=$(realpath "${TOPOLOGY:-traces/captures/a_strict-6.12.topology.json}")
cmds=${CMDS:-parse replay}
dir=${BENCH_DIR:-/tmp/dmareplay-bench}
mkdir -p "$dir"
work=$(mktemp -d)
trap 'for w in "$work"/wt-*; do [ -d "$w" ] && git -C "$root" worktree remove --force "$w"; done; rm -rf "$work"' EXIT

labels=()
dirs=()
for c in "$@"; do
  if [ "$c" = . ]; then
    labels+=("$(git rev-parse --short HEAD)+tree")
    dirs+=("$root")
  else
    sha=$(git rev-parse --short "$c^{commit}")
    w="$work/wt-$sha"
    git worktree add --detach -q "$w" "$sha"
    ln -s "$root/node_modules" "$w/node_modules" # the same lock file: checked below
    if ! git diff --quiet "$sha" HEAD -- package-lock.json; then
      echo "warning: $sha has another package-lock.json; it runs with this checkout's packages" >&2
    fi
    labels+=("$sha")
    dirs+=("$w")
  fi
done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), deno $($deno --version | head -1 | cut -d' ' -f2)"
lines=$(wc -l < "$trace")
echo "trace: $trace, $(stat -c %s "$trace") bytes, $lines lines; $turns turns from $(date -u +%H:%M) UTC"
runs="$work/runs.txt"
for t in $(seq "$turns"); do
  for i in "${!dirs[@]}"; do
    for cmd in $cmds; do
      case $cmd in
        parse) args=(parse "$trace" --json --quiet) ;;
        replay) args=(replay "$trace" --topology "$topology" --out "$dir/ab-out" --quiet) ;;
        report) args=(report "$trace" --topology "$topology" --out "$dir/ab-report" --quiet) ;;
        *) echo "unknown command $cmd (parse, replay, report)" >&2; exit 2 ;;
      esac
      (cd "${dirs[$i]}" && /usr/bin/time -f "%e %M" -o "$work/time.txt" \
        "$deno" run "$v8" -A cli.ts "${args[@]}" > "$work/stdout.txt") || true
      read -r secs kb < "$work/time.txt"
      echo "${labels[$i]} $cmd $secs $kb" >> "$runs"
      echo "  turn $t: ${labels[$i]} $cmd ${secs} s, $((kb / 1024)) MB" >&2
    done
  done
done

python3 - "$runs" "$lines" "${labels[0]}" "${REF_SECS:-}" <<'EOF'
import statistics, sys
runs, lines, first = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ref = dict((k, float(v)) for k, v in (kv.split("=") for kv in sys.argv[4].split()))
by = {}
for row in open(runs):
    label, cmd, secs, kb = row.split()
    by.setdefault((label, cmd), []).append((float(secs), int(kb) / 1024))
there = " M a second there |" if ref else ""
print()
print("| commit | run | wall s median (least-most) | M lines (events) a second at the median "
      f"| peak RSS MB median | x the first |{there}")
print("|---|---|---|---|---|---|" + ("---|" if ref else ""))
for (label, cmd), xs in by.items():
    secs = [s for s, _ in xs]
    med = statistics.median(secs)
    base = statistics.median(s for s, _ in by[(first, cmd)])
    row = (f"| {label} | {cmd} | {med:.2f} ({min(secs):.2f}-{max(secs):.2f}) | {lines / med / 1e6:.2f} "
           f"| {statistics.median(m for _, m in xs):.0f} | {med / base:.2f} |")
    if ref:
        row += f" {lines / (ref[cmd] * med / base) / 1e6:.2f} |" if cmd in ref else " |"
    print(row)
EOF
