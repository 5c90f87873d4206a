"""The tasks ``python -m jaxrnn.train --task`` runs: everything that differs between them.

Two layers, so that ``--backend numpy`` and the configuration import no JAX:

* ``TASKS`` (here): each task's ``TaskInfo``, the facts the configuration, the planner and
  the commands read: its model presets, validation rule (``check``), which backends and
  options it supports (buckets, the NumPy backend, validation splits, ``--eval-data``,
  ``--confusion-png``, batches split over host devices), its notes, the summary line after a
  run and the report printing. Hooks that live in another module are named
  ``"module:attribute"`` and imported on first use (``TaskInfo.hook``).
* ``SPECS``: each task's ``TaskSpec``, the parts that build and run it with JAX (data, model,
  ``jaxrnn.training.tasks.Task``, batching, the test report, the vocabulary a checkpoint
  keeps, prediction). A task's module ``jaxrnn/runs/task_<name>.py`` registers it with
  ``register`` when first imported (``get_spec`` imports it); its ``name`` must be a key of
  ``TASKS``.

Adding a task: a ``TaskInfo`` row in ``TASKS`` and a ``task_<name>.py`` that registers its
``TaskSpec``. Nothing else compares task names (``tests/test_task_registry.py`` checks it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from jaxrnn.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from jaxrnn.runs.config import TrainConfig
    from jaxrnn.runs.prepare import Prepared
    from jaxrnn.training import tasks


# ----------------------------------------------------------------------------- light facts

# What the models mean for a task other than classification: these fields replace the
# model's preset (flags still override them). A tagger or forecaster is not the study's
# sentiment model: every model is an embedding (tag) -> recurrent layer -> dense readout
# trained with Adam, and ``--model`` picks the cell and the directions. Chosen on
# validation data (docs/readme/tag.md), never on a test split.
_SEQ_PRESET = dict(optimizer="adam", lr=1e-2, layers=1, dropout=0.0, layer_dropout=0.0,
                   clip=0.0, num_words=0, max_len=0, mask=True)  # fmt: skip
TASK_PRESETS: dict[str, dict[str, Any]] = {
    "tag": {**_SEQ_PRESET, "epochs": 10, "batch_size": 32, "embed_dim": 32, "hidden": 64},
    "regress": {**_SEQ_PRESET, "epochs": 10, "batch_size": 32, "embed_dim": 0, "hidden": 32},
}

# --task lm: what each named model means for a language model (over PRESETS[model]).
# rnn is Karpathy's min-char-rnn (one-hot, tanh RNN 100, Adagrad 0.1, element-wise clip 5,
# one stream, chunks of 25, the gradient of each chunk's summed loss); the others the
# character LSTM of the PyTorch anchor (embedding 32, hidden 256, batch 32, Adam 2e-3;
# its clip by global norm 5 is --clip-norm 5). The parallel cells (mingru, minlstm, lru) take
# the LSTM's (not tuned); their bidirectional models are refused, as bilstm.
_LM_COMMON = dict(layers=1, dropout=0.0, layer_dropout=0.0, clip=0.0, num_words=0, max_len=0,
                  mask=True)  # fmt: skip
LM_PRESETS: dict[str, dict[str, Any]] = {
    "rnn": {**_LM_COMMON, "optimizer": "adagrad", "lr": 0.1, "epochs": 10, "batch_size": 1,
            "hidden": 100, "embed_dim": 0, "clip": 5.0},
    **{m: {**_LM_COMMON, "optimizer": "adam", "lr": 2e-3, "epochs": 20, "batch_size": 32,
           "hidden": 256, "embed_dim": 32}
       for m in ("simple_rnn", "lstm", "gru", "mingru", "minlstm", "lru")},
}  # fmt: skip


# --data-parallel auto splits a batch with shard_map from this many rows per device: measured
# (benchmarks/devices.py, 2 CPU devices) an LSTM epoch at batch 64 x 50 tokens took 0.81x
# the one-device time with shard_map, while batches of 4-32 short sentences did not gain.
SHARD_MAP_ROWS_PER_DEVICE = 32


@dataclass(frozen=True)
class TaskInfo:
    """What the configuration, the planner and the commands know about a task (no JAX).

    A hook is a callable, or ``"module:attribute"`` imported on first use (``hook``).
    """

    name: str
    # Fields that replace the model's preset for this task (flags still override them).
    preset: Mapping[str, Any] = field(default_factory=dict)
    # Per model: fields that replace the model's preset after ``preset``; when given, the
    # task runs only these models (``model_check(cfg)`` says why not before anything else).
    model_presets: Mapping[str, Mapping[str, Any]] | None = None
    model_check: Callable[[TrainConfig], None] | None = None
    # ``check(cfg)``: the task's own rules on a resolved config (one-line ``ConfigError``).
    check: Callable[[TrainConfig], None] | str | None = None
    # ``before_fit(cfg)``: what the task cannot do, said before anything is loaded.
    before_fit: Callable[[TrainConfig], None] | str | None = None
    # ``--backend numpy``: ``(cfg, None) -> Prepared`` and the NumPy run
    # ``(cfg, data, seeds, log, log_every, progress, t0) -> RunResult`` (None: JAX only).
    numpy_prepare: str | None = None
    numpy_fit: str | None = None
    # Rows per optimizer step (None: ``cfg.batch_size``).
    rows_per_step: Callable[[TrainConfig], int] | None = None
    # ``--batch-size`` counts streams carried from step to step (a language model): a batch
    # split over devices splits its streams (``Task.split_axis``), which must divide evenly.
    streams: bool = False
    # Before training: the data summary and warnings of a labelled text set
    # (``jaxrnn.runs.run.data_notes``).
    data_notes: bool = False
    # The study RNN's per-sample SGD path (``jaxrnn.training.per_sample_sgd``) applies.
    fast_loop: bool = False
    # Length buckets (``--buckets``) apply.
    buckets: bool = False
    # ``--cv K`` folds and ``--ensemble N`` members (classifiers' mean probabilities)
    selection: bool = False
    # Backends on which ``--val-fraction``, ``--early-stopping`` and ``--eval-data`` work.
    validation_backends: tuple[str, ...] = ()
    # ``--eval-data`` reads extra labelled sets (classify's text tables); the other tasks
    # refuse it (their validation split is ``--val-fraction``).
    eval_sets: bool = False
    # ``--confusion-png`` draws the test confusion matrix.
    confusion: bool = False
    # Reads labelled CSV / TSV / JSONL tables (``jaxrnn.data.files``): ``--skip-bad-rows``,
    # ``--bad-rows``.
    tables: bool = False
    # ``--data-parallel auto`` splits a batch with shard_map from this many rows (a language
    # model: streams) per device; on a CPU ``python -m jaxrnn.train`` then gives itself a
    # device per core.
    shard_map_rows: int = SHARD_MAP_ROWS_PER_DEVICE
    # ``python -m jaxrnn.generate`` samples from its checkpoints.
    generates: bool = False
    # ``--init auto`` for a classic recurrent cell (not rnn/rnn2, not a parallel cell):
    # Keras' ``orthogonal``, or ``torch`` (PyTorch's defaults) where validation chose it.
    auto_init: str = "orthogonal"
    # ``(scores, RunResult) -> scores``: the summary line's scores after a run (None: as
    # given: every final metric but the losses).
    summary: Callable[[str, Any], str] | None = None
    # ``(test report) -> str`` printed after a run (None: no report).
    format_report: Callable[[dict], str] | str | None = None
    # What ``python -m jaxrnn.predict`` reads for this task's checkpoints: "texts" (the
    # classifier's command), "sentences" (a tag per word), "series" (a forecast from a CSV),
    # "prefixes" (the next token after each text; continuations: ``python -m jaxrnn.generate``).
    predict_input: str = "texts"
    # --model auto (the default) on the user's own --data: the model, the fields put over its
    # preset (flags still override them; ``batch_size: 0`` = ``--batch-size auto``) and the
    # one line that says why. None: ``rnn``, as without --data. Chosen on held-out files
    # (docs/guides/defaults.md, benchmarks/defaults.py), never on a test split.
    own_data: tuple[str, Mapping[str, Any], str] | None = None
    # ``TrainConfig`` fields the task never reads: ``python -m jaxrnn.train`` (and
    # ``paired``) refuse them when given on the command line rather than drop them (a
    # default that does not apply is fine). ``--buckets`` follows ``buckets``.
    ignores: tuple[str, ...] = ()
    # Also reads numeric sequences (``.npz``/UCR/``.ts`` files, ``NumericSet`` data in ``fit``:
    # ``jaxrnn.runs.prepare_numeric``).
    numeric: bool = False

    @property
    def backends(self) -> tuple[str, ...]:
        """The ``--backend`` values the task runs on."""
        return ("jax", "numpy") if self.numpy_fit is not None else ("jax",)

    def hook(self, name: str) -> Callable | None:
        """The hook ``name``, imported if written as ``"module:attribute"``."""
        h = getattr(self, name)
        if isinstance(h, str):
            module, attr = h.split(":")
            h = getattr(importlib.import_module(module), attr)
        return h

    def preset_for(self, model: str) -> dict[str, Any]:
        """The fields this task puts over ``model``'s preset."""
        out = dict(self.preset)
        if self.model_presets is not None:
            out.update(self.model_presets[model])
        return out


