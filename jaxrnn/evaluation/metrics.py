"""Classification metrics: accuracy, per-class precision / recall / F1, confusion matrix.

NumPy only (matplotlib is imported lazily by :func:`plot_confusion`). Definitions,
for class ``c`` with ``tp`` true positives, ``fp`` false positives, ``fn`` false
negatives:

* ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``,
  ``f1 = 2 * precision * recall / (precision + recall)``;
* **zero division is 0**: precision is 0 for a class never predicted, recall is
  0 for a class with no true examples (support 0), F1 is 0 when precision +
  recall is 0. No warning, no NaN (scikit-learn's ``zero_division=0``);
* ``macro_f1`` (and ``macro_precision`` / ``macro_recall``) average over the
  classes that occur in ``y_true`` or ``y_pred``; a class in neither has every
  count 0 and no defined score, so it is left out (scikit-learn's
  ``f1_score(average="macro")`` without ``labels=``). Its row in the per-class
  lists is still there, all zeros;
* ``accuracy`` is the fraction of exact matches; with no examples at all,
  accuracy and the macro averages are 0;
* ``confusion[i][j]`` counts examples of true class ``i`` predicted as ``j``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["classification_report", "format_report", "plot_confusion"]


def _as_classes(y: Any, name: str, num_classes: int) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {a.shape}")
    if a.size == 0:
        return a.astype(np.int64)
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {a.dtype}")
    bad = (a < 0) | (a >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}[{i}] = {a[i]} is not a class index 0..{num_classes - 1} "
            f"(num_classes={num_classes})"
        )
    return a.astype(np.int64)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` elementwise, 0 where ``den`` is 0."""
    out = np.zeros(np.shape(num), np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def classification_report(
    y_true: Any,
    y_pred: Any,
    num_classes: int,
    label_names: Sequence[str] | None = None,
) -> dict:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    ``y_true`` and ``y_pred`` are equal-length 1-D integer class indices in
    ``0..num_classes-1`` (lists, NumPy or JAX arrays). Returns a JSON-friendly dict::

        {"accuracy": float, "macro_f1": float, "macro_precision": float,
         "macro_recall": float, "n": int, "num_classes": int,
         "label_names": [str] * C, "precision": [float] * C, "recall": [float] * C,
         "f1": [float] * C, "support": [int] * C, "predicted": [int] * C,
         "confusion": [[int] * C] * C}   # rows = true class, columns = predicted

    Zero division gives 0 (see the module docstring). Raises ``ValueError`` for
    mismatched lengths, non-integer or out-of-range labels, or a wrong
    ``label_names`` length.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
    c = int(num_classes)
    if c < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
    t = _as_classes(y_true, "y_true", c)
    p = _as_classes(y_pred, "y_pred", c)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    if label_names is None:
        names = [str(i) for i in range(c)]
    else:
        names = [str(n) for n in label_names]
        if len(names) != c:
            raise ValueError(f"label_names has {len(names)} names for {c} classes")

    confusion = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    tp = np.diag(confusion)
    support = confusion.sum(axis=1)  # true examples per class
    predicted = confusion.sum(axis=0)  # predictions per class
    precision = _div(tp, predicted)
    recall = _div(tp, support)
    f1 = _div(2 * precision * recall, precision + recall)
    present = (support + predicted) > 0
    n = int(t.size)

    def macro(x: np.ndarray) -> float:
        return float(x[present].mean()) if present.any() else 0.0

    return {
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "macro_f1": macro(f1),
        "macro_precision": macro(precision),
        "macro_recall": macro(recall),
        "n": n,
        "num_classes": c,
        "label_names": names,
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": support.astype(int).tolist(),
        "predicted": predicted.astype(int).tolist(),
        "confusion": confusion.astype(int).tolist(),
    }


def _short(name: str, width: int) -> str:
    name = " ".join(str(name).split()) or "?"  # one line, no tabs
    return name if len(name) <= width else name[: width - 1] + "…"


def format_report(report: dict) -> str:
    """A plain-text table of a :func:`classification_report` plus its confusion matrix.

    Example (two classes)::

                    precision  recall     f1  support
        negative        0.750   1.000  0.857        3
        positive        1.000   0.500  0.667        2
        accuracy                        0.800        5
        macro avg       0.875   0.750  0.762        5

        confusion (rows: true class, columns: predicted)
                   negative positive
        negative          3        0
        positive          1        1
    """
    names = [_short(n, 24) for n in report["label_names"]]
    w = max([len(n) for n in names] + [len("macro avg")])
    lines = [f"{'':<{w}}  precision  recall     f1  support"]
    for i, name in enumerate(names):
        lines.append(
            f"{name:<{w}}  {report['precision'][i]:9.3f}  {report['recall'][i]:6.3f}  "
            f"{report['f1'][i]:5.3f}  {report['support'][i]:7d}"
        )
    n = report["n"]
    lines.append(f"{'accuracy':<{w}}  {'':9}  {'':6}  {report['accuracy']:5.3f}  {n:7d}")
    lines.append(
        f"{'macro avg':<{w}}  {report['macro_precision']:9.3f}  {report['macro_recall']:6.3f}  "
        f"{report['macro_f1']:5.3f}  {n:7d}"
    )
    conf = report["confusion"]
    big = max((v for row in conf for v in row), default=0)
    heads = [_short(nm, 10) for nm in names]
    cw = max([len(str(big))] + [len(h) for h in heads])
    lines += ["", "confusion (rows: true class, columns: predicted)"]
    lines.append(f"{'':<{w}} " + " ".join(f"{h:>{cw}}" for h in heads))
    for name, row in zip(names, conf, strict=True):
        lines.append(f"{name:<{w}} " + " ".join(f"{v:>{cw}d}" for v in row))
    return "\n".join(lines)


def plot_confusion(
    report: dict,
    path: str | os.PathLike,
    *,
    normalize: bool = False,
    title: str | None = None,
) -> Path:
    """Draw the confusion matrix of ``report`` as a PNG heat map at ``path``; returns the path.

    Cells show counts (and the row percentage); colour is the fraction of the
    true class's examples (row-normalised), so rare classes are as readable as
    common ones. ``normalize=True`` prints the row fractions as the main number.
    Uses matplotlib's Agg canvas directly (no pyplot, no global backend change);
    the file is written atomically. Raises ``UsageError`` if matplotlib is missing.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        from jaxrnn.errors import UsageError

        raise UsageError(
            "plotting needs matplotlib, which is not installed; pip install 'jaxrnn[plots]'"
        ) from None

    conf = np.asarray(report["confusion"], dtype=np.float64)
    c = conf.shape[0]
    names = [_short(n, 20) for n in report["label_names"]]
    rows = conf.sum(axis=1, keepdims=True)
    frac = _div(conf, np.broadcast_to(rows, conf.shape))

    side = max(4.0, 1.0 + 0.75 * c)
    fig = Figure(figsize=(side + 1.5, side), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("fraction of the true class")
    ax.set_xticks(range(c))
    ax.set_yticks(range(c))
    ax.set_xticklabels(names, rotation=45 if c > 2 else 0, ha="right" if c > 2 else "center")
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    size = 10 if c <= 6 else max(5, 10 - (c - 6) // 2)
    for i in range(c):
        for j in range(c):
            main = f"{frac[i, j]:.2f}" if normalize else f"{int(conf[i, j])}"
            sub = f"\n{int(conf[i, j])}" if normalize else f"\n{100 * frac[i, j]:.0f}%"
            text = main + (sub if c <= 12 and rows[i, 0] > 0 else "")
            color = "white" if frac[i, j] > 0.55 else "black"
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=size)
    head = title or "Confusion matrix"
    ax.set_title(
        f"{head}\naccuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}, "
        f"n = {report['n']}",
        fontsize=10,
    )
    fig.tight_layout()

    import io

    from jaxrnn.util.atomic import atomic_write

    png = io.BytesIO()
    fig.savefig(png, format="png")
    return atomic_write(path, png.getvalue(), mode=0o644)
