"""``python -m jaxrnn.sweep``: a hyperparameter grid x seeds, chosen on validation data only.

::

    python -m jaxrnn.sweep --model bilstm --hidden 32,64 --layers 1,2 \\
        --lr 3e-3,1e-2 --weight-decay 0,1e-2 --dropout 0,0.5 --clip 0,1 --seeds 3 \\
        --val-fraction 0.2 --early-stopping 10 --epochs 60 \\
        --eval-data jaxrnn/data/compositional.jsonl --out docs/sweep

Every model shape (``--hidden`` x ``--layers``) is an outer Python loop; inside it the
optimizer grid (learning rate, weight decay, dropout before the readout, element-wise
clip) times the seeds is ONE compiled program: the hyperparameters are traced values, so
``jax.vmap`` (``lax.map`` over groups of ``--group`` runs) trains them all at once. The
optimizer is ``clip(c) -> adamw(lr, weight_decay=wd)`` for every point (clip 0 is an
infinite clip, weight decay 0 is plain Adam: both compute exactly what ``python -m
jaxrnn.train --optimizer adam`` computes for them), so every point has the same state
shapes. Each run holds out the same seeded stratified validation split of the training
data (``--val-fraction``) and stops early on its loss (``--early-stopping``, inside the
program), keeping its best parameters.

The choice: the point with the lowest validation loss (at the kept epochs), mean over
seeds; with ``--cv K`` (``--select cv``) the lowest K-fold cross-validation loss over the
training rows, the K fold-models of each point vmapped in place of the seeds; with
``--select dev`` the highest accuracy on a dev set of new combinations (``--dev-data``, by
default the bundled dev split of the compositional sentences, generated apart from the
test split: ``jaxrnn/data/compositional_dev.jsonl``). Test and ``--eval-data`` numbers are
reported next to it and never used to choose.
Writes ``results.json``, ``results.md`` (the table, best first) and ``sweep.png`` (validation
loss against each eval set's accuracy, one dot per point) to ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import time
from collections.abc import Sequence

import numpy as np

from jaxrnn.cli._common import Parser, check_output_folder, run
from jaxrnn.data.files import FORMATS, check_exists
from jaxrnn.errors import ConfigError, UsageError
from jaxrnn.runs.config import MODEL_NAMES, TrainConfig, resolve_config

HPARAMS = ("lr", "weight_decay", "dropout", "clip")
#: ``--select``: the row key that chooses, whether higher wins, and the key that breaks its
#: ties. val and cv choose on loss; dev on accuracy, the signal that predicted held-out
#: accuracy best of the dev set's two (docs/sweep/selection.md: a few confident errors on
#: new combinations dominate the dev loss).
SIGNALS = {"val": ("val_loss", False, "val_acc"), "cv": ("cv_loss", False, "cv_acc"),
           "dev": ("dev_acc", True, "dev_loss")}  # fmt: skip
CHOSEN_BY = {"val": "lowest mean validation loss over seeds (at the kept epochs)",
             "cv": "lowest mean {k}-fold cross-validation loss (at the kept epochs)",
             "dev": "highest mean accuracy on the dev set {dev} (new combinations, apart from "
                    "the test split; ties: lower dev loss)"}  # fmt: skip


def sweep_optimizer(lr, weight_decay, clip):
    """``clip(clip or inf) -> adamw(lr, weight_decay)``; all three may be traced values."""
    import jax.numpy as jnp
    import optax

    bound = jnp.where(clip > 0, clip, jnp.inf)
    return optax.chain(optax.clip(bound), optax.adamw(lr, weight_decay=weight_decay))


def run_grid(cfg: TrainConfig, points: np.ndarray, seeds: list[int], group: int = 0,
             cv: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    """Train every ``points[g]`` (``[G, 4]``: lr, weight decay, dropout, clip) for every seed
    in one compiled program. ``cfg`` (resolved) fixes everything else, including the
    validation split, early stopping and ``eval_data``.

    Returns per run, shaped ``[G, S, ...]``: ``history [G, S, E, M]`` (train, test, val
    metrics per epoch), ``best_epoch [G, S]``, ``final [G, S, M]`` (the kept epoch's
    metrics), ``eval [G, S, X, 2]`` (loss, accuracy per eval set, kept params), and
    ``compile_s``, ``run_s``.

    ``cv`` K > 0: the S axis is K folds of the training rows (stratified, seeded by
    ``seeds[0]``; ``jaxrnn.data.folds``) instead of seeds: run ``k`` starts from seed
    ``seeds[0] + k``, reads only fold k's training rows, and ``cv [G, K, 2]`` holds its loss
    and accuracy on fold k's held-out rows (kept params).
    """
    import jax
    import jax.numpy as jnp

    from jaxrnn.data.orders import shuffle_orders
    from jaxrnn.runs.build import build_model, initial_params
    from jaxrnn.runs.prepare import prepare_data
    from jaxrnn.runs.run import resolve_batch
    from jaxrnn.training import loop

    data = prepare_data(cfg)
    if data.val is None:
        if cfg.val_fraction:  # asked for, but too few rows to hold one out
            raise ConfigError(f"the sweep chooses on validation data, and --val-fraction "
                              f"{cfg.val_fraction:g} of {len(data.train.labels)} training rows "
                              "holds out none: give more rows or a larger --val-fraction")
        raise ConfigError("the sweep chooses on validation data: give --val-fraction > 0")
    # --batch-size 0 (auto) made a number, one larger than the training rows refused
    cfg = resolve_batch(cfg, data, None)
    ncls = max(2, len(data.label_names))
    g, s, epochs = len(points), cv or len(seeds), cfg.epochs
    dtype = np.dtype(cfg.param_dtype)
    template = build_model(cfg, data.vocab.vocab_size, ncls)
    n = len(data.train.labels)
    if cv:  # the S axis: K folds, vmapped like seeds
        from jaxrnn.data.folds import fold_orders, kfold_split

        folds = kfold_split(n, cv, seeds[0], labels=np.asarray(data.train.labels))
        seeds = [seeds[0] + i for i in range(cv)]
        orders = fold_orders(folds, n, epochs, seeds[0])
        width = max(len(f) for f in folds)  # validation rows padded to one shape, weight 0
        vidx = np.stack([np.pad(f, (0, width - len(f))) for f in folds]).astype(np.int32)
        vmask = np.stack([np.arange(width) < len(f) for f in folds]).astype(dtype)
    else:
        orders = np.stack([shuffle_orders(n, epochs, sd) for sd in seeds]).astype(np.int32)
        vidx = np.zeros((len(seeds), 1), np.int32)
        vmask = np.zeros((len(seeds), 1), dtype)
    params = initial_params(template, cfg, seeds)  # [S, ...], the same starts for every point
    opt0 = sweep_optimizer(jnp.asarray(1e-3, dtype), jnp.asarray(0.0, dtype),
                           jnp.asarray(0.0, dtype))  # fmt: skip
    state = loop.init_states(template, opt0, seeds, dtype, params)
    if cfg.early_stopping:
        state = state._replace(best=loop.init_best(state.params, (s,)))
    # Flatten points x seeds into one axis of K = G * S runs.
    state = jax.tree.map(lambda a: np.broadcast_to(np.asarray(a), (g, *a.shape)).reshape(
        g * s, *a.shape[1:]), state)  # fmt: skip
    hp = np.repeat(points.astype(dtype), s, axis=0)  # [K, 4]
    orders = np.broadcast_to(orders, (g, *orders.shape)).reshape(g * s, epochs, n)
    vidx = np.broadcast_to(vidx, (g, *vidx.shape)).reshape(g * s, -1)
    vmask = np.broadcast_to(vmask, (g, *vmask.shape)).reshape(g * s, -1)
    tr, te, va = (jax.tree.map(jnp.asarray, a) for a in (data.train, data.test, data.val))
    evals = [jax.tree.map(jnp.asarray, e.arrays) for e in data.evals]
    task = None

    def fold_score(model, params, vi, vm):  # (loss, accuracy) on one fold's held-out rows
        from jaxrnn.training.tasks import probabilities

        rows = jax.tree.map(lambda a: a[vi], tr)
        p = probabilities(model.apply(params, rows.ids, rows.lengths))
        py = jnp.take_along_axis(p, rows.labels[:, None].astype(jnp.int32), 1)[:, 0]
        nll = -jnp.log(jnp.clip(py, 1e-12, None))
        hit = (jnp.argmax(p, -1) == rows.labels).astype(vm.dtype)
        count = jnp.maximum(vm.sum(), 1)
        return jnp.stack([(nll * vm).sum() / count, (hit * vm).sum() / count])

    def one(h, st, order, vi, vm):
        model = dataclasses.replace(template, dropout=h[2])  # a traced rate
        opt = sweep_optimizer(h[0], h[1], h[3])
        run = loop.make_run_epochs(model, opt, cfg.batch_size, epochs, task=task,
                                   eval_batch_size=cfg.eval_batch_size,
                                   early_stopping=cfg.early_stopping or 0,
                                   total_epochs=epochs)  # fmt: skip
        st, metrics = run(st, tr, te, order, va)
        ev = [loop.evaluate(model, task, st.params, e, cfg.eval_batch_size)[0] for e in evals]
        best = st.best.epoch if cfg.early_stopping else jnp.int32(0)
        cvs = fold_score(model, st.params, vi, vm)  # apply without a key: no dropout
        # No eval set: one dummy row (lax.map's grouping cannot reshape an empty array).
        return (metrics, best, jnp.stack(ev) if ev else jnp.zeros((1, 2), metrics.dtype),
                cvs.astype(metrics.dtype))  # fmt: skip

    k = g * s
    grp = k if group <= 0 else min(group, k)

    def many(hp, state, orders, vidx, vmask):
        return jax.lax.map(lambda x: one(*x), (hp, state, orders, vidx, vmask),
                           batch_size=None if grp == 1 else grp)  # fmt: skip

    fn = jax.jit(many)
    tc = time.perf_counter()
    compiled = fn.lower(hp, state, orders, vidx, vmask).compile()
    compile_s = time.perf_counter() - tc
    tr0 = time.perf_counter()
    metrics, best, ev, cvs = jax.device_get(compiled(hp, state, orders, vidx, vmask))
    run_s = time.perf_counter() - tr0
    history = np.asarray(metrics).reshape(g, s, epochs, -1)
    best = np.asarray(best).reshape(g, s)
    if not cfg.early_stopping:  # the last epoch is what a run without it keeps
        best = np.full((g, s), epochs)
    final = np.take_along_axis(history, (best - 1)[..., None, None], axis=2)[:, :, 0]
    return {"history": history, "best_epoch": best, "final": final,
            "eval": np.asarray(ev).reshape(g, s, -1, 2)[:, :, :len(evals)], "compile_s": compile_s,
            "run_s": run_s, "eval_names": [e.name for e in data.evals],
            "num_train": n, "num_val": len(va.labels),
            "cv": np.asarray(cvs).reshape(g, s, 2) if cv else None}  # fmt: skip


def summarize_runs(values: np.ndarray) -> dict:
    """Mean and standard deviation over seeds (``values [S]``) and the list itself."""
    v = np.asarray(values, float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "per_seed": [float(x) for x in v]}  # fmt: skip


def _floats(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}"
                                         ) from None  # fmt: skip
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one number")
    return vals


def _ints(text: str) -> list[int]:
    vals = _floats(text)
    if any(v != int(v) or v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers: {text!r}")
    return [int(v) for v in vals]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m jaxrnn.sweep``."""
    p = Parser(prog="python -m jaxrnn.sweep", description=__doc__.split("\n\n")[0])
    a = p.add_argument
    a("--model", default="bilstm", choices=[m for m in MODEL_NAMES if m != "rnn"],
      help="the preset every point starts from [bilstm]")
    a("--hidden", type=_ints, help="hidden sizes (outer loop) [the preset's]")
    a("--layers", type=_ints, help="layer counts (outer loop) [the preset's]")
    a("--lr", type=_floats, default=[1e-2], help="learning rates (grid) [0.01]")
    a("--weight-decay", type=_floats, default=[0.0], help="AdamW weight decays (grid) [0]")
    a("--dropout", type=_floats, default=[0.3], help="dropout before the readout (grid) [0.3]")
    a("--clip", type=_floats, default=[0.0], help="element-wise clips, 0 = none (grid) [0]")
    a("--seeds", type=int, default=3, help="seeds per point [3]")
    a("--seed", type=int, default=0, help="first seed; also seeds the validation split [0]")
    a("--epochs", type=int, help="epochs [the preset's]")
    a("--batch-size", type=int, help="batch size [the preset's]")
    a("--val-fraction", type=float, default=0.2, help="validation share of the training "
      "data, chosen on [0.2]")
    a("--early-stopping", type=int, default=10, help="patience in epochs, 0 = off [10]")
    a("--eval-data", action="append", default=None, metavar="PATH",
      help="also report accuracy on this labelled file (never used to choose; repeatable)")
    d = p.add_argument_group("data (as python -m jaxrnn.train takes it; default: the bundled "
                             "sentences)")
    d.add_argument("--task", default="classify", help="what is learned: the sweep runs the "
                   "tasks that hold out a validation split (--task classify) [classify]")
    for flag, kw in (("--data", dict(metavar="PATH", help="CSV, TSV or JSONL with a text and "
                                     "a label column")),
                     ("--test-data", dict(metavar="PATH", help="test file (else a stratified "
                                          "split of --data)")),
                     ("--test-fraction", dict(type=float, default=0.2, help="test share when "
                                              "splitting --data [0.2]")),
                     ("--format", dict(dest="data_format", choices=FORMATS,
                                       help="[from the extension]")),
                     ("--text-column", dict(default="text", help="[text]")),
                     ("--label-column", dict(default="label", help="[label]"))):
        d.add_argument(flag, **kw)
    a("--cv", type=int, default=0, metavar="K", help="K-fold cross-validation of the "
      "training rows (stratified, seeded by --seed) in place of --seeds: K fold-models per "
      "point, vmapped; rows gain cv_loss and cv_acc [0 = off]")
    a("--select", choices=tuple(SIGNALS), default=None, help="the signal that chooses: val "
      "(lowest validation loss), cv (lowest cross-validation loss) or dev (highest accuracy "
      "on --dev-data, ties: lower dev loss) [cv with --cv, else val]")
    a("--dev-data", metavar="PATH", help="a labelled dev set of new combinations, scored "
      "for every point (rows gain dev_loss, dev_acc) and chosen on with --select dev [with "
      "--select dev: jaxrnn/data/compositional_dev.jsonl, the bundled dev split]")
    a("--group", type=int, default=0, help="runs vmapped at a time (lax.map over groups); "
      "0 = all [0]")
    a("--out", default="sweep", help="output directory [sweep]")
    a("--quiet", action="store_true", help="no per-shape lines")
    return p  # fmt: skip


