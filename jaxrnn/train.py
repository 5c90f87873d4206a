"""Training: the driver around the compiled loop, checkpoints, and ``python -m jaxrnn.train``.

``python -m jaxrnn.train`` with no flags trains the study's scratch RNN (hidden
128, per-sample SGD at lr 2e-2 with element-wise clipping to [-1, 1], 500
epochs) in JAX on the bundled data. ``--help`` lists every flag.

The compiled loop itself is in ``jaxrnn.loop`` (generic: ``jax.grad`` + optax)
and ``jaxrnn.study_sgd`` (the study RNN's per-sample SGD with hand-written
BPTT); the configuration and presets in ``jaxrnn.config``, the flags in
``jaxrnn.cli``, the result types in ``jaxrnn.results`` (all re-exported here).
This module decides what to build from a ``TrainConfig``, runs it in
chunks of epochs (one dispatch per chunk, logging and checkpoints between
chunks), and reports. Several seeds train at once, ``vmap``-ed inside the
same compiled program.

JAX is imported lazily so that ``--backend numpy`` (the scratch reference)
runs without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.cli import _max_len, _Parser, build_parser, config_from_args  # noqa: F401
from jaxrnn.config import (  # noqa: F401
    METRIC_NAMES,
    MODEL_NAMES,
    PRESETS,
    TrainConfig,
    resolve_config,
)
from jaxrnn.errors import CheckpointError, ConfigError, TrainingDiverged, UsageError
from jaxrnn.results import RunResult, summarize, t_quantile_975  # noqa: F401

# ----------------------------------------------------------------------------- data


class Prepared(NamedTuple):
    """Encoded train/test splits (``jaxrnn.loop.Arrays``, NumPy) plus what built them."""

    train: Any
    test: Any
    tokenizer: Any  # jaxrnn.data.Tokenizer
    label_names: list[str]
    truncated: int  # texts cut at max_len (train + test)


def load_texts(cfg: TrainConfig):
    """The ``TextDataset`` a config names: the bundled sentiment data or the user's files."""
    if cfg.data is None:
        if cfg.test_data is not None:
            raise ConfigError("--test-data needs --data (the training file) as well")
        from jaxrnn.data import load_sentiment

        return load_sentiment()
    from jaxrnn.data.files import load_dataset

    return load_dataset(
        cfg.data,
        cfg.test_data,
        test_fraction=cfg.test_fraction,
        seed=cfg.seed,
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        fmt=cfg.data_format,
    )


def prepare_data(cfg: TrainConfig, dataset=None, tokenizer=None) -> Prepared:
    """Fit the tokenizer on the training texts (unless given) and encode both splits."""
    from jaxrnn.data import Tokenizer
    from jaxrnn.data.arrays import Arrays

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


# ----------------------------------------------------------------------------- model + optimizer


_CELLS = {"rnn": "rnn", "simple_rnn": "rnn", "lstm": "lstm", "gru": "gru", "bilstm": "lstm"}


def build_model(cfg: TrainConfig, vocab_size: int, num_classes: int):
    """The model a resolved config names. ``vocab_size`` counts padding (ids ``0..V``)."""
    from jaxrnn import models, sequence

    if cfg.model == "rnn":
        return models.StudyRNN(vocab_size - 1, cfg.hidden, num_classes)
    layer = sequence.RecurrentLayer(
        _CELLS[cfg.model], cfg.hidden, cfg.layers, cfg.model == "bilstm", cfg.layer_dropout
    )
    # Keras' Embedding(num_words, E) has num_words rows even if fewer words were seen.
    rows = max(vocab_size, cfg.num_words or 0) if cfg.embed_dim else vocab_size
    return models.Classifier(
        layer, rows, cfg.embed_dim or None, num_classes, dropout=cfg.dropout, mask=cfg.mask
    )


def make_optimizer(cfg: TrainConfig):
    """optax: optional element-wise clip (the study's ``np.clip(g, -1, 1)``), then SGD or Adam."""
    import optax

    opt = optax.sgd(cfg.lr) if cfg.optimizer == "sgd" else optax.adam(cfg.lr)
    return optax.chain(optax.clip(cfg.clip), opt) if cfg.clip > 0 else opt


