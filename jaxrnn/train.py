"""Training: configuration, optimizers, the compiled training loop, and the CLI.

``python -m jaxrnn.train`` with no flags trains the study's scratch RNN (hidden
128, per-sample SGD at lr 2e-2 with element-wise clipping to [-1, 1], 500
epochs) in JAX on the bundled data. ``--help`` lists every flag.

The whole loop is compiled: ``lax.scan`` over the batches of an epoch inside
``lax.scan`` over epochs, so Python dispatches once per logging interval, not
once per step. The functions are pure::

    state = init_state(model, optimizer, key)             # TrainState(params, opt_state, key)
    run = make_run_epochs(model, optimizer, batch_size, num_epochs)
    state, metrics = run(state, train, test)              # metrics [E, 4]
    # columns of metrics: train_loss, train_acc, test_loss, test_acc (after each epoch)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.errors import ConfigError, UsageError

METRIC_NAMES = ("train_loss", "train_acc", "test_loss", "test_acc")
MODEL_NAMES = ("rnn", "simple_rnn", "lstm", "gru", "bilstm")


@dataclass
class TrainConfig:
    """Every hyperparameter of a run. ``None`` fields are filled from the model's preset."""

    model: str = "rnn"  # one of MODEL_NAMES
    backend: str = "jax"  # jax | numpy (the scratch reference; model rnn only)
    optimizer: str | None = None  # sgd | adam
    lr: float | None = None  # learning rate
    epochs: int | None = None
    batch_size: int | None = None  # 1 = per-sample updates
    hidden: int | None = None  # hidden units per direction
    layers: int | None = None  # stacked recurrent layers
    embed_dim: int | None = None  # 0 = one-hot inputs
    dropout: float | None = None  # before the readout
    layer_dropout: float | None = None  # between stacked layers
    clip: float | None = None  # element-wise gradient clip (0 = none)
    num_words: int | None = None  # tokenizer vocabulary cut (Keras' num_words)
    max_len: int | None = None  # pad/truncate length (0 = longest training sequence)
    mask: bool = True  # False feeds padding to the cells, like Keras without mask_zero
    bptt: str = "exact"  # numpy backend: exact | study (the study's propagation)
    loop: str = "auto"  # auto: the hand-written-BPTT fast path where it applies | generic
    seed: int = 0
    dtype: str = "float32"


# What each named model means; the CLI's flags override any field.
PRESETS: dict[str, dict[str, Any]] = {
    # The study's scratch RNN: one-hot inputs, 2-way softmax, per-sample SGD, clipped.
    "rnn": dict(
        optimizer="sgd",
        lr=2e-2,
        epochs=500,
        batch_size=1,
        hidden=128,
        layers=1,
        embed_dim=0,
        dropout=0.0,
        layer_dropout=0.0,
        clip=1.0,
        num_words=25,
        max_len=0,
    ),
    # The study's Keras model: Embedding(25, 16) -> SimpleRNN(32) -> Dropout(0.3) -> Dense(1).
    "simple_rnn": dict(
        optimizer="adam",
        lr=1e-3,
        epochs=10,
        batch_size=8,
        hidden=32,
        layers=1,
        embed_dim=16,
        dropout=0.3,
        layer_dropout=0.0,
        clip=0.0,
        num_words=25,
        max_len=15,
    ),
    "lstm": dict(
        optimizer="adam",
        lr=1e-2,
        epochs=10,
        batch_size=8,
        hidden=64,
        layers=1,
        embed_dim=16,
        dropout=0.3,
        layer_dropout=0.0,
        clip=0.0,
        num_words=25,
        max_len=15,
    ),
    "gru": dict(
        optimizer="adam",
        lr=1e-2,
        epochs=10,
        batch_size=8,
        hidden=64,
        layers=1,
        embed_dim=16,
        dropout=0.3,
        layer_dropout=0.0,
        clip=0.0,
        num_words=25,
        max_len=15,
    ),
    # The study's announced BiLSTM: 3 bidirectional layers of 128, 10 epochs.
    "bilstm": dict(
        optimizer="adam",
        lr=1e-2,
        epochs=10,
        batch_size=8,
        hidden=128,
        layers=3,
        embed_dim=16,
        dropout=0.3,
        layer_dropout=0.0,
        clip=0.0,
        num_words=25,
        max_len=15,
    ),
}