def _row_name(shape: dict, point: Sequence[float]) -> dict:
    return {**shape, **{k: float(v) for k, v in zip(HPARAMS, point, strict=True)}}


def dev_data(path: str | None, select: str, own_data: bool = False) -> str | None:
    """The dev set a sweep scores: ``--dev-data``, else with ``--select dev`` the bundled dev
    split (``jaxrnn/data/compositional_dev.jsonl``: for the bundled sentences only, so
    ``own_data`` (``--data``) without ``--dev-data`` is a ``ConfigError``), else none."""
    if path is None and select == "dev":
        if own_data:
            raise ConfigError("--select dev on your own --data needs --dev-data PATH (a "
                              "labelled file of new examples, apart from the test split)")
        from jaxrnn.data.generators.compositional import dev_path

        return str(dev_path())
    return path


def sweep(args: argparse.Namespace, log=print) -> dict:
    """Run the sweep ``args`` describe; returns what ``results.json`` holds."""
    from jaxrnn.runs.registry import task_info

    # The sweep's grid trains text classifiers on a validation split: tasks that read
    # labelled tables and hold one out on JAX (other tasks: train with --val-fraction).
    info = task_info(args.task)
    select = args.select or ("cv" if args.cv else "val")
    dev_file = dev_data(args.dev_data, select, own_data=args.data is not None)
    # The dev set rides along as the last eval set; its numbers go to dev_loss / dev_acc.
    dev = (dev_file,) if dev_file is not None else ()
    if not info.tables or "jax" not in info.validation_backends:
        raise ConfigError(f"python -m jaxrnn.sweep tunes text classifiers on a validation "
                          f"split, not --task {args.task}: train it with python -m jaxrnn.train "
                          "--val-fraction F --early-stopping N")  # fmt: skip
    base = TrainConfig(model=args.model, seed=args.seed, epochs=args.epochs,
                       data=args.data, test_data=args.test_data,
                       test_fraction=args.test_fraction, data_format=args.data_format,
                       text_column=args.text_column, label_column=args.label_column,
                       batch_size=args.batch_size, optimizer="adam",
                       val_fraction=args.val_fraction, early_stopping=args.early_stopping,
                       eval_data=tuple(args.eval_data or ()) + dev, clip=0.0,
                       weight_decay=0.0)  # fmt: skip
    base = resolve_config(base)
    if select == "cv" and not args.cv:
        raise ConfigError("--select cv needs --cv K")
    if args.cv == 1 or args.cv < 0:
        raise ConfigError(f"--cv needs K >= 2 folds, got {args.cv}")
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    for name in HPARAMS:
        vals = getattr(args, name)
        low = 0.0 if name != "lr" else None
        if any(not np.isfinite(v) or (v <= 0 if low is None else v < 0) for v in vals):
            raise ConfigError(f"--{name.replace('_', '-')} values must be "
                              f"{'positive' if low is None else '>= 0'}: {vals}")  # fmt: skip
    if any(d >= 1 for d in args.dropout):
        raise ConfigError(f"--dropout values must be below 1: {args.dropout}")
    for path in (base.data, base.test_data, *base.eval_data):
        if path:  # said before the grid's modules bring JAX in
            check_exists(path)
    points = np.array(list(itertools.product(args.lr, args.weight_decay, args.dropout,
                                             args.clip)), float)  # fmt: skip
    seeds = [args.seed + i for i in range(args.seeds)]
    rows, runs_s = [], []
    for hidden, layers in itertools.product(args.hidden or [base.hidden],
                                            args.layers or [base.layers]):  # fmt: skip
        cfg = resolve_config(dataclasses.replace(base, hidden=hidden, layers=layers))
        out = run_grid(cfg, points, seeds, args.group, cv=args.cv)
        runs_s.append({"hidden": hidden, "layers": layers, "compile_s": out["compile_s"],
                       "run_s": out["run_s"], "runs": len(points) * len(seeds)})  # fmt: skip
        m = out["final"]  # [G, S, 6]: train, test, val (loss, acc)
        for i, pt in enumerate(points):
            row = _row_name({"hidden": hidden, "layers": layers}, pt)
            row.update({
                "val_loss": summarize_runs(m[i, :, 4]), "val_acc": summarize_runs(m[i, :, 5]),
                "train_acc": summarize_runs(m[i, :, 1]), "test_acc": summarize_runs(m[i, :, 3]),
                "best_epoch": summarize_runs(out["best_epoch"][i]),
            })  # fmt: skip
            if out["cv"] is not None:
                row["cv_loss"] = summarize_runs(out["cv"][i, :, 0])
                row["cv_acc"] = summarize_runs(out["cv"][i, :, 1])
            names = out["eval_names"]
            for j, name in enumerate(names[:len(names) - len(dev)]):
                row[f"eval_{name}_acc"] = summarize_runs(out["eval"][i, :, j, 1])
            if dev:
                row["dev_loss"] = summarize_runs(out["eval"][i, :, -1, 0])
                row["dev_acc"] = summarize_runs(out["eval"][i, :, -1, 1])
            rows.append(row)
        if not args.quiet:
            log(f"hidden {hidden}, layers {layers}: {len(points)} points x {len(seeds)} seeds "
                f"in one program, compile {out['compile_s']:.1f} s, run {out['run_s']:.1f} s")
    key, higher, tie = SIGNALS[select]
    sign = -1.0 if higher else 1.0  # the tie-break runs the other way (loss vs accuracy)
    order = sorted(range(len(rows)), key=lambda i: (sign * rows[i][key]["mean"],
                                                    -sign * rows[i][tie]["mean"]))  # fmt: skip
    rows = [rows[i] for i in order]
    chosen = rows[0]
    return {
        "model": args.model, "seeds": seeds, "epochs": base.epochs,
        "batch_size": base.batch_size, "val_fraction": base.val_fraction,
        "early_stopping": base.early_stopping, "eval_data": list(args.eval_data or ()),
        "dev_data": _shown_path(dev_file),
        "chosen_by": CHOSEN_BY[select].format(k=args.cv, dev=os.path.basename(dev_file or "")),
        "select": select, "cv": args.cv,
        "chosen": chosen, "command": train_command(args, chosen, base), "rows": rows,
        "timing": runs_s,
    }  # fmt: skip


