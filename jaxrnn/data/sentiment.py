"""The bundled data set: 78 short English sentences labelled positive (1) or negative (0).

From vzhou842/rnn-from-scratch (MIT License; the notice ships beside the file as
``LICENSE-sentiment.md``). 58 training and 20 test sentences, 18 distinct words.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import NamedTuple


class Split(NamedTuple):
    """One split of a text-classification data set."""

    texts: list[str]
    labels: list[int]  # class indices 0..C-1


class TextDataset(NamedTuple):
    """Train and test splits plus the class names (index -> name)."""

    train: Split
    test: Split
    label_names: list[str]
    # One-line notes about how the files were read (labels merged, rows left out).
    notes: tuple[str, ...] = ()
    # Rows left out by ``skip_bad_rows``: ``(file, line, reason, the row)``.
    skipped: tuple[tuple[str, int, str, str], ...] = ()


def load_sentiment() -> TextDataset:
    """The bundled sentiment data: ``train`` (58 sentences) and ``test`` (20).

    Labels are ints, 1 = positive, 0 = negative (the study's True/False).
    """
    raw = json.loads(resources.files(__package__).joinpath("sentiment.json").read_text("utf-8"))

    def split(items: list[dict]) -> Split:
        return Split([it["text"] for it in items], [int(it["label"]) for it in items])

    return TextDataset(split(raw["train"]), split(raw["test"]), ["negative", "positive"])
