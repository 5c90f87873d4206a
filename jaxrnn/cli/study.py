"""``python -m jaxrnn.study``: run the study, write ``results.json``, ``results.md`` and figures.

Parts (``--part``, default ``all``):

* ``compare``: every model of ``jaxrnn.study.compare.MODEL_SPECS`` over ``--seeds``
  seeds on the bundled data.
* ``gradients``: ``|dL/dh_t|`` against ``t`` for the RNN, LSTM and GRU cells at init
  and after training, on the bundled data and on the generated long-range task, and
  test accuracy against sequence length on that task (``jaxrnn.study.longrange``).
* ``bidirectional``: forward LSTM vs BiLSTM on per-token tagging
  (``jaxrnn.study.bidirectional``; ``bidirectional.md``).
* ``depth``: the second draft ``rnn2`` from the study's, Glorot and orthogonal initial
  weights: accuracy over ``--seeds`` seeds and per-layer gradient norms over training
  (``jaxrnn.study.depth``; ``depth.md``, ``depth_grad_norms.png``).
* ``parallel``: minGRU, minLSTM and LRU against LSTM and GRU at equal parameters and equal
  wall-clock on four tasks, over ``--seeds`` seeds [3; --quick: 1]
  (``jaxrnn.study.parallel``; ``parallel.md``, ``parallel.png``, the table printed).

``results.json`` keys: ``schema``, ``created``, ``command``, ``elapsed_s``,
``environment`` (versions, CPU count, load average at start and end), ``settings``,
``data``; with ``compare``: ``models`` (per model: ``label``, ``description``,
``backend``, ``config``, ``num_params``, ``optimizer`` {name, lr, batch_size,
epochs, clip}, ``seeds``, ``final`` {metric: {mean, std, ci95, n}},
``reach_100_train_acc`` {fraction, count, n, first_epoch_mean, first_epoch_median,
first_epoch_per_seed}, ``final_100_train_acc_fraction``, ``timing`` {wall_s,
compile_s, run_s, per_seed_s, how}, ``per_seed``, ``curves``); with ``gradients``:
``gradients`` {method, sentiment, long_range} and ``long_range`` {task, settings,
accuracy}.

Running one part into a directory that already has a ``results.json`` keeps the
other part's sections from it (``settings.carried_over`` says which).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

from jaxrnn.cli._common import Parser, check_output_folder, run
from jaxrnn.errors import ConfigError
from jaxrnn.study import bidirectional, compare, depth, figures, longrange, parallel, report
from jaxrnn.util.atomic import atomic_write

SCHEMA = "jaxrnn.study/1"
PART_SECTIONS = {"compare": ("models", "data"), "gradients": ("gradients", "long_range"),
                 "bidirectional": ("bidirectional",), "depth": ("depth",),
                 "parallel": ("parallel",)}
GRAD_CELL_MODELS = {"rnn": "simple_rnn_masked", "lstm": "lstm", "gru": "gru"}  # all masked
QUICK_SWEEP = dict(
    lengths=(10, 30), seeds=2, n_train=64, n_test=32, hidden=8, embed_dim=4, epochs=2,
    batch_size=16,
)  # fmt: skip


# ----------------------------------------------------------------------------- progress


class Display:
    """Progress on stderr: a rich progress bar on a terminal, plain lines otherwise, or nothing."""

    def __init__(self, enabled: bool, stream: Any = None):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        if enabled and hasattr(self.stream, "isatty") and self.stream.isatty():
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )

                self._progress = Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=Console(file=self.stream),
                )  # fmt: skip
                self._progress.start()
            except ImportError:
                self._progress = None

    def line(self, text: str) -> None:
        """A line of text (above the bars on a terminal)."""
        if not self.enabled:
            return
        stamp = f"[{time.perf_counter() - self.t0:6.1f}s]"
        if self._progress is not None:
            self._progress.console.print(f"{stamp} {text}", highlight=False)
        else:
            print(f"{stamp} {text}", file=self.stream, flush=True)

    def start(self, key: str, description: str, total: int) -> None:
        """A task with ``total`` steps (epochs or seed-runs)."""
        if self._progress is not None:
            self._tasks[key] = self._progress.add_task(description, total=total)
        else:
            self.line(f"{description} ...")

    def update(self, key: str, completed: int) -> None:
        if self._progress is not None and key in self._tasks:
            self._progress.update(self._tasks[key], completed=completed)

    def done(self, key: str, text: str) -> None:
        if self._progress is not None and key in self._tasks:
            task = self._progress.tasks[self._tasks[key]]
            self._progress.update(self._tasks[key], completed=task.total)
        self.line(text)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


# ----------------------------------------------------------------------------- parts


def _acc_line(name: str, summary: dict) -> str:
    f = summary["final"]
    r = summary["reach_100_train_acc"]
    return (
        f"{name}: test acc {f['test_acc']['mean']:.3f} ± {f['test_acc']['std']:.3f}, "
        f"train acc {f['train_acc']['mean']:.3f}, {r['count']}/{r['n']} seeds reach 100% train, "
        f"{summary['timing']['wall_s']:.1f} s"
    )


def run_compare(
    names: Sequence[str], seeds: int, quick: bool, workers: int, display: Display
) -> tuple[dict[str, dict], dict[str, compare.ModelRun]]:
    """Part 1. Returns the JSON summaries and the runs (params kept for part 2).

    Ctrl-C raises ``StudyInterrupted`` holding the models finished so far."""
    specs = [compare.MODEL_SPECS[n] for n in names]
    epochs = {s.name: (s.quick_epochs if quick else None) for s in specs}
    runs: dict[str, compare.ModelRun] = {}
    try:
        _run_models(specs, seeds, workers, epochs, runs, display)
    except KeyboardInterrupt:
        done = [n for n in names if n in runs]
        raise StudyInterrupted({n: compare.summarize_run(runs[n]) for n in done}, runs) from None
    summaries = {n: compare.summarize_run(runs[n]) for n in names}
    return summaries, runs


class StudyInterrupted(Exception):
    """Ctrl-C during the comparison: the summaries and runs of the models already finished."""

    def __init__(self, summaries: dict[str, dict], runs: dict[str, compare.ModelRun]):
        super().__init__("interrupted")
        self.summaries, self.runs = summaries, runs


def _run_models(specs, seeds: int, workers: int, epochs: dict, runs: dict, display: Display
                ) -> None:  # fmt: skip
    """Train ``specs`` into ``runs`` (name -> ModelRun), one model after another."""
    numpy_specs = [s for s in specs if s.is_numpy]
    if numpy_specs:
        done = {s.name: 0 for s in numpy_specs}
        for s in numpy_specs:
            display.start(s.name, f"{s.name} (NumPy, {seeds} seed-runs)", seeds)

        def on_seed(name: str, seed: int, secs: float) -> None:
            done[name] += 1
            display.update(name, done[name])
            if display._progress is None:
                display.line(f"  {name} seed {seed} done in {secs:.1f} s ({done[name]}/{seeds})")

        runs.update(compare.run_numpy(numpy_specs, seeds, workers, epochs, on_seed))
        for s in numpy_specs:
            display.done(s.name, _acc_line(s.name, compare.summarize_run(runs[s.name])))
    for s in specs:
        if s.is_numpy:
            continue
        n_epochs = s.config(0, epochs[s.name]).epochs
        display.start(s.name, f"{s.name} (JAX, {seeds} seeds vmapped, epochs)", n_epochs)
        runs[s.name] = compare.run_jax(
            s, seeds, epochs[s.name], on_epoch=lambda e, k=s.name: display.update(k, e)
        )
        display.done(s.name, _acc_line(s.name, compare.summarize_run(runs[s.name])))


def _data_info() -> dict[str, Any]:
    from jaxrnn.data import load_sentiment

    ds = load_sentiment()
    pos = sum(ds.test.labels) / len(ds.test.labels)
    return {
        "name": "bundled sentiment data (jaxrnn/data/sentiment.json)",
        "n_train": len(ds.train.labels),
        "n_test": len(ds.test.labels),
        "train_positive_share": sum(ds.train.labels) / len(ds.train.labels),
        "test_positive_share": pos,
        "test_majority_share": max(pos, 1 - pos),
    }


def _profiles(model, init_params, trained_params, arrays) -> dict[str, dict]:
    """Relative-norm profiles ``init``, ``trained`` (d/dh_t) and ``init_x``, ``trained_x``
    (d/dxp_t, the gradient reaching each token's input)."""
    import jax.numpy as jnp

    from jaxrnn.study import gradients

    ids, lengths, labels = (jnp.asarray(a) for a in arrays)
    out = {}
    for suffix, wrt in (("", "h"), ("_x", "x")):
        for state, p in (("init", init_params), ("trained", trained_params)):
            norms = gradients.grad_norms_seeds(model, p, ids, lengths, labels, wrt)
            out[state + suffix] = gradients.relative_profile(norms, arrays[1])
    return out


def _init_params(model, cfg, seeds: list[int]):
    """The parameters ``fit`` starts from for ``seeds``, stacked ``[S, ...]``."""
    import jax.numpy as jnp

    from jaxrnn.nn.models import StudyRNN
    from jaxrnn.runs import initial_params, make_optimizer

    if isinstance(model, StudyRNN):
        return initial_params(model, cfg, seeds)
    from jaxrnn.training import loop

    # What fit starts from (the same seeds give the same params).
    return loop.init_states(model, make_optimizer(cfg), seeds, jnp.dtype(cfg.param_dtype)).params


def _note(run: compare.ModelRun) -> str:
    cfg = run.config
    acc = sum(h[-1]["train_acc"] for h in run.histories) / len(run.histories)
    return (
        f"{run.spec.name}: H={cfg.hidden}, {cfg.optimizer} {cfg.lr:g}, {cfg.epochs} ep.\n"
        f"trained: mean train acc {acc:.2f}"
    )


def run_gradients(
    cells: Sequence[str],
    seeds: int,
    quick: bool,
    sweep_settings: longrange.SweepSettings,
    grad_length: int,
    runs: dict[str, compare.ModelRun],
    display: Display,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Part 2: gradient-norm profiles (bundled data, long-range task) and the length sweep."""
    from jaxrnn.runs import build_model

    def get_run(name: str) -> compare.ModelRun:
        if name not in runs:
            spec = compare.MODEL_SPECS[name]
            e = spec.quick_epochs if quick else None
            display.start(name, f"{name} (JAX, for the gradient study)", spec.config(0, e).epochs)
            runs[name] = compare.run_jax(spec, seeds, e, lambda x, k=name: display.update(k, x))
            display.done(name, f"{name}: trained for the gradient study")
        return runs[name]

    method = (
        "d loss / d h_t is the gradient with respect to a zero perturbation eps_t added to "
        "the hidden state after every step of our own lax.scan over jaxrnn.nn.cells' step "
        "functions (for the LSTM: the h part of the carry, so paths through c_t alone are "
        "not counted). d/dx_t is the gradient with respect to the step's projected input "
        "W_ih x_t + b_ih: what reaches token t through every path, the cell state's "
        "included. Per example, the norm at step t "
        "is divided by the norm at its last token T (where the readout is); the table and "
        "figure give the geometric mean over examples (aligned at their last token) and "
        "seeds. Bundled data: the training split; long-range task: the test split."
    )
    sentiment: dict[str, Any] = {"title": "bundled data", "cells": {}, "extra": {}}
    for cell in cells:
        run = get_run(GRAD_CELL_MODELS[cell])
        display.line(f"gradient norms: {cell} on the bundled data")
        init = _init_params(run.model, run.config, run.seeds)
        profiles = _profiles(run.model, init, run.params, tuple(run.data.train))
        sentiment["cells"][cell] = {"model": run.spec.name, "model_note": _note(run), **profiles}
    if "rnn" in cells:
        run = get_run("rnn")
        display.line("gradient norms: the study's RNN on the bundled data")
        init = _init_params(run.model, run.config, run.seeds)
        profiles = _profiles(run.model, init, run.params, tuple(run.data.train))
        sentiment["extra"]["rnn"] = {
            "model": "rnn", "label": "study's RNN", "model_note": _note(run), **profiles,
        }  # fmt: skip

    total = len(sweep_settings.lengths) * len(sweep_settings.cells)
    display.start("sweep", "long-range task: cells x lengths", total)
    count = [0]

    def on_done(r: longrange.SweepRun) -> None:
        count[0] += 1
        display.update("sweep", count[0])
        accs = [h[-1]["test_acc"] for h in r.result.histories]
        display.line(
            f"  long-range {r.cell} L={r.length}: test acc "
            f"{sum(accs) / len(accs):.3f} ({r.result.wall_s:.1f} s)"
        )

    sweep_runs = longrange.sweep(sweep_settings, on_done=on_done)
    display.done("sweep", "long-range sweep done")
    lr_summary = longrange.summarize_sweep(sweep_runs, sweep_settings)

    long_range: dict[str, Any] = {
        "title": f"long-range task, length {grad_length}",
        "length": grad_length,
        "cells": {},
    }
    for r in sweep_runs:
        if r.length != grad_length:
            continue
        display.line(f"gradient norms: {r.cell} on the long-range task, L={grad_length}")
        cfg = r.result.config
        model = build_model(cfg, r.data.tokenizer.vocab_size, 2)
        trained = r.result.params
        if len(r.result.seeds) == 1:
            import jax

            trained = jax.tree.map(lambda x: x[None], trained)
        init = _init_params(model, cfg, r.result.seeds)
        n = min(128, len(r.data.test.labels))
        arrays = tuple(a[:n] for a in r.data.test)
        profiles = _profiles(model, init, trained, arrays)
        acc = sum(h[-1]["test_acc"] for h in r.result.histories) / len(r.result.histories)
        long_range["cells"][r.cell] = {
            "model": longrange.CELL_MODELS[r.cell],
            "model_note": f"H={cfg.hidden}, adam {cfg.lr:g}, {cfg.epochs} ep.\n"
            f"trained: mean test acc {acc:.2f}",
            **profiles,
        }
    grads = {"method": method, "sentiment": sentiment, "long_range": long_range}
    return grads, lr_summary


# ----------------------------------------------------------------------------- CLI


def _int_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers: {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers: {text!r}")
    return vals


def _positive(text: str) -> int:
    v = int(text) if text.strip().isdigit() else 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = 0.0
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only where there is a default to show: not after ``None``
    (those flags say their defaults in brackets) nor after a switch's ``False``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m jaxrnn.study",
        description="The study, done properly: every model over many seeds on the bundled "
        "data, and vanishing gradients measured. Writes results.json, results.md and PNG "
        "figures to --out.",
        formatter_class=_DefaultsFormatter,
    )
    p.add_argument("--part", choices=("all", "compare", "gradients", "bidirectional", "depth",
                                      "parallel"),
                   default="all", help="all = compare and gradients; bidirectional (run on its "
                   "own): BiLSTM vs forward LSTM on per-token tagging, bidirectional.md")
    p.add_argument("--seeds", type=_positive,
                   help="seeds per model [20; --quick: 2; --part parallel: 3, quick 1]")
    p.add_argument(
        "--models", default=",".join(compare.DEFAULT_MODELS), help="comma list of models"
    )
    p.add_argument("--out", default="study-out", help="output directory")
    p.add_argument(
        "--quick", action="store_true", help="few seeds and epochs: a smoke run, not a result"
    )
    p.add_argument("--workers", type=_positive, default=2,
                   help="processes for the NumPy seed-runs [2]")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the results JSON to stdout")
    g = p.add_argument_group("gradients part")
    g.add_argument("--cells", default="rnn,lstm,gru", help="cells to measure (rnn, lstm, gru)")
    g.add_argument(
        "--lengths", type=_int_list, help="long-range task lengths [20,50,100,200; quick: 10,30]"
    )
    g.add_argument("--lr-seeds", type=_positive, help="seeds per long-range run [3; quick: 2]")
    g.add_argument("--lr-epochs", type=_positive, help="epochs per long-range run [20; quick: 2]")
    g.add_argument(
        "--grad-length",
        type=_positive,
        help="long-range length for the gradient profiles [100 if swept, else the longest]",
    )
    g = p.add_argument_group("parallel part")
    g.add_argument("--budget-scale", type=_positive_float, default=1.0,
                   help="multiply every task's training-seconds budget by this")
    g.add_argument("--parallel-models", type=_model_list, default=None, metavar="M1,M2",
                   help=f"train only these models ({','.join(parallel.MODELS)}; lstm first: "
                   "the others match its parameter count)")
    p.add_argument(
        "--replot", metavar="DIR", help="only redraw figures and results.md from DIR/results.json"
    )
    return p


def _model_list(text: str) -> tuple[str, ...]:
    """``--parallel-models``: known names, ``lstm`` among them (the reference)."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in parallel.MODELS]
    if bad or "lstm" not in names:
        raise argparse.ArgumentTypeError(f"expected names from {','.join(parallel.MODELS)} "
                                         f"including lstm, got {text!r}")  # fmt: skip
    return tuple(m for m in parallel.MODELS if m in names)


def _environment() -> dict[str, Any]:
    import numpy as np

    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    env["git"] = _git_state()
    try:
        import jax

        env["jax"] = jax.__version__
        env["jax_device"] = jax.devices()[0].platform
    except ImportError:  # pragma: no cover
        pass
    return env


def _git_state() -> dict[str, Any] | None:
    """The commit of the checkout this package runs from, and its uncommitted library files."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip

    try:
        commit = git("rev-parse", "HEAD")
        dirty = [line[3:] for line in git("status", "--porcelain", "--", "jaxrnn").splitlines()]
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "uncommitted_library_files": dirty}


def _load(s: tuple[float, ...] | None = None) -> str:
    return " ".join(f"{x:.2f}" for x in (s or os.getloadavg()))


def write_outputs(res: dict[str, Any], out: str, figures_too: bool = True) -> list[str]:
    """``results.json``, ``results.md`` and the figures (unless ``figures_too`` is False: an
    interrupted run's partial results may lack what a figure needs); returns the paths."""
    from jaxrnn.runs import write_json

    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "results.json")
    write_json(path, res)
    os.chmod(path, 0o644)  # write_json's temporary file is private (0600)
    paths = [path]
    md = os.path.join(out, "results.md")
    with open(md, "w", encoding="utf-8") as fh:
        fh.write(report.render(res))
    paths.append(md)
    if figures_too:
        paths += figures.make_all(res, out)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.replot:
        res = _results_to_replot(parser, args.replot)
        for path in write_outputs(res, args.replot)[1:]:
            print(path)
        if res.get("parallel"):
            parallel.figure(res["parallel"], os.path.join(args.replot, "parallel.png"))
            print(os.path.join(args.replot, "parallel.png"))
        return 0
    try:
        names = compare.parse_models(args.models)
    except ValueError as e:
        parser.error(str(e))
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells or any(c not in GRAD_CELL_MODELS for c in cells):
        parser.error(f"--cells must be a comma list of rnn, lstm, gru: {args.cells!r}")
    quick = args.quick
    seeds = args.seeds or (2 if quick else 20)
    if args.part == "parallel":  # equal wall-clock runs: fewer seeds fit
        seeds = args.seeds or (1 if quick else 3)
    sweep_kw: dict[str, Any] = dict(QUICK_SWEEP) if quick else {}
    if args.lengths:
        sweep_kw["lengths"] = args.lengths
    if args.lr_seeds:
        sweep_kw["seeds"] = args.lr_seeds
    if args.lr_epochs:
        sweep_kw["epochs"] = args.lr_epochs
    sweep_settings = longrange.SweepSettings(**sweep_kw, cells=tuple(cells))
    grad_length = args.grad_length or (
        100 if 100 in sweep_settings.lengths else max(sweep_settings.lengths)
    )
    if grad_length not in sweep_settings.lengths:
        parser.error(f"--grad-length {grad_length} is not one of --lengths")
    parts = ["compare", "gradients"] if args.part == "all" else [args.part]
    try:  # said now, not after the study has run
        check_output_folder("--out", args.out)
    except ConfigError as e:
        parser.error(str(e))

    t0 = time.perf_counter()
    load_start = _load()
    display = Display(not args.quiet)
    display.line(f"jaxrnn.study: parts {', '.join(parts)}, {seeds} seeds, out {args.out}")
    res: dict[str, Any] = {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(
            ["python -m jaxrnn.study", shlex.join(sys.argv[1:] if argv is None else list(argv))]
        ).strip(),
        "environment": _environment(),
        "settings": {
            "parts": parts,
            "seeds": seeds,
            "quick": quick,
            "workers": args.workers,
            "models": names,
            "cells": cells,
            "band": "±1 standard deviation across seeds (n - 1)",
            "interval": "95% t-interval of the mean over seeds",
        },
    }
    runs: dict[str, compare.ModelRun] = {}
    interrupted = None
    try:
        if "compare" in parts:
            res["data"] = _data_info()
            res["models"], runs = run_compare(names, seeds, quick, args.workers, display)
        if "gradients" in parts:
            res["gradients"], res["long_range"] = run_gradients(
                cells, seeds, quick, sweep_settings, grad_length, runs, display
            )
        if "bidirectional" in parts:
            res["bidirectional"] = bidirectional.run(seeds, quick, display.line)
        if "depth" in parts:
            res["depth"] = depth.run(seeds, quick, display.line)
        if "parallel" in parts:
            res["parallel"] = parallel.run(seeds, quick, display.line, args.budget_scale,
                                           args.parallel_models or parallel.MODELS)
    except StudyInterrupted as e:  # keep the models that finished
        res["models"] = e.summaries
        interrupted = f"interrupted after {len(e.summaries)} of {len(names)} models"
    except KeyboardInterrupt:  # in the gradients or bidirectional part: keep the comparison
        interrupted = "interrupted after the comparison"
        for k in ("gradients", "long_range", "bidirectional", "depth", "parallel"):
            res.pop(k, None)
    finally:
        display.close()
    if interrupted:
        res["settings"]["interrupted"] = interrupted
    _carry_over(res, parts, args.out)
    res["elapsed_s"] = time.perf_counter() - t0
    res["environment"]["loadavg_start"] = load_start
    res["environment"]["loadavg_end"] = _load()
    paths = write_outputs(res, args.out, figures_too=not interrupted)
    if res.get("bidirectional"):
        paths.append(os.path.join(args.out, "bidirectional.md"))
        atomic_write(paths[-1], bidirectional.markdown(res["bidirectional"]), fsync=False)
    if res.get("depth"):
        paths.append(os.path.join(args.out, "depth.md"))
        atomic_write(paths[-1], depth.markdown(res["depth"]), fsync=False)
        if not interrupted:
            paths.append(os.path.join(args.out, "depth_grad_norms.png"))
            depth.figure(res["depth"], paths[-1])
    if res.get("parallel"):
        paths.append(os.path.join(args.out, "parallel.md"))
        atomic_write(paths[-1], parallel.markdown(res["parallel"]), fsync=False)
        if not interrupted:
            paths.append(os.path.join(args.out, "parallel.png"))
            parallel.figure(res["parallel"], paths[-1])
        if not args.json and "parallel" in parts:
            parallel.print_table(res["parallel"])
    if interrupted:
        print(f"{interrupted}; kept in {', '.join(paths)}", file=sys.stderr)
        return 130
    if not args.quiet:
        print(f"wrote {', '.join(paths)} in {res['elapsed_s']:.0f} s", file=sys.stderr)
    if args.json:
        json.dump(res, sys.stdout, indent=1)
        sys.stdout.write("\n")
    return 0


def _results_to_replot(parser: argparse.ArgumentParser, folder: str) -> dict[str, Any]:
    """``DIR/results.json`` of an earlier study run, or a one-line error (exit code 2): no
    such file, not JSON, or not a study's results (its ``schema``)."""
    path = os.path.join(folder, "results.json")
    try:
        with open(path, encoding="utf-8") as fh:
            res = json.load(fh)
    except OSError as e:
        parser.error(f"--replot {folder}: cannot read {path} ({e.strerror or e})")
    except ValueError as e:
        parser.error(f"--replot {folder}: {path} is not JSON ({e})")
    if not isinstance(res, dict) or res.get("schema") != SCHEMA:
        parser.error(f"--replot {folder}: {path} is not a study's results (no \"schema\": "
                     f"\"{SCHEMA}\")")  # fmt: skip
    return res


def _carry_over(res: dict[str, Any], parts: list[str], out: str) -> None:
    """Keep the other part's sections of an existing ``out/results.json``."""
    path = os.path.join(out, "results.json")
    other = [p for p in PART_SECTIONS if p not in parts]
    if not other or not os.path.exists(path):
        return
    try:
        with open(path, encoding="utf-8") as fh:
            old = json.load(fh)
    except (OSError, ValueError):
        return
    if old.get("schema") != SCHEMA:
        return
    kept = [k for p in other for k in PART_SECTIONS[p] if k in old]
    for k in kept:
        res[k] = old[k]
    if kept:
        res["settings"]["carried_over"] = kept
        res["settings"]["carried_over_created"] = old.get("created")


if __name__ == "__main__":
    sys.exit(run(main))