# Multiply-adds per second that a 2-core CPU sustains on these small recurrent programs,
# forward and backward together (measured 2-8e9 on the presets; the low end, so that
# "auto" compiles fast only when the run is surely short).
_CPU_MACS_PER_S = 2e9
_FAST_COMPILE_BELOW_S = 0.25


def _macs_per_token(cfg: TrainConfig) -> int:
    """Forward multiply-adds of the recurrent and input matmuls for one token of one
    example: ``sum over layers of directions * gates * H * (D_in + H)``."""
    from jaxrnn.layout import num_gates

    gates = num_gates(_CELLS[cfg.model])
    dirs = 2 if cfg.model == "bilstm" else 1
    d = cfg.embed_dim if cfg.model != "rnn" else 0  # one-hot inputs: a column gather
    per_token = 0
    for layer in range(cfg.layers):
        d_in = d if layer == 0 else dirs * cfg.hidden
        per_token += dirs * gates * cfg.hidden * (d_in + cfg.hidden)
    return per_token


def _on_cpu() -> bool:
    import jax

    return jax.devices()[0].platform == "cpu"


def training_macs(cfg: TrainConfig, data: Prepared, seeds: int = 1) -> float:
    """Rough multiply-adds of the forward passes of a whole training run (all seeds):
    ``epochs * N * T * _macs_per_token``."""
    n, t = data.train.ids.shape
    return float(cfg.epochs) * n * t * _macs_per_token(cfg) * seeds


# ``--compile fast``: XLA backend optimisation level 0 and, on CPU, the classic loop
# emitters instead of XLA:CPU's MLIR fusion emitters. `benchmarks/compile_time.py` (training
# program, T 15, 2 cores): level 0 alone compiles in 0.60-0.74x the default's time, both
# together in 0.28-0.31x for the one-layer presets (LSTM 1.48 -> 0.41 s, SimpleRNN 1.02 ->
# 0.32 s) and 0.61x for the 3-layer BiLSTM; epochs run 2.6-3.7x slower.
FAST_COMPILE_OPTIONS: dict[str, Any] = {
    "xla_backend_optimization_level": 0,
    "xla_cpu_use_fusion_emitters": False,
}


def compiler_options(cfg: TrainConfig, data: Prepared, seeds: int = 1) -> dict[str, Any]:
    """XLA options for the training program: ``FAST_COMPILE_OPTIONS`` for ``fast`` (and
    ``auto`` for a short run on CPU: compile time dominates it), none for ``full``."""
    mode = cfg.compile_mode
    if mode == "auto":
        short = training_macs(cfg, data, seeds) / _CPU_MACS_PER_S < _FAST_COMPILE_BELOW_S
        mode = "fast" if short and _on_cpu() else "full"
    if mode != "fast":
        return {}
    if not _on_cpu():
        return {"xla_backend_optimization_level": 0}
    return dict(FAST_COMPILE_OPTIONS)


