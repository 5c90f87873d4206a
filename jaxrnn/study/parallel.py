"""What a parallel recurrence costs in accuracy and buys in time: minGRU, minLSTM and the LRU
against the LSTM and the GRU at equal parameters and equal wall-clock.

``python -m jaxrnn.study --part parallel`` runs ``run``. For each task every model is
trained

* at **equal parameters**: the LSTM at the task's study width sets the count; every other
  model's hidden width is the one whose parameter count (embedding, cell and readout
  together, what ``fit`` reports) is nearest to it (``match_width``; within ``TOLERANCE``).
  The parallel cells have no recurrent matrix, so their widths come out several times the
  LSTM's;
* for an **equal wall-clock budget**: probe runs (``train_budgeted``) measure the seconds
  per epoch after the compile; the real run then gets ``floor(budget / epoch_s)`` epochs
  (at least one). Compile time is reported apart and
  not counted; the per-epoch test evaluation the training loop does is counted, for every
  model alike. All seeds train together in one vmapped program (as everywhere in the
  study), so the budget is the seconds of that program, not per seed;

on four tasks, all with forward (one-directional) cells, since two of them (the long-range
classifier reads its final state; the language model predicts from the past) need causal
ones, and one cell per model keeps the comparison like for like:

* ``sentences``: the bundled sentiment sentences (``python -m jaxrnn.train``'s default
  data), the Keras-like presets (embedding 16, dropout 0.3, Adam 1e-2), test accuracy;
* ``held_out``: the same trained models on the held-out compositional sentences
  (``jaxrnn/data/compositional.jsonl``), accuracy: no training of its own;
* ``long_range``: the generated task of ``jaxrnn.study.longrange`` (label = the first
  token, then ``length - 1`` distractors), its sweep's settings, test accuracy;
* ``char_lm``: a character language model (``--task lm``) on a slice of the Python
  reference manual (``jaxrnn.datasets.python_manual_text``), test bits per character.

The score is the last epoch's (no choosing on test data); the curves are the test metric
after every epoch against the training seconds so far (epoch x seconds per epoch of the
real run). ``summarize`` adds ``min`` and ``max`` over seeds to the mean and interval.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

MODELS = ("lstm", "gru", "mingru", "minlstm", "lru")
TASKS = ("sentences", "held_out", "long_range", "char_lm")
TRAINED = ("sentences", "long_range", "char_lm")  # tasks with a training run of their own
TOLERANCE = 0.10  # parameter counts within 10% of the LSTM's
CHUNK = 16  # epochs per dispatch at most (jaxrnn.runs.plan.EPOCHS_PER_CALL)
PROBE_SHARE = 0.2  # the most probe 2 may take, as a share of the budget
MAX_CURVE_POINTS = 60
TASK_INFO = {
    "sentences": dict(label="bundled sentences", metric="test_acc", higher_is_better=True),
    "held_out": dict(label="held-out compositional sentences", metric="held_out_acc",
                     higher_is_better=True),
    "long_range": dict(label="long-range task", metric="test_acc", higher_is_better=True),
    "char_lm": dict(label="character LM", metric="test_bpc", higher_is_better=False),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the part trains. ``budgets``: seconds of training per model and task (all seeds
    together); ``widths``: the LSTM's hidden width per task (the parameter target)."""

    budgets: dict[str, float]
    widths: dict[str, int]
    lr_length: int = 100
    lr_train: int = 512
    lr_test: int = 256
    lm_chars: int = 60_000
    lm_embed: int = 32
    lm_seq_len: int = 64
    lm_batch: int = 32
    probe_share: float = PROBE_SHARE  # 0: probe A alone (the smoke run's setting)

    def scaled(self, factor: float) -> Settings:
        """The same settings with every budget multiplied by ``factor``."""
        return dataclasses.replace(self, budgets={k: v * factor for k, v in self.budgets.items()})


FULL = Settings(budgets={"sentences": 6.0, "long_range": 20.0, "char_lm": 40.0},
                widths={"sentences": 64, "long_range": 32, "char_lm": 128})  # fmt: skip
QUICK = Settings(budgets={"sentences": 0.3, "long_range": 0.3, "char_lm": 0.5},
                 widths={"sentences": 8, "long_range": 8, "char_lm": 16}, lr_length=20,
                 lr_train=64, lr_test=32, lm_chars=4_000, lm_embed=8, lm_seq_len=16,
                 lm_batch=4, probe_share=0.0)  # fmt: skip