def resolve_config(cfg: TrainConfig) -> TrainConfig:
    """Fill ``None`` fields from the model's preset and validate everything."""
    if cfg.model not in PRESETS:
        raise ConfigError(f"unknown model {cfg.model!r}; choose from {', '.join(MODEL_NAMES)}")
    filled = {
        k: (PRESETS[cfg.model][k] if getattr(cfg, k) is None else getattr(cfg, k))
        for k in PRESETS[cfg.model]
    }
    cfg = dataclasses.replace(cfg, **filled)
    checks = [
        (cfg.backend in ("jax", "numpy"), f"--backend must be jax or numpy, got {cfg.backend!r}"),
        (
            cfg.optimizer in ("sgd", "adam"),
            f"--optimizer must be sgd or adam, got {cfg.optimizer!r}",
        ),
        (math.isfinite(cfg.lr) and cfg.lr > 0, f"--lr must be a positive number, got {cfg.lr}"),
        (cfg.epochs >= 1, f"--epochs must be at least 1, got {cfg.epochs}"),
        (cfg.batch_size >= 1, f"--batch-size must be at least 1, got {cfg.batch_size}"),
        (cfg.hidden >= 1, f"--hidden must be at least 1, got {cfg.hidden}"),
        (cfg.layers >= 1, f"--layers must be at least 1, got {cfg.layers}"),
        (cfg.embed_dim >= 0, f"--embed-dim must be >= 0 (0 = one-hot), got {cfg.embed_dim}"),
        (0.0 <= cfg.dropout < 1.0, f"--dropout must be in [0, 1), got {cfg.dropout}"),
        (
            0.0 <= cfg.layer_dropout < 1.0,
            f"--layer-dropout must be in [0, 1), got {cfg.layer_dropout}",
        ),
        (cfg.clip >= 0.0, f"--clip must be >= 0 (0 = no clipping), got {cfg.clip}"),
        (cfg.num_words >= 2, f"--num-words must be at least 2, got {cfg.num_words}"),
        (cfg.max_len >= 0, f"--max-len must be >= 0 (0 = longest), got {cfg.max_len}"),
        (cfg.bptt in ("exact", "study"), f"--bptt must be exact or study, got {cfg.bptt!r}"),
        (cfg.loop in ("auto", "generic"), f"--loop must be auto or generic, got {cfg.loop!r}"),
        (
            cfg.dtype in ("float32", "float64"),
            f"--dtype must be float32 or float64, got {cfg.dtype!r}",
        ),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    if cfg.backend == "numpy":
        if cfg.model != "rnn":
            raise ConfigError("--backend numpy runs the scratch reference: use it with --model rnn")
        if cfg.optimizer != "sgd" or cfg.batch_size != 1:
            raise ConfigError(
                "--backend numpy trains per-sample SGD: use --optimizer sgd --batch-size 1"
            )
    if cfg.model == "rnn" and cfg.layers != 1:
        raise ConfigError("--model rnn is the study's single-layer RNN: --layers must be 1")
    return cfg


# ----------------------------------------------------------------------------- data


class Arrays(NamedTuple):
    """An encoded split: ``ids [N, T]`` int32 (0 = padding), ``lengths [N]``, ``labels [N]``."""

    ids: Any
    lengths: Any
    labels: Any


class Prepared(NamedTuple):
    """Encoded train/test splits plus what built them."""

    train: Arrays
    test: Arrays
    tokenizer: Any  # jaxrnn.data.Tokenizer
    label_names: list[str]
    truncated: int  # sequences cut at max_len (train + test)


def prepare_data(cfg: TrainConfig, dataset=None) -> Prepared:
    """Fit the tokenizer on the training texts and encode both splits."""
    from jaxrnn.data import Tokenizer, load_sentiment

    ds = dataset if dataset is not None else load_sentiment()
    tok = Tokenizer(num_words=cfg.num_words).fit(ds.train.texts)
    seqs_tr = tok.texts_to_sequences(ds.train.texts)
    seqs_te = tok.texts_to_sequences(ds.test.texts)
    max_len = cfg.max_len or max(1, max(len(s) for s in seqs_tr))
    tok.max_len = max_len
    truncated = sum(len(s) > max_len for s in seqs_tr + seqs_te)

    def enc(texts, labels):
        ids, lengths = tok.encode(texts, max_len)
        return Arrays(ids, lengths, np.asarray(labels, np.int32))

    return Prepared(
        enc(ds.train.texts, ds.train.labels),
        enc(ds.test.texts, ds.test.labels),
        tok,
        list(ds.label_names),
        truncated,
    )


# ----------------------------------------------------------------------------- model + optimizer


def build_model(cfg: TrainConfig, vocab_size: int, num_classes: int):
    """The model a resolved config names. ``vocab_size`` counts padding (ids ``0..V``)."""
    from jaxrnn import models, sequence

    if cfg.model == "rnn":
        return models.StudyRNN(vocab_size - 1, cfg.hidden, num_classes)
    cell = {"simple_rnn": "rnn", "lstm": "lstm", "gru": "gru", "bilstm": "lstm"}[cfg.model]
    layer = sequence.RecurrentLayer(
        cell, cfg.hidden, cfg.layers, cfg.model == "bilstm", cfg.layer_dropout
    )
    return models.Classifier(
        layer,
        vocab_size,
        cfg.embed_dim or None,
        num_classes,
        dropout=cfg.dropout,
        mask=cfg.mask,
    )


def make_optimizer(cfg: TrainConfig):
    """optax: optional element-wise clip (the study's ``np.clip(g, -1, 1)``), then SGD or Adam."""
    import optax

    opt = optax.sgd(cfg.lr) if cfg.optimizer == "sgd" else optax.adam(cfg.lr)
    return optax.chain(optax.clip(cfg.clip), opt) if cfg.clip > 0 else opt


# ----------------------------------------------------------------------------- compiled loop


class TrainState(NamedTuple):
    """Everything that changes during training; a pytree (vmappable over seeds)."""

    params: Any
    opt_state: Any
    key: Any  # PRNG key for shuffles and dropout


def init_state(model, optimizer, key, dtype=None, params=None) -> TrainState:
    """Params from ``model.init`` (or the given ``params``), a fresh optimizer state, a key."""
    import jax
    import jax.numpy as jnp

    def init(key, params):
        k_init, k_train = jax.random.split(key)
        if params is None:
            params = model.init(k_init, dtype or jnp.float32)
        return TrainState(params, optimizer.init(params), k_train)

    # One compiled program instead of dozens of op-by-op dispatches.
    return jax.jit(init)(key, params)


def initial_params(model, cfg: TrainConfig):
    """The study's RNN starts from ``jaxrnn.scratch.init_params(seed)``, so the JAX and
    NumPy backends begin from identical weights; other models return None (``model.init``)."""
    from jaxrnn.models import StudyRNN

    if not isinstance(model, StudyRNN):
        return None
    from jaxrnn import scratch

    p = scratch.init_params(model.vocab_size, model.hidden_size, model.num_classes, cfg.seed)
    return {k: v.astype(cfg.dtype) for k, v in p.items()}


def loss_terms(logits, labels):
    """Per-example loss ``[B]``: sigmoid BCE for ``[B, 1]`` logits, softmax CE otherwise."""
    import optax

    if logits.shape[-1] == 1:
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def predictions(logits):
    """Class index per example ``[B]`` from logits ``[B, K]``."""
    import jax.numpy as jnp

    if logits.shape[-1] == 1:
        return (logits[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def evaluate(model, params, data: Arrays):
    """Mean loss and accuracy over a whole split (no dropout). Jittable."""
    import jax.numpy as jnp

    logits = model.apply(params, data.ids, data.lengths)
    loss = jnp.mean(loss_terms(logits, data.labels))
    acc = jnp.mean((predictions(logits) == data.labels).astype(logits.dtype))
    return loss, acc


def make_run_epochs(model, optimizer, batch_size: int, num_epochs: int) -> Callable:
    """Build ``run(state, train, test, orders=None) -> (state, metrics [E, 4])``.

    Each epoch shuffles the training set (``jax.random.permutation``, or
    ``orders [E, N]`` when given, to replay a fixed order), splits it into
    batches of ``batch_size`` (the last one partial: missing slots get weight
    0, so the loss is the mean over the real examples, as in Keras), takes one
    optimizer step per batch, and evaluates both splits. Not jitted here:
    wrap it with ``jax.jit`` (``fit`` does).
    """
    import jax
    import jax.numpy as jnp
    import optax

    def batch_loss(params, ids, lengths, labels, weights, key):
        logits = model.apply(params, ids, lengths, key=key)
        return jnp.sum(weights * loss_terms(logits, labels)) / jnp.sum(weights)

    grad_fn = jax.value_and_grad(batch_loss)

    def run(state: TrainState, train: Arrays, test: Arrays, orders=None):
        n = train.ids.shape[0]
        nb = -(-n // batch_size)
        pad = nb * batch_size - n
        dtype = jax.tree.leaves(state.params)[0].dtype

        def epoch(state, order):
            key, k_perm, k_drop = jax.random.split(state.key, 3)
            perm = jax.random.permutation(k_perm, n) if order is None else order
            idx = jnp.concatenate([perm, perm[:pad]]).reshape(nb, batch_size)
            w = jnp.concatenate([jnp.ones(n, dtype), jnp.zeros(pad, dtype)])
            w = w.reshape(nb, batch_size)

            def step(carry, xs):
                params, opt_state = carry
                bidx, bw, bkey = xs
                _, grads = grad_fn(
                    params, train.ids[bidx], train.lengths[bidx], train.labels[bidx], bw, bkey
                )
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            keys = jax.random.split(k_drop, nb)
            (params, opt_state), _ = jax.lax.scan(
                step, (state.params, state.opt_state), (idx, w, keys)
            )
            metrics = jnp.stack([*evaluate(model, params, train), *evaluate(model, params, test)])
            return TrainState(params, opt_state, key), metrics

        if orders is None:
            return jax.lax.scan(lambda s, _: epoch(s, None), state, None, length=num_epochs)
        return jax.lax.scan(epoch, state, orders)

    return run


def uses_fast_loop(cfg: TrainConfig) -> bool:
    """The study RNN with per-sample SGD runs ``jaxrnn.study_sgd`` unless ``loop="generic"``."""
    return (
        cfg.loop == "auto" and cfg.model == "rnn" and cfg.optimizer == "sgd" and cfg.batch_size == 1
    )


def make_run(cfg: TrainConfig, model, optimizer, num_epochs: int, data: Prepared) -> Callable:
    """The epoch runner for a resolved config: the fast path where it applies, else generic."""
    if uses_fast_loop(cfg):
        from jaxrnn import study_sgd

        return study_sgd.make_run_epochs(
            model, cfg.lr, cfg.clip or None, num_epochs, data.train.lengths, data.test.lengths
        )
    return make_run_epochs(model, optimizer, cfg.batch_size, num_epochs)


# ----------------------------------------------------------------------------- driver


def _chunk_size(epochs: int, log_every: int) -> int:
    """Largest divisor of ``epochs`` not above ``log_every``: every chunk has one compiled shape."""
    return max(d for d in range(1, min(epochs, log_every) + 1) if epochs % d == 0)


def default_log_every(epochs: int) -> int:
    return 1 if epochs <= 20 else max(1, epochs // 10)


class Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.t0 = (
            total,
            enabled and sys.stderr.isatty(),
            time.perf_counter(),
        )

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        fill = int(width * done / self.total)
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        sys.stderr.write(
            f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{self.total} epochs ({rate:.0f}/s) "
        )
        if done == self.total:
            sys.stderr.write("\r" + " " * (width + 40) + "\r")
        sys.stderr.flush()


def format_epoch(rec: dict, epochs: int) -> str:
    """One log line per epoch, like the study's."""
    w = len(str(epochs))
    return (
        f"Epoch {rec['epoch']:>{w}}/{epochs}  train loss {rec['train_loss']:.4f} "
        f"acc {rec['train_acc']:.3f} | test loss {rec['test_loss']:.4f} acc {rec['test_acc']:.3f}"
    )


@dataclass
class RunResult:
    """What ``fit`` returns; ``to_json`` is the ``--json`` file."""

    config: TrainConfig
    history: list[dict]
    wall_s: float
    compile_s: float
    num_params: int
    params: Any = None
    extra: dict = field(default_factory=dict)

    @property
    def final(self) -> dict:
        return {k: self.history[-1][k] for k in METRIC_NAMES}

    def to_json(self) -> dict:
        return {
            "model": self.config.model,
            "backend": self.config.backend,
            "seed": self.config.seed,
            "config": dataclasses.asdict(self.config),
            "final": self.final,
            "history": self.history,
            "wall_s": self.wall_s,
            "compile_s": self.compile_s,
            "run_s": self.wall_s - self.compile_s,
            "num_params": self.num_params,
            **self.extra,
        }


def _records(metrics: np.ndarray, first_epoch: int) -> list[dict]:
    return [
        {"epoch": first_epoch + i, **{k: float(v) for k, v in zip(METRIC_NAMES, row, strict=True)}}
        for i, row in enumerate(metrics)
    ]


def fit(
    cfg: TrainConfig,
    data: Prepared | None = None,
    *,
    log: Callable[[str], None] | None = None,
    log_every: int | None = None,
    progress: bool = False,
) -> RunResult:
    """Train as ``cfg`` says (resolved here) and return the history and timings.

    ``log`` receives one line per logged epoch (every ``log_every`` epochs).
    """
    cfg = resolve_config(cfg)
    data = data if data is not None else prepare_data(cfg)
    log_every = log_every or default_log_every(cfg.epochs)
    bar = Progress(cfg.epochs, progress)
    if cfg.backend == "numpy":
        return _fit_numpy(cfg, data, log, log_every, bar)

    import jax
    import jax.numpy as jnp

    if cfg.dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    t0 = time.perf_counter()
    num_classes = max(2, len(data.label_names))
    model = build_model(cfg, data.tokenizer.vocab_size, num_classes)
    optimizer = make_optimizer(cfg)
    state = init_state(
        model, optimizer, jax.random.key(cfg.seed), jnp.dtype(cfg.dtype), initial_params(model, cfg)
    )
    # Sample orders come from NumPy, seeded as the scratch trainer's: at a given seed
    # both backends (and every model) visit the training set in the same order.
    from jaxrnn.scratch import shuffle_orders

    orders = shuffle_orders(len(data.train.labels), cfg.epochs, cfg.seed).astype(np.int32)
    chunk = _chunk_size(cfg.epochs, log_every)
    run = jax.jit(make_run(cfg, model, optimizer, chunk, data))
    train = Arrays(*map(jnp.asarray, data.train))
    test = Arrays(*map(jnp.asarray, data.test))
    tc = time.perf_counter()
    compiled = run.lower(state, train, test, orders[:chunk]).compile()
    compile_s = time.perf_counter() - tc
    history: list[dict] = []
    for start in range(0, cfg.epochs, chunk):
        state, metrics = compiled(state, train, test, orders[start : start + chunk])
        recs = _records(np.asarray(metrics), start + 1)
        history.extend(recs)
        _log_records(recs, cfg.epochs, log, log_every)
        bar.update(start + chunk)
    jax.block_until_ready(state)
    wall_s = time.perf_counter() - t0
    from jaxrnn.models import count_params

    return RunResult(
        cfg,
        history,
        wall_s,
        compile_s,
        count_params(state.params),
        state.params,
        {"device": str(jax.devices()[0].platform)},
    )


def _log_records(recs: list[dict], epochs: int, log, log_every: int) -> None:
    if log is None:
        return
    for r in recs:
        if r["epoch"] % log_every == 0 or r["epoch"] in (1, epochs):
            log(format_epoch(r, epochs))


def _fit_numpy(cfg: TrainConfig, data: Prepared, log, log_every: int, bar: Progress) -> RunResult:
    """The scratch NumPy reference: the study's per-sample loop, float64 as the study ran it."""
    from jaxrnn import scratch

    t0 = time.perf_counter()

    def seqs(a: Arrays) -> list[np.ndarray]:
        return [a.ids[i, : a.lengths[i]] - 1 for i in range(len(a.lengths))]  # ids 1..V -> 0..V-1

    params = scratch.init_params(
        data.tokenizer.vocab_size - 1, cfg.hidden, max(2, len(data.label_names)), cfg.seed
    )

    def on_epoch(rec):
        _log_records([rec], cfg.epochs, log, log_every)
        bar.update(rec["epoch"])

    params, history = scratch.train(
        params,
        seqs(data.train),
        data.train.labels.tolist(),
        seqs(data.test),
        data.test.labels.tolist(),
        epochs=cfg.epochs,
        lr=cfg.lr,
        clip=cfg.clip or None,
        bptt=cfg.bptt,
        seed=cfg.seed,
        on_epoch=on_epoch,
    )
    wall_s = time.perf_counter() - t0
    return RunResult(
        cfg, history, wall_s, 0.0, sum(v.size for v in params.values()), params, {"device": "cpu"}
    )


# ----------------------------------------------------------------------------- CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m jaxrnn.train",
        description="Train a recurrent text classifier on the bundled sentiment data. "
        "Unset flags take the chosen model's preset (shown in brackets).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )

    def preset(key):
        return ", ".join(f"{m}: {PRESETS[m][key]}" for m in MODEL_NAMES)

    p.add_argument(
        "--model",
        default="rnn",
        choices=MODEL_NAMES,
        help="rnn = the study's scratch RNN; simple_rnn = the study's Keras model; "
        "lstm, gru; bilstm = 3 bidirectional LSTM layers of 128",
    )
    p.add_argument(
        "--backend",
        default="jax",
        choices=("jax", "numpy"),
        help="numpy = the scratch NumPy reference (model rnn only)",
    )
    p.add_argument("--optimizer", choices=("sgd", "adam"), help=f"[{preset('optimizer')}]")
    p.add_argument("--lr", type=float, help=f"learning rate [{preset('lr')}]")
    p.add_argument("--epochs", type=int, help=f"[{preset('epochs')}]")
    p.add_argument(
        "--batch-size", type=int, help=f"1 = per-sample updates [{preset('batch_size')}]"
    )
    p.add_argument("--hidden", type=int, help=f"hidden units per direction [{preset('hidden')}]")
    p.add_argument("--layers", type=int, help=f"stacked recurrent layers [{preset('layers')}]")
    p.add_argument(
        "--embed-dim", type=int, help=f"embedding size, 0 = one-hot [{preset('embed_dim')}]"
    )
    p.add_argument(
        "--dropout", type=float, help=f"dropout before the readout [{preset('dropout')}]"
    )
    p.add_argument(
        "--layer-dropout",
        type=float,
        help=f"dropout between stacked layers [{preset('layer_dropout')}]",
    )
    p.add_argument(
        "--clip", type=float, help=f"element-wise gradient clip, 0 = none [{preset('clip')}]"
    )
    p.add_argument(
        "--num-words",
        type=int,
        help=f"tokenizer keeps word ids below this (Keras num_words) [{preset('num_words')}]",
    )
    p.add_argument(
        "--max-len",
        type=int,
        help=f"pad/truncate to this many tokens, 0 = longest training text [{preset('max_len')}]",
    )
    p.add_argument(
        "--no-mask",
        dest="mask",
        action="store_false",
        help="feed padding to the cells as Keras does without mask_zero (default: masked)",
    )
    p.add_argument(
        "--bptt",
        default="exact",
        choices=("exact", "study"),
        help="numpy backend: exact gradient, or the study's W_hh·delta propagation",
    )
    p.add_argument(
        "--loop",
        default="auto",
        choices=("auto", "generic"),
        help="auto: hand-written-BPTT fast path for --model rnn with per-sample SGD; "
        "generic: jax.grad + optax for everything",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds init, shuffling and dropout")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--json", metavar="PATH", help="write config, history and timings as JSON")
    p.add_argument(
        "--log-every",
        type=int,
        metavar="N",
        help="log every N epochs (default: every epoch up to 20, else epochs/10)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines, no progress bar")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = resolve_config(config_from_args(args))
        if args.log_every is not None and args.log_every < 1:
            raise ConfigError(f"--log-every must be at least 1, got {args.log_every}")
        log = None if args.quiet else print
        result = fit(cfg, log=log, log_every=args.log_every, progress=not args.quiet)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    f = result.final
    if not args.quiet:
        print(
            f"{cfg.model} ({cfg.backend}, {result.num_params} params): "
            f"train acc {f['train_acc']:.3f}, test acc {f['test_acc']:.3f}, "
            f"{result.wall_s:.2f} s (compile {result.compile_s:.2f} s)"
        )
    if args.json:
        _write_json(args.json, result.to_json())
    return 0


def _write_json(path: str, obj: dict) -> None:
    """Write JSON atomically: a temporary file beside ``path``, then rename."""
    import os
    import tempfile

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


if __name__ == "__main__":
    sys.exit(main())