def compile_with(lowered: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``lowered.compile(options)``; an option this jaxlib does not know ("No such compile
    option") is dropped and the compile retried. Returns ``(compiled, options used)``."""
    while True:
        try:
            return lowered.compile(options or None), options
        except Exception as e:  # JaxRuntimeError: INVALID_ARGUMENT
            unknown = [k for k in options if f"No such compile option: '{k}'" in str(e)]
            if not unknown:
                raise
            options = {k: v for k, v in options.items() if k not in unknown}


# Multiply-adds per training step above which, on CPU, one seed keeps the cores busy and
# vmapping seeds only adds batched-matmul and select overhead (measured: 128 LSTM seeds
# vmapped took 1.65x as long as one after another; the per-sample RNN 5.8x).
_SEQUENTIAL_SEEDS_ABOVE_MACS = 5e4


def seed_group(cfg: TrainConfig, num_seeds: int, parallel: Parallel | None = None) -> int:
    """How many seeds one vmapped group trains (``num_seeds`` = all at once)."""
    if cfg.seed_group:
        return min(cfg.seed_group, num_seeds)
    if parallel is not None or not _on_cpu():
        return num_seeds  # seeds sharded over devices / an accelerator: vmap them all
    if uses_fast_loop(cfg):  # per-sample loops of data-dependent length: vmap runs the longest
        return 1
    per_step = cfg.batch_size * _macs_per_token(cfg)
    return 1 if per_step >= _SEQUENTIAL_SEEDS_ABOVE_MACS else num_seeds


def over_seeds(run, num_seeds: int, group: int):
    """``run(state, train, test, orders)`` for stacked per-seed ``state`` and ``orders``
    (leading axis ``[S]``): ``vmap`` over all seeds, or ``lax.map`` over groups of
    ``group`` seeds (each group vmapped; ``group == 1``: a plain loop, no vmap)."""
    import jax

    if group >= num_seeds:
        return jax.vmap(run, in_axes=(0, None, None, 0))

    def many(state, train, test, orders):
        def one(so):
            return run(so[0], train, test, so[1])

        return jax.lax.map(one, (state, orders), batch_size=None if group == 1 else group)

    return many


def uses_fast_loop(cfg: TrainConfig) -> bool:
    """The study RNN with per-sample SGD runs ``jaxrnn.study_sgd`` unless ``loop="generic"``."""
    return (
        cfg.loop == "auto" and cfg.model == "rnn" and cfg.optimizer == "sgd" and cfg.batch_size == 1
    )


def make_run(
    cfg: TrainConfig,
    model,
    optimizer,
    num_epochs: int,
    data: Prepared,
    parallel=None,
    with_predictions: bool = False,
) -> Callable:
    """The epoch runner for a resolved config: the fast path where it applies, else generic.

    ``parallel`` (a ``Parallel``) spreads each batch over devices (generic loop only);
    ``with_predictions`` also returns the test predictions after each epoch.
    """
    if uses_fast_loop(cfg):
        from jaxrnn import study_sgd

        return study_sgd.make_run_epochs(
            model, cfg.lr, cfg.clip or None, num_epochs, data.train.lengths, data.test.lengths,
            with_predictions,
        )  # fmt: skip
    from jaxrnn.loop import make_run_epochs

    kw = {"with_predictions": with_predictions}
    if parallel is not None and parallel.axis == "batch":
        kw.update(batch_sharding=parallel.sharded, pad_multiple=parallel.size)
        if cfg.data_parallel == "shard_map":
            kw.update(grad_mesh=parallel.mesh)
    return make_run_epochs(model, optimizer, cfg.batch_size, num_epochs, **kw)


class Parallel(NamedTuple):
    """How a run uses several devices: a 1-D mesh named ``"data"``."""

    mesh: Any  # jax.sharding.Mesh
    axis: str  # "batch": split each batch (one model); "seed": split the seeds
    sharded: Any  # NamedSharding(mesh, P("data")): leading axis split over devices
    replicated: Any  # NamedSharding(mesh, P()): a full copy on every device

    @property
    def size(self) -> int:
        return self.mesh.size


def plan_parallel(cfg: TrainConfig, num_seeds: int) -> Parallel | None:
    """Pick the devices and what to split: seeds if several, else the batch. None: one device.

    A single study-RNN run with per-sample SGD cannot be split (one example per step)
    and stays on one device.
    """
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    available = jax.devices()
    if cfg.devices > len(available):
        raise ConfigError(f"--devices {cfg.devices} asked for, but JAX sees {len(available)}")
    devices = available[: cfg.devices or None]
    if num_seeds > 1 and not cfg.devices:  # "all": as many as split the seeds evenly
        devices = devices[: max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)]
    if len(devices) == 1:
        return None
    if num_seeds > 1:
        if num_seeds % len(devices):
            raise ConfigError(
                f"--seeds {num_seeds} does not split over {len(devices)} devices: use a "
                f"multiple of {len(devices)} or --devices"
            )
        axis = "seed"
    elif uses_fast_loop(cfg):
        return None
    else:
        axis = "batch"
    mesh = Mesh(np.array(devices), ("data",))
    return Parallel(mesh, axis, NamedSharding(mesh, PartitionSpec("data")),
                    NamedSharding(mesh, PartitionSpec()))  # fmt: skip


def initial_params(model, cfg: TrainConfig, seeds: list[int]):
    """Initial params per seed, stacked ``[S, ...]``: ``jaxrnn.models.init_params_numpy``.

    The study's RNN gets ``jaxrnn.scratch.init_params(seed)``, so the JAX and NumPy
    backends begin from identical weights.
    """
    from jaxrnn.models import init_params_numpy

    ps = [init_params_numpy(model, s, np.dtype(cfg.dtype)) for s in seeds]
    import jax

    return jax.tree.map(lambda *a: np.stack(a), *ps)


# ----------------------------------------------------------------------------- results


# ----------------------------------------------------------------------------- driver


def default_log_every(epochs: int) -> int:
    return 1 if epochs <= 20 else max(1, epochs // 10)


def chunk_size(start: int, epochs: int, log_every: int, save_every: int | None = None) -> int:
    """Epochs per compiled call: divides every stop (start, end, saves), at most ``log_every``.

    One size for the whole run means one compiled program.
    """
    g = math.gcd(start, epochs)
    if save_every:
        g = math.gcd(g, save_every)
    return max(d for d in range(1, min(g, log_every) + 1) if g % d == 0)


class Progress:
    """A one-line progress bar on stderr, shown only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        fill = int(width * done / self.total)
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        bar = "#" * fill + "." * (width - fill)
        sys.stderr.write(f"\r[{bar}] {done}/{self.total} epochs ({rate:.0f}/s) ")
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


def _records(metrics: np.ndarray, first_epoch: int) -> list[dict]:
    """``metrics [E, 4]`` -> one dict per epoch."""
    return [
        {"epoch": first_epoch + i, **{k: float(v) for k, v in zip(METRIC_NAMES, row, strict=True)}}
        for i, row in enumerate(metrics)
    ]


def _check_finite(metrics: np.ndarray, first_epoch: int, saved: str | None) -> None:
    """Stop on a NaN/inf loss with a clear message (exit code 1)."""
    bad = ~np.isfinite(metrics[..., 0])  # train loss, [S, E]
    if bad.any():
        epoch = first_epoch + int(np.argwhere(bad)[:, -1].min())
        kept = f"; the last good checkpoint {saved} is kept" if saved else ""
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at epoch {epoch}{kept}: "
            "lower --lr or set --clip"
        )


def fit(
    cfg: TrainConfig,
    data: Prepared | None = None,
    *,
    seeds: int = 1,
    log: Callable[[str], None] | None = None,
    log_every: int | None = None,
    progress: bool = False,
    save: str | None = None,
    save_every: int | None = None,
    resume: str | None = None,
) -> RunResult:
    """Train as ``cfg`` says (resolved here) and return histories and timings.

    Args:
      cfg: the configuration; ``None`` fields take the model's preset.
      data: encoded data (default: ``prepare_data(cfg)``).
      seeds: train seeds ``cfg.seed .. cfg.seed + seeds - 1`` at once (``vmap``).
      log: receives a line per logged epoch (every ``log_every`` epochs).
      progress: show a progress bar on a terminal.
      save, save_every: write a checkpoint to ``save`` every ``save_every`` epochs
        and at the end.
      resume: continue from this checkpoint (its configuration wins, except
        ``epochs``, which may extend the run).
    """
    if resume is not None:
        return _resume(resume, cfg, log=log, log_every=log_every, progress=progress, save=save,
                       save_every=save_every)  # fmt: skip
    cfg = resolve_config(cfg)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    t0 = time.perf_counter()
    data = data if data is not None else prepare_data(cfg)
    if cfg.batch_size > len(data.train.labels):
        raise ConfigError(
            f"--batch-size {cfg.batch_size} is larger than the {len(data.train.labels)} "
            "training examples: lower it"
        )
    seed_list = [cfg.seed + i for i in range(seeds)]
    if cfg.backend == "numpy":
        return _fit_numpy(cfg, data, seed_list, log, log_every or default_log_every(cfg.epochs),
                          Progress(cfg.epochs, progress), t0)  # fmt: skip
    session = _JaxSession(cfg, data, seed_list)
    return session.train(0, [[] for _ in seed_list], t0, log, log_every, progress, save,
                         save_every)  # fmt: skip


class _JaxSession:
    """Model, optimizer, state and compiled runner for one (possibly multi-seed) JAX run."""

    def __init__(self, cfg: TrainConfig, data: Prepared, seeds: list[int], state=None):
        import jax
        import jax.numpy as jnp

        from jaxrnn import loop

        if cfg.dtype == "float64" and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
        self.cfg, self.data, self.seeds = cfg, data, seeds
        self.model = build_model(cfg, data.tokenizer.vocab_size, max(2, len(data.label_names)))
        self.optimizer = make_optimizer(cfg)
        if state is None:
            dtype = jnp.dtype(cfg.dtype)
            if len(seeds) == 1:
                state = loop.init_state(self.model, self.optimizer, seeds[0], dtype)
            else:
                state = loop.init_states(self.model, self.optimizer, seeds, dtype)
        self.parallel = plan_parallel(cfg, len(seeds))
        self.train_arrays = loop.Arrays(*map(jax.device_put, data.train))
        self.test_arrays = loop.Arrays(*map(jax.device_put, data.test))
        if self.parallel is not None:  # place everything where the compiled program wants it
            par = self.parallel
            state = jax.device_put(state, par.sharded if par.axis == "seed" else par.replicated)
            self.train_arrays = jax.device_put(self.train_arrays, par.replicated)
            self.test_arrays = jax.device_put(self.test_arrays, par.replicated)
        self.state = state

    def orders(self, epochs: int) -> np.ndarray:
        """Sample orders ``[S, E, N]``: NumPy-seeded as the scratch trainer's, so at a given
        seed both backends (and every model) visit the training set in the same order."""
        from jaxrnn.scratch import shuffle_orders

        n = len(self.data.train.labels)
        return np.stack([shuffle_orders(n, epochs, s) for s in self.seeds]).astype(np.int32)

    def train(self, start, histories, t0, log, log_every, progress, save, save_every):
        import jax

        cfg = self.cfg
        log_every = log_every or default_log_every(cfg.epochs)
        chunk = chunk_size(start, cfg.epochs, log_every, save_every if save else None)
        run = make_run(cfg, self.model, self.optimizer, chunk, self.data, self.parallel,
                       with_predictions=True)  # fmt: skip
        group = len(self.seeds)
        if len(self.seeds) > 1:
            group = seed_group(cfg, len(self.seeds), self.parallel)
            run = over_seeds(run, len(self.seeds), group)
        run = jax.jit(run)
        orders = self.orders(cfg.epochs)
        if len(self.seeds) == 1:
            orders = orders[0]
        par = self.parallel

        def orders_for(start: int):
            o = orders[..., start : start + chunk, :]
            if par is None:
                return o
            return jax.device_put(o, par.sharded if par.axis == "seed" else par.replicated)

        tr, te = self.train_arrays, self.test_arrays
        tc = time.perf_counter()
        lowered = run.lower(self.state, tr, te, orders_for(0))
        compiled, options = compile_with(lowered, compiler_options(cfg, self.data, len(self.seeds)))
        compile_s = time.perf_counter() - tc
        from jaxrnn.distributed import to_host

        bar = Progress(cfg.epochs - start, progress)
        saved = None
        for s in range(start, cfg.epochs, chunk):
            state, (metrics, preds) = compiled(self.state, tr, te, orders_for(s))
            metrics = to_host(metrics).reshape(len(self.seeds), chunk, len(METRIC_NAMES))
            _check_finite(metrics, s + 1, saved)
            self.state = state
            for h, m in zip(histories, metrics, strict=True):
                h.extend(_records(m, s + 1))
            done = s + chunk
            if log is not None:
                for e in range(s + 1, done + 1):
                    if e % log_every == 0 or e in (1, cfg.epochs):
                        recs = [h[e - 1] for h in histories]
                        log(
                            format_epoch(_mean_record(recs), cfg.epochs)
                            + (f"  (mean of {len(recs)} seeds)" if len(recs) > 1 else "")
                        )
            if save and ((save_every and done % save_every == 0) or done == cfg.epochs):
                save_checkpoint(save, self, done, histories)
                saved = save
            bar.update(done - start)
        jax.block_until_ready(self.state)
        # Only the last chunk's predictions feed the report: one transfer, after the loop.
        self.test_predictions = to_host(preds).reshape(len(self.seeds), chunk, -1)[:, -1]
        from jaxrnn.models import count_params

        n_params = count_params(self.state.params) // len(self.seeds)
        wall_s = time.perf_counter() - t0
        return RunResult(cfg, self.seeds, histories, wall_s, compile_s, n_params,
                         to_host(self.state.params), {"device": jax.devices()[0].platform,
                                             "devices": self.parallel.size if self.parallel else 1,
                                             "parallel": self.parallel.axis if self.parallel
                                             else None,
                                             "truncated": self.data.truncated,
                                             "xla_options": options,
                                             "seed_group": group},
                         self.test_reports())  # fmt: skip

    def test_reports(self) -> list[dict]:
        """Per seed: accuracy, macro-F1, per-class precision/recall, confusion on the test split
        (from the predictions the training program returned after its last epoch)."""
        return [_report(p, self.data) for p in self.test_predictions]


def _report(pred: np.ndarray, data: Prepared) -> dict:
    from jaxrnn.metrics import classification_report

    names = data.label_names
    return classification_report(data.test.labels, pred, max(2, len(names)), names)


def _mean_record(recs: list[dict]) -> dict:
    if len(recs) == 1:
        return recs[0]
    return {"epoch": recs[0]["epoch"], **{k: float(np.mean([r[k] for r in recs]))
                                          for k in METRIC_NAMES}}  # fmt: skip


def _scratch_seqs(a) -> list[np.ndarray]:
    """Padded ids (1..V) -> the NumPy reference's unpadded word indices (0..V-1)."""
    return [a.ids[i, : a.lengths[i]] - 1 for i in range(len(a.lengths))]


def _fit_numpy(cfg, data, seeds, log, log_every, bar, t0) -> RunResult:
    """The scratch NumPy reference: the study's per-sample loop, float64 as the study ran it.

    Several seeds run one after another.
    """
    from jaxrnn import scratch

    seqs = _scratch_seqs

    histories, all_params = [], []
    for seed in seeds:
        params = scratch.init_params(
            data.tokenizer.vocab_size - 1, cfg.hidden, max(2, len(data.label_names)), seed
        )

        def on_epoch(rec):
            if log is not None and (
                rec["epoch"] % log_every == 0 or rec["epoch"] in (1, cfg.epochs)
            ):
                log(format_epoch(rec, cfg.epochs))
            bar.update(rec["epoch"])  # fmt: skip

        params, history = scratch.train(
            params, seqs(data.train), data.train.labels.tolist(), seqs(data.test),
            data.test.labels.tolist(), epochs=cfg.epochs, lr=cfg.lr, clip=cfg.clip or None,
            bptt=cfg.bptt, seed=seed, on_epoch=on_epoch,
        )  # fmt: skip
        histories.append(history)
        all_params.append(params)
    params = all_params[0] if len(seeds) == 1 else {
        k: np.stack([p[k] for p in all_params]) for k in all_params[0]
    }  # fmt: skip
    n = sum(v.size for v in all_params[0].values())
    reports = []
    for p in all_params:
        pred = [int(np.argmax(scratch.forward(p, s)[0])) for s in seqs(data.test)]
        reports.append(_report(np.asarray(pred, np.int32), data))
    return RunResult(cfg, seeds, histories, time.perf_counter() - t0, 0.0, n, params,
                     {"device": "cpu", "truncated": data.truncated}, reports)  # fmt: skip


# ----------------------------------------------------------------------------- checkpoints

CHECKPOINT_KIND = "jaxrnn.train"


def save_checkpoint(path: str, session: _JaxSession, epoch: int, histories: list[list[dict]]):
    """Write the whole training state (atomically) so ``--resume`` continues bit for bit."""
    import jax

    from jaxrnn import __version__, checkpoint

    meta = {
        "kind": CHECKPOINT_KIND,
        "jaxrnn_version": __version__,
        "config": dataclasses.asdict(session.cfg),
        "tokenizer": session.data.tokenizer.to_dict(),
        "label_names": session.data.label_names,
        "seeds": session.seeds,
        "epoch": epoch,
        "histories": histories,
    }
    from jaxrnn.distributed import is_main_process, to_host

    leaves = [np.asarray(x) for x in jax.tree.leaves(to_host(session.state))]
    if is_main_process():  # every process holds the same replicated state; one writes it
        checkpoint.save(path, meta, leaves)


class Restored(NamedTuple):
    """A checkpoint turned back into objects."""

    config: TrainConfig
    tokenizer: Any
    label_names: list[str]
    seeds: list[int]
    epoch: int
    histories: list[list[dict]]
    model: Any
    state: Any  # loop.TrainState


def load_checkpoint(path: str) -> Restored:
    """Read a checkpoint written by ``save_checkpoint``; ``CheckpointError`` if unusable."""
    import jax

    from jaxrnn import checkpoint, loop
    from jaxrnn.data import Tokenizer

    meta, arrays = checkpoint.load(path)
    if meta.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path}: not a jaxrnn training checkpoint")
    try:
        cfg = TrainConfig(**meta["config"])
        tok = Tokenizer.from_dict(meta["tokenizer"])
        label_names = [str(x) for x in meta["label_names"]]
        seeds = [int(s) for s in meta["seeds"]]
        epoch, histories = int(meta["epoch"]), meta["histories"]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: checkpoint metadata is incomplete") from None
    model = build_model(cfg, tok.vocab_size, max(2, len(label_names)))
    optimizer = make_optimizer(cfg)
    import jax.numpy as jnp

    dtype = jnp.dtype(cfg.dtype)
    if cfg.dtype == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
    if len(seeds) == 1:
        template = jax.eval_shape(lambda: loop.init_state(model, optimizer, seeds[0], dtype))
    else:
        template = jax.eval_shape(lambda: loop.init_states(model, optimizer, seeds, dtype))
    leaves, treedef = jax.tree.flatten(template)
    if len(leaves) != len(arrays) or any(
        tuple(a.shape) != tuple(t.shape) or a.dtype != t.dtype
        for a, t in zip(arrays, leaves, strict=False)
    ):
        raise CheckpointError(f"{path}: checkpoint arrays do not match its configuration")
    state = jax.tree.unflatten(treedef, [jax.device_put(a) for a in arrays])
    return Restored(cfg, tok, label_names, seeds, epoch, histories, model, state)


def _resume(path, cfg_override, *, log, log_every, progress, save, save_every) -> RunResult:
    t0 = time.perf_counter()
    r = load_checkpoint(path)
    cfg = r.config
    if cfg_override.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=cfg_override.epochs)
    if cfg.epochs < r.epoch:
        raise ConfigError(f"--epochs {cfg.epochs} is below the {r.epoch} epochs already trained")
    data = prepare_data(cfg, tokenizer=r.tokenizer)
    session = _JaxSession(cfg, data, r.seeds, state=r.state)
    histories = [list(h) for h in r.histories]
    if r.epoch == cfg.epochs:
        raise ConfigError(f"{path} already has all {cfg.epochs} epochs: pass a larger --epochs")
    return session.train(r.epoch, histories, t0, log, log_every, progress, save or path,
                         save_every)  # fmt: skip


