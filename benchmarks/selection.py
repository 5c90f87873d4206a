"""Which selection signal predicts held-out accuracy (issue 27)?

Over a grid of settings (the sweep's: hidden x layers x lr x dropout), trained on the bundled
training sentences, this computes each setting's selection signals and its held-out
compositional accuracy (``jaxrnn/data/compositional.jsonl``, never used to choose), and the
Spearman rank correlation of each signal with that accuracy:

* ``val_loss``, ``val_acc``: the sweep's signal, the 11-sentence validation split (mean of
  ``--seeds`` seeds);
* ``cvK_loss``, ``cvK_acc``: ``--cv K`` cross-validation over the 47 training rows (a second
  pass: K fold-models per setting in place of the seeds);
* ``dev_loss``, ``dev_acc``: the dev split of new combinations
  (``jaxrnn/data/compositional_dev.jsonl``: generated apart from the test split, no sentence
  in common), scored by the same seed models as the held-out accuracy.

A good loss signal correlates negatively with held-out accuracy, a good accuracy signal
positively; ``agreement`` is the correlation with that sign taken out (higher is better).
For each signal the JSON also holds the setting it would choose (lowest loss, or highest
accuracy, first of ties) and that setting's held-out accuracy (mean and min over seeds).

The held-out accuracy is that of the ``--seeds`` seed models of the plain sweep. Writes
``selection.json`` and ``selection.md`` to ``--out`` and each pass's sweep to
``--out/selection/<pass>``::

    python benchmarks/selection.py --out docs/sweep           # the study (two passes)
    python benchmarks/selection.py --quick --out /tmp/sel     # a check that it runs
    python benchmarks/selection.py --reuse --out docs/sweep   # re-summarise finished passes
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxrnn.cli import sweep  # noqa: E402
from jaxrnn.data.folds import best_setting, spearman  # noqa: E402

COMPOSITIONAL = "jaxrnn/data/compositional.jsonl"
DEV = "jaxrnn/data/compositional_dev.jsonl"
KEY = ("hidden", "layers", "lr", "weight_decay", "dropout", "clip")
HELD = "eval_compositional_acc"


def grid_args(quick: bool, out: str, cv: int, seeds: int, model: str) -> list[str]:
    """The sweep's flags of one pass (``cv`` 0: seeds, with the dev split scored)."""
    g = (["--hidden", "8", "--layers", "1", "--lr", "0.01,0.03", "--dropout", "0.3",
          "--epochs", "3"] if quick else
         ["--hidden", "16,64", "--layers", "1,2", "--lr", "0.003,0.01,0.03",
          "--dropout", "0,0.3", "--clip", "1", "--epochs", "60"])  # fmt: skip
    extra = ["--cv", str(cv)] if cv else ["--seeds", str(seeds), "--dev-data", DEV]
    return [*g, "--model", model, "--batch-size", "4", "--early-stopping", "10",
            "--eval-data", COMPOSITIONAL, "--out", out, "--quiet", *extra]


def summarise(passes: dict, cv: int) -> dict:
    """Signals, held-out accuracy and Spearman correlations of the two passes' rows."""
    keys = sorted(passes["seeds"])
    seeds = passes["seeds"]
    held = [seeds[k][HELD]["mean"] for k in keys]
    held_min = [min(seeds[k][HELD]["per_seed"]) for k in keys]
    signals = {
        "val_loss": [seeds[k]["val_loss"]["mean"] for k in keys],
        "val_acc": [seeds[k]["val_acc"]["mean"] for k in keys],
        "dev_loss": [seeds[k]["dev_loss"]["mean"] for k in keys],
        "dev_acc": [seeds[k]["dev_acc"]["mean"] for k in keys],
    }
    if "cv" in passes:
        signals[f"cv{cv}_loss"] = [passes["cv"][k]["cv_loss"]["mean"] for k in keys]
        signals[f"cv{cv}_acc"] = [passes["cv"][k]["cv_acc"]["mean"] for k in keys]
    rho = {s: spearman(v, held) for s, v in signals.items()}
    # Among the settings that fit the validation split (val acc 1.000 on every seed): the
    # ones the sweep's own signal cannot tell apart.
    fit = [i for i, k in enumerate(keys) if seeds[k]["val_acc"]["mean"] >= 1.0]
    rho_fit = ({s: spearman([v[i] for i in fit], [held[i] for i in fit])
                for s, v in signals.items()} if len(fit) > 2 else {})  # fmt: skip
    rho_fit = {s: (None if r != r else r) for s, r in rho_fit.items()}  # NaN: a constant signal
    chosen = {}
    for s, v in signals.items():
        i = best_setting(v, higher_is_better=s.endswith("_acc"))
        chosen[s] = {"setting": dict(zip(KEY, keys[i], strict=True)), "held_out_acc": held[i],
                     "held_out_min": held_min[i], "signal": v[i]}  # fmt: skip
    best = max(held)
    return {"settings": [dict(zip(KEY, k, strict=True)) for k in keys], "held_out_acc": held,
            "held_out_min": held_min, "signals": signals, "spearman": rho,
            "agreement": {s: (-r if s.endswith("_loss") else r) for s, r in rho.items()},
            "fit_settings": len(fit), "spearman_fit": rho_fit,
            "chosen": chosen, "best_held_out_acc": best,
            "seeds": len(seeds[keys[0]][HELD]["per_seed"])}  # fmt: skip