# What ``python -m jaxrnn.predict`` does with each ``predict_input``, and the flags of its
# own that apply to it (beyond ``--checkpoint`` and ``--json``): the one-line refusals of a
# flag that does not apply, or of a command that does not serve a checkpoint, name these.
PREDICT_INPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "texts": ("python -m jaxrnn.predict labels texts", ("texts", "batch_size")),
    "sentences": ("python -m jaxrnn.predict tags sentences", ("texts", "batch_size", "tokens")),
    "series": ("python -m jaxrnn.predict --data SERIES.csv forecasts", ("data", "texts")),
    "prefixes": ("python -m jaxrnn.predict gives the next token after texts, python -m "
                 "jaxrnn.generate samples continuations", ("texts", "top")),
}  # fmt: skip
# Fields only one kind of task reads (``TaskInfo.ignores`` of the others).
_LM_ONLY = ("level", "seq_len", "lm_batches")
_TEXT_ONLY = ("word_dropout",)  # tag and classify read it
_TAG_ONLY = ("char_embed", "char_hidden")  # a character encoder: the tagger's only
_REGRESS_ONLY = ("target", "features", "window", "horizon", "per_step", "target_transform")
_CLASSIFY_ONLY = ("oov_token", "mask", "text_column", "label_column", "data_format")