# ----------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from jaxrnn import _cache, distributed

        if not args.no_compile_cache:
            _cache.enable()
        dist = distributed.settings(args.coordinator, args.num_processes, args.process_id)
        if dist is not None:
            distributed.initialize(*dist)
            if not distributed.is_main_process():  # one process speaks and writes
                args.quiet, args.json, args.confusion_png = True, None, None
        cfg = config_from_args(args)
        if args.resume is None:
            cfg = resolve_config(cfg)
        for flag, v in (("--log-every", args.log_every), ("--save-every", args.save_every)):
            if v is not None and v < 1:
                raise ConfigError(f"{flag} must be at least 1, got {v}")
        if args.save_every and not args.save and not args.resume:
            raise ConfigError("--save-every needs --save PATH")
        result = fit(cfg, seeds=args.seeds, log=None if args.quiet else print,
                     log_every=args.log_every, progress=not args.quiet, save=args.save,
                     save_every=args.save_every, resume=args.resume)  # fmt: skip
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    cfg, f = result.config, result.final
    if not args.quiet:
        if result.extra.get("truncated"):
            print(f"note: {result.extra['truncated']} texts were longer than max_len "
                  f"{cfg.max_len or 'auto'} and were truncated")  # fmt: skip
        seeds = f", mean of {len(result.seeds)} seeds" if len(result.seeds) > 1 else ""
        print(f"{cfg.model} ({cfg.backend}, {result.num_params} params{seeds}): "
              f"train acc {f['train_acc']:.3f}, test acc {f['test_acc']:.3f}, "
              f"{result.wall_s:.2f} s (compile {result.compile_s:.2f} s)")  # fmt: skip
    if result.reports:
        from jaxrnn.metrics import format_report, plot_confusion

        if not args.quiet:
            which = f" (seed {result.seeds[0]})" if len(result.seeds) > 1 else ""
            print(f"test set{which}:\n{format_report(result.reports[0])}")
        if args.confusion_png:
            plot_confusion(result.reports[0], args.confusion_png,
                           title=f"{cfg.model}: test confusion matrix")  # fmt: skip
    if args.json:
        write_json(args.json, result.to_json())
    return 0


def write_json(path: str, obj: dict) -> None:
    """Write JSON atomically: a temporary file beside ``path``, then rename."""
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
