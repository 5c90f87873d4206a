"""Training curves from a run's JSON (``python -m jaxrnn.train --json``): the loss and the
task's metric per epoch, for every split the history holds, several seeds as a band.

A history record is ``{"epoch": e, "<split>_<metric>": value, ...}`` with splits ``train``,
``val``, ``test`` (and ``eval_<name>`` for ``--eval-data``) and the task's metrics
(classification and tagging: ``loss``, ``acc``; language models: ``loss``, ``acc``,
``bpc``; forecasting: ``loss``, ...). ``curves`` reads them into arrays ``[S, E]`` (S seeds:
``per_seed`` when the run had several, else the one history), ``plot_curves`` draws two
panels: the loss and the task's main metric (the first one after the loss that the task
reports), the mean over seeds as a line and the range over seeds as a band.
NumPy and matplotlib only (no JAX).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np


def is_scored(epoch: Any, every: int | None, total: int) -> Any:
    """Whether epoch ``epoch`` (1-based) of a run of ``total`` epochs scores its validation
    and test splits under ``--eval-every every`` (None or 1: every epoch): the first, every
    multiple of ``every`` and the last, the epochs the log prints under ``--log-every``.
    ``epoch`` a Python int gives a bool (the host's records); a traced integer gives a traced
    bool (the compiled loop's ``lax.cond``): one rule for both, so they cannot drift."""
    every = every or 1
    return (epoch == 1) | (epoch % every == 0) | (epoch == total)

SPLIT_ORDER = ("train", "val", "test")
# A metric's label on the y axis; anything else is shown by its name.
LABELS = {"loss": "loss", "acc": "accuracy", "bpc": "bits per character", "ppl": "perplexity",
          "mae": "mean absolute error", "mse": "mean squared error"}  # fmt: skip


class Curves(NamedTuple):
    """Per-epoch values of one run."""

    epochs: np.ndarray  # [E] epoch numbers (1-based)
    values: dict[tuple[str, str], np.ndarray]  # (split, metric) -> [S, E] (nan where absent)
    metrics: list[str]  # the metrics in the order the task reports them (loss first)
    splits: list[str]  # the splits present, train / val / test first, then eval sets


def _split_metric(key: str) -> tuple[str, str] | None:
    for split in SPLIT_ORDER:
        if key.startswith(split + "_"):
            return split, key[len(split) + 1 :]
    if key.startswith("eval_"):  # eval_<name>_<metric>; the metric has no underscore
        head, _, metric = key.rpartition("_")
        return head, metric
    return None


def curves(run: dict[str, Any]) -> Curves:
    """The per-epoch values of a run's JSON (``--json``), one row per seed."""
    histories = [p["history"] for p in run.get("per_seed") or []] or [run.get("history") or []]
    if not histories[0]:
        raise ValueError("the run's JSON has no per-epoch history to draw")
    epochs = sorted({int(r["epoch"]) for h in histories for r in h})
    col = {e: i for i, e in enumerate(epochs)}
    values: dict[tuple[str, str], np.ndarray] = {}
    metrics: list[str] = []
    splits: list[str] = []
    for s, h in enumerate(histories):
        for rec in h:
            for key, v in rec.items():
                sm = _split_metric(key)
                if sm is None or not isinstance(v, int | float):
                    continue
                split, metric = sm
                if metric not in metrics:
                    metrics.append(metric)
                if split not in splits:
                    splits.append(split)
                arr = values.setdefault(sm, np.full((len(histories), len(epochs)), np.nan))
                arr[s, col[int(rec["epoch"])]] = v
    metrics.sort(key=lambda m: (m != "loss",))  # the loss first, the rest as reported
    splits.sort(key=lambda s: SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER))
    return Curves(np.asarray(epochs), values, metrics, splits)


def plot_curves(run: dict[str, Any], path: str, title: str | None = None) -> list[str]:
    """Draw the loss and the task's main metric per epoch to ``path`` (PNG); returns the
    metrics drawn. Splits as lines (mean over seeds), the seeds' range as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = curves(run)
    shown = c.metrics[:2]
    fig, axes = plt.subplots(1, len(shown), figsize=(5.2 * len(shown), 3.6), squeeze=False)
    seeds = len(run.get("per_seed") or []) or 1
    for ax, metric in zip(axes[0], shown, strict=True):
        for split in c.splits:
            v = c.values.get((split, metric))
            if v is None or np.all(np.isnan(v)):
                continue
            ok = ~np.all(np.isnan(v), axis=0)
            x, v = c.epochs[ok], v[:, ok]
            (line,) = ax.plot(x, np.nanmean(v, axis=0), label=split, marker="." if len(x) < 30
                              else None)  # fmt: skip
            if seeds > 1:
                ax.fill_between(x, np.nanmin(v, axis=0), np.nanmax(v, axis=0),
                                color=line.get_color(), alpha=0.2)  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    head = title or f"{run.get('model', 'run')} ({run.get('backend', 'jax')})"
    if seeds > 1:
        head += f", mean of {seeds} seeds (band: min-max)"
    fig.suptitle(head.replace("$", r"\$"), fontsize=10)  # a title is text, not TeX math
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)  # as the other writers do
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return shown

