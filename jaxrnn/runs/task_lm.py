"""``--task lm``: the next token of a text (``jaxrnn.nn.lm``), state carried across chunks.

Rows are chunks of all streams (``jaxrnn.runs.prepare_lm``): one chunk per optimizer step,
read in order (no shuffle), the state reset at each epoch's start; with ``--lm-batches
random`` each of those steps reads random windows of the training text instead, each from a
zero state (``jaxrnn.training.tasks.lm_task(windows=)``). Final metrics add
``test_ppl`` (``exp(test_loss)``; ``val_ppl`` with ``--val-fraction``); the top level of
the JSON gets ``tokens_per_s`` and ``train_tokens``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from jaxrnn.data.text import TextVocab
from jaxrnn.errors import ConfigError
from jaxrnn.nn import lm
from jaxrnn.nn.sequence import RecurrentLayer, _Options
from jaxrnn.runs.build import block_options
from jaxrnn.runs.config import MODEL_CELLS, TrainConfig, init_scheme
from jaxrnn.runs.predictor import LanguageModelPredictor
from jaxrnn.runs.prepare import Prepared
from jaxrnn.runs.prepare_lm import check, num_tokens, prepare_lm
from jaxrnn.runs.registry import TaskSpec, register
from jaxrnn.training import tasks


def init_style(cfg: TrainConfig) -> str:
    """The ``LanguageModel.init_style`` of ``cfg``: min-char-rnn's own for ``--model rnn``,
    else what ``init_scheme(cfg)`` names: ``torch`` (PyTorch's defaults, ``--init auto`` for
    the recurrent cells, chosen on validation bits/char: docs/guides/language-models.md) or
    ``orthogonal`` (Keras', ``"keras"``; a parallel cell's ``auto``). The registry's LM check
    refuses the others in one line."""
    if cfg.model == "rnn":
        return "min_char"
    scheme = init_scheme(cfg)
    if scheme not in ("torch", "orthogonal"):
        raise ConfigError(f"--init {cfg.init}: --task lm starts from torch (PyTorch's defaults, "
                          "what auto means) or orthogonal (Keras'); use one of those")  # fmt: skip
    return "torch" if scheme == "torch" else "keras"


def build_model(cfg: TrainConfig, vocab: TextVocab, label_names=None) -> lm.LanguageModel:
    """``--model rnn``: min-char-rnn's model; the others: embedding -> stack -> dense, from
    ``--init``'s weights (``init_style``)."""
    check(cfg)
    cell, _ = MODEL_CELLS[cfg.model]
    style = init_style(cfg)
    layer = RecurrentLayer(cell, cfg.hidden, cfg.layers, False, cfg.layer_dropout, bias=True,
                           _options=_Options(precision=cfg.precision),
                           **block_options(cfg))  # fmt: skip
    return lm.LanguageModel(layer, vocab.size, cfg.embed_dim or None, cfg.dropout, style)


def reduction(cfg: TrainConfig) -> str:
    """min-char-rnn (``--model rnn``) steps on the gradient of the chunk's summed loss."""
    return "sum" if cfg.model == "rnn" else "mean"


def make_task(cfg: TrainConfig, model: lm.LanguageModel, data: Prepared):
    """The LM task over ``cfg.batch_size`` streams (no ``bpc`` at word level); with
    ``--lm-batches random`` each step draws windows of ``data.stream`` (the training ids)."""
    windows = None
    if getattr(cfg, "lm_batches", "streams") == "random":  # each step draws from the text
        windows = jnp.asarray(data.stream, jnp.int32)
    task = tasks.lm_task(model, cfg.batch_size, reduction(cfg), windows=windows)
    return task if cfg.level == "char" else tasks.word_level(task)


def derived(final: dict) -> dict:
    """``test_ppl`` = ``exp(test_loss)`` (perplexity per token), and ``val_ppl`` with a
    validation split."""
    return {f"{split}_ppl": math.exp(min(final[f"{split}_loss"], 700.0))
            for split in ("test", "val") if f"{split}_loss" in final}  # fmt: skip


def run_extra(run, run_s: float) -> dict:
    """Training throughput: tokens of the epochs trained / seconds they took (compile
    excluded; the per-epoch evaluation of both splits and logging included)."""
    per_epoch = num_tokens(run.data.train)
    epochs = (run.cfg.epochs - run.start_epoch) * len(run.seeds)
    if run.cfg.early_stopping:  # a stopped seed trains no more: count the epochs it trained
        epochs = int(np.sum(np.asarray(run.state.best.epochs) - run.start_epoch))
    return {"train_tokens": per_epoch, "tokens_per_s": per_epoch * epochs / max(run_s, 1e-9)}


def predictor(cfg, model, params, vocab, label_names, num_seeds: int, batch_size: int = 1
              ) -> LanguageModelPredictor:  # fmt: skip
    """Next-token probabilities after a text, and samples
    (``jaxrnn.runs.predictor.LanguageModelPredictor``)."""
    return LanguageModelPredictor.from_parts(model, params, vocab, num_seeds=num_seeds)

SPEC = register(TaskSpec(
    "lm",
    prepare=prepare_lm,
    build_model=build_model,
    task=make_task,
    vocab_from_dict=TextVocab.from_dict,
    test_report=None,
    shuffle=False,
    derived=derived,
    run_extra=run_extra,
    predictor=predictor,
))  # fmt: skip
