"""Results of a training run and their summary over seeds (mean, std, 95% t-interval)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxrnn.runs.config import METRIC_NAMES, TrainConfig
from jaxrnn.runs.memory import allocator_policy


@functools.cache
def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom.

    Bisection on the CDF, itself Simpson's rule on the density (exact enough:
    ``t_quantile_975(4)`` = 2.7764, ``(19)`` = 2.0930, ``(1000)`` = 1.9623).
    """
    if df < 1:
        return float("nan")
    if df == 1:
        return math.tan(0.475 * math.pi)  # Cauchy: closed form (its tail is too heavy below)
    c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def pdf(x: float) -> float:
        return math.exp(c - (df + 1) / 2 * math.log1p(x * x / df))

    def mass(x: float, n: int = 2000) -> float:  # P(0 < T < x)
        h = x / n
        s = pdf(0.0) + pdf(x) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, n))
        return s * h / 3

    lo, hi = 0.0, 20.0
    for _ in range(45):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mass(mid) < 0.475 else (lo, mid)
    return (lo + hi) / 2


def bounds_of(name: str) -> tuple[float, float] | None:
    """The range a metric cannot leave: ``[0, 1]`` for accuracies and F1 scores (names
    ending in ``acc``, ``accuracy`` or ``f1``), else None (unbounded: losses, times)."""
    return (0.0, 1.0) if name.endswith(("acc", "accuracy", "f1")) else None


def better_direction(name: str) -> int:
    """+1 where a higher value of the metric ``name`` is better (accuracies, F1), -1 where a
    lower one is (losses, errors, bits per character, perplexity), 0 where neither holds
    (``best_epoch``, times)."""
    if name.endswith(("acc", "accuracy", "f1")):
        return 1
    if name.endswith(("loss", "mse", "mae", "mae_std", "bpc", "ppl")):
        return -1
    return 0


