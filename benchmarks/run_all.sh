#!/usr/bin/env bash
# Run every benchmark one after another (they must not share the CPU) and keep the JSON
# and the printed tables under docs/benchmarks/ (or $1). Takes about half an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/benchmarks}"
mkdir -p "$out"
for b in vs_numpy vs_peers vs_keras seeds compile_time devices profile_step peak_rss lm tagging startup; do
    echo "== $b" >&2
    python "benchmarks/$b.py" --json "$out/$b.json" 2>&1 | tee "$out/$b.txt"
done
# the second profile shape and our own options
echo "== profile_step B64" >&2
python benchmarks/profile_step.py --shape 64,50,128,128 --json "$out/profile_step_b64.json" 2>&1 \
    | tee "$out/profile_step_b64.txt"
echo "== vs_peers --variants" >&2
python benchmarks/vs_peers.py --variants --shapes 0,1 --reps 20 --json "$out/vs_peers_variants.json" 2>&1 \
    | tee "$out/vs_peers_variants.txt"
echo "== devices, shard_map vs xla at batch 64 x 50 tokens on 2 CPU devices" >&2
python benchmarks/devices.py --models lstm,gru --devices 1,2 --host-devices 2 --batch-size 64 \
    --max-len 50 --axes batch,batch_shard_map --no-baseline --reps 15 \
    --json "$out/devices_b64.json" 2>&1 | tee "$out/devices_b64.txt"
# which runs had the machine to themselves (benchmarks/README.md, "Quiet machines")
python - "$out" <<'EOF'
import json, pathlib, sys
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    q = json.loads(p.read_text()).get("quiet")
    print(f"{p.name}: {'quiet' if q else 'NOT quiet, do not quote' if q is False else 'no verdict'}")
EOF
