"""Part 1 of the study: every model over many seeds on the bundled sentiment data.

The models (``MODEL_SPECS``), each a ``jaxrnn.runs.TrainConfig`` preset:

* ``scratch_exact``, ``scratch_study``: the study's RNN in NumPy (``backend="numpy"``)
  with the chain rule's BPTT, and with the study's ``W_hh · delta`` propagation.
  ``fit`` runs NumPy seeds one after another, so here each seed is its own
  ``fit(..., seeds=1)`` in a pool of worker processes (``workers``, default 2, one
  BLAS thread each). Every seed is still the exact sequential run it would be alone.
* ``rnn``: the same RNN in JAX (per-sample SGD, the hand-written-BPTT fast path).
* ``rnn2``, ``scratch_rnn2``: the study's second draft (two tanh layers of 128, the same
  inputs, init and per-sample SGD) in JAX and in NumPy.
* ``scratch_<preset>``: every Keras-like preset below trained from scratch in NumPy
  (``backend="numpy"``: hand-written BPTT and optimizer, dropout masks drawn with NumPy),
  beside its JAX row: the study's question, model by model.
* ``simple_rnn``, ``lstm``, ``gru``, ``bilstm``: the Keras-like presets (Adam, batch 8
  (bilstm 4), 10 epochs; padding masked except ``simple_rnn``, which is the study's
  Keras model as it ran, without ``mask_zero``); ``simple_rnn_masked`` masks it;
  ``bilstm_nomask`` feeds the BiLSTM the padding (``mask=False``).

JAX models train all seeds at once (``vmap``-ed in one compiled program): their
wall time is for all seeds together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jaxrnn.runs import METRIC_NAMES, TrainConfig, resolve_config, summarize
from jaxrnn.runs.results import bounds_of


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the comparison: a name, labels, and the ``TrainConfig`` fields it sets."""

    name: str
    label: str  # short, for figures
    description: str
    overrides: dict[str, Any]
    quick_epochs: int  # epochs under --quick

    def config(self, seed: int = 0, epochs: int | None = None) -> TrainConfig:
        """The resolved config (preset filled in) for ``seed``; the training split scored
        after every epoch (``--eval-train``), as the study's curves and epoch counts read it."""
        return resolve_config(TrainConfig(**{"eval_train": True, **self.overrides}, seed=seed,
                                          epochs=epochs))  # fmt: skip

    @property
    def is_numpy(self) -> bool:
        return self.overrides.get("backend") == "numpy"


MODEL_SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec("scratch_exact", "NumPy RNN, exact BPTT",
                  "the study's scratch RNN in NumPy, BPTT by the chain rule (W_hh^T delta)",
                  dict(model="rnn", backend="numpy", bptt="exact"), 20),
        ModelSpec("scratch_study", "NumPy RNN, study's BPTT",
                  "the study's scratch RNN in NumPy, with the study's W_hh delta propagation",
                  dict(model="rnn", backend="numpy", bptt="study"), 20),
        ModelSpec("rnn", "JAX RNN (per-sample SGD)",
                  "the same RNN in JAX: one-hot, hidden 128, per-sample SGD, clipped",
                  dict(model="rnn"), 20),
        ModelSpec("rnn2", "JAX RNN 2x128 (second draft)",
                  "the study's second draft: one-hot, two tanh layers of 128, 2-way softmax, "
                  "N(0, 1)/1000 init, per-sample SGD 2e-2, clipped, 500 epochs",
                  dict(model="rnn2"), 20),
        ModelSpec("scratch_rnn2", "NumPy RNN 2x128",
                  "the same two-layer RNN trained from scratch in NumPy (hand-written BPTT)",
                  dict(model="rnn2", backend="numpy"), 20),
        ModelSpec("simple_rnn", "SimpleRNN (study's Keras model)",
                  "the study's Keras model as it ran: Embedding 16, SimpleRNN 32, dropout 0.3, "
                  "sigmoid, no mask_zero (the post-padding steps are fed to the cell and the "
                  "readout is the state after step 15)",
                  dict(model="simple_rnn"), 2),
        ModelSpec("scratch_simple_rnn", "NumPy SimpleRNN",
                  "the same SimpleRNN trained from scratch in NumPy (hand-written BPTT and "
                  "Adam, dropout masks drawn with NumPy)",
                  dict(model="simple_rnn", backend="numpy"), 2),
        ModelSpec("simple_rnn_masked", "SimpleRNN, masked",
                  "the same SimpleRNN with the padding masked (readout at each text's end)",
                  dict(model="simple_rnn", mask=True), 2),
        ModelSpec("lstm", "LSTM", "Embedding 16, LSTM 64, dropout 0.3, sigmoid",
                  dict(model="lstm"), 2),
        ModelSpec("scratch_lstm", "NumPy LSTM",
                  "the same LSTM trained from scratch in NumPy",
                  dict(model="lstm", backend="numpy"), 2),
        ModelSpec("gru", "GRU", "Embedding 16, GRU 64, dropout 0.3, sigmoid",
                  dict(model="gru"), 2),
        ModelSpec("scratch_gru", "NumPy GRU",
                  "the same GRU trained from scratch in NumPy",
                  dict(model="gru", backend="numpy"), 2),
        ModelSpec("bilstm", "BiLSTM 3x128, masked",
                  "the study's announced BiLSTM: 3 bidirectional layers of 128, padding masked",
                  dict(model="bilstm"), 2),
        ModelSpec("scratch_bilstm", "NumPy BiLSTM 3x128, masked",
                  "the same BiLSTM trained from scratch in NumPy: the model the study found "
                  "out of reach by hand",
                  dict(model="bilstm", backend="numpy"), 2),
        ModelSpec("bilstm_tuned", "BiLSTM 1x16, tuned",
                  "python -m jaxrnn.sweep --select dev's choice on the dev split of new "
                  "combinations: 1 bidirectional layer of 16, Adam 5e-2, clip 1, batch 4, 60 "
                  "epochs on the 80% left after a validation split",
                  dict(model="bilstm_tuned"), 2),
        ModelSpec("bilstm_nomask", "BiLSTM 3x128, no mask",
                  "the same BiLSTM fed the post-padding (Keras without mask_zero)",
                  dict(model="bilstm", mask=False), 2),
    ]
}  # fmt: skip

