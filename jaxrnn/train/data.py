"""The data of a run: load the texts a config names, fit the tokenizer, encode both splits."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from jaxrnn.config import TrainConfig
from jaxrnn.data import Tokenizer, load_sentiment
from jaxrnn.data.arrays import Arrays
from jaxrnn.data.files import load_dataset
from jaxrnn.errors import ConfigError


class Prepared(NamedTuple):
    """Encoded train/test splits (``Arrays``, NumPy) plus what built them."""

    train: Arrays
    test: Arrays
    tokenizer: Tokenizer
    label_names: list[str]
    truncated: int  # texts cut at max_len (train + test)


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
    )


def prepare_data(cfg: TrainConfig, dataset: Any = None, tokenizer: Tokenizer | None = None
                 ) -> Prepared:  # fmt: skip
    """Fit the tokenizer on the training texts (unless given) and encode both splits."""
    ds = dataset if dataset is not None else load_texts(cfg)
    if tokenizer is None:
        tokenizer = Tokenizer(num_words=cfg.num_words or None, oov_token=cfg.oov_token)
        tokenizer.fit(ds.train.texts)
    seqs_tr = tokenizer.texts_to_sequences(ds.train.texts)
    seqs_te = tokenizer.texts_to_sequences(ds.test.texts)
    if tokenizer.max_len is None:
        tokenizer.max_len = cfg.max_len or max(1, max(len(s) for s in seqs_tr))
    max_len = tokenizer.max_len
    truncated = sum(len(s) > max_len for s in seqs_tr + seqs_te)

    def enc(texts, labels):
        ids, lengths = tokenizer.encode(texts, max_len)
        return Arrays(ids, lengths, np.asarray(labels, np.int32))

    return Prepared(
        enc(ds.train.texts, ds.train.labels),
        enc(ds.test.texts, ds.test.labels),
        tokenizer,
        list(ds.label_names),
        truncated,
    )


def num_classes(data: Prepared) -> int:
    """Classes the readout has: the label names, at least 2."""
    return max(2, len(data.label_names))
