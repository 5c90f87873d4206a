"""Which selection signal predicts held-out accuracy (issue 27)?

Over a grid of settings (the sweep's: hidden x layers x lr x dropout), trained on the bundled
training sentences, this computes each setting's selection signals and its held-out
compositional accuracy (``jaxrnn/data/compositional.jsonl``, never used to choose), and the
Spearman rank correlation of each signal with that accuracy:

* ``val_loss``: the sweep's signal, the loss on the 11-sentence validation split (mean of
  ``--seeds`` seeds; lower is better, so its correlation should be negative);
* ``cv_loss``: ``--cv K`` cross-validation loss over the training rows (lower is better).

The held-out accuracy is that of the ``--seeds`` seed models of the plain sweep. Writes
``selection.json`` and ``selection.md`` to ``--out``::

    python benchmarks/selection.py --out docs/sweep/selection        # the study
    python benchmarks/selection.py --quick --out /tmp/sel              # a check that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxrnn.cli import sweep  # noqa: E402
from jaxrnn.data.folds import spearman  # noqa: E402

COMPOSITIONAL = "jaxrnn/data/compositional.jsonl"
KEY = ("hidden", "layers", "lr", "weight_decay", "dropout", "clip")


def grid_args(quick: bool, out: str, cv: int, seeds: int) -> list[str]:
    """The sweep's flags of one pass (``cv`` 0: seeds)."""
    g = (["--hidden", "8", "--layers", "1", "--lr", "0.01,0.03", "--dropout", "0.3",
          "--epochs", "3"] if quick else
         ["--hidden", "16,64", "--layers", "1,2", "--lr", "0.003,0.01,0.03",
          "--dropout", "0,0.3", "--clip", "1", "--epochs", "60"])  # fmt: skip
    extra = ["--cv", str(cv)] if cv else ["--seeds", str(seeds)]
    return [*g, "--model", "bilstm", "--batch-size", "4", "--early-stopping", "10",
            "--eval-data", COMPOSITIONAL, "--out", out, "--quiet", *extra]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tiny grid: checks that it runs")
    p.add_argument("--cv", type=int, default=5, help="folds [5]")
    p.add_argument("--seeds", type=int, default=3, help="seeds of the plain pass [3]")
    p.add_argument("--out", default="docs/sweep/selection")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    passes = {}
    for name, cv in (("seeds", 0), ("cv", a.cv)):
        d = os.path.join(a.out, name)
        if sweep.main(grid_args(a.quick, d, cv, a.seeds)) != 0:
            return 1
        with open(os.path.join(d, "results.json")) as f:
            passes[name] = {tuple(r[k] for k in KEY): r for r in json.load(f)["rows"]}
    ev = "eval_compositional_acc"
    keys = sorted(passes["seeds"])
    held = [passes["seeds"][k][ev]["mean"] for k in keys]
    signals = {
        "val_loss": [passes["seeds"][k]["val_loss"]["mean"] for k in keys],
        "val_acc": [passes["seeds"][k]["val_acc"]["mean"] for k in keys],
        f"cv{a.cv}_loss": [passes["cv"][k]["cv_loss"]["mean"] for k in keys],
        f"cv{a.cv}_acc": [passes["cv"][k]["cv_acc"]["mean"] for k in keys],
    }
    res = {"settings": [dict(zip(KEY, k, strict=True)) for k in keys], "held_out_acc": held,
           "signals": signals,
           "spearman": {s: spearman(v, held) for s, v in signals.items()}}  # fmt: skip
    with open(os.path.join(a.out, "selection.json"), "w") as f:
        json.dump(res, f, indent=1)
    lines = ["| signal | Spearman with held-out compositional accuracy |", "|---|---|"]
    lines += [f"| `{s}` | {r:+.3f} |" for s, r in res["spearman"].items()]
    lines += ["", f"{len(keys)} settings; held-out accuracy: mean of {a.seeds} seeds "
              "(losses: lower is better, so a good loss signal correlates negatively)."]
    with open(os.path.join(a.out, "selection.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