def _lm_model(cfg: TrainConfig) -> None:
    if cfg.model not in LM_PRESETS:
        raise ConfigError(f"--task lm predicts the next token from the past only: --model "
                          f"{cfg.model} reads the text both ways; use one of "
                          f"{', '.join(LM_PRESETS)}")  # fmt: skip


def _lm_check(cfg: TrainConfig) -> None:
    if cfg.model == "rnn" and cfg.init != "auto":
        raise ConfigError(f"--init {cfg.init}: --task lm --model rnn is min-char-rnn, which "
                          "starts from its own weights: leave --init auto")  # fmt: skip
    if cfg.init in ("study", "glorot"):
        raise ConfigError(f"--init {cfg.init}: --task lm starts from torch (PyTorch's defaults, "
                          "what auto means) or orthogonal (Keras'); use one of those")  # fmt: skip
    if cfg.backend == "numpy" and cfg.model != "rnn":
        raise ConfigError("--backend numpy --task lm runs min-char-rnn's NumPy reference: "
                          "use it with --model rnn")  # fmt: skip
    if cfg.backend == "numpy" and cfg.lm_batches != "streams":
        raise ConfigError("--backend numpy --task lm reads the text as carried streams: drop "
                          "--lm-batches random, or use --backend jax")  # fmt: skip


def _lm_summary(scores: str, result: Any) -> str:
    """Nats per token first, the training throughput last."""
    out = f"test loss {result.final['test_loss']:.4f}, {scores}"
    if "tokens_per_s" in result.extra:
        out += f", {result.extra['tokens_per_s']:,.0f} tokens/s"
    return out