DEFAULT_MODELS = tuple(MODEL_SPECS)


def parse_models(text: str) -> list[str]:
    """``"rnn,lstm"`` -> ``["rnn", "lstm"]`` in the canonical order; ``ValueError`` if unknown."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in MODEL_SPECS]
    if bad or not names:
        raise ValueError(
            f"unknown model(s) {', '.join(bad) or '(none given)'}; choose from "
            + ", ".join(MODEL_SPECS)
        )
    return [n for n in MODEL_SPECS if n in names]


@dataclass
class ModelRun:
    """All seeds of one model: per-seed histories, timings, and (JAX) the trained params."""

    spec: ModelSpec
    config: TrainConfig  # resolved, seed = the first seed
    seeds: list[int]
    histories: list[list[dict]]
    num_params: int
    wall_s: float  # elapsed for all seeds (JAX: one vmapped program; NumPy: see timing)
    compile_s: float
    timing: str  # how the seeds ran
    per_seed_wall_s: list[float] | None = None  # NumPy: each seed's own fit time
    params: Any = None  # JAX: stacked over seeds [S, ...]
    model: Any = None  # JAX: the model object params belong to
    data: Any = None  # the Prepared data it trained on
    extra: dict = field(default_factory=dict)
    held_out: list[list[int]] | None = None  # per seed: predicted class per held-out sentence


# ----------------------------------------------------------------------------- held-out set


def held_out_arrays(tokenizer: Any) -> Any:
    """The committed compositional sentences (``jaxrnn.data.generators.compositional``),
    encoded with a run's tokenizer as ``Arrays`` (ids ``[N, T]``, lengths, labels)."""
    from jaxrnn.data.arrays import Arrays
    from jaxrnn.data.generators.compositional import load_compositional

    comp = load_compositional()
    ids, lengths = tokenizer.encode(comp.split.texts, tokenizer.max_len)
    return Arrays(ids, lengths, np.asarray(comp.split.labels, np.int32))


def held_out_summary(preds: list[list[int]]) -> dict[str, Any]:
    """Accuracy on the held-out sentences over seeds, overall and per construction tag
    (``conjunction+earlier`` counts for both tags): mean, std, 95% interval."""
    from jaxrnn.data.generators.compositional import load_compositional

    comp = load_compositional()
    labels = np.asarray(comp.split.labels)
    correct = np.asarray(preds) == labels[None]  # [S, N]
    tags = sorted({t for i in range(len(labels)) for t in comp.tags(i) if t})
    by_tag = {}
    for t in tags:
        rows = [i for i in range(len(labels)) if t in comp.tags(i)]
        by_tag[t] = {**summarize(correct[:, rows].mean(axis=1), (0.0, 1.0)), "count": len(rows)}
    return {
        "n": int(len(labels)),
        "acc": summarize(correct.mean(axis=1), (0.0, 1.0)),
        "constructions": by_tag,
        "per_seed_acc": [float(a) for a in correct.mean(axis=1)],
    }


