"""The data of a ``--task lm`` run (imports no JAX, so the NumPy backend can use it).

* the text: ``--data FILE.txt`` (UTF-8), else the package's generated demo text
  (``jaxrnn.data.text.make_text(0, 40_000)``; nothing is downloaded);
* the test text: ``--test-data``, else the last ``--test-fraction`` of the text;
* the vocabulary (``TextVocab`` at ``--level``): every token of both texts, unless a
  checkpoint's is given;
* training rows: ``stream_batches``: ``--batch-size`` streams cut into chunks of
  ``--seq-len`` tokens, ``[K, B, T]``, read in order, the state carried (with
  ``--lm-batches random`` each of the K steps reads B random windows of the training text
  instead, ``jaxrnn.training.tasks.lm_task(windows=...)``: the rows then only fix the step
  count, and so the tokens, of an epoch);
* test rows: the whole test text as ONE stream, cut into chunks of ``--seq-len``, the
  last chunk padded (mask 0): ``[K_test, 1, T]``, so every test token but the first is
  predicted once, with the state carried from the first token to the last;
* validation rows (``--val-fraction F``): the last F of the training text (after the test
  part is cut off), as one stream like the test rows; the training streams stop before it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jaxrnn.data.text import TextVocab, load_text, make_text, split_text, stream_batches
from jaxrnn.errors import ConfigError, DataError
from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.prepare import Prepared

DEMO_CHARS = 40_000  # the generated demo text when no --data is given


class Rows(NamedTuple):
    """``LMRows`` (``jaxrnn.training.tasks``) in NumPy: ``[K, S, T]`` each."""

    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray


def check(cfg: TrainConfig) -> None:
    """What ``--task lm`` cannot do, as one line."""
    if cfg.model == "bilstm":
        raise ConfigError("--task lm predicts the next token from the past only: --model bilstm "
                          "reads the text both ways; use rnn, simple_rnn, lstm or gru")  # fmt: skip
    if cfg.model == "rnn" and cfg.embed_dim:
        raise ConfigError("--task lm --model rnn is min-char-rnn, which reads one-hot tokens: "
                          "drop --embed-dim, or use --model simple_rnn to embed")  # fmt: skip
    if getattr(cfg, "resplit", False):
        raise ConfigError("--task lm tests on the end of the text (one contiguous split): "
                          "--resplit has nothing to redraw")  # fmt: skip
    if cfg.backend == "numpy" and getattr(cfg, "lm_batches", "streams") != "streams":
        raise ConfigError("--backend numpy --task lm reads the text as carried streams: drop "
                          "--lm-batches random, or use --backend jax")  # fmt: skip
    if cfg.backend == "numpy" and (cfg.dropout or cfg.layer_dropout):
        raise ConfigError("--backend numpy --task lm has no dropout: drop --dropout and "
                          "--layer-dropout")  # fmt: skip


def train_rows(ids: np.ndarray, batch_size: int, seq_len: int) -> Rows:
    """``stream_batches`` with an all-ones mask: ``[K, B, T]`` each."""
    x, y = stream_batches(ids, batch_size, seq_len)
    return Rows(x, y, np.ones(x.shape, np.uint8))


def one_stream_rows(ids: np.ndarray, seq_len: int) -> Rows:
    """``ids [N]`` as one stream of chunks ``[ceil((N - 1) / T), 1, T]``; mask 0 on padding."""
    n = len(ids) - 1  # predictions: ids[1:] from ids[:-1]
    k = max(1, -(-n // seq_len))
    x = np.zeros(k * seq_len, np.int32)
    y = np.zeros(k * seq_len, np.int32)
    m = np.zeros(k * seq_len, np.uint8)
    x[:n], y[:n], m[:n] = ids[:-1], ids[1:], 1
    return Rows(*(a.reshape(k, 1, seq_len) for a in (x, y, m)))


def prepare_lm(cfg: TrainConfig, vocab: TextVocab | None = None) -> Prepared:
    """Load, split, encode and lay out the texts of ``cfg`` (``vocab``: a checkpoint's)."""
    check(cfg)
    text = load_text(cfg.data) if cfg.data is not None else make_text(0, DEMO_CHARS)
    test_text = load_text(cfg.test_data) if cfg.test_data is not None else None
    if vocab is None:
        vocab = TextVocab.fit(text + ("\n" + test_text if test_text is not None else ""),
                              cfg.level)  # fmt: skip
    if vocab.size < 2:
        raise DataError(f"the text has a single distinct {cfg.level} ({vocab.tokens[0]!r}): "
                        "there is nothing to predict")  # fmt: skip
    ids = vocab.encode(text)
    if test_text is None:
        train_ids, test_ids = split_text(ids, cfg.test_fraction)
    else:
        train_ids, test_ids = ids, vocab.encode(test_text)
    if len(test_ids) < 2:
        test_ids = np.concatenate([train_ids[-1:], test_ids])  # one prediction at least
    val = None
    if cfg.val_fraction:  # the end of the training text, before the test part
        train_ids, val_ids = split_text(train_ids, cfg.val_fraction)
        if len(val_ids) < 2:
            val_ids = np.concatenate([train_ids[-1:], val_ids])  # an input, never a target
        val = one_stream_rows(val_ids, cfg.seq_len)
    # ``stream``: --lm-batches random draws its windows from the training ids themselves
    return Prepared(train_rows(train_ids, cfg.batch_size, cfg.seq_len),
                    one_stream_rows(test_ids, cfg.seq_len), vocab, [], 0, val,
                    stream=train_ids)  # fmt: skip


def num_tokens(rows: Rows) -> int:
    """Predicted tokens in ``rows`` (one epoch's training tokens)."""
    return int(np.asarray(rows.mask).sum())
