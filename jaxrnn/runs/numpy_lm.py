"""``--backend numpy --task lm``: min-char-rnn's algorithm in NumPy (imports no JAX).

The scratch reference of ``--task lm --model rnn``: one-hot inputs, one tanh layer with
one hidden bias (``jaxrnn.scratch.seq.min_char_init``), each chunk's summed loss and its
hand-written BPTT (``lm_loss_and_grads(..., reduction="sum")``) from the state the
previous chunk ended in (truncated BPTT, min-char-rnn's ``hprev``), then the
optimizer of the config (``jaxrnn.scratch.optim``, optax's formulas: element-wise
``--clip``, ``--clip-norm``, Adagrad by default). The text is laid out as the JAX
backend lays it out (``jaxrnn.runs.prepare_lm``): ``--batch-size`` streams, chunks of
``--seq-len``, in order, the state reset at each epoch's start; after each epoch both
splits are evaluated with the state carried. So the two backends follow the same loss
curve (``tests/test_lm_train.py`` checks it in float64).

Where this differs from min-char-rnn itself: Adagrad is optax's (accumulator from 0.1,
``eps`` 1e-7 inside the square root; min-char-rnn starts from 0 with 1e-8), and an epoch
is ``stream_batches``' chunks (min-char-rnn also skips a last chunk that ends exactly at
the text's end). ``jaxrnn.scratch.seq.min_char_rnn`` is the loop as Karpathy wrote it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.prepare_lm import Rows, num_tokens
from jaxrnn.runs.progress import Progress
from jaxrnn.runs.report import format_epoch, scored_records
from jaxrnn.runs.results import RunResult
from jaxrnn.scratch import optim
from jaxrnn.scratch.layers import layer_forward
from jaxrnn.scratch.seq import _embed_forward, lm_loss_and_grads, min_char_init

_OPTIMIZERS = {"sgd": optim.sgd, "adam": optim.adam, "adagrad": optim.adagrad,
               "rmsprop": optim.rmsprop}  # fmt: skip


def make_optimizer(cfg: TrainConfig) -> optim.GradientTransformation:
    """``jaxrnn.runs.build.make_optimizer``'s chain, in NumPy."""
    parts = [optim.clip(cfg.clip)] if cfg.clip > 0 else []
    if cfg.clip_norm > 0:
        parts.append(optim.clip_by_global_norm(cfg.clip_norm))
    return optim.chain(*parts, _OPTIMIZERS[cfg.optimizer](cfg.lr))


def metric_names(cfg: TrainConfig) -> tuple[str, ...]:
    """The JAX run's per-epoch metric names (``bpc`` at char level only)."""
    per_split = ("loss", "acc", "bpc") if cfg.level == "char" else ("loss", "acc")
    return tuple(f"{split}_{m}" for split in ("train", "test") for m in per_split)


def evaluate(params: dict, rows: Rows) -> tuple[float, float, float]:
    """``(loss, acc, bpc)`` over a split, each stream read from its first token to its last
    in one forward pass (the same numbers as chunk by chunk with the state carried)."""
    k, s, t = rows.inputs.shape
    ids = rows.inputs.transpose(1, 0, 2).reshape(s, k * t)  # [S, K*T]: chunks in order
    targets = rows.targets.transpose(1, 0, 2).reshape(s, k * t)
    mask = rows.mask.transpose(1, 0, 2).reshape(s, k * t).astype(np.float64)
    outs, _, _ = layer_forward("rnn", params["rnn"], _embed_forward(params, ids), None, None)
    logits = outs @ params["w_out"].T + params["b_out"]  # [S, K*T, V]
    z = logits - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]
    n = mask.sum()
    loss = float((mask * nll).sum() / n)
    acc = float((mask * (logits.argmax(-1) == targets)).sum() / n)
    return loss, acc, loss / math.log(2)


def train_seed(cfg: TrainConfig, rows: Rows, test: Rows, vocab_size: int, seed: int,
               on_epoch: Callable[[dict], None]) -> tuple[dict, list[dict]]:  # fmt: skip
    """One seed: ``(params, history)``."""
    names = metric_names(cfg)
    params = min_char_init(vocab_size, cfg.hidden, seed)
    opt = make_optimizer(cfg)
    opt_state = opt.init(params)
    reduction = "sum"  # min-char-rnn's gradient: the chunk's summed loss
    history = []
    for epoch in range(1, cfg.epochs + 1):
        state = None  # zeros: each epoch starts the streams afresh
        for x, y in zip(rows.inputs, rows.targets, strict=True):
            r = lm_loss_and_grads(params, x, y, state, "rnn", reduction=reduction)
            state = r.final_state
            updates, opt_state = opt.update(r.grads, opt_state, params)
            params = optim.apply_updates(params, updates)
        values = [*evaluate(params, rows), *evaluate(params, test)]
        if cfg.level != "char":
            values = values[:2] + values[3:5]
        rec = {"epoch": epoch, **dict(zip(names, values, strict=True))}
        history.append(rec)
        on_epoch(rec)
    return params, history


def fit_numpy_lm(
    cfg: TrainConfig,
    data,
    seeds: list[int],
    log: Callable[[str], None] | None,
    log_every: int,
    progress: bool,
    t0: float,
) -> RunResult:
    """Train ``seeds`` one after another with the NumPy reference; a ``RunResult`` like
    the JAX run's (``tokens_per_s`` counts the whole epochs, evaluation included)."""
    names = metric_names(cfg)
    histories, all_params = [], []
    tr = time.perf_counter()
    with Progress(cfg.epochs * len(seeds), "epochs", enabled=progress) as bar:
        for i, seed in enumerate(seeds):

            def on_epoch(rec, i=i):
                e = rec["epoch"]
                if log is not None and (e % log_every == 0 or e in (1, cfg.epochs)):
                    shown = scored_records([rec], cfg.eval_every, cfg.epochs)[0]
                    bar.write(format_epoch(shown, cfg.epochs, names), log)
                bar.update(i * cfg.epochs + e)

            params, history = train_seed(cfg, data.train, data.test, data.vocab.size, seed,
                                         on_epoch)  # fmt: skip
            histories.append(scored_records(history, cfg.eval_every, cfg.epochs))
            all_params.append(params)
    run_s = time.perf_counter() - tr
    n_params = sum(a.size for a in optim.tree_leaves(all_params[0]))
    tokens = num_tokens(data.train)
    extra = {"device": "cpu", "truncated": 0, "train_tokens": tokens,
             "tokens_per_s": tokens * cfg.epochs * len(seeds) / max(run_s, 1e-9)}  # fmt: skip
    derived = [{"test_ppl": math.exp(min(h[-1]["test_loss"], 700.0))} for h in histories]
    params = all_params[0] if len(seeds) == 1 else all_params
    return RunResult(cfg, seeds, histories, time.perf_counter() - t0, 0.0, n_params, params,
                     extra, [], tokenizer=data.vocab, label_names=[], metric_names=names,
                     derived=derived)  # fmt: skip
