#!/usr/bin/env bash
# Bytes each replay consumer allocates on a trace (V8's --trace-gc-nvp, summed): the garbage
# that makes V8 grow its young generation and so the replay's RSS (bench/RESULTS.md).
# Usage: bash bench/alloc_by_consumer.sh TRACE [CONSUMERS...]
set -euo pipefail
cd "$(dirname "$0")/.."
trace=$1; shift
consumers=("$@")
[ ${#consumers[@]} -gt 0 ] || consumers=(none order dd faults iova ops inf gaps)
for c in "${consumers[@]}"; do
  node_modules/.bin/deno run --v8-flags=--trace-gc-nvp -A bench/alloc_by_consumer.ts "$trace" "$c" 2>&1 |
    python3 -c "
import json, sys
total = n = 0
for l in sys.stdin:
    i = l.find('GC: {')
    if i < 0: continue
    d = json.loads(l[i + 4:]); total += d.get('allocated', 0); n += 1
print(f'$c: {total / 2**20:.0f} MB allocated, {n} GCs')"
done