def _shown_path(path: str | None) -> str | None:
    """``path`` relative to the working directory where it lies below it (results files
    name no one's home directory), else as given."""
    if path is None:
        return None
    rel = os.path.relpath(os.path.abspath(path))
    return path if rel.startswith("..") else rel


def train_command(args, row: dict, base: TrainConfig) -> str:
    """The ``python -m jaxrnn.train`` line that trains the chosen point."""
    return (f"python -m jaxrnn.train --model {args.model} --hidden {row['hidden']} --layers "
            f"{row['layers']} --optimizer adam --lr {row['lr']:g} --weight-decay "
            f"{row['weight_decay']:g} --dropout {row['dropout']:g} --clip {row['clip']:g} "
            f"--epochs {base.epochs} --batch-size {base.batch_size} --val-fraction "
            f"{base.val_fraction:g} --early-stopping {base.early_stopping}"
            + _data_flags(base))  # fmt: skip


def _data_flags(cfg: TrainConfig) -> str:
    """The data flags of ``cfg`` that differ from the defaults, as command-line text."""
    import shlex

    out = []
    for flag, value, default in (("--data", cfg.data, None), ("--test-data", cfg.test_data, None),
                                 ("--test-fraction", cfg.test_fraction, 0.2),
                                 ("--format", cfg.data_format, None),
                                 ("--text-column", cfg.text_column, "text"),
                                 ("--label-column", cfg.label_column, "label")):  # fmt: skip
        if value != default:
            out.append(f" {flag} {shlex.quote(str(value))}")
    return "".join(out)