# ----------------------------------------------------------------------------- running


def run_jax(
    spec: ModelSpec,
    seeds: int,
    epochs: int | None = None,
    on_epoch: Callable[[int], None] | None = None,
) -> ModelRun:
    """Train ``spec`` with ``fit`` for seeds ``0 .. seeds-1`` at once."""
    import re

    from jaxrnn.runs import build_model, fit, prepare_data

    cfg = spec.config(0, epochs)
    data = prepare_data(cfg)

    def log(line: str) -> None:
        m = re.match(r"Epoch\s+(\d+)/", line)
        if m and on_epoch is not None:
            on_epoch(int(m.group(1)))

    r = fit(cfg, data, seeds=seeds, log=log)
    params = r.params
    if seeds == 1:  # fit returns unstacked params for one seed
        import jax

        params = jax.tree.map(lambda a: a[None], params)
    model = build_model(r.config, data.tokenizer.vocab_size, max(2, len(data.label_names)))
    return ModelRun(
        spec, r.config, r.seeds, r.histories, r.num_params, r.wall_s, r.compile_s,
        _how(seeds, r.extra.get("seed_group", seeds)),
        params=params, model=model, data=data,
        held_out=_jax_held_out(model, params, data.tokenizer),
    )  # fmt: skip


def _jax_held_out(model: Any, params: Any, tokenizer: Any) -> list[list[int]]:
    """Each seed's predicted class per held-out sentence (params stacked ``[S, ...]``)."""
    import jax

    from jaxrnn.training.tasks import predictions

    a = held_out_arrays(tokenizer)
    pred = jax.jit(jax.vmap(lambda p: predictions(model.apply(p, a.ids, a.lengths))))(params)
    return np.asarray(pred).tolist()


def _how(seeds: int, group: int) -> str:
    if group >= seeds:
        return f"JAX, all {seeds} seeds at once (vmap) in one compiled program"
    if group == 1:
        return f"JAX, {seeds} seeds one after another (lax.map) in one compiled program"
    return f"JAX, {seeds} seeds in vmapped groups of {group} (lax.map) in one compiled program"


def _numpy_seed(cfg: TrainConfig) -> tuple[list[dict], float, int, list[int]]:
    """Worker: one NumPy seed-run, as ``python -m jaxrnn.train --backend numpy`` would do it,
    and its predictions on the held-out sentences (NumPy forward pass: no JAX here)."""
    from jaxrnn.runs import fit
    from jaxrnn.runs.numpy_run import predict

    r = fit(cfg, seeds=1)
    held = predict(r.config, r.params, held_out_arrays(r.tokenizer))
    return r.histories[0], r.wall_s, r.num_params, [int(x) for x in held]


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Spawned workers inherit the environment: one BLAS/OpenMP thread per worker."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {k: os.environ.get(k) for k in names}
    for k in names:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_numpy(
    specs: Sequence[ModelSpec],
    seeds: int,
    workers: int = 2,
    epochs: dict[str, int | None] | None = None,
    on_seed: Callable[[str, int, float], None] | None = None,
) -> dict[str, ModelRun]:
    """Run every NumPy spec for seeds ``0 .. seeds-1``, one ``fit`` per seed, ``workers`` at once.

    With ``workers <= 1`` the runs happen in this process, one after another.
    ``on_seed(name, seed, seconds)`` is called as each seed-run finishes.
    """
    epochs = epochs or {}
    jobs = [(spec, s) for s in range(seeds) for spec in specs]  # interleaved: both progress
    results: dict[tuple[str, int], tuple[list[dict], float, int, list[int]]] = {}
    t0 = time.perf_counter()
    if workers <= 1:
        for spec, s in jobs:
            results[spec.name, s] = _numpy_seed(spec.config(s, epochs.get(spec.name)))
            if on_seed is not None:
                on_seed(spec.name, s, results[spec.name, s][1])
    else:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that has JAX threads
        with _single_threaded_blas(), ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            futures = {
                pool.submit(_numpy_seed, spec.config(s, epochs.get(spec.name))): (spec.name, s)
                for spec, s in jobs
            }
            for fut in as_completed(futures):
                key = futures[fut]
                results[key] = fut.result()
                if on_seed is not None:
                    on_seed(key[0], key[1], results[key][1])
    elapsed = time.perf_counter() - t0
    how = (
        f"NumPy, one process per seed-run, {workers} worker processes"
        if workers > 1
        else "NumPy, seeds one after another in one process"
    )
    out = {}
    for spec in specs:
        rows = [results[spec.name, s] for s in range(seeds)]
        per_seed = [r[1] for r in rows]
        out[spec.name] = ModelRun(
            spec, spec.config(0, epochs.get(spec.name)), list(range(seeds)),
            [r[0] for r in rows], rows[0][2], float(sum(per_seed)), 0.0, how,
            per_seed_wall_s=per_seed, held_out=[r[3] for r in rows],
            extra={"numpy_phase_elapsed_s": elapsed, "workers": max(1, workers),
                   "numpy_phase_models": [s.name for s in specs]},
        )  # fmt: skip
    return out