TASKS: dict[str, TaskInfo] = {
    "classify": TaskInfo(
        "classify", numpy_prepare="jaxrnn.runs.prepare:prepare_data",
        numpy_fit="jaxrnn.runs.numpy_run:fit_numpy", data_notes=True, fast_loop=True,
        buckets=True, validation_backends=("jax",), eval_sets=True, confusion=True,
        tables=True, format_report="jaxrnn.evaluation.metrics:format_report",
        ignores=_LM_ONLY + _REGRESS_ONLY + _TAG_ONLY,
        own_data=("lstm", {"batch_size": 0, "epochs": 20},
                  "an LSTM of 64 (over an embedding of 16 for texts), Adam 1e-2, 20 epochs, "
                  "--batch-size auto; "
                  "chosen on held-out files, docs/guides/defaults.md"),
        check="jaxrnn.runs.prepare_numeric:check", numeric=True, selection=True,
    ),
    "lm": TaskInfo(
        "lm", model_presets=LM_PRESETS, model_check=_lm_model, check=_lm_check,
        before_fit="jaxrnn.runs.prepare_lm:check",
        numpy_prepare="jaxrnn.runs.prepare_lm:prepare_lm",
        numpy_fit="jaxrnn.runs.numpy_lm:fit_numpy_lm",
        # 16 streams per device: the char LSTM LM (hidden 256, 32 streams) trained 1.1x
        # faster over 2 CPU devices, hidden 64-128 1.3-1.4x; 8 streams per device did not gain
        rows_per_step=lambda cfg: 1, streams=True, validation_backends=("jax",),
        shard_map_rows=16,
        generates=True, auto_init="torch", summary=_lm_summary, predict_input="prefixes",
        ignores=("num_words", "max_len") + _CLASSIFY_ONLY + _REGRESS_ONLY + _TEXT_ONLY
        + _TAG_ONLY,
        own_data=("lstm", {}, "the character LSTM of PyTorch's example settings: embedding 32, "
                  "LSTM 256, Adam 2e-3, 32 streams, 20 epochs; chosen on held-out text, "
                  "docs/guides/defaults.md"),
    ),
    "tag": TaskInfo(
        "tag", preset=TASK_PRESETS["tag"], buckets=True, validation_backends=("jax",),
        format_report="jaxrnn.runs.task_tag:format_report", predict_input="sentences",
        ignores=_CLASSIFY_ONLY + _LM_ONLY + _REGRESS_ONLY,
        own_data=("bilstm", {"batch_size": 0, "epochs": 20},
                  "an embedding of 32 and a BiLSTM of 64 per direction, Adam 1e-2, 20 epochs, "
                  "--batch-size auto; chosen on held-out files, docs/guides/defaults.md"),
    ),
    "regress": TaskInfo(
        "regress", preset=TASK_PRESETS["regress"], validation_backends=("jax",),
        format_report="jaxrnn.runs.task_regress:format_report", predict_input="series",
        # the windows come in order (a chronological split): --resplit has nothing to redraw
        ignores=("num_words", "max_len", "embed_dim", "dropout", "resplit") + _CLASSIFY_ONLY
        + _LM_ONLY + _TEXT_ONLY + _TAG_ONLY,
        # early stopping (patience 5, up to 60 epochs) on the last 20% of the training rows
        # (was a fixed 10 epochs): chosen on the validation tails of noisy periodic series and
        # of the sunspots (benchmarks/noisy_series.py --explore, issue 27)
        own_data=("lstm", {"batch_size": 0, "epochs": 60, "val_fraction": 0.2,
                           "early_stopping": 5},
                  "an LSTM of 32, Adam 1e-2, --batch-size auto, up to 60 epochs with early "
                  "stopping (5) on the last 20% of the training rows; chosen on held-out "
                  "series, docs/guides/defaults.md"),
    ),
}  # fmt: skip
TASK_NAMES = tuple(TASKS)


