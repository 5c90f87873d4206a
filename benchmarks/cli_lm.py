"""The command line at the library's speed? ``python -m jaxrnn.train --task lm`` against
``benchmarks/lm.py``'s own training loop, same model, same data.

    python benchmarks/cli_lm.py [--json PATH] [--quick] [--rounds N]

Issue 26, goal 1: the CLI's training tokens/s within 10% of ``benchmarks/lm.py``'s
(char LSTM, embedding 32, hidden 256, 32 streams of 64, Adam 2e-3, clip 5, 40 epochs
of 15 chunks = 600 steps on ``make_text(0, 35_000)``).

Each round runs, one after another in fresh subprocesses (so each pays its own compile,
which neither figure counts):

* ``lm.py --ours-only`` (its ``ours`` tokens/s: the median pass of ``jaxrnn.train_step``
  passes on one device, compile excluded, and ``ours_dp``'s, the streams split over 2 CPU
  devices with ``shard_map``; without PyTorch and NumPy beside them, whose passes the two
  sides alternated with before 2026-12-07);
* the CLI with its defaults (validation/test scored at the epochs ``--eval-every`` names,
  by default ``--log-every``'s), reading the JSON's ``tokens_per_s`` (the trained epochs'
  tokens over the compiled epochs' time, their evaluations included, compile excluded);
* the CLI with ``--eval-every 40`` (scored at epochs 1 and 40 only): what the per-epoch
  evaluations cost.

Reported: the median of each over ``--rounds`` rounds, and CLI / library ratios, the
library taken on as many devices as the CLI's JSON says it ran on (on a CPU of 2 or more
cores ``--data-parallel auto`` splits the 32 streams over 2 devices).
``--quick``: hidden 64, 4 epochs (the smoke test; its figures mean nothing).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from _common import QuietCheck, finish, header, parser, table  # noqa: E402

ROOT = os.path.dirname(_HERE)


def _run(cmd: list[str], env: dict[str, str]) -> str:
    """Run ``cmd`` from the repository root; its stdout, or exit with its stderr's tail."""
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} ... failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return p.stdout


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of the three runs [2]")
    args = ap.parse_args()
    check = QuietCheck()
    t0 = time.perf_counter()
    info = header()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    epochs, hidden = (4, 64) if args.quick else (40, 256)
    lib1, lib2 = "library, 1 device (lm.py ours)", "library, 2 devices (lm.py ours_dp)"
    names = (lib1, lib2, "cli", "cli --eval-every 40")
    rows: dict[str, list[float]] = {k: [] for k in names}
    cli_devices = set()
    with tempfile.TemporaryDirectory() as tmp:
        text = os.path.join(tmp, "bench.txt")
        _run([sys.executable, "-m", "jaxrnn.data.text", "--out", text, "--n-chars", "35000"], env)
        cli = [sys.executable, "-m", "jaxrnn.train", "--task", "lm", "--model", "lstm",
               "--data", text, "--clip-norm", "5", "--epochs", str(epochs),
               "--test-fraction", "0.1", "--quiet"]  # fmt: skip
        if args.quick:
            cli += ["--hidden", str(hidden)]
        for r in range(args.rounds):
            lib_json = os.path.join(tmp, f"lib{r}.json")
            lm_cmd = [sys.executable, os.path.join(_HERE, "lm.py"), "--ours-only", "--json",
                      lib_json]  # fmt: skip
            _run(lm_cmd + (["--quick"] if args.quick else []), env)
            lib = json.load(open(lib_json))
            rows[lib1].append(lib["ours"]["tokens_per_s"])
            if lib["ours_dp"]:
                rows[lib2].append(lib["ours_dp"]["tokens_per_s"])
            for name, extra in (("cli", []), ("cli --eval-every 40", ["--eval-every", "40"])):
                out = os.path.join(tmp, f"cli{r}.json")
                _run(cli + extra + ["--json", out], env)
                ran = json.load(open(out))
                rows[name].append(ran["tokens_per_s"])
                cli_devices.add(ran["devices"])
            now = ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rows.items())
            print(f"round {r + 1}/{args.rounds}: {now}", flush=True)
    rows = {k: v for k, v in rows.items() if v}  # no ours_dp on one core
    med = {k: statistics.median(v) for k, v in rows.items()}
    if len(cli_devices) != 1 or (cli_devices != {1} and lib2 not in med):
        sys.exit(f"the CLI ran on {sorted(cli_devices)} devices: no library figure to match")
    lib = med[lib1 if cli_devices == {1} else lib2]
    print(f"the CLI ran on {cli_devices.pop()} device(s): compared with that library figure")
    out_rows = [{"side": k, "tokens_per_s": med[k], "over_library": med[k] / lib,
                 "each_round": ", ".join(f"{x:,.0f}" for x in v)}
                for k, v in rows.items()]  # fmt: skip
    table(f"char-LSTM LM training tokens/s, medians of {args.rounds} rounds", out_rows)
    print(f"\nCLI / library: {med['cli'] / lib:.3f} (goal >= 0.90); "
          f"with --eval-every 40: {med['cli --eval-every 40'] / lib:.3f}")
    payload = {"machine": info,
               "config": {"epochs": epochs, "hidden": hidden, "rounds": args.rounds,
                          "quick": args.quick, "cli": cli[2:]},
               "results": out_rows, "cli_over_library": med["cli"] / lib,
               "cli_eval40_over_library": med["cli --eval-every 40"] / lib}  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