def summarize(values: Sequence[float], bounds: tuple[float, float] | None = None) -> dict:
    """``mean``, ``std`` (n - 1), and ``ci95`` = the t-interval of the mean, over seeds.

    ``bounds``: the metric's range (``bounds_of(name)``); the interval is clipped to it,
    since a mean of accuracies cannot exceed 1 even where the t-interval's symmetric
    half-width would reach past it (0.9889 +- 0.0119 is reported as [0.977, 1.0]).
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else 0.0
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return {"mean": mean, "std": std, "ci95": [lo, hi], "n": n}


def format_summary(name: str, s: dict) -> str:
    """``test_acc 0.850 [0.755, 0.945]``: a metric's mean and 95% interval, for the terminal
    (losses with 4 decimals, bounded metrics with 3)."""
    d = 3 if bounds_of(name) else 4
    lo, hi = s["ci95"]
    return f"{name} {s['mean']:.{d}f} [{lo:.{d}f}, {hi:.{d}f}]"


@dataclass
class RunResult:
    """What ``fit`` returns; ``to_json`` is the ``--json`` file.

    ``histories[i]`` is seed ``seeds[i]``'s per-epoch record list. With several
    seeds, ``history`` and ``final`` are means over seeds, and ``to_json`` adds
    ``per_seed`` and ``aggregate`` (mean, std, 95% interval of the mean).
    """

    config: TrainConfig
    seeds: list[int]
    histories: list[list[dict]]
    wall_s: float
    compile_s: float
    num_params: int
    params: Any = None  # stacked over seeds when len(seeds) > 1
    extra: dict = field(default_factory=dict)
    # per seed: jaxrnn.evaluation.metrics on the test split
    reports: list[dict] = field(default_factory=list)
    tokenizer: Any = None  # jaxrnn.data.Tokenizer the run encoded its texts with
    label_names: list[str] | None = None  # class index -> label
    metric_names: tuple[str, ...] = METRIC_NAMES  # the per-epoch metrics of ``histories``
    derived: list[dict] | None = None  # per seed: final metrics derived from the last epoch's
    # Per seed: the epoch whose params were kept (early stopping); None: the last epoch.
    kept_epochs: list[int] | None = None
    # Per seed: {set name: report} of the --eval-data sets (jaxrnn.runs.report.eval_report).
    evals: list[dict] | None = None

    def predictor(self, batch_size: int | None = None) -> Any:
        """A predictor for the trained weights, in memory (no file), of the run's task
        (``jaxrnn.runs.predictor``); several seeds predict with their mean:

        * classify: ``Predictor``: ``result.predictor().predict(["i am very happy"])`` ->
          a label, its probability and every class's per text;
        * tag: ``Tagger``: ``.predict(["we flew to Jordan ."])`` -> a tag per word;
        * regress: ``Forecaster``: ``.predict(rows [N, D] or a CSV path)`` -> the next
          ``horizon`` target values after the last ``window`` rows, in the target's units;
        * lm: ``LanguageModelPredictor``: ``.predict(["The "])`` -> the next token's
          probabilities (``next_token_proba``: all ``[V]``), ``.sample(prime, length)`` ->
          continuations, as ``python -m jaxrnn.generate`` draws them.

        ``batch_size``: rows per compiled batch (default: the predictor's own, 512 texts).
        """
        from jaxrnn.runs.registry import get_spec

        spec = get_spec(self.config)
        names = list(self.label_names or [])
        model = spec.build_model(self.config, self.tokenizer, names)
        kw = {} if batch_size is None else {"batch_size": batch_size}
        return spec.predictor(self.config, model, self.params, self.tokenizer, names,
                              len(self.seeds), **kw)  # fmt: skip

    @property
    def history(self) -> list[dict]:
        if len(self.histories) == 1:
            return self.histories[0]
        return [
            {"epoch": recs[0]["epoch"], **{k: float(np.mean([r[k] for r in recs])) for k in
                                           self.metric_names if k in recs[0]}}
            for recs in zip(*self.histories, strict=True)
        ]  # fmt: skip

    @property
    def scored_epochs(self) -> list[int]:
        """The epochs whose records hold test figures (``--eval-every``: the others hold the
        train figures alone)."""
        return [r["epoch"] for r in self.histories[0]
                if any(k.startswith("test_") for k in r)]  # fmt: skip

    def seed_final(self, i: int) -> dict:
        """Seed ``i``'s final metrics: its last epoch's (early stopping: the kept epoch's) and
        those derived from them."""
        rec = self.histories[i][self.kept_epochs[i] - 1 if self.kept_epochs else -1]
        out = {k: rec[k] for k in self.metric_names}
        return {**out, **(self.derived[i] if self.derived else {})}

    @property
    def final(self) -> dict:
        """The final metrics, means over seeds."""
        finals = [self.seed_final(i) for i in range(len(self.seeds))]
        return {k: float(np.mean([f[k] for f in finals])) for k in finals[0]}

    def final_summary(self) -> dict[str, dict]:
        """Per final metric: ``summarize`` over seeds (intervals clipped to the metric's range)."""
        n = len(self.seeds)
        return {k: summarize([self.seed_final(i)[k] for i in range(n)], bounds_of(k))
                for k in self.final}  # fmt: skip

    def to_json(self) -> dict:
        out = {
            "model": self.config.model,
            "backend": self.config.backend,
            "seed": self.seeds[0],
            "config": dataclasses.asdict(self.config),
            "final": self.final,
            "history": self.history,
            "scored_epochs": self.scored_epochs,
            "wall_s": self.wall_s,
            "compile_s": self.compile_s,
            "run_s": self.wall_s - self.compile_s,
            "num_params": self.num_params,
            # the C allocator's policy the timings were taken under (jaxrnn.runs.memory)
            "allocator": allocator_policy(),
            **self.extra,
        }
        if len(self.reports) == 1:
            out["report"] = self.reports[0]
        if self.evals and len(self.seeds) == 1:
            out["eval"] = self.evals[0]
        if len(self.seeds) > 1:
            out["seeds"] = self.seeds
            out["per_seed"] = [
                {"seed": s, "final": self.seed_final(i), "history": h}
                for i, (s, h) in enumerate(zip(self.seeds, self.histories, strict=True))
            ]
            for rec, rep in zip(out["per_seed"], self.reports, strict=False):
                rec["report"] = rep
            for rec, ev in zip(out["per_seed"], self.evals or [], strict=False):
                rec["eval"] = ev
            out["aggregate"] = {
                "final": self.final_summary(),
                "macro_f1": summarize([r["macro_f1"] for r in self.reports], (0.0, 1.0))
                if self.reports and "macro_f1" in self.reports[0] else None,
                "history": [
                    {"epoch": recs[0]["epoch"],
                     **{k: summarize([r[k] for r in recs], bounds_of(k))
                        for k in self.metric_names if k in recs[0]}}
                    for recs in zip(*self.histories, strict=True)
                ],
            }  # fmt: skip
            if self.evals:
                out["aggregate"]["eval"] = {
                    name: {"acc": summarize([ev[name]["acc"] for ev in self.evals], (0.0, 1.0)),
                           "constructions": {
                               t: summarize([ev[name]["constructions"][t]["acc"]
                                             for ev in self.evals], (0.0, 1.0))
                               for t in rep["constructions"]}}
                    for name, rep in self.evals[0].items()
                }  # fmt: skip
        return out


def write_json(path: str, obj: dict) -> None:
    """Write ``obj`` as indented JSON, atomically (``jaxrnn.util.atomic``)."""
    import json

    from jaxrnn.util.atomic import atomic_write

    atomic_write(path, json.dumps(obj, indent=1), fsync=False)
