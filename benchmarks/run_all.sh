#!/usr/bin/env bash
# Run every benchmark one after another (they must not share the CPU) and keep the JSON
# and the printed tables under docs/benchmarks/ (or $1). Takes about half an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmarks}"
mkdir -p "$out"
for b in vs_numpy vs_peers vs_keras seeds compile_time devices; do
    echo "== $b" >&2
    python "benchmarks/$b.py" --json "$out/$b.json" 2>&1 | tee "$out/$b.txt"
done
