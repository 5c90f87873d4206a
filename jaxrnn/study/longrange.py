"""A generated long-range task: the label is set by the first token, the rest is noise.

Each sequence is ``[key, d, d, ..., d]`` of a fixed ``length``: ``key`` is one of two
key tokens (``k0`` -> label 0, ``k1`` -> label 1, drawn with equal probability) and
the ``length - 1`` tokens after it are distractors drawn uniformly from
``d0 .. d{D-1}``, independently of the label. A classifier that reads the final
hidden state must carry one bit across ``length - 1`` steps of noise: the textbook
setting where a plain RNN's gradients vanish and gated cells (LSTM, GRU) help.

Token ids follow ``jaxrnn.data.Tokenizer``'s convention (0 = padding, words 1..V):
``k0 = 1``, ``k1 = 2``, ``d_j = 3 + j``. Everything is drawn from
``numpy.random.default_rng`` seeded by ``(seed, length, split)``, so a task is a pure
function of its arguments; nothing is downloaded.

``sweep`` trains each cell (``simple_rnn`` = our tanh RNN, ``lstm``, ``gru``; one
layer, small hidden size) on the task at several lengths with ``jaxrnn.runs.fit``
(several seeds at once, ``vmap``-ed) and reports test accuracy per cell and length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

KEY_TOKENS = ("k0", "k1")
NUM_DISTRACTORS = 8
CELL_MODELS = {"rnn": "simple_rnn", "lstm": "lstm", "gru": "gru"}  # cell -> train.py model name


class LongRange(NamedTuple):
    """One split of the task: ``ids [N, L]`` int32 (ids ``1..2+D``), ``labels [N]`` int32."""

    ids: np.ndarray
    labels: np.ndarray


def vocabulary(num_distractors: int = NUM_DISTRACTORS) -> list[str]:
    """The task's words in id order (id = position + 1): ``k0, k1, d0, d1, ...``."""
    return [*KEY_TOKENS, *(f"d{j}" for j in range(num_distractors))]


def make_long_range(
    n: int,
    length: int,
    *,
    seed: int = 0,
    split: int = 0,
    num_distractors: int = NUM_DISTRACTORS,
) -> LongRange:
    """``n`` sequences of ``length`` tokens whose label is their first token.

    Args:
      n: number of sequences (>= 1).
      length: tokens per sequence (>= 1): the key token, then ``length - 1`` distractors.
      seed, split: the generator is ``default_rng([seed, length, split])``; use a
        different ``split`` for train and test.
      num_distractors: distractor vocabulary size D (>= 1).

    Returns:
      ``LongRange(ids, labels)``; ``ids[:, 0]`` is ``1 + labels``, ``ids[:, 1:]`` is in
      ``3 .. 2 + D``.
    """
    if n < 1 or length < 1 or num_distractors < 1:
        raise ValueError(
            f"need n >= 1, length >= 1, num_distractors >= 1; got {n}, {length}, {num_distractors}"
        )
    rng = np.random.default_rng([seed, length, split])
    labels = rng.integers(0, 2, size=n).astype(np.int32)
    ids = np.empty((n, length), np.int32)
    ids[:, 0] = 1 + labels
    ids[:, 1:] = 3 + rng.integers(0, num_distractors, size=(n, length - 1))
    return LongRange(ids, labels)


def to_texts(task: LongRange, num_distractors: int = NUM_DISTRACTORS) -> list[str]:
    """The sequences as space-separated words (``"k1 d3 d0 ..."``), e.g. to write a file."""
    words = np.array(["<pad>", *vocabulary(num_distractors)])
    return [" ".join(row) for row in words[task.ids]]


def prepared(
    n_train: int,
    n_test: int,
    length: int,
    *,
    seed: int = 0,
    num_distractors: int = NUM_DISTRACTORS,
):
    """The task as ``jaxrnn.runs.Prepared`` (train split 0, test split 1) for ``fit``.

    The tokenizer is fitted on the vocabulary in id order, so its ids are the
    generator's.
    """
    from jaxrnn.data import Tokenizer
    from jaxrnn.data.arrays import Arrays
    from jaxrnn.runs import Prepared

    tok = Tokenizer(max_len=length).fit([" ".join(vocabulary(num_distractors))])

    def arrays(task: LongRange) -> Arrays:
        return Arrays(task.ids, np.full(len(task.labels), length, np.int32), task.labels)

    tr = make_long_range(n_train, length, seed=seed, split=0, num_distractors=num_distractors)
    te = make_long_range(n_test, length, seed=seed, split=1, num_distractors=num_distractors)
    return Prepared(arrays(tr), arrays(te), tok, ["k0", "k1"], 0)


