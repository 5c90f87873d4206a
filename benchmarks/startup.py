"""What a command pays before it computes: Python, NumPy, ml_dtypes and JAX imports, and
``python -m jaxrnn.predict`` on a small checkpoint, each in fresh processes.

    python benchmarks/startup.py [--json PATH] [--quick] [--reps N]

Every stage is its own subprocess, timed by wall clock from start to exit; the stages run
in turn, ``--reps`` rounds, and each is reported as the median (and min/max) of its
rounds:

* ``python``: ``python -c pass`` (the interpreter and ``site``);
* ``import numpy``, ``import ml_dtypes`` (JAX's dtype extension; every JAX import pays
  it), ``import jax``;
* ``jax first op``: ``import jax`` and one ``jnp`` op run (the CPU client started);
* ``predict --help``: the command's parser (the CLI imports JAX only once it has work);
* ``predict``: ``python -m jaxrnn.predict`` on a classifier trained beforehand by
  ``python -m jaxrnn.train --epochs 1 --save`` (not timed), two texts, after one untimed
  call that fills the command's compilation cache (as a user's second call finds it);
* ``predict, no such checkpoint`` and ``train, no such --data``: a mistyped path, which
  must end in one line of error and exit code 2 (the commands check paths and flags
  before JAX starts).

Also ``ml_dtypes_import_s``: ``import ml_dtypes`` as ``python -X importtime`` reports it
(one run), and the ml_dtypes/NumPy versions, since ml_dtypes 0.7.0 imports in about 1.2 s
on this VM and 0.6.0 in about 0.15 s (``pyproject.toml`` holds it below 0.7).
``--quick``: one round (the smoke test; its figures mean nothing).
"""

from __future__ import annotations

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
FIRST_OP = "import jax, jax.numpy as jnp; (jnp.zeros(3) + 1).block_until_ready()"


def _run(cmd: list[str], env: dict[str, str], cwd: str, rc: int = 0) -> float:
    """Wall seconds of ``cmd``, start to exit; exits with its stderr's tail if it does not
    end with exit code ``rc`` (2: a one-line error, as the bad-input stages must give)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != rc or (rc and p.stderr.count("\n") != 1):
        sys.exit(f"{' '.join(cmd[:4])} ... failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return wall


def importtime_s(module: str, env: dict[str, str]) -> float:
    """``module``'s cumulative import time in seconds, as ``python -X importtime`` prints it."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                       env=env, capture_output=True, text=True, check=True)  # fmt: skip
    for line in reversed(p.stderr.splitlines()):
        fields = [f.strip() for f in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6
    raise RuntimeError(f"no import time line for {module}")


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return None


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--reps", type=int, default=7, help="rounds of every stage [7]")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    check = QuietCheck()
    t0 = time.perf_counter()
    info = header()
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        env["JAXRNN_CACHE_DIR"] = os.path.join(tmp, "cache")  # the command's own, fresh
        ckpt = os.path.join(tmp, "run.ckpt")
        train_s = _run([py, "-m", "jaxrnn.train", "--epochs", "1", "--save", ckpt, "--quiet"],
                       env, tmp)  # fmt: skip
        predict = [py, "-m", "jaxrnn.predict", "--checkpoint", ckpt, "i am not happy",
                   "this is very good"]  # fmt: skip
        first_predict_s = _run(predict, env, tmp)  # fills the compilation cache
        stages = {
            "python": [py, "-c", "pass"],
            "import numpy": [py, "-c", "import numpy"],
            "import ml_dtypes": [py, "-c", "import ml_dtypes"],
            "import jax": [py, "-c", "import jax"],
            "jax first op": [py, "-c", FIRST_OP],
            "predict --help": [py, "-m", "jaxrnn.predict", "--help"],
            "predict": predict,
            # bad input: one line and exit 2, said before JAX starts
            "predict, no such checkpoint": [py, "-m", "jaxrnn.predict", "--checkpoint",
                                            os.path.join(tmp, "nope.ckpt"), "a text"],
            "train, no such --data": [py, "-m", "jaxrnn.train", "--data",
                                      os.path.join(tmp, "nope.csv"), "--quiet"],
        }  # fmt: skip
        walls: dict[str, list[float]] = {k: [] for k in stages}
        for _ in range(reps):
            for name, cmd in stages.items():
                walls[name].append(_run(cmd, env, tmp, 2 if "no such" in name else 0))
        ml_import = importtime_s("ml_dtypes", env)
    rows = [{"stage": k, "median_s": statistics.median(v), "min_s": min(v), "max_s": max(v)}
            for k, v in walls.items()]  # fmt: skip
    versions = {m: _version(m) for m in ("ml_dtypes", "numpy", "jax", "jaxlib")}
    table(f"wall seconds from start to exit, {reps} round(s); "
          f"ml_dtypes {versions['ml_dtypes']}, numpy {versions['numpy']}", rows)  # fmt: skip
    print(f"\nimport ml_dtypes (-X importtime): {ml_import:.3f} s; untimed: train {train_s:.1f} s, "
          f"first predict {first_predict_s:.2f} s")  # fmt: skip
    payload = {"machine": info, "config": {"reps": reps, "quick": args.quick}, "versions": versions,
               "results": rows, "ml_dtypes_import_s": ml_import,
               "untimed": {"train_s": train_s, "first_predict_s": first_predict_s}}  # fmt: skip
    finish(args, payload, t0, check)


if __name__ == "__main__":
    main()
