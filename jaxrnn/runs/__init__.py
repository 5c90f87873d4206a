"""Training: ``fit`` and ``python -m jaxrnn.train``, split by job.

=====================  ==================================================================
module                 what it does
=====================  ==================================================================
``train.run``          ``fit``: fresh or resumed, JAX or NumPy backend
``train.data``         load the texts a config names, fit the tokenizer, encode (``Prepared``)
``train.build``        the model, optimizer and initial parameters a config names
``train.plan``         compile options, seed groups, the device plan, epoch chunks
``train.jax_run``      the JAX run (``JaxRun``): state ``[S, ...]``, compiled chunks, logging
``train.numpy_run``    the scratch NumPy reference run (imports no JAX)
``train.checkpoints``  save / load the whole training state
``train.report``       epoch lines, records, the test report
``train.progress``     the progress bar (rich, on a terminal only)
``train.cli``          the flags (generated from ``jaxrnn.runs.config.TrainConfig``) and ``main``
``train.registry``     what differs between tasks: ``TASKS`` (a ``TaskInfo`` per ``--task``,
                       no JAX) and ``TaskSpec`` (its JAX parts), which ``task_classify``,
                       ``task_lm``, ``task_tag``, ``task_regress`` register
``runs.predictor``     a predictor per task (``Predictor``, ``Tagger``, ``Forecaster``,
                       ``LanguageModelPredictor``, ``NumericPredictor``; ``load_predictor``
                       for a checkpoint); numeric sequences' data: ``prepare_numeric``
``train.lm_data``      text streams for ``--task lm``; ``numpy_lm``: its NumPy run
``train.memory``       a run's peak-memory estimate, checked before compiling
``train.interrupt``    Ctrl-C between compiled chunks
``train.jax_masks``    the JAX run's dropout masks, for the NumPy twin
=====================  ==================================================================

The training step and the epoch loop themselves are in ``jaxrnn.training.loop``
(generic: ``jax.grad`` + optax, any ``jaxrnn.training.tasks.Task``) and
``jaxrnn.training.per_sample_sgd`` (the study RNN's per-sample SGD with hand-written
BPTT). Names are loaded on first use, so
``--backend numpy`` imports no JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fit": "run",
    "Prepared": "prepare",
    "prepare_data": "prepare",
    "load_texts": "prepare",
    "build_model": "build",
    "make_optimizer": "build",
    "initial_params": "build",
    "FAST_COMPILE_OPTIONS": "plan",
    "compiler_options": "plan",
    "compile_with": "plan",
    "seed_group": "plan",
    "plan_parallel": "plan",
    "Parallel": "plan",
    "uses_fast_loop": "plan",
    "chunk_stops": "plan",
    "default_log_every": "report",
    "JaxRun": "jax_run",
    "make_run": "jax_run",
    "over_seeds": "jax_run",
    "save_checkpoint": "checkpoints",
    "load_checkpoint": "checkpoints",
    "Restored": "checkpoints",
    "Predictor": "predictor",
    "Tagger": "predictor",
    "Forecaster": "predictor",
    "LanguageModelPredictor": "predictor",
    "NumericPredictor": "predictor",
    "load_predictor": "predictor",
    "NumericVocab": "prepare_numeric",
    "prepare_numeric": "prepare_numeric",
}
_ELSEWHERE = {
    "TrainConfig": "jaxrnn.runs.config",
    "PRESETS": "jaxrnn.runs.config",
    "MODEL_NAMES": "jaxrnn.runs.config",
    "METRIC_NAMES": "jaxrnn.runs.config",
    "resolve_config": "jaxrnn.runs.config",
    "RunResult": "jaxrnn.runs.results",
    "summarize": "jaxrnn.runs.results",
    "t_quantile_975": "jaxrnn.runs.results",
    "write_json": "jaxrnn.runs.results",
}

# Kept for code written against ``jaxrnn.train`` before the commands moved to jaxrnn/cli/.
_COMMAND = ("main", "build_parser", "config_from_args")

__all__ = sorted([*_EXPORTS, *_ELSEWHERE])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"jaxrnn.runs.{_EXPORTS[name]}"), name)
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    if name in _COMMAND:  # old ``jaxrnn.train.main`` & co.: the command is jaxrnn.cli.train
        return getattr(importlib.import_module("jaxrnn.cli.train"), name)
    raise AttributeError(f"module 'jaxrnn.runs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
