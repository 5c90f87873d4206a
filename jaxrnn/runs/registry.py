"""The tasks ``python -m jaxrnn.train --task`` runs: what the driver needs to know about each.

A ``TaskSpec`` holds the task-specific parts of a run (data, model, the
``jaxrnn.training.tasks.Task``, batching, the test report, the vocabulary a checkpoint keeps);
everything else (the compiled loop, seeds, devices, checkpoints, logging) is shared.
``SPECS`` maps ``TrainConfig.task`` to its spec; a task's module,
``jaxrnn/train/task_<name>.py``, registers it with ``register`` when first imported
(``get_spec`` imports it), so the NumPy backend imports no JAX.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs import prepare

if TYPE_CHECKING:
    from jaxrnn.training import tasks


class TaskSpec(NamedTuple):
    """How the driver runs one task."""

    name: str
    # (cfg, vocab or None) -> Prepared: load the data the config names and encode it (with
    # ``vocab`` when resuming: the checkpoint's tokenizer / vocabulary).
    prepare: Callable[[TrainConfig, Any], prepare.Prepared]
    # (cfg, vocab, label_names) -> model (with ``init``/``apply``).
    build_model: Callable[[TrainConfig, Any, list[str]], Any]
    # (cfg, model) -> jaxrnn.training.tasks.Task
    task: Callable[[TrainConfig, Any], tasks.Task]
    # vocab.to_dict() -> vocab: what a checkpoint's "tokenizer" entry turns back into.
    vocab_from_dict: Callable[[dict], Any]
    # (test predictions of one seed, Prepared) -> the report in the JSON (None: no report).
    test_report: Callable[[np.ndarray, prepare.Prepared], dict] | None = None
    # Rows per optimizer step (default: cfg.batch_size).
    rows_per_step: Callable[[TrainConfig], int] | None = None
    # Visit the training rows in a new order each epoch (False: in order, e.g. text streams).
    shuffle: bool = True
    # (final metrics of one seed) -> more final metrics derived from them (e.g. perplexity).
    derived: Callable[[dict], dict] | None = None
    # (the test report of one seed) -> final metrics read from it (e.g. test_span_f1).
    report_final: Callable[[dict], dict] | None = None
    # (the test report of one seed) -> the text printed after a run (default: the
    # classification report, jaxrnn.evaluation.metrics.format_report).
    format_report: Callable[[dict], str] | None = None
    # (the JaxRun, seconds its compiled epochs took after compiling) -> more top-level JSON
    # keys (e.g. the language model's tokens_per_s).
    run_extra: Callable[[Any, float], dict] | None = None


SPECS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Make ``spec`` the one ``--task spec.name`` runs."""
    SPECS[spec.name] = spec
    return spec


def get_spec(cfg: TrainConfig) -> TaskSpec:
    """The spec of ``cfg.task``."""
    if cfg.task not in SPECS:  # the task's module registers it (imported on first use)
        importlib.import_module(f"jaxrnn.runs.task_{cfg.task}")
    return SPECS[cfg.task]


def metric_names(task: tasks.Task) -> tuple[str, ...]:
    """The per-epoch metrics a run logs: the train split's, then the test split's."""
    return tuple(f"{split}_{m}" for split in ("train", "test") for m in task.metric_names)
