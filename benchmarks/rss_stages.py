"""Where a ``python -m jaxrnn.train`` process's memory goes: resident memory at each stage.

Runs the training CLI in a child process (``--worker``) with a thread that samples the
process's resident set (``VmRSS`` of ``/proc/self/status``, every 20 ms; Linux only) and
marks the stages: JAX imported, data prepared (the run about to be set up), the program
lowered (just before XLA compiles
it, after the trainer's ``malloc_trim``), compiled (before the trim that
follows), the training done, the process's end. Each line prints the resident memory then
and the peak so far; the peak of the ``compiled`` line is the compile's. Default: the 3x128
BiLSTM, batch 32, Adam 1e-3, one epoch, on 16,200 generated texts of 5-100 words.

    python benchmarks/rss_stages.py                      # --buckets auto
    python benchmarks/rss_stages.py --buckets 0          # every text padded to the longest
    python benchmarks/rss_stages.py --quick              # 60 texts, one BiLSTM layer of 16
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import QuietCheck, parser  # noqa: E402
from _timing import machine_info, write_json  # noqa: E402

HERE = os.path.abspath(__file__)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def worker(argv: list[str], out: str) -> int:
    """Train with ``argv`` in this process, marking the stages; write them to ``out``."""
    t0, peak, marks = time.perf_counter(), [0.0], []

    def sample() -> None:
        while True:
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.02)

    def mark(stage: str) -> None:
        now = _rss_mb()
        peak[0] = max(peak[0], now)
        marks.append({"stage": stage, "s": time.perf_counter() - t0, "rss_mb": now,
                      "peak_mb": peak[0]})  # fmt: skip

    threading.Thread(target=sample, daemon=True).start()
    mark("start")
    import jax  # noqa: F401  (no backend yet: the CLI sets its allocator first)

    mark("jax imported")
    from jaxrnn.cli import train as cli
    from jaxrnn.runs import jax_run

    init, compile_with = jax_run.JaxRun.__init__, jax_run.compile_with
    final_evaluation = jax_run.JaxRun.final_evaluation

    def run_init(self, *a, **k):
        mark("data prepared")
        init(self, *a, **k)

    def compiled(*a, **k):
        mark("lowered (compile starts)")
        r = compile_with(*a, **k)
        mark("compiled")
        return r

    def trained(self):
        mark("trained")
        return final_evaluation(self)

    jax_run.JaxRun.__init__ = run_init
    jax_run.compile_with = compiled
    jax_run.JaxRun.final_evaluation = trained
    rc = cli.main(argv)
    mark("end")
    with open(out, "w") as f:
        json.dump({"rc": rc, "marks": marks}, f)
    return rc


def main() -> int:
    ap = parser(__doc__.split("\n\n")[0])
    ap.add_argument("--n-per-class", type=int, default=2700, help="texts per class [2700]")
    ap.add_argument("--buckets", default="auto", help="jaxrnn.runs --buckets [auto]")
    ap.add_argument("--worker", help=argparse_hidden())
    args, rest = ap.parse_known_args()
    if args.worker:
        return worker(rest, args.worker)
    n = 10 if args.quick else args.n_per_class  # --quick: 60 texts (a full batch and a partial)
    check = QuietCheck()
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        path, out = os.path.join(d, "emotions.csv"), os.path.join(d, "marks.json")
        subprocess.run([sys.executable, "-m", "jaxrnn.data.synthetic", "--out", path,
                        "--n-per-class", str(n), "--seed", "0", "--length-spread"],
                       check=True, capture_output=True)  # fmt: skip
        argv = ["--data", path, "--model", "bilstm", "--batch-size", "32", "--lr", "1e-3",
                "--epochs", "1", "--buckets", args.buckets, "--quiet", "--no-compile-cache"]
        shape = "1x16" if args.quick else "3x128"  # the smoke run: a small compile
        if args.quick:
            argv += ["--layers", "1", "--hidden", "16"]
        p = subprocess.run([sys.executable, HERE, "--worker", out, *argv], capture_output=True,
                           text=True)  # fmt: skip
        if p.returncode != 0:
            print(p.stderr[-2000:], file=sys.stderr)
            return 1
        marks = json.load(open(out))["marks"]
    print(f"bilstm {shape}, batch 32, 1 epoch, {6 * n} texts of 5-100 words, --buckets "
          f"{args.buckets}")  # fmt: skip
    print(f"{'stage':>26} {'s':>6} {'RSS MB':>7} {'peak MB':>8}")
    for m in marks:
        print(f"{m['stage']:>26} {m['s']:>6.1f} {m['rss_mb']:>7.0f} {m['peak_mb']:>8.0f}")
    payload = check.stamp({"script": "rss_stages", "machine": machine_info(),
                           "texts": 6 * n, "model": f"bilstm {shape}", "buckets": args.buckets,
                           "marks": marks,
                           "script_wall_s": time.perf_counter() - t_start})  # fmt: skip
    if args.json:
        write_json(args.json, payload)
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