@dataclass
class SweepSettings:
    """What the sequence-length sweep trains. Defaults keep it to about a minute on 2 cores."""

    lengths: tuple[int, ...] = (20, 50, 100, 200)
    cells: tuple[str, ...] = ("rnn", "lstm", "gru")
    seeds: int = 3
    n_train: int = 512
    n_test: int = 256
    hidden: int = 32
    embed_dim: int = 8
    epochs: int = 20
    batch_size: int = 32
    lr: float = 3e-3
    data_seed: int = 0  # the task's generator seed (the same data for every model seed)
    num_distractors: int = NUM_DISTRACTORS

    def config(self, cell: str, length: int):
        """The ``TrainConfig`` for ``cell`` at ``length``: Adam, one layer, no dropout."""
        from jaxrnn.runs import TrainConfig

        return TrainConfig(
            model=CELL_MODELS[cell], optimizer="adam", lr=self.lr, epochs=self.epochs,
            batch_size=self.batch_size, hidden=self.hidden, layers=1, embed_dim=self.embed_dim,
            dropout=0.0, layer_dropout=0.0, clip=0.0, num_words=0, max_len=length, mask=True,
            eval_train=True,
        )  # fmt: skip


@dataclass
class SweepRun:
    """One cell at one length, all seeds: histories and the trained ``RunResult``."""

    cell: str
    length: int
    result: Any  # jaxrnn.runs.RunResult (params stacked over seeds)
    data: Any  # Prepared
    extra: dict = field(default_factory=dict)


def sweep(
    settings: SweepSettings,
    *,
    on_start: Callable[[str, int], None] | None = None,
    on_done: Callable[[SweepRun], None] | None = None,
) -> list[SweepRun]:
    """Train every cell at every length (seeds ``0 .. seeds-1`` at once); see ``SweepSettings``."""
    from jaxrnn.runs import fit

    runs = []
    for length in settings.lengths:
        data = prepared(
            settings.n_train, settings.n_test, length, seed=settings.data_seed,
            num_distractors=settings.num_distractors,
        )  # fmt: skip
        for cell in settings.cells:
            if on_start is not None:
                on_start(cell, length)
            t0 = time.perf_counter()
            result = fit(settings.config(cell, length), data, seeds=settings.seeds)
            run = SweepRun(cell, length, result, data, {"elapsed_s": time.perf_counter() - t0})
            runs.append(run)
            if on_done is not None:
                on_done(run)
    return runs


def summarize_sweep(runs: Sequence[SweepRun], settings: SweepSettings) -> dict:
    """JSON-ready results: settings, and per cell and length the test accuracy over seeds."""
    from jaxrnn.runs import summarize

    table: dict[str, dict[str, Any]] = {}
    for run in runs:
        hists = run.result.histories
        table.setdefault(run.cell, {})[str(run.length)] = {
            "test_acc": summarize([h[-1]["test_acc"] for h in hists], (0.0, 1.0)),
            "train_acc": summarize([h[-1]["train_acc"] for h in hists], (0.0, 1.0)),
            "test_acc_per_seed": [h[-1]["test_acc"] for h in hists],
            "best_test_acc": summarize([max(r["test_acc"] for r in h) for h in hists], (0.0, 1.0)),
            "num_params": run.result.num_params,
            "wall_s": run.result.wall_s,
            "compile_s": run.result.compile_s,
        }
    return {
        "task": (
            "label = first token (k0 -> 0, k1 -> 1), then length - 1 uniform distractors "
            f"from {settings.num_distractors} words; chance = 0.5"
        ),
        "settings": {
            "lengths": list(settings.lengths), "cells": list(settings.cells),
            "seeds": settings.seeds, "n_train": settings.n_train, "n_test": settings.n_test,
            "hidden": settings.hidden, "embed_dim": settings.embed_dim,
            "epochs": settings.epochs, "batch_size": settings.batch_size,
            "optimizer": "adam", "lr": settings.lr, "data_seed": settings.data_seed,
            "num_distractors": settings.num_distractors,
            "cell_models": {c: CELL_MODELS[c] for c in settings.cells},
        },
        "accuracy": table,
    }  # fmt: skip
