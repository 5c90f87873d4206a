"""Model selection helpers (NumPy, imports no JAX): k-fold splits of the training rows, the
per-fold training orders that let the K fold-models run as one vmapped program (like seeds),
the mean probability of a seed ensemble, and the choice of the best setting by a signal.

Building blocks of ``--cv K`` and ``--ensemble N`` (issue 27); the run wiring is not done yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jaxrnn.errors import UsageError


def kfold_split(n: int, k: int, seed: int, labels: Sequence[int] | None = None) -> list[np.ndarray]:
    """The validation rows of each of ``k`` folds over ``n`` training rows: ``k`` sorted index
    arrays that partition ``0 .. n-1`` (every row in exactly one fold), seeded.

    Plain (``labels`` None): one seeded permutation dealt into ``k`` near-equal parts.
    Stratified (``labels`` ``[n]``): each class's rows permuted and dealt round-robin, so every
    fold holds each class in proportion (fold sizes differ by at most one per class)."""
    if not isinstance(k, int) or k < 2:
        raise UsageError(f"--cv needs K >= 2 folds (got {k})")
    if k > n:
        raise UsageError(f"--cv {k}: only {n} training rows; use K <= {n}")
    rng = np.random.default_rng([seed, 27])  # a stream apart from the init and shuffle streams
    folds: list[list[int]] = [[] for _ in range(k)]
    if labels is None:
        for j, row in enumerate(rng.permutation(n)):
            folds[j % k].append(int(row))
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise UsageError(f"kfold_split: {labels.shape[0]} labels for {n} rows")
        start = 0  # carry the deal on across classes so small classes do not all land in fold 0
        for c in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == c))
            for j, row in enumerate(rows):
                folds[(start + j) % k].append(int(row))
            start += len(rows)
    return [np.sort(np.array(f, dtype=np.int64)) for f in folds]


def fold_train_rows(folds: Sequence[np.ndarray], i: int, n: int) -> np.ndarray:
    """The training rows of fold ``i``: every row of ``0 .. n-1`` not in ``folds[i]``."""
    keep = np.ones(n, bool)
    keep[folds[i]] = False
    return np.flatnonzero(keep)


def fold_orders(folds: Sequence[np.ndarray], n: int, epochs: int, seed: int) -> np.ndarray:
    """Per-fold sample orders ``[K, epochs, n]``: fold ``i`` visits only its training rows
    (never a row of ``folds[i]``), each at least once an epoch in a seeded order, the rest of
    the ``n`` slots filled with more of its own training rows (drawn anew each epoch, so no
    row is favoured on average): the K fold-models share the run's ``[E, n]`` orders shape
    and train vmapped like seeds."""
    trains = [fold_train_rows(folds, i, n) for i in range(len(folds))]
    m = n
    out = np.zeros((len(folds), epochs, m), np.int32)
    for i, rows in enumerate(trains):
        rng = np.random.default_rng([seed, 27, i])
        for e in range(epochs):
            order = rng.permutation(rows)
            extra = m - len(rows)  # with K = 2 a fold may hold out more rows than it trains on
            pad = rng.choice(rows, extra, replace=extra > len(rows)) if extra else rows[:0]
            out[i, e] = np.concatenate([order, pad])
    return out


def mean_probabilities(member_probs: np.ndarray) -> np.ndarray:
    """An ensemble's prediction: the mean over members of their class probabilities,
    ``[N, B, C] -> [B, C]`` (rows still sum to one)."""
    p = np.asarray(member_probs)
    if p.ndim != 3:
        raise UsageError(f"mean_probabilities wants [N, B, C] member probabilities, got {p.shape}")
    return p.mean(axis=0)


def best_setting(signals: Sequence[float], higher_is_better: bool) -> int:
    """The index of the setting with the best selection signal (first of ties); NaN never wins.
    A loss is chosen low (``higher_is_better`` False), an accuracy high."""
    s = np.asarray(signals, dtype=float)
    if s.size == 0 or np.all(np.isnan(s)):
        raise UsageError("no setting has a finite selection signal")
    s = np.where(np.isnan(s), -np.inf if higher_is_better else np.inf, s)
    return int(np.argmax(s) if higher_is_better else np.argmin(s))


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (average ranks for ties)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.shape != y.shape or x.size < 2:
        raise UsageError("spearman needs two sequences of the same length >= 2")

    def ranks(v: np.ndarray) -> np.ndarray:
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for u in np.unique(v):  # ties share their mean rank
            tie = v == u
            r[tie] = r[tie].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float((rx * ry).sum() / den) if den else float("nan")
