"""The NumPy run: every model trained from scratch by ``jaxrnn.scratch`` (imports no JAX).

Two trainers, both float64 (as the study ran its scratch RNN), several seeds one after
another:

* ``--model rnn`` with per-sample SGD: the study's own loop (``jaxrnn.scratch.train``:
  one sentence at a time, ``--bptt study`` replays the study's gradient).
* everything else (``rnn2``, ``simple_rnn``, ``lstm``, ``gru``, ``bilstm``, any flags:
  embedding or one-hot, stacked, bidirectional, masked or not, dropout, any batch size,
  every optimizer and clip of ``--optimizer``/``--clip``/``--clip-norm``): the
  ``Classifier`` twin (``jaxrnn.scratch.layers``, hand-written BPTT) trained by
  ``jaxrnn.scratch.classifier_train`` with ``jaxrnn.scratch.optim`` (optax in NumPy),
  batched as ``jaxrnn.training.loop`` batches. ``--model rnn`` with another optimizer or batch
  size runs here too, as the equivalent one-layer twin.

Same start and order as the JAX backend: initial params from the same NumPy draws
(``jaxrnn.weights.init``: ``keras_params`` is ``init_params_numpy``'s twin, ``rnn2``
gets ``study_params`` in both backends), sample orders from ``shuffle_orders(n, E, seed)``.
Dropout masks are drawn here with NumPy unless ``masks`` are given (per seed, a
``masks(e, b) -> DropoutMasks``); ``jaxrnn.runs.jax_masks.dropout_masks`` derives the
ones the JAX run draws from its keys, so both drop the same units.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxrnn import scratch
from jaxrnn.errors import ConfigError, Interrupted
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig, init_scheme
from jaxrnn.runs.interrupt import StopOnSigint
from jaxrnn.runs.prepare import Prepared, num_classes
from jaxrnn.runs.progress import Progress
from jaxrnn.runs.registry import task_info
from jaxrnn.runs.report import format_epoch, scored_records, test_report
from jaxrnn.runs.results import RunResult
from jaxrnn.scratch import classifier_train as ct
from jaxrnn.scratch import optim
from jaxrnn.weights import init as sinit
from jaxrnn.weights.parallel_init import residual_layers

DTYPE = np.float64  # the NumPy backend computes in float64, whatever --dtype says


def scratch_seqs(a) -> list[np.ndarray]:
    """Padded ids (1..V) -> the NumPy reference's unpadded word indices (0..V-1)."""
    return [a.ids[i, : a.lengths[i]] - 1 for i in range(len(a.lengths))]


def uses_study_loop(cfg: TrainConfig) -> bool:
    """``--model rnn`` with per-sample SGD runs the study's own loop (``scratch.train``)."""
    return cfg.model == "rnn" and cfg.optimizer == "sgd" and cfg.batch_size == 1


def model_options(cfg: TrainConfig) -> dict[str, Any]:
    """The twin's ``cell``, ``bidirectional``, ``mask``, ``dropout``, ``layer_dropout`` for a
    resolved config (``jaxrnn.runs.build.build_model``'s model, read from the config)."""
    cell, bidirectional = MODEL_CELLS[cfg.model]
    study = cfg.model == "rnn"  # StudyRNN always masks and has no dropout
    return {"cell": cell, "bidirectional": bidirectional, "mask": True if study else cfg.mask,
            "dropout": 0.0 if study else cfg.dropout,
            "layer_dropout": 0.0 if study else cfg.layer_dropout}  # fmt: skip


def initial_params(cfg: TrainConfig, data: Prepared, seed: int) -> dict:
    """The twin's params at ``seed``: the numbers ``build.initial_params`` gives the JAX model
    (float64), in the twin's structure (``--model rnn``: the study RNN's names)."""
    vocab, classes = data.vocab.vocab_size, num_classes(data)
    if cfg.model == "rnn":
        if init_scheme(cfg) != "study":
            raise ConfigError(f"--init {cfg.init}: this model starts from its own weights "
                              "(the study's RNN, or a language model): leave --init auto")
        return scratch.init_params(vocab - 1, cfg.hidden, classes, seed, DTYPE)
    outputs = classes if cfg.model == "rnn2" or classes > 2 else 1  # build_model's readout
    cell, bidirectional = MODEL_CELLS[cfg.model]
    rows = max(vocab, cfg.num_words or 0) if cfg.embed_dim else vocab  # as build_model
    params = sinit.scheme_params(init_scheme(cfg), cell=cell,
                                 hidden=cfg.hidden, num_layers=cfg.layers,
                                 bidirectional=bidirectional, vocab_size=rows,
                                 embed_dim=cfg.embed_dim or None, num_outputs=outputs,
                                 seed=seed, dtype=DTYPE)  # fmt: skip
    if getattr(cfg, "block", "none") == "residual":  # RecurrentLayer.init_numpy's draw
        params["rnn"] = residual_layers(np.random.default_rng(seed), cell,
                                        cfg.embed_dim or rows, cfg.hidden, cfg.layers,
                                        2 if bidirectional else 1, cfg.block_ff,
                                        DTYPE)  # fmt: skip
    return params


OPTIMIZERS = {"sgd": optim.sgd, "adam": optim.adam, "adagrad": optim.adagrad,
              "rmsprop": optim.rmsprop}  # fmt: skip


