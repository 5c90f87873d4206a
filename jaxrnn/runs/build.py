"""What a config builds: the model, the optimizer, and the initial parameters per seed."""

from __future__ import annotations

import jax
import numpy as np
import optax

from jaxrnn.errors import ConfigError
from jaxrnn.nn import models, sequence
from jaxrnn.nn.cells import CellParams
from jaxrnn.nn.models import init_params_numpy
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig, init_scheme

# Steps per chunk of a model trained on length buckets (``sequence._Options.chunk``): each
# batch runs ceil(longest / CHUNK) chunks, so it pays at most CHUNK - 1 steps of padding.
BUCKET_CHUNK = 8


def recurrent_layer(cfg: TrainConfig) -> sequence.RecurrentLayer:
    """The stack ``--model``, ``--hidden``, ``--layers`` and ``--layer-dropout`` name; with
    length buckets (``cfg.buckets >= 2``) its loops run in chunks of ``BUCKET_CHUNK`` steps;
    ``--dtype bfloat16``: its matmuls in mixed precision (``sequence._Options.precision``);
    ``--block residual``: a parallel cell in its paper's block (``parallel_cells.BlockForm``)."""
    cell, bidirectional = MODEL_CELLS[cfg.model]
    options = sequence._Options(chunk=BUCKET_CHUNK if cfg.buckets >= 2 else 0,
                                precision=cfg.precision)
    return sequence.RecurrentLayer(cell, cfg.hidden, cfg.layers, bidirectional,
                                   cfg.layer_dropout, _options=options,
                                   **block_options(cfg))  # fmt: skip


def block_options(cfg: TrainConfig) -> dict:
    """``RecurrentLayer``'s ``block`` and ``block_ff`` from ``--block`` and ``--block-ff`` (every
    task's stack takes them; a config from before the options: no block)."""
    return {"block": getattr(cfg, "block", "none") == "residual",
            "block_ff": getattr(cfg, "block_ff", None) or 4}  # fmt: skip


def build_model(cfg: TrainConfig, vocab_size: int, num_classes: int):
    """The model a resolved config names. ``vocab_size`` counts padding (ids ``0..V``).

    Two classes get one sigmoid logit, as the study's Keras models (``Dense(1, sigmoid)``),
    except ``rnn2``: the study's scratch softmax over two logits. The stack is
    ``recurrent_layer(cfg)``.
    """
    if cfg.model == "rnn":
        return models.StudyRNN(vocab_size - 1, cfg.hidden, num_classes)
    layer = recurrent_layer(cfg)
    # Keras' Embedding(num_words, E) has num_words rows even if fewer words were seen.
    rows = max(vocab_size, cfg.num_words or 0) if cfg.embed_dim else vocab_size
    return models.Classifier(
        layer, rows, cfg.embed_dim or None, num_classes, dropout=cfg.dropout, mask=cfg.mask,
        binary_readout="softmax" if cfg.model == "rnn2" else "sigmoid",  # rnn2: the study's
        word_dropout=cfg.word_dropout,
    )  # fmt: skip


def build_numeric_model(cfg: TrainConfig, num_features: int, num_classes: int
                        ) -> models.NumericClassifier:  # fmt: skip
    """The classifier of numeric sequences ``[B, T, num_features]`` a resolved config names:
    ``recurrent_layer(cfg)`` on the raw (standardised) features, no embedding; two classes
    get one sigmoid logit (``rnn2``: two softmax logits), as ``build_model``'s."""
    return models.NumericClassifier(
        recurrent_layer(cfg), num_features, num_classes, dropout=cfg.dropout,
        binary_readout="softmax" if cfg.model == "rnn2" else "sigmoid",
    )  # fmt: skip


OPTIMIZERS = {"sgd": optax.sgd, "adam": optax.adam, "adagrad": optax.adagrad,
              "rmsprop": optax.rmsprop}  # optax's defaults for everything but the rate


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """optax: an optional element-wise clip (the study's ``np.clip(g, -1, 1)``), an optional
    clip by global norm (``torch.nn.utils.clip_grad_norm_``), then the optimizer (with
    ``weight_decay``: ``optax.adamw`` for adam, else ``add_decayed_weights`` before it)."""
    clips = [optax.clip(cfg.clip)] if cfg.clip > 0 else []
    if cfg.clip_norm > 0:
        clips.append(optax.clip_by_global_norm(cfg.clip_norm))
    wd = cfg.weight_decay or 0.0  # None: a checkpoint from before the option
    if wd > 0 and cfg.optimizer == "adam":
        opt = optax.adamw(cfg.lr, weight_decay=wd)  # decoupled, as torch.optim.AdamW
    elif wd > 0:  # L2: the decay joins the gradient, as torch.optim.SGD(weight_decay=...)
        opt = optax.chain(optax.add_decayed_weights(wd), OPTIMIZERS[cfg.optimizer](cfg.lr))
    else:
        opt = OPTIMIZERS[cfg.optimizer](cfg.lr)
    return optax.chain(*clips, opt) if clips else opt


def initial_params(model, cfg: TrainConfig, seeds: list[int]):
    """Initial params per seed, stacked ``[S, ...]``, drawn with NumPy as ``--init`` says.

    The study's RNN gets ``jaxrnn.weights.init.study_rnn_params(seed)``, ``rnn2`` the same
    scheme for its stack (``jaxrnn.weights.init.study_params``), the other models
    ``jaxrnn.nn.models.init_params_numpy`` (Keras' scheme; a language model its own
    ``init_numpy``, PyTorch's scheme unless ``--init orthogonal``);
    ``--init study|glorot|orthogonal|torch`` picks ``jaxrnn.weights.init.scheme_params``
    instead (a tagger's character encoder always starts from Keras' scheme:
    ``models.add_char_params``). The NumPy backend draws the same
    numbers (``jaxrnn.runs.numpy_run.initial_params``), so both begin from identical weights.
    """
    scheme = init_scheme(cfg)
    own = "study" if isinstance(model, models.StudyRNN) else None
    # a language model draws its own weights, of the style its task built it with from --init
    # (jaxrnn.runs.task_lm.init_style); the study's RNN only its own
    if own:
        if cfg.init not in ("auto", own):
            raise ConfigError(f"--init {cfg.init}: this model starts from its own weights "
                              "(the study's RNN): leave --init auto")
    if hasattr(model, "init_numpy") or own or scheme == "orthogonal":  # the model's own draw
        ps = [init_params_numpy(model, s, np.dtype(cfg.param_dtype)) for s in seeds]
        return jax.tree.map(lambda *a: np.stack(a), *ps)
    from jaxrnn.weights.init import scheme_params

    layer = model.layer
    ps = [scheme_params(scheme, cell=layer.cell, hidden=layer.hidden_size,
                        num_layers=layer.num_layers, bidirectional=layer.bidirectional,
                        vocab_size=getattr(model, "input_size", None) or model.vocab_size,
                        embed_dim=model.embed_dim,
                        num_outputs=model.num_outputs, seed=s, bias=layer.bias,
                        dtype=np.dtype(cfg.param_dtype),
                        extra_inputs=getattr(model, "char_features", 0))
          for s in seeds]  # fmt: skip
    for p, s in zip(ps, seeds, strict=True):  # the JAX model's own CellParams type, as
        p["rnn"] = tuple(tuple(CellParams(*c) for c in layer) for layer in p["rnn"])
        models.add_char_params(model, p, s)  # init_params_numpy's; its character encoder
    return jax.tree.map(lambda *a: np.stack(a), *ps)
