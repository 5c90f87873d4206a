"""Peak memory of a whole ``python -m jaxrnn.train`` process on generated data of a user's size.

Generates the seeded emotion data set (``python -m jaxrnn.data.synthetic --n-per-class N``,
six classes, 80/20 split) and runs one training process per configuration in a child
process, reporting its peak resident set size (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of
that child alone: each run is its own ``fork``-ed measurer) and wall time. Default: the 3x128
BiLSTM, batch 32, one epoch, on 16,200 texts (the case the training-core issue measured at
2.5 GB before evaluation streamed in batches).

    python benchmarks/peak_rss.py                      # 16,200 texts
    python benchmarks/peak_rss.py --quick              # a smoke test: 60 texts, 1 layer of 16
    python benchmarks/peak_rss.py --eval-batch-size 256,100000   # batched vs whole-split
    python benchmarks/peak_rss.py --length-spread --buckets 0,4,auto --lr 1e-3
                                                       # texts of 5-100 words, length buckets
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import QuietCheck, parser  # noqa: E402
from _timing import machine_info, write_json  # noqa: E402

# --quick (a smoke test: the figures mean nothing): 10 texts per class, 48 of them training
# texts (a full batch and a partial one), and the model at 1 layer of 16 (the 3x128 BiLSTM's
# compile alone took most of the run)
QUICK_PER_CLASS = 10
QUICK_MODEL = ["--layers", "1", "--hidden", "16"]


def measure(argv: list[str]) -> dict[str, Any]:
    """Run ``argv`` in a child of a fresh child (so RUSAGE_CHILDREN is this run's alone)."""
    code = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - t\n"
        "rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'rc': p.returncode, 'wall_s': wall, 'peak_rss_mb': rss / 1024,\n"
        "                  'stderr': p.stderr[-2000:]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--n-per-class", type=int, default=2700, help="texts per class [2700]")
    ap.add_argument("--model", default="bilstm", help="jaxrnn.runs --model [bilstm]")
    ap.add_argument("--batch-size", type=int, default=32, help="[32]")
    ap.add_argument("--eval-batch-size", default="256",
                    help="comma-separated --eval-batch-size values to compare [256]")
    ap.add_argument("--buckets", default="auto",
                    help="comma-separated --buckets values to compare [auto]")
    ap.add_argument("--length-spread", action="store_true",
                    help="texts of 5-100 words with a long tail (synthetic --length-spread)")
    ap.add_argument("--lr", help="jaxrnn.runs --lr (default: the preset's)")
    args = ap.parse_args()
    n = QUICK_PER_CLASS if args.quick else args.n_per_class
    check = QuietCheck()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "emotions.csv")
        subprocess.run([sys.executable, "-m", "jaxrnn.data.synthetic", "--out", data,
                        "--n-per-class", str(n), "--seed", "0"]
                       + (["--length-spread"] if args.length_spread else []), check=True,
                       capture_output=True)  # fmt: skip
        rows = []
        runs = [(eb, b) for eb in args.eval_batch_size.split(",")
                for b in args.buckets.split(",")]  # fmt: skip
        for eb, buckets in runs:
            js = os.path.join(d, "run.json")
            argv = [sys.executable, "-m", "jaxrnn.train", "--data", data, "--model", args.model,
                    "--epochs", "1", "--batch-size", str(args.batch_size), "--eval-batch-size",
                    eb, "--buckets", buckets, "--quiet", "--no-compile-cache", "--json", js]
            argv += ["--lr", args.lr] if args.lr else []  # fmt: skip
            argv += QUICK_MODEL if args.quick else []
            t0 = time.perf_counter()
            r = measure(argv)
            if r["rc"] != 0:
                print(r["stderr"], file=sys.stderr)
                return 1
            run = json.load(open(js))
            rows.append({"eval_batch_size": int(eb), "texts": 6 * n, "buckets": buckets,
                         "bounds": run.get("buckets", []), "run_s": run["run_s"],
                         "peak_rss_mb": r["peak_rss_mb"], "process_wall_s": r["wall_s"],
                         "fit_wall_s": run["wall_s"], "compile_s": run["compile_s"],
                         "test_acc": run["final"]["test_acc"],
                         "measured_s": time.perf_counter() - t0})  # fmt: skip
    print(f"{args.model}, batch {args.batch_size}, 1 epoch, {6 * n} texts "
          f"(generated emotions, 6 classes)")  # fmt: skip
    print(f"{'eval batch':>10} {'buckets':>8} {'peak RSS MB':>12} {'process s':>10} "
          f"{'epoch s':>8} {'compile s':>10} {'test acc':>9}  bounds")  # fmt: skip
    for r in rows:
        print(f"{r['eval_batch_size']:>10} {r['buckets']:>8} {r['peak_rss_mb']:>12.0f} "
              f"{r['process_wall_s']:>10.1f} {r['run_s']:>8.2f} {r['compile_s']:>10.2f} "
              f"{r['test_acc']:>9.3f}  {r['bounds']}")  # fmt: skip
    payload = check.stamp({"script": "peak_rss", "machine": machine_info(), "rows": rows,
                           "model": args.model, "batch_size": args.batch_size,
                           "script_wall_s": time.perf_counter() - t_start})  # fmt: skip
    if args.json:
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