def make_optimizer(cfg: TrainConfig) -> optim.GradientTransformation:
    """``jaxrnn.runs.build.make_optimizer`` in NumPy: element-wise clip, clip by global norm,
    then the optimizer (optax's defaults for everything but the rate)."""
    clips = [optim.clip(cfg.clip)] if cfg.clip > 0 else []
    if cfg.clip_norm > 0:
        clips.append(optim.clip_by_global_norm(cfg.clip_norm))
    opt = OPTIMIZERS[cfg.optimizer](cfg.lr)
    return optim.chain(*clips, opt) if clips else opt


def count(params: Any) -> int:
    """Scalars in a params tree (None biases count 0)."""
    return int(sum(a.size for a in optim.tree_leaves(params)))


def train_seed(
    cfg: TrainConfig,
    data: Prepared,
    seed: int,
    *,
    masks: ct.Masks | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    params: dict | None = None,
) -> tuple[dict, list[dict]]:
    """Train one seed of a resolved config from scratch; ``(params, history)``.

    ``params`` in the JAX model's structure (the study RNN's names for ``--model rnn``);
    history one record per epoch, as the JAX run's. ``masks``: the dropout masks of each
    batch (``classifier_train``'s ``masks(e, b)``), None: drawn with NumPy from ``seed``.
    ``params``: start from these (``initial_params``' structure) instead of the seed's.
    """
    params = initial_params(cfg, data, seed) if params is None else params
    orders = scratch.shuffle_orders(len(data.train.labels), cfg.epochs, seed)
    if uses_study_loop(cfg):
        return scratch.train(
            params, scratch_seqs(data.train), data.train.labels.tolist(),
            scratch_seqs(data.test), data.test.labels.tolist(), epochs=cfg.epochs, lr=cfg.lr,
            clip=cfg.clip or None, bptt=cfg.bptt, orders=orders, on_epoch=on_epoch,
        )  # fmt: skip
    study = cfg.model == "rnn"
    if study:
        params = sinit.study_rnn_to_classifier(params)
    result = ct.train_classifier(
        params, data.train, data.test, optimizer=make_optimizer(cfg), batch_size=cfg.batch_size,
        orders=orders, masks=masks, seed=seed, on_epoch=on_epoch, **model_options(cfg),
    )  # fmt: skip
    out = sinit.classifier_to_study_rnn(result.params) if study else result.params
    return out, result.history


def predict(cfg: TrainConfig, params: dict, split) -> np.ndarray:
    """Class per row ``[N]`` of ``split`` (``ids [N, T]``, ``lengths [N]``), no dropout."""
    if cfg.model == "rnn":
        return np.asarray([int(np.argmax(scratch.forward(params, s)[0]))
                           for s in scratch_seqs(split)], np.int32)  # fmt: skip
    opts = model_options(cfg)
    logits = scratch.classifier_logits(params, split.ids, split.lengths, cell=opts["cell"],
                                       bidirectional=opts["bidirectional"],
                                       mask=opts["mask"])  # fmt: skip
    return ct.predictions(logits)


def fit_numpy(
    cfg: TrainConfig,
    data: Prepared,
    seeds: list[int],
    log: Callable[[str], None] | None,
    log_every: int,
    progress: bool,
    t0: float,
    masks: Callable[[int], ct.Masks] | None = None,
) -> RunResult:
    """Train ``seeds`` one after another from scratch in NumPy.

    ``masks(seed)``: that seed's dropout masks (see ``train_seed``); None: NumPy's own.
    """
    info = task_info(cfg)
    if info.numpy_fit != f"{__name__}:fit_numpy":  # the scratch classifier only
        raise ConfigError(f"--backend numpy does not run --task {info.name}: use --backend jax")
    histories, all_params = [], []
    with StopOnSigint() as stop, Progress(cfg.epochs * len(seeds), "epochs", enabled=progress
                                          ) as bar:  # fmt: skip
        for i, seed in enumerate(seeds):

            def on_epoch(rec, i=i):
                if log is not None and (
                    rec["epoch"] % log_every == 0 or rec["epoch"] in (1, cfg.epochs)
                ):
                    shown = scored_records([rec], cfg.eval_every, cfg.epochs)[0]
                    bar.write(format_epoch(shown, cfg.epochs), log)
                bar.update(i * cfg.epochs + rec["epoch"])
                if stop.requested and rec["epoch"] < cfg.epochs:  # Ctrl-C: stop between epochs
                    at = f" of seed {seeds[i]}" if len(seeds) > 1 else ""
                    raise Interrupted(f"interrupted at epoch {rec['epoch']}{at}; nothing saved "
                                      "(the numpy backend writes no checkpoints)")  # fmt: skip

            params, history = train_seed(cfg, data, seed, on_epoch=on_epoch,
                                         masks=None if masks is None else masks(seed))  # fmt: skip
            histories.append(scored_records(history, cfg.eval_every, cfg.epochs))
            all_params.append(params)
    params = all_params[0] if len(seeds) == 1 else optim.tree_map(
        lambda *a: np.stack(a), *all_params)  # fmt: skip
    reports = [test_report(predict(cfg, p, data.test), data) for p in all_params]
    return RunResult(cfg, seeds, histories, time.perf_counter() - t0, 0.0, count(all_params[0]),
                     params, {"device": "cpu", "truncated": data.truncated}, reports,
                     tokenizer=data.vocab, label_names=list(data.label_names))  # fmt: skip