# ----------------------------------------------------------------------------- configs


def task_config(task: str, model: str, hidden: int, epochs: int, s: Settings,
                lm_path: str | None = None) -> Any:  # fmt: skip
    """The ``TrainConfig`` of ``model`` at width ``hidden`` for ``epochs`` on ``task``."""
    from jaxrnn.runs.config import TrainConfig

    if task == "sentences":  # the study's Keras-like presets (the parallel cells take the LSTM's)
        return TrainConfig(model=model, hidden=hidden, epochs=epochs)
    if task == "long_range":  # jaxrnn.study.longrange.SweepSettings' settings
        return TrainConfig(model=model, optimizer="adam", lr=3e-3, epochs=epochs, batch_size=32,
                           hidden=hidden, layers=1, embed_dim=8, dropout=0.0, layer_dropout=0.0,
                           clip=0.0, num_words=0, max_len=s.lr_length, mask=True)  # fmt: skip
    if task == "char_lm":  # the --task lm presets (Adam 2e-3) at a smaller width
        return TrainConfig(task="lm", model=model, data=lm_path, hidden=hidden, epochs=epochs,
                           embed_dim=s.lm_embed, seq_len=s.lm_seq_len, batch_size=s.lm_batch,
                           test_fraction=0.1)  # fmt: skip
    raise ValueError(f"unknown task {task!r}")


def prepare(task: str, s: Settings, lm_path: str | None) -> Any:
    """The task's data (``Prepared``), the same for every model."""
    from jaxrnn.runs.config import resolve_config
    from jaxrnn.runs.registry import get_spec

    if task == "long_range":
        from jaxrnn.study import longrange

        return longrange.prepared(s.lr_train, s.lr_test, s.lr_length)
    cfg = resolve_config(task_config(task, "lstm", 8, 1, s, lm_path))
    return get_spec(cfg).prepare(cfg, None)


def num_params(cfg: Any, data: Any) -> int:
    """Parameters of the model ``cfg`` builds for ``data`` (what ``fit`` reports)."""
    from jaxrnn.nn.models import count_params
    from jaxrnn.runs.build import initial_params
    from jaxrnn.runs.config import resolve_config
    from jaxrnn.runs.registry import get_spec

    cfg = resolve_config(cfg)
    model = get_spec(cfg).build_model(cfg, data.vocab, data.label_names)
    return count_params(initial_params(model, cfg, [0]))