def markdown(res: dict, command: str) -> str:
    """``selection.md``: one row per signal."""
    lines = ["# Which selection signal predicts held-out accuracy", "",
             f"`{command}` ({len(res['settings'])} settings x {res['seeds']} seeds; held-out: "
             "the 200 compositional sentences, never used to choose).", "",
             "| signal | Spearman with held-out accuracy | agreement | Spearman among the "
             f"{res['fit_settings']} settings with val acc 1.000 | setting it chooses "
             "(hidden, layers, lr, dropout) | its held-out accuracy, mean (min) over seeds |",
             "|--|--|--|--|--|--|"]  # fmt: skip
    for s, r in res["spearman"].items():
        c = res["chosen"][s]
        st = c["setting"]
        f = res["spearman_fit"].get(s)
        lines.append(f"| `{s}` | {r:+.3f} | {res['agreement'][s]:+.3f} | "
                     f"{'-' if f is None or f != f else f'{f:+.3f}'} | {st['hidden']}, "
                     f"{st['layers']}, {st['lr']:g}, {st['dropout']:g} | "
                     f"{c['held_out_acc']:.3f} ({c['held_out_min']:.3f}) |")  # fmt: skip
    lines += ["", f"Best held-out accuracy of any setting (mean over seeds): "
              f"{res['best_held_out_acc']:.3f}. A loss should correlate negatively, an accuracy "
              "positively; agreement is the correlation with that sign taken out (-: the signal is "
              "the same for all those settings). Ties of a signal go to the first setting in "
              "(hidden, layers, lr, ...) order."]  # fmt: skip
    return "\n".join(lines) + "\n"


def tuned_section(out: str) -> str:
    """The re-chosen preset over many seeds, from ``tuned_seeds.json`` beside the study (written
    by ``benchmarks/tuned_seeds.py``), if it is there."""
    path = os.path.join(out, "tuned_seeds.json")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        t = json.load(f)
    lines = ["", f"## `{t['model']}` on the held-out sentences", "",
             f"`{t['command']}` (trained on the bundled training sentences only):", "",
             "| set | runs | mean | min | max |", "|--|--|--|--|--|"]  # fmt: skip
    for name in ("compositional", "compositional_dev"):
        for k, v in t.get(name, {}).items():
            shown = name + (" (chosen on)" if name.endswith("_dev") else " (held out)")
            lines.append(f"| {shown} | {len(v['per_run'])} {k.replace('_', ' ')} | "
                         f"{v['mean']:.3f} | {v['min']:.3f} | {v['max']:.3f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a tiny grid: checks that it runs")
    p.add_argument("--cv", type=int, default=5, help="folds; 0 = no cross-validation pass [5]")
    p.add_argument("--seeds", type=int, default=3, help="seeds of the plain pass [3]")
    p.add_argument("--model", default="bilstm", help="the preset every point starts from")
    p.add_argument("--reuse", action="store_true", help="read finished passes, do not rerun")
    p.add_argument("--out", default="docs/sweep")
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    passes = {}
    for name, cv in (("seeds", 0), ("cv", a.cv)):
        if name == "cv" and not cv:
            continue
        d = os.path.join(a.out, "selection", f"{a.model}_{name}")
        path = os.path.join(d, "results.json")
        if not (a.reuse and os.path.exists(path)):
            if sweep.main(grid_args(a.quick, d, cv, a.seeds, a.model)) != 0:
                return 1
        with open(path) as f:
            passes[name] = {tuple(r[k] for k in KEY): r for r in json.load(f)["rows"]}
    res = summarise(passes, a.cv)
    shown = [x for x in (argv if argv is not None else sys.argv[1:]) if x != "--reuse"]
    command = " ".join(["python benchmarks/selection.py", *shown])
    res["command"] = command
    res["model"] = a.model
    stem = "selection" if a.model == "bilstm" else f"selection_{a.model}"
    with open(os.path.join(a.out, f"{stem}.json"), "w") as f:
        json.dump(res, f, indent=1)
    md = markdown(res, command) + tuned_section(a.out)
    with open(os.path.join(a.out, f"{stem}.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