def markdown(res: dict) -> str:
    """``results.md``: every point, best validation loss first."""
    evals = [k for k in res["rows"][0] if k.startswith("eval_")]
    extra = [k for k in ("cv_loss", "cv_acc", "dev_loss", "dev_acc") if k in res["rows"][0]]
    head = ["hidden", "layers", *HPARAMS, "val loss", "val acc",
            *[k.replace("_", " ") for k in extra], "best epoch", "train acc",
            "test acc", *[e.replace("_", " ") + " (not used to choose)" for e in evals]]
    lines = [f"# Sweep: {res['model']}, {len(res['seeds'])} seeds per point, chosen by "
             f"{res['chosen_by']}", "",
             f"Chosen: `{res['command']}`", "",
             "| " + " | ".join(head) + " |", "|" + "--|" * len(head)]  # fmt: skip

    def ms(s: dict, d: int = 3) -> str:
        return f"{s['mean']:.{d}f} ± {s['std']:.{d}f}"

    for r in res["rows"]:
        cells = [str(r["hidden"]), str(r["layers"]), f"{r['lr']:g}", f"{r['weight_decay']:g}",
                 f"{r['dropout']:g}", f"{r['clip']:g}", ms(r["val_loss"], 4), ms(r["val_acc"]),
                 *[ms(r[k], 4 if k.endswith("loss") else 3) for k in extra],
                 f"{r['best_epoch']['mean']:.1f}", ms(r["train_acc"]), ms(r["test_acc"]),
                 *[ms(r[e]) for e in evals]]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    t = sum(x["compile_s"] + x["run_s"] for x in res["timing"])
    lines += ["", f"{sum(x['runs'] for x in res['timing'])} runs in {t:.1f} s "
              f"(compile + run, {len(res['timing'])} programs)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def figure(res: dict, path: str) -> None:
    """Validation loss (x) against each eval set's accuracy, or the test accuracy (y)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from jaxrnn.util.atomic import atomic_write

    evals = [k for k in res["rows"][0] if k.startswith("eval_")] or ["test_acc"]
    fig, axes = plt.subplots(1, len(evals), figsize=(5.5 * len(evals), 4.2), squeeze=False)
    shapes = sorted({(r["hidden"], r["layers"]) for r in res["rows"]})
    for ax, key in zip(axes[0], evals, strict=True):
        for shp in shapes:
            rs = [r for r in res["rows"] if (r["hidden"], r["layers"]) == shp]
            ax.scatter([r["val_loss"]["mean"] for r in rs], [r[key]["mean"] for r in rs],
                       s=18, label=f"hidden {shp[0]}, layers {shp[1]}")  # fmt: skip
        c = res["chosen"]
        ax.scatter([c["val_loss"]["mean"]], [c[key]["mean"]], s=120, facecolors="none",
                   edgecolors="k", label=f"chosen ({res['select']} signal)")  # fmt: skip
        ax.set_xlabel("validation loss (mean over seeds)")
        ax.set_ylabel(f"{key}, mean over seeds\n(not used to choose)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"sweep of {res['model']}: {len(res['rows'])} points x "
                 f"{len(res['seeds'])} seeds")  # fmt: skip
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, buf.getvalue(), fsync=False)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.sweep``; returns the exit code."""
    import json

    from jaxrnn.util import cache as _cache
    from jaxrnn.util.atomic import atomic_write

    args = build_parser().parse_args(argv)
    try:
        # said now, not after the sweep has trained (a file, an unwritable place)
        check_output_folder("--out", args.out)
        _cache.enable()
        res = sweep(args, log=print)
        os.makedirs(args.out, exist_ok=True)
        atomic_write(os.path.join(args.out, "results.json"), json.dumps(res, indent=1),
                     fsync=False)  # fmt: skip
        atomic_write(os.path.join(args.out, "results.md"), markdown(res), fsync=False)
        figure(res, os.path.join(args.out, "sweep.png"))
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"error: cannot write to {args.out}: {e.strerror or e}", file=sys.stderr)
        return 2
    c = res["chosen"]
    extra = "".join(f", {k.replace('_', ' ')} {c[k]['mean']:.3f}" for k in c
                    if k.startswith("eval_"))  # fmt: skip
    short = {"val": "lowest validation loss", "cv": "lowest CV loss",
             "dev": "highest dev accuracy"}[res["select"]]  # fmt: skip
    print(f"chosen ({short}): hidden {c['hidden']}, layers {c['layers']}, lr "
          f"{c['lr']:g}, weight decay {c['weight_decay']:g}, dropout {c['dropout']:g}, clip "
          f"{c['clip']:g}: val loss {c['val_loss']['mean']:.4f}, val acc "
          f"{c['val_acc']['mean']:.3f}"
          + "".join(f", {k.replace('_', ' ')} {c[k]['mean']:.4f}" for k in ("cv_loss", "dev_loss")
                    if k in c)
          + f", test acc {c['test_acc']['mean']:.3f}{extra}")
    print(res["command"])
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