def match_width(count: Callable[[int], int], target: int) -> int:
    """The hidden width ``h >= 1`` whose ``count(h)`` (increasing in ``h``) is nearest to
    ``target``: doubling up to the first width at or above it, then bisection."""
    hi = 1
    while count(hi) < target:
        hi *= 2
    lo = max(1, hi // 2)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if count(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda h: (abs(count(h) - target), h))


# ----------------------------------------------------------------------------- running


def summarize(values: list[float], bounds: tuple[float, float] | None) -> dict[str, Any]:
    """``jaxrnn.runs.results.summarize`` plus ``min`` and ``max`` over seeds."""
    from jaxrnn.runs.results import summarize as base

    return {**base(values, bounds), "min": float(min(values)), "max": float(max(values))}


def curve(histories: list[list[dict]], metric: str, epoch_s: float) -> dict[str, list[float]]:
    """Test ``metric`` after each epoch against training seconds (``epoch x epoch_s``): mean,
    min and max over seeds, thinned to at most ``MAX_CURVE_POINTS`` points (last kept)."""
    v = np.asarray([[r[metric] for r in h] for h in histories], dtype=float)  # [S, E]
    e = v.shape[1]
    keep = np.unique(np.linspace(0, e - 1, min(e, MAX_CURVE_POINTS)).round().astype(int))
    return {"seconds": [float((k + 1) * epoch_s) for k in keep],
            "mean": v.mean(axis=0)[keep].tolist(), "min": v.min(axis=0)[keep].tolist(),
            "max": v.max(axis=0)[keep].tolist()}  # fmt: skip


def train_budgeted(cfg: Any, data: Any, seeds: int, budget: float,
                   probe_share: float = PROBE_SHARE) -> dict[str, Any]:  # fmt: skip
    """Measure the seconds per epoch, then train the epochs that fill ``budget`` seconds.
    Returns the real run's ``RunResult`` and the timings.

    Every run here dispatches ``CHUNK`` epochs at a time (``log_every``), so the probes run
    in the real run's regime. Probe A trains 2 epochs: ``run_s_a / 2`` bounds an epoch from
    above, since a run's fixed cost (first dispatch, transfers) is charged to its 2 epochs,
    and on small data it is most of them. Probe B trains ``2 + k`` epochs, ``k`` the most
    (up to ``2 * CHUNK``) that fit in ``probe_share`` of the budget by that bound; the
    slope ``(run_s_b - run_s_a) / k`` is the seconds per epoch with the fixed cost taken
    out, and the fixed cost ``run_s_a - 2 * slope`` is taken out of the budget. Where not
    even ``k = 2`` fits (or ``probe_share`` is 0, as in the ``--quick`` smoke runs, whose
    budgets are too short for a slope to mean anything), an epoch is long beside the fixed
    cost and the bound stands."""
    from jaxrnn.runs.run import fit

    def timed(epochs: int) -> Any:
        return fit(dataclasses.replace(cfg, epochs=epochs), data, seeds=seeds, log_every=CHUNK)

    probe = timed(2)
    run_a = probe.extra["run_s"]
    epoch_s, fixed_s, how = run_a / 2, 0.0, "probe A: 2 epochs' run / 2"
    k = min(2 * CHUNK, math.floor(probe_share * budget / max(epoch_s, 1e-9)))
    if k >= 2:
        run_b = timed(2 + k).extra["run_s"]
        slope = (run_b - run_a) / k
        if slope > 0:  # else noise swamped the probe: keep probe B's mean
            epoch_s, fixed_s = slope, max(0.0, run_a - 2 * slope)
            how = f"slope between probe A (2 epochs) and probe B ({2 + k} epochs)"
        else:
            epoch_s, how = run_b / (2 + k), f"probe B: {2 + k} epochs' run / {2 + k}"
    epochs = max(1, math.floor((budget - fixed_s) / max(epoch_s, 1e-9)))
    r = timed(epochs)
    return {"result": r, "epochs": epochs, "probe_epoch_s": epoch_s, "probe_fixed_s": fixed_s,
            "probe": how, "compile_s": probe.compile_s, "compile_again_s": r.compile_s,
            "trained_s": r.extra["run_s"], "epoch_s": r.extra["run_s"] / epochs}  # fmt: skip


@contextlib.contextmanager
def _compile_cache() -> Iterator[str]:
    """JAX's persistent compilation cache for the run: the real run reuses the probe's compiled
    program (epochs are a runtime argument). An empty temporary one unless a cache is already
    on, so the probe's compile time is a cold compile's; on leaving, JAX's cache settings are
    what they were.

    JAX decides once per process, at its first compile, whether and where it caches
    (``reset_cache`` makes it decide again; ``cache.enable`` does so for a new directory): a
    process that switched the cache off before (the benchmarks' ``header`` does) would
    otherwise compile every probe's program again."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    current = jax.config.jax_compilation_cache_dir
    if current and jax.config.jax_enable_compilation_cache:
        yield f"already on ({current})"
        return
    from jaxrnn.util import cache

    names = ("jax_enable_compilation_cache", "jax_compilation_cache_dir",
             "jax_persistent_cache_min_compile_time_secs",
             "jax_persistent_cache_min_entry_size_bytes")  # fmt: skip
    saved = {name: getattr(jax.config, name) for name in names}
    with tempfile.TemporaryDirectory(prefix="jaxrnn-parallel-xla-") as d:
        jax.config.update("jax_enable_compilation_cache", True)
        cache.enable(d)  # a new directory: JAX decides again, with the flag now on
        try:
            yield "a fresh temporary directory (the probe's compile is cold)"
        finally:
            for name, value in saved.items():
                jax.config.update(name, value)
            compilation_cache.reset_cache()


def _lm_text_file(directory: str, chars: int) -> str:
    from jaxrnn.datasets import python_manual_text

    path = os.path.join(directory, "python_manual.txt")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(python_manual_text()[:chars])
    return path


def run(seeds: int, quick: bool, on_line: Callable[[str], None] = print,
        budget_scale: float = 1.0, models: tuple[str, ...] = MODELS) -> dict[str, Any]:  # fmt: skip
    """The JSON section ``parallel``: per task and model (``models``, default every one) the
    width, parameter count, epochs, timings, final score over ``seeds`` seeds and the
    score-against-seconds curve."""
    from jaxrnn.study.compare import held_out_summary

    s = (QUICK if quick else FULL).scaled(budget_scale)
    load_start = list(os.getloadavg())
    tasks: dict[str, dict[str, Any]] = {
        t: {**TASK_INFO[t], "budget_s": s.budgets.get(t, s.budgets["sentences"]),
            "reference_width": s.widths.get(t, s.widths["sentences"]), "models": {}}
        for t in TASKS
    }  # fmt: skip
    tasks["held_out"]["trained_with"] = "sentences"
    with tempfile.TemporaryDirectory(prefix="jaxrnn-parallel-") as tmp, _compile_cache() as cc:
        lm_path = _lm_text_file(tmp, s.lm_chars)
        for task in TRAINED:
            data = prepare(task, s, lm_path)
            info = tasks[task]
            target = num_params(task_config(task, "lstm", s.widths[task], 1, s, lm_path), data)
            info["lstm_params"] = target
            for m in models:
                width = match_width(lambda h, m=m, t=task, d=data: num_params(
                    task_config(t, m, h, 1, s, lm_path), d), target)  # fmt: skip
                cfg = task_config(task, m, width, 1, s, lm_path)
                n = num_params(cfg, data)
                t = train_budgeted(cfg, data, seeds, s.budgets[task], s.probe_share)
                r = t.pop("result")
                metric = info["metric"]
                finals = [h[-1][metric] for h in r.histories]
                bounds = (0.0, 1.0) if info["higher_is_better"] else None
                row = {"hidden": width, "num_params": n, "param_ratio": n / target,
                       "lr": r.config.lr, "batch_size": r.config.batch_size, **t,
                       "score": summarize(finals, bounds), "per_seed": finals,
                       "curve": curve(r.histories, metric, t["epoch_s"])}  # fmt: skip
                info["models"][m] = row
                on_line(f"parallel: {task} {m} H={width} ({n:,} params, {n / target:.2f}x "
                        f"the LSTM's): {t['epochs']} epochs in {t['trained_s']:.1f} s "
                        f"(budget {s.budgets[task]:g} s, compile {t['compile_s']:.1f} s): "
                        f"{metric} {row['score']['mean']:.3f} "
                        f"[{row['score']['min']:.3f}, {row['score']['max']:.3f}]")  # fmt: skip
                if task == "sentences":
                    tasks["held_out"]["models"][m] = _held_out_row(r, data, row, held_out_summary)
    return {
        "question": "what does a parallel recurrence cost in accuracy, and what does it buy in "
                    "time?",
        "models": list(models),
        "seeds": seeds,
        "quick": quick,
        "settings": {**dataclasses.asdict(s), "tolerance": TOLERANCE,
                     "chunk": CHUNK, "budget_scale": budget_scale,
                     "directions": "forward cells on every task",
                     "budget": "seconds of the compiled training epochs of all seeds together "
                               "(one vmapped program), compile excluded, the per-epoch test "
                               "evaluation included",
                     "compile_cache": cc},
        "loadavg": {"start": load_start, "end": list(os.getloadavg())},
        "tasks": tasks,
    }  # fmt: skip


def _held_out_row(r: Any, data: Any, trained: dict, held_out_summary: Callable) -> dict:
    """The sentence run's models on the held-out compositional sentences."""
    import jax

    from jaxrnn.runs.build import build_model
    from jaxrnn.study.compare import _jax_held_out

    params = r.params if len(r.seeds) > 1 else jax.tree.map(lambda a: a[None], r.params)
    model = build_model(r.config, data.vocab.vocab_size, max(2, len(data.label_names)))
    h = held_out_summary(_jax_held_out(model, params, data.vocab))
    accs = h["per_seed_acc"]
    keep = ("hidden", "num_params", "param_ratio", "epochs", "trained_s", "epoch_s",
            "compile_s")  # fmt: skip
    return {**{k: trained[k] for k in keep}, "n": h["n"],
            "score": summarize(accs, (0.0, 1.0)), "per_seed": accs,
            "constructions": h["constructions"]}  # fmt: skip


# ----------------------------------------------------------------------------- output


def _score(sc: dict[str, Any], digits: int = 3) -> str:
    return (f"{sc['mean']:.{digits}f} [{sc['min']:.{digits}f}, {sc['max']:.{digits}f}]"
            if sc["n"] > 1 else f"{sc['mean']:.{digits}f}")  # fmt: skip


def table_rows(section: dict[str, Any]) -> list[list[str]]:
    """One row per task and model: task, model, hidden, params (ratio to the LSTM's),
    epochs, s/epoch, trained s (budget), compile s, score mean [min, max]."""
    rows = []
    for task, info in section["tasks"].items():
        for m, r in info["models"].items():
            trained = f"{r['trained_s']:.1f} ({info['budget_s']:g})"
            if task == "held_out":
                trained = "(sentences' run)"
            rows.append([info["label"], f"`{m}`", str(r["hidden"]),
                         f"{r['num_params']:,} ({r['param_ratio']:.2f}x)", str(r["epochs"]),
                         f"{r['epoch_s'] * 1000:.1f}", trained, f"{r['compile_s']:.1f}",
                         _score(r["score"])])  # fmt: skip
    return rows


HEADER = ["task", "model", "hidden", "params (x LSTM)", "epochs", "ms/epoch",
          "trained s (budget)", "compile s", "score: mean [min, max]"]  # fmt: skip


def markdown(section: dict[str, Any]) -> str:
    """``parallel.md``: the table, the settings and the machine's load."""
    rule = ["--", "--"] + ["--:"] * (len(HEADER) - 2)
    lines = ["# Parallel cells against LSTM and GRU: equal parameters, equal wall-clock", "",
             f"Score: test accuracy (bits per character for the character LM, lower is better), "
             f"last epoch, mean [min, max] over {section['seeds']} seed(s). Load average "
             f"{section['loadavg']['start'][0]:.2f} at the start, "
             f"{section['loadavg']['end'][0]:.2f} at the end.", "",
             "| " + " | ".join(HEADER) + " |", "| " + " | ".join(rule) + " |"]  # fmt: skip
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(section)]
    lines += ["", f"Budget: {section['settings']['budget']}.", ""]
    return "\n".join(lines)


