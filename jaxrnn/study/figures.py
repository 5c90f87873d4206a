"""The study's figures, drawn from the results dictionary (what ``results.json`` holds).

Every function takes that dictionary (or one of its sections) and a path, and
writes one PNG with matplotlib's Agg backend, so figures can be redrawn from a
saved ``results.json`` without training again (``python -m jaxrnn.study --replot DIR``).

Conventions: train in blue, test in red (as the study's curves); lines are means
over seeds, bands are +-1 standard deviation across seeds (the spread of single
runs, not the uncertainty of the mean); error bars on the accuracy summary are
95% t-intervals of the mean.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

TRAIN_COLOR = "tab:blue"
TEST_COLOR = "tab:red"
INIT_COLOR = "0.45"
TRAINED_COLOR = "tab:green"
CELL_COLORS = {"rnn": "tab:purple", "lstm": "tab:orange", "gru": "tab:green"}


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 10.5, "axes.titleweight": "bold"})
    return plt


def _grid(n: int, w: float = 3.9, h: float = 3.0):
    plt = _plt()
    ncols = 3 if n in (5, 6, 9) else min(4, n)  # no nearly empty last row
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.6), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return plt, fig, list(axes.flat[:n])


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _band(ax, x, mean, std, color, label, lo=None, hi=None) -> None:
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    low, high = mean - std, mean + std
    if lo is not None:
        low = np.maximum(low, lo)
    if hi is not None:
        high = np.minimum(high, hi)
    marker = "o" if len(x) <= 20 else None
    ax.plot(x, mean, color=color, lw=1.8, label=label, marker=marker, ms=3.5)
    ax.fill_between(x, low, high, color=color, alpha=0.18, lw=0)


def plot_curves(models: dict[str, Any], metric: str, path: str) -> str:
    """Accuracy (``metric="acc"``) or loss (``"loss"``) per epoch, one panel per model."""
    names = list(models)
    plt, fig, axes = _grid(len(names))
    for ax, name in zip(axes, names, strict=True):
        m = models[name]
        c = m["curves"]
        x = c["epoch"]
        tr, te = c[f"train_{metric}"], c[f"test_{metric}"]
        hi = 1.0 if metric == "acc" else None
        _band(ax, x, tr["mean"], tr["std"], TRAIN_COLOR, "train", 0.0, hi)
        _band(ax, x, te["mean"], te["std"], TEST_COLOR, "test", 0.0, hi)
        f = m["final"][f"test_{metric}"]
        ax.set_title(m["label"], pad=15)
        ax.text(
            0.5, 1.015, f"final test {metric} {f['mean']:.3f} ± {f['std']:.3f}, {c['n']} seeds",
            transform=ax.transAxes, ha="center", va="bottom", fontsize=8.5, color="0.3",
        )  # fmt: skip
        if metric == "acc":
            ax.set_ylim(0.0, 1.04)
        else:
            ax.set_ylim(bottom=0.0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if metric == "acc" else "loss")
        if len(x) <= 20:
            ax.set_xticks(x if len(x) <= 10 else x[::2])
        ax.grid(alpha=0.3)
    axes[0].legend(loc="center right" if metric == "acc" else "upper right", fontsize=9)
    what = "Accuracy" if metric == "acc" else "Loss"
    fig.suptitle(
        f"{what} per epoch on the bundled data: mean over seeds, band = ±1 std across seeds",
        fontsize=12,
    )
    fig.tight_layout()
    return _save(fig, path)


def plot_test_accuracy(
    models: dict[str, Any], path: str, majority: float | None = None, seed: int = 0
) -> str:
    """Final test accuracy per model: one point per seed, mean and 95% interval."""
    plt = _plt()
    names = list(models)
    fig, ax = plt.subplots(figsize=(max(7.0, 1.45 * len(names) + 1.5), 5.2))
    rng = np.random.default_rng(seed)
    for i, name in enumerate(names):
        m = models[name]
        acc = np.array([s["final"]["test_acc"] for s in m["per_seed"]])
        ax.scatter(
            i + rng.uniform(-0.18, 0.18, len(acc)), acc, s=18, color=TEST_COLOR, alpha=0.45,
            lw=0, label="one seed" if i == 0 else None, zorder=2,
        )  # fmt: skip
        f = m["final"]["test_acc"]
        lo, hi = f["ci95"]
        ax.errorbar(
            i + 0.3, f["mean"], yerr=[[f["mean"] - lo], [hi - f["mean"]]], fmt="D", color="k",
            ms=5, capsize=4, label="mean, 95% interval" if i == 0 else None, zorder=3,
        )  # fmt: skip
    if majority is not None:
        ax.axhline(majority, color="0.5", ls="--", lw=1, label=f"majority class ({majority:.2f})")
    ax.set_xticks(range(len(names)))
    labels = []
    for n in names:
        r = models[n]["reach_100_train_acc"]
        lab = models[n]["label"].replace(", ", ",\n").replace(" (", "\n(")
        labels.append(f"{lab}\n[{r['count']}/{r['n']} reach 100%\ntrain acc]")
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("test accuracy (20 sentences)")
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlim(-0.6, len(names) - 0.3)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8.5, framealpha=0.9)
    ax.set_title("Final test accuracy on the bundled data, every seed")
    fig.tight_layout()
    return _save(fig, path)


def _profile_line(ax, prof: dict, color: str, label: str, ls: str = "-") -> tuple[float, float]:
    """Draw one relative-norm profile; returns the (lowest, highest) value drawn."""
    k = np.array(prof["k"])
    mean = np.array([np.nan if v is None else v for v in prof["log10_rel_mean"]], float)
    std = np.array([np.nan if v is None else v for v in prof["log10_rel_std"]], float)
    x = -k  # t - T
    ax.plot(x, 10**mean, color=color, ls=ls, lw=1.8, label=label)
    ax.fill_between(x, 10 ** (mean - std), 10 ** (mean + std), color=color, alpha=0.15, lw=0)
    if not np.isfinite(mean).any():
        return 1.0, 1.0
    return float(np.nanmin(mean - std)), float(np.nanmax(mean + std))


def _grad_panel(ax, entry: dict, title: str) -> None:
    lows, highs = zip(
        _profile_line(ax, entry["init"], INIT_COLOR, "d/dh_t at init", "--"),
        _profile_line(ax, entry["trained"], TRAINED_COLOR, "d/dh_t trained"),
        *(
            [
                _profile_line(ax, entry["init_x"], "tab:brown", "d/dx_t at init", ":"),
                _profile_line(ax, entry["trained_x"], "tab:orange", "d/dx_t trained", "-."),
            ]
            if "init_x" in entry
            else []
        ),
        strict=True,
    )
    ax.set_yscale("log")
    # At least two decades, so that a flat profile looks flat and the ticks stay readable.
    lo, hi = min(min(lows), -1.5), max(max(highs), 0.5)
    ax.set_ylim(10 ** (lo - 0.1), 10 ** (hi + 0.1))
    ax.set_title(title, pad=17)
    note = entry["model_note"].replace("\n", "; ")
    ax.text(0.5, 1.015, note, transform=ax.transAxes, ha="center", va="bottom", fontsize=7.8,
            color="0.3")  # fmt: skip
    ax.set_xlabel("t − T  (T = last token, read out)")
    ax.set_ylabel("gradient norm relative to step T")
    ax.grid(alpha=0.3, which="major")


def plot_grad_norms(grads: dict[str, Any], path: str) -> str:
    """``|dL/dh_t| / |dL/dh_T|`` against ``t - T`` (log scale): rows = data, columns = model.

    The study's RNN (weights ~ N(0, 1) / 1000) gets its own column: its gradient falls by
    orders of magnitude per step and would flatten every other curve on a shared axis.
    """
    rows = [r for r in ("sentiment", "long_range") if grads.get(r)]
    cells = [c for c in ("rnn", "lstm", "gru") if any(c in grads[r]["cells"] for r in rows)]
    extra = [r for r in rows if grads[r].get("extra")]
    cols: list[str | None] = ([None] if extra else []) + list(cells)
    plt = _plt()
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(4.2 * len(cols), 3.6 * len(rows) + 1.0), squeeze=False
    )
    for i, r in enumerate(rows):
        sec = grads[r]
        for j, col in enumerate(cols):
            ax = axes[i][j]
            if col is None:
                ex = sec.get("extra", {}).get("rnn")
                if ex is None:
                    ax.set_visible(False)
                else:
                    _grad_panel(ax, ex, f"{ex['label']} — {sec['title']}")
                continue
            entry = sec["cells"].get(col)
            if entry is None:
                ax.set_visible(False)
            else:
                _grad_panel(ax, entry, f"{col.upper()} — {sec['title']}")
    handles, labels = next(ax for ax in axes.flat if ax.get_visible()).get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(
        "Gradient reaching step t relative to the last step T: |dL/dh_t|/|dL/dh_T| and "
        "|dL/dx_t|/|dL/dx_T| (x_t: the step's projected input)\n"
        "geometric mean over examples; band = ±1 std (in log10) across seeds",
        fontsize=11.5,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def plot_long_range_accuracy(lr: dict[str, Any], path: str) -> str:
    """Test accuracy against sequence length per cell (mean, ±1 std, every seed)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.8, 4.4))
    acc = lr["accuracy"]
    lengths = lr["settings"]["lengths"]
    offsets = np.linspace(-0.04, 0.04, max(1, len(acc)))
    lowest = 0.3
    for off, (cell, rows) in zip(offsets, acc.items(), strict=True):
        color = CELL_COLORS.get(cell, None)
        xs = [L for L in lengths if str(L) in rows]
        mean = np.array([rows[str(L)]["test_acc"]["mean"] for L in xs])
        std = np.array([rows[str(L)]["test_acc"]["std"] for L in xs])
        lo, hi = np.maximum(mean - std, 0.0), np.minimum(mean + std, 1.0)
        xo = np.array(xs, float) * (1 + off)
        ax.errorbar(xo, mean, yerr=[mean - lo, hi - mean], fmt="o-", color=color, capsize=3,
                    lw=1.6, label=cell.upper())  # fmt: skip
        for x, L in zip(xo, xs, strict=True):
            pts = rows[str(L)]["test_acc_per_seed"]
            ax.scatter([x] * len(pts), pts, s=70, color=color, alpha=0.6, lw=1.5, marker="_")
            lowest = min(lowest, *pts)
    ax.axhline(0.5, color="0.5", ls="--", lw=1, label="chance")
    ax.set_xscale("log")
    ax.set_xticks(lengths)
    ax.set_xticklabels([str(L) for L in lengths])
    ax.minorticks_off()
    ax.set_ylim(min(0.3, lowest - 0.05), 1.04)
    ax.set_xlabel("sequence length (label token first, then distractors)")
    ax.set_ylabel("final test accuracy")
    s = lr["settings"]
    ax.set_title(
        f"Long-range task: hidden {s['hidden']}, {s['epochs']} epochs, {s['seeds']} seeds\n"
        "(line: mean, bars: ±1 std across seeds, dashes: single seeds)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="lower left")
    fig.tight_layout()
    return _save(fig, path)


def make_all(results: dict[str, Any], out_dir: str) -> list[str]:
    """Every figure the results support; returns the paths written."""
    paths: list[str] = []
    models = results.get("models") or {}
    if models:
        paths.append(plot_curves(models, "acc", os.path.join(out_dir, "curves_accuracy.png")))
        paths.append(plot_curves(models, "loss", os.path.join(out_dir, "curves_loss.png")))
        maj = (results.get("data") or {}).get("test_majority_share")
        paths.append(plot_test_accuracy(models, os.path.join(out_dir, "test_accuracy.png"), maj))
    grads = results.get("gradients")
    if grads and (grads.get("sentiment") or grads.get("long_range")):
        paths.append(plot_grad_norms(grads, os.path.join(out_dir, "grad_norms.png")))
    lr = results.get("long_range")
    if lr and lr.get("accuracy"):
        paths.append(plot_long_range_accuracy(lr, os.path.join(out_dir, "long_range_accuracy.png")))
    return paths


def figure_names(parts: Sequence[str]) -> list[str]:
    """The PNG files a run of ``parts`` writes (for docs and tests)."""
    names = []
    if "compare" in parts:
        names += ["curves_accuracy.png", "curves_loss.png", "test_accuracy.png"]
    if "gradients" in parts:
        names += ["grad_norms.png", "long_range_accuracy.png"]
    return names
