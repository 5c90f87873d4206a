"""The data of a run: load the texts a config names, hold out a validation split
(``--val-fraction``), fit the tokenizer, encode every split and the extra evaluation sets
(``--eval-data``)."""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.data import Tokenizer, load_sentiment
from jaxrnn.data.arrays import Arrays
from jaxrnn.data.files import load_dataset, load_table, stratified_split
from jaxrnn.data.sentiment import Split
from jaxrnn.errors import ConfigError
from jaxrnn.runs.config import TrainConfig

# ``--max-len auto``: the longest training text, unless it is more than ``AUTO_HEADROOM``
# times the ``AUTO_QUANTILE`` quantile of the training lengths; then that many tokens. A
# data set of short texts with one 20,000-word row is padded to a length that covers
# nearly every text, not to the outlier (every step pays the padded length).
AUTO_QUANTILE = 0.99
AUTO_HEADROOM = 1.5


def auto_max_len(lengths: Any) -> int:
    """``--max-len auto`` for the training texts' token counts ``lengths [N]`` (at least 1)."""
    lengths = np.asarray(lengths)
    if not len(lengths):
        return 1
    longest = int(lengths.max())
    # The AUTO_QUANTILE-th smallest length (a real length, no interpolation)
    q = int(np.sort(lengths)[max(0, int(np.ceil(AUTO_QUANTILE * len(lengths))) - 1)])
    cap = int(np.ceil(AUTO_HEADROOM * max(q, 1)))
    return max(1, min(longest, cap))


class Prepared(NamedTuple):
    """Encoded train/test splits (``Arrays``, NumPy) plus what built them."""

    train: Arrays
    test: Arrays
    # What encoded the data: a Tokenizer (classify), TagVocab, TextVocab, SeriesVocab...
    vocab: Tokenizer
    label_names: list[str]
    truncated: int  # texts cut at max_len (train + test)
    val: Arrays | None = None  # the validation split held out of training (--val-fraction)
    evals: tuple[EvalSet, ...] = ()  # extra labelled sets evaluated after training
    longest: int = 0  # tokens of the longest training text, before truncation
    truncated_train: int = 0  # training texts cut at max_len (of ``truncated``)
    notes: tuple[str, ...] = ()  # how the files were read (``TextDataset.notes``)
    skipped: tuple[tuple[str, int, str, str], ...] = ()  # rows left out (--skip-bad-rows)
    # The training text's token ids ``[N]`` (lm; ``--lm-batches random`` draws from them)
    stream: np.ndarray | None = None

    @property
    def tokenizer(self) -> Any:
        """``vocab``, by its old name (read-only)."""
        return self.vocab


class EvalSet(NamedTuple):
    """One ``--eval-data`` file, encoded with the run's tokenizer and label names."""

    name: str  # from the file name; JSON keys eval_<name>_loss / eval_<name>_acc
    path: str
    arrays: Arrays
    constructions: list[str]  # per row ("" where the file has no construction column)


def load_texts(cfg: TrainConfig) -> Any:
    """The ``TextDataset`` a config names: the bundled sentiment data or the user's files."""
    if cfg.data is None:
        if cfg.test_data is not None:
            raise ConfigError("--test-data needs --data (the training file) as well")
        return load_sentiment()
    return load_dataset(
        cfg.data,
        cfg.test_data,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        fmt=cfg.data_format,
        skip_bad_rows=cfg.skip_bad_rows,
    )


def prepare_data(cfg: TrainConfig, dataset: Any = None, tokenizer: Tokenizer | None = None
                 ) -> Prepared:  # fmt: skip
    """Fit the tokenizer on the training texts (unless given) and encode both splits."""
    ds = dataset if dataset is not None else load_texts(cfg)
    val_texts: list[str] = []
    val_labels: list[int] = []
    if cfg.val_fraction:  # held out before the tokenizer sees the texts
        tr_idx, va_idx = stratified_split(ds.train.labels, cfg.val_fraction, cfg.seed)
        texts, labels = list(ds.train.texts), list(ds.train.labels)
        val_texts, val_labels = [texts[i] for i in va_idx], [labels[i] for i in va_idx]
        ds = ds._replace(train=Split([texts[i] for i in tr_idx], [labels[i] for i in tr_idx]))
    if tokenizer is None:
        tokenizer = Tokenizer(num_words=cfg.num_words or None, oov_token=cfg.oov_token)
        tokenizer.fit(ds.train.texts)
    seqs_tr = tokenizer.texts_to_sequences(ds.train.texts)
    seqs_te = tokenizer.texts_to_sequences(ds.test.texts)
    if tokenizer.max_len is None:
        tokenizer.max_len = cfg.max_len or auto_max_len([len(s) for s in seqs_tr])
    max_len = tokenizer.max_len
    truncated_train = sum(len(s) > max_len for s in seqs_tr)
    truncated = truncated_train + sum(len(s) > max_len for s in seqs_te)

    def enc(texts, labels):
        ids, lengths = tokenizer.encode(texts, max_len)
        return Arrays(ids, lengths, np.asarray(labels, np.int32))

    return Prepared(
        enc(ds.train.texts, ds.train.labels),
        enc(ds.test.texts, ds.test.labels),
        tokenizer,
        list(ds.label_names),
        truncated,
        enc(val_texts, val_labels) if val_texts else None,
        tuple(load_eval_sets(cfg.eval_data, list(ds.label_names), enc, cfg)),
        max((len(s) for s in seqs_tr), default=0),
        truncated_train,
        tuple(getattr(ds, "notes", ())),
        tuple(getattr(ds, "skipped", ())),
    )


def eval_set_names(paths: list[str] | tuple[str, ...]) -> list[str]:
    """The name of each ``--eval-data`` file: its stem in lower case, other characters than
    letters, digits and ``_`` made ``_`` (``compositional``); a repeated name gets ``_2``..."""
    names: list[str] = []
    for p in paths:
        stem = re.sub(r"[^0-9a-z_]+", "_", os.path.splitext(os.path.basename(p))[0].lower())
        name, k = stem.strip("_") or "set", 2
        while name in names:
            name, k = f"{stem}_{k}", k + 1
        names.append(name)
    return names


def load_eval_sets(paths, label_names: list[str], enc, cfg: TrainConfig) -> list[EvalSet]:
    """Read each ``--eval-data`` file (the run's text and label columns and format rules) and
    encode it with ``enc(texts, labels)``; its labels must be the run's label names (or, for
    numbered labels, their numbers). ``DataError`` names the file and the unknown label."""
    from jaxrnn.errors import DataError

    out = []
    for name, path in zip(eval_set_names(paths), paths, strict=True):
        table = load_table(path, text_column=cfg.text_column, label_column=cfg.label_column)
        index = {n: i for i, n in enumerate(label_names)}
        labels = []
        for raw, line in zip(table.labels, table.lines, strict=True):
            key = str(raw).strip()
            if key not in index:
                raise DataError(f"{path}: line {line}: label {key!r} is not one of the "
                                f"training labels ({', '.join(label_names)})")  # fmt: skip
            labels.append(index[key])
        constructions = [""] * len(labels)
        if "construction" in table.columns and cfg.label_column != "construction":
            extra = load_table(path, text_column=cfg.text_column, label_column="construction")
            constructions = [str(c) for c in extra.labels]
        out.append(EvalSet(name, str(path), enc(table.texts, labels), constructions))
    return out


def num_classes(data: Prepared) -> int:
    """Classes the readout has: the label names, at least 2."""
    return max(2, len(data.label_names))