def print_table(section: dict[str, Any], out: Callable[[str], None] = print) -> None:
    """The table on the terminal, as plain aligned columns."""
    rows = [HEADER] + [[c.replace("`", "") for c in r] for r in table_rows(section)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for r in rows:
        out("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                      for i, (c, w) in enumerate(zip(r, widths, strict=True))))  # fmt: skip


def figure(section: dict[str, Any], path: str) -> None:
    """``parallel.png``: the test score against training seconds, one line per model and one
    panel per trained task (band: min-max over seeds); the held-out accuracy as points at the
    sentence run's seconds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = section["tasks"]
    fig, axes = plt.subplots(1, len(TASKS), figsize=(4.2 * len(TASKS), 3.5))
    colors = {m: f"C{i}" for i, m in enumerate(section["models"])}
    for ax, task in zip(axes, TASKS, strict=True):
        info = tasks[task]
        for m, r in info["models"].items():
            if "curve" in r:
                c = r["curve"]
                ax.plot(c["seconds"], c["mean"], color=colors[m], label=m)
                ax.fill_between(c["seconds"], c["min"], c["max"], color=colors[m], alpha=0.15)
            else:
                sc = r["score"]
                ax.errorbar([r["trained_s"]], [sc["mean"]], fmt="o", color=colors[m], label=m,
                            yerr=[[sc["mean"] - sc["min"]], [sc["max"] - sc["mean"]]])
        ax.axvline(info["budget_s"], color="grey", lw=0.8, ls=":")
        ax.set_title(f"{info['label']} (budget {info['budget_s']:g} s)", fontsize=10)
        ax.set_xlabel("training seconds (compile excluded)")
        ax.set_ylabel("test bits/char (lower is better)" if task == "char_lm" else "accuracy")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Equal parameters, equal wall-clock: mean and min-max over "
                 f"{section['seeds']} seed(s)", fontsize=11)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

