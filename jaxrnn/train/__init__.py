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
``train.cli``          the flags (generated from ``jaxrnn.config.TrainConfig``) and ``main``
``train.registry``     one ``TaskSpec`` per ``--task``; ``task_classify``, ``task_lm``,
                       ``task_tag``, ``task_regress`` register theirs
``train.lm_data``      text streams for ``--task lm``; ``numpy_lm``: its NumPy run
``train.memory``       a run's peak-memory estimate, checked before compiling
``train.interrupt``    Ctrl-C between compiled chunks
``train.jax_masks``    the JAX run's dropout masks, for the NumPy twin
=====================  ==================================================================

The training step and the epoch loop themselves are in ``jaxrnn.loop`` (generic:
``jax.grad`` + optax, any ``jaxrnn.tasks.Task``) and ``jaxrnn.study_sgd`` (the study
RNN's per-sample SGD with hand-written BPTT). Names are loaded on first use, so
``--backend numpy`` imports no JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fit": "run",
    "Prepared": "data",
    "prepare_data": "data",
    "load_texts": "data",
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
    "main": "cli",
    "build_parser": "cli",
    "config_from_args": "cli",
}
_ELSEWHERE = {
    "TrainConfig": "jaxrnn.config",
    "PRESETS": "jaxrnn.config",
    "MODEL_NAMES": "jaxrnn.config",
    "METRIC_NAMES": "jaxrnn.config",
    "resolve_config": "jaxrnn.config",
    "RunResult": "jaxrnn.results",
    "summarize": "jaxrnn.results",
    "t_quantile_975": "jaxrnn.results",
    "write_json": "jaxrnn.results",
}

__all__ = sorted([*_EXPORTS, *_ELSEWHERE])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"jaxrnn.train.{_EXPORTS[name]}"), name)
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'jaxrnn.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