# ----------------------------------------------------------------------------- summaries


def first_epoch_at(history: list[dict], key: str = "train_acc", level: float = 1.0) -> int | None:
    """The first epoch whose ``key`` reaches ``level`` (up to float rounding), else None."""
    for rec in history:
        if rec[key] >= level - 1e-6:
            return int(rec["epoch"])
    return None


def _round(x: float, digits: int = 6) -> float:
    return float(f"{x:.{digits}g}")


def curves(histories: list[list[dict]]) -> dict[str, Any]:
    """Per-epoch mean, std (n - 1) and 95% t-interval over seeds, for every metric."""
    arr = {k: np.array([[r[k] for r in h] for h in histories], float) for k in METRIC_NAMES}
    n = len(histories)
    out: dict[str, Any] = {"epoch": [int(r["epoch"]) for r in histories[0]]}
    for k, a in arr.items():
        s = [summarize(a[:, e], bounds_of(k)) for e in range(a.shape[1])]
        out[k] = {
            "mean": [_round(x["mean"]) for x in s],
            "std": [_round(x["std"]) for x in s],
            "ci95_low": [_round(x["ci95"][0]) for x in s],
            "ci95_high": [_round(x["ci95"][1]) for x in s],
        }
    out["n"] = n
    return out


def summarize_run(run: ModelRun) -> dict[str, Any]:
    """The JSON record of one model (see ``results.json`` in the module docs of ``cli``)."""
    cfg = run.config
    finals = {k: [h[-1][k] for h in run.histories] for k in METRIC_NAMES}
    firsts = [first_epoch_at(h) for h in run.histories]
    reached = [f for f in firsts if f is not None]
    n = len(run.histories)
    timing: dict[str, Any] = {
        "wall_s": run.wall_s,
        "compile_s": run.compile_s,
        "run_s": run.wall_s - run.compile_s,
        "how": run.timing,
    }
    if run.per_seed_wall_s is not None:
        timing["per_seed_s"] = summarize(run.per_seed_wall_s)
        timing.update(run.extra)
    else:
        timing["per_seed_s"] = {"mean": run.wall_s / n, "note": "wall_s / seeds (vmapped)"}
    return {
        "name": run.spec.name,
        "label": run.spec.label,
        "description": run.spec.description,
        "backend": cfg.backend,
        "config": dataclasses.asdict(cfg) | {"seed": None},
        "num_params": run.num_params,
        "optimizer": {
            "name": cfg.optimizer,
            "lr": cfg.lr,
            "batch_size": cfg.batch_size,
            "epochs": cfg.epochs,
            "clip": cfg.clip,
        },  # fmt: skip
        "seeds": run.seeds,
        "final": {k: summarize(v, bounds_of(k)) for k, v in finals.items()},
        "reach_100_train_acc": {
            "fraction": len(reached) / n,
            "count": len(reached),
            "n": n,
            "first_epoch_mean": float(np.mean(reached)) if reached else None,
            "first_epoch_median": float(np.median(reached)) if reached else None,
            "first_epoch_per_seed": firsts,
        },
        "final_100_train_acc_fraction": float(
            np.mean([a >= 1 - 1e-6 for a in finals["train_acc"]])
        ),
        "timing": timing,
        "per_seed": [
            {"seed": s, "final": {k: h[-1][k] for k in METRIC_NAMES}, "first_epoch_100": f}
            for s, h, f in zip(run.seeds, run.histories, firsts, strict=True)
        ],
        "curves": curves(run.histories),
        "held_out": held_out_summary(run.held_out) if run.held_out else None,
    }
