"""The data of a ``--task classify`` run on numeric sequences (``jaxrnn.data.numeric``).

Which files are numeric (``numeric_format``): ``--format npz|ucr|ts`` says so; without
``--format``, ``.npz`` and ``.ts`` files are, and so are ``.txt`` files (the UCR archive's
2015 release); a ``.tsv``, ``.tab`` or ``.csv`` file is read as UCR when every field after
the first (the label) of its first non-empty line is a number (or ``NaN``/``?``), else as a
text table (a text table's first line is its header of column names). ``--format
csv|tsv|jsonl|json`` always reads a text table.

``prepare_numeric``: read the training file (and ``--test-data``, or split
``--test-fraction`` of the training file off, stratified, seed ``--seed``), hold out
``--val-fraction`` (stratified, as for texts), then fit the per-channel standardiser on
what is left of the training split only, and scale every split with it. Padding stays 0
and is masked by the model (``jaxrnn.nn.models.NumericClassifier``). The checkpoint keeps
the standardiser, the channel count and names in ``NumericVocab`` (its ``"tokenizer"``
entry), so ``python -m jaxrnn.predict`` scales new files the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxrnn.data.arrays import Arrays
from jaxrnn.data.files import stratified_split
from jaxrnn.data.numeric import (
    NUMERIC_FORMATS,
    NumericSet,
    _split_fields,
    align_labels,
    check_compatible,
    fit_standardizer,
    load_numeric,
    load_numeric_split,
    subset,
)
from jaxrnn.data.series import Standardizer
from jaxrnn.errors import ConfigError, DataError
from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.prepare import Prepared

# Extensions that are numeric whatever they hold, and those that are sniffed.
_NUMERIC_EXTENSIONS = {".npz": "npz", ".ts": "ts", ".txt": "ucr"}
_SNIFFED = (".tsv", ".tab", ".csv")
_MISSING = {"?", "nan", "NaN", "NAN"}


def _is_number(cell: str) -> bool:
    cell = cell.strip()
    if cell in _MISSING:
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return cell.lower() not in ("inf", "-inf", "+inf", "infinity")


def sniff_ucr(path: str | os.PathLike) -> bool:
    """Whether every field after the first of the first non-empty line of ``path`` is a
    number (UCR's label-then-values lines; a text table starts with a header of names)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    fields = _split_fields(line.rstrip("\r\n"))
                    return len(fields) >= 2 and all(_is_number(c) for c in fields[1:])
    except OSError:  # missing or unreadable: the text reader says so in one line
        return False
    return False


def numeric_format(path: str | os.PathLike | None, data_format: str | None = None
                   ) -> str | None:  # fmt: skip
    """``"npz"``, ``"ucr"`` or ``"ts"`` when ``path`` holds numeric sequences, None for a text
    table (rules: module docstring). ``data_format``: ``--format`` (None: auto)."""
    if path is None:
        return None
    if data_format is not None:
        key = str(data_format).lower()
        return key if key in NUMERIC_FORMATS else None
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix in _NUMERIC_EXTENSIONS:
        return _NUMERIC_EXTENSIONS[suffix]
    if suffix in _SNIFFED and sniff_ucr(path):
        return "ucr"
    return None


def is_numeric(cfg: TrainConfig, vocab: Any = None) -> bool:
    """Whether a classify run reads numeric sequences: a ``NumericVocab`` to resume with, or
    ``--data`` in a numeric format."""
    if vocab is not None:
        return isinstance(vocab, NumericVocab)
    return numeric_format(cfg.data, cfg.data_format) is not None


class NumericVocab:
    """What a numeric classifier needs to read new data: the channel count ``num_features``,
    their names (or None), the training split's per-channel ``Standardizer`` and the file
    format it was trained from. ``max_len`` is the training split's longest series (what a
    text tokenizer pads to; shown in notes)."""

    kind = "numeric"

    def __init__(self, num_features: int, scaler: Standardizer,
                 feature_names: list[str] | None = None, data_format: str = "npz",
                 max_len: int = 0):  # fmt: skip
        if scaler.mean.shape[0] != num_features:
            raise ValueError(f"the scaler has {scaler.mean.shape[0]} channels, not "
                             f"{num_features}")  # fmt: skip
        self.num_features, self.scaler = int(num_features), scaler
        self.feature_names = None if feature_names is None else list(feature_names)
        self.data_format, self.max_len = data_format, int(max_len)

    def to_dict(self) -> dict:
        return {"kind": "numeric_vocab", "version": 1, "num_features": self.num_features,
                "feature_names": self.feature_names, "scaler": self.scaler.to_dict(),
                "data_format": self.data_format, "max_len": self.max_len}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> NumericVocab:
        if not isinstance(d, dict) or d.get("kind") != "numeric_vocab" or d.get("version") != 1:
            raise ValueError("not a numeric vocabulary (expected kind 'numeric_vocab', "
                             "version 1)")  # fmt: skip
        return cls(int(d["num_features"]), Standardizer.from_dict(d["scaler"]),
                   d.get("feature_names"), str(d.get("data_format", "npz")),
                   int(d.get("max_len", 0)))  # fmt: skip

    def check(self, data: NumericSet) -> None:
        """``DataError`` (one line) if ``data`` has other channels than training had."""
        if data.num_features != self.num_features:
            raise DataError(f"{data.source}: {data.num_features} channel(s) per step, but the "
                            f"model was trained on {self.num_features}; give a file with the "
                            "training data's channels")  # fmt: skip
        if self.feature_names is not None and data.feature_names is not None and (
            list(data.feature_names) != self.feature_names
        ):
            raise DataError(f"{data.source}: channels {data.feature_names} differ from the "
                            f"training data's {self.feature_names}")  # fmt: skip

    def scale(self, data: NumericSet, dtype: Any = np.float32) -> NumericSet:
        """``data`` standardised with the training statistics (padding stays 0), as ``dtype``."""
        self.check(data)
        return data._replace(x=self.scaler.transform(data.x, lengths=data.lengths).astype(dtype))


def check_config(cfg: TrainConfig) -> None:
    """What a numeric run cannot do, said before anything is read (one-line ``ConfigError``)."""
    if cfg.model == "rnn":
        raise ConfigError("--model rnn is the study's one-hot word RNN; for numeric sequences "
                          "use simple_rnn (or lstm, gru, ...)")  # fmt: skip
    if cfg.backend != "jax":
        raise ConfigError("numeric sequences train on the JAX backend only: drop "
                          f"--backend {cfg.backend}")  # fmt: skip
    if cfg.eval_data:
        raise ConfigError("--eval-data reads text tables; with numeric sequences give "
                          "--test-data instead")  # fmt: skip


def load_sets(cfg: TrainConfig) -> tuple[NumericSet, NumericSet, str]:
    """The training and test sets a config names (one class order: the training file's)
    and the training file's format."""
    if cfg.data is None:  # e.g. resuming a run that fit() trained from arrays in memory
        raise ConfigError("numeric sequences are read from --data FILE (.npz, UCR .tsv/.txt, "
                          ".ts); this run has no file to read")  # fmt: skip
    fmt = numeric_format(cfg.data, cfg.data_format)
    if fmt is None:
        raise ConfigError(f"{cfg.data} is not numeric data: give .npz, .ts or UCR .tsv/.txt "
                          "files, or --format npz|ucr|ts")  # fmt: skip
    if cfg.test_data is None:
        train, test = load_numeric_split(cfg.data, data_format=fmt,
                                         test_fraction=cfg.test_fraction, seed=cfg.seed)
        return train, test, fmt
    test_fmt = numeric_format(cfg.test_data, cfg.data_format)
    if test_fmt is None:
        raise DataError(f"{cfg.test_data}: not numeric data, but the training file {cfg.data} "
                        "is; give the test series in .npz, .ts or UCR .tsv/.txt")  # fmt: skip
    train, test = load_numeric(cfg.data, fmt), load_numeric(cfg.test_data, test_fmt)
    check_compatible(train, test)
    train, test = align_labels(train, test)
    return train, test, fmt


def _arrays(s: NumericSet, dtype: Any) -> Arrays:
    """``Arrays(x [N, T, F] as dtype, lengths [N] int32, labels [N] int32)``."""
    return Arrays(np.ascontiguousarray(s.x, dtype=dtype), s.lengths.astype(np.int32),
                  s.labels.astype(np.int32))  # fmt: skip


def prepare_numeric(cfg: TrainConfig, vocab: NumericVocab | None = None, *,
                    train: NumericSet | None = None, test: NumericSet | None = None
                    ) -> Prepared:  # fmt: skip
    """Load (or take ``train``/``test``), hold out ``--val-fraction``, fit the standardiser on
    the rest of the training split (unless resuming with ``vocab``), scale every split.

    ``train`` without ``test``: ``--test-fraction`` of it is split off (stratified, ``--seed``).
    Returns a ``Prepared`` whose ``Arrays.ids`` are the features ``[N, T, F]`` (``cfg.dtype``).
    """
    check_config(cfg)
    fmt = vocab.data_format if vocab is not None else "arrays"
    if train is None:
        train, test, fmt = load_sets(cfg)
    elif test is None:
        tr_idx, te_idx = stratified_split(train.labels.tolist(), cfg.test_fraction, cfg.seed)
        if len(te_idx) == 0:
            raise DataError(f"{train.source}: too few series to split off a test part; pass "
                            "test data")  # fmt: skip
        train, test = subset(train, tr_idx), subset(train, te_idx)
    else:
        check_compatible(train, test)
        train, test = align_labels(train, test)
    if train.num_classes < 2:
        raise DataError(f"{train.source}: one class only; a classifier needs at least 2")
    val = None
    if cfg.val_fraction:  # held out before the standardiser sees the training split
        tr_idx, va_idx = stratified_split(train.labels.tolist(), cfg.val_fraction, cfg.seed)
        train, val = subset(train, tr_idx), subset(train, va_idx)
    if vocab is None:
        vocab = NumericVocab(train.num_features, fit_standardizer(train), train.feature_names,
                             fmt, int(train.lengths.max()))  # fmt: skip
    dtype = np.dtype(cfg.param_dtype)
    scaled = [None if s is None else _arrays(vocab.scale(s, dtype), dtype)
              for s in (train, test, val)]  # fmt: skip
    return Prepared(scaled[0], scaled[1], vocab, list(train.label_names), 0, scaled[2],
                    longest=int(train.lengths.max()))  # fmt: skip


__all__ = ["NumericVocab", "is_numeric", "numeric_format", "prepare_numeric", "sniff_ucr"]


def check(cfg: TrainConfig) -> None:
    """``--task classify``'s rule on a resolved config: ``check_config`` for numeric data."""
    if is_numeric(cfg):
        check_config(cfg)