def task_info(cfg: TrainConfig | str) -> TaskInfo:
    """The ``TaskInfo`` of ``cfg.task`` (or of a task's name)."""
    name = cfg if isinstance(cfg, str) else cfg.task
    if name not in TASKS:
        raise ConfigError(f"--task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name]


def ignored_options(name: str, given: Collection[str]) -> list[str]:
    """The fields of ``given`` (``TrainConfig`` field names set by the user) that task
    ``name`` never reads: ``TaskInfo.ignores``, and ``buckets`` where it has none."""
    info = task_info(name)
    ignored = set(info.ignores) | ({"buckets"} if not info.buckets else set())
    return [g for g in given if g in ignored]


def lookup(cfg: TrainConfig) -> TaskInfo | None:
    """The ``TaskInfo`` of ``cfg.task``, None for a name not in ``TASKS`` (``resolve_config``
    refuses it with the other flags' choices)."""
    return TASKS.get(cfg.task)


# ----------------------------------------------------------------------------- JAX specs


class TaskSpec(NamedTuple):
    """How the driver runs one task with JAX (its light facts: ``info``, from ``TASKS``)."""

    name: str
    # (cfg, vocab or None) -> Prepared: load the data the config names and encode it (with
    # ``vocab`` when resuming: the checkpoint's tokenizer / vocabulary).
    prepare: Callable[[TrainConfig, Any], Prepared]
    # (cfg, vocab, label_names) -> model (with ``init``/``apply``).
    build_model: Callable[[TrainConfig, Any, list[str]], Any]
    # (cfg, model, Prepared) -> jaxrnn.training.tasks.Task
    task: Callable[[TrainConfig, Any, Prepared], tasks.Task]
    # vocab.to_dict() -> vocab: what a checkpoint's "tokenizer" entry turns back into.
    vocab_from_dict: Callable[[dict], Any]
    # (test predictions of one seed, Prepared) -> the report in the JSON (None: no report).
    test_report: Callable[[np.ndarray, Prepared], dict] | None = None
    # Visit the training rows in a new order each epoch (False: in order, e.g. text streams).
    shuffle: bool = True
    # (final metrics of one seed) -> more final metrics derived from them (e.g. perplexity).
    derived: Callable[[dict], dict] | None = None
    # (the test report of one seed) -> final metrics read from it (e.g. test_span_f1).
    report_final: Callable[[dict], dict] | None = None
    # (the JaxRun, seconds its compiled epochs took after compiling) -> more top-level JSON
    # keys (e.g. the language model's tokens_per_s).
    run_extra: Callable[[Any, float], dict] | None = None
    # (cfg, model, params, vocab, label_names, num_seeds, batch_size) -> the task's
    # predictor for trained weights (params stacked ``[S, ...]`` when num_seeds > 1);
    # see ``jaxrnn.runs.predictor``.
    predictor: Callable[..., Any] | None = None

    @property
    def info(self) -> TaskInfo:
        """The task's light facts (``TASKS[name]``)."""
        return TASKS[self.name]

    @property
    def rows_per_step(self) -> Callable[[TrainConfig], int] | None:
        return self.info.rows_per_step

    @property
    def format_report(self) -> Callable[[dict], str] | None:
        return self.info.hook("format_report")


SPECS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Make ``spec`` the one ``--task spec.name`` runs (``spec.name`` must be in ``TASKS``)."""
    if spec.name not in TASKS:
        raise ValueError(f"task {spec.name!r} has no TaskInfo in jaxrnn.runs.registry.TASKS")
    SPECS[spec.name] = spec
    return spec


def get_spec(cfg: TrainConfig | str) -> TaskSpec:
    """The spec of ``cfg.task`` (or of a task's name)."""
    name = task_info(cfg).name
    if name not in SPECS:  # the task's module registers it (imported on first use)
        importlib.import_module(f"jaxrnn.runs.task_{name}")
    return SPECS[name]


def metric_names(task: tasks.Task) -> tuple[str, ...]:
    """The per-epoch metrics a run logs: the train split's, then the test split's."""
    return tuple(f"{split}_{m}" for split in ("train", "test") for m in task.metric_names)
