"""``python -m jaxrnn.train``: the argument parser (generated from ``TrainConfig``) and ``main``.

Every run option is written once, as a ``TrainConfig`` field with ``jaxrnn.runs.config.option``
(default, choices, help); the flags here are generated from those fields. The flags
that are not run options (seeds, outputs, checkpoints, multi-host) are added below.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Collection, Mapping, Sequence

from jaxrnn.cli._common import Parser, check_outputs, run
from jaxrnn.data.files import check_exists
from jaxrnn.errors import ConfigError, Interrupted, UsageError
from jaxrnn.evaluation.metrics import plot_confusion
from jaxrnn.runs import memory
from jaxrnn.runs.config import (
    AUTO_BATCH,
    MODEL_NAMES,
    PRESET_DEFAULTS,
    PRESETS,
    TrainConfig,
    flag_name,
    resolve_config,
    saved_config,
)
from jaxrnn.runs.registry import ignored_options, task_info
from jaxrnn.runs.report import default_log_every
from jaxrnn.runs.results import format_summary, write_json
from jaxrnn.runs.run import fit
from jaxrnn.training import distributed
from jaxrnn.util import cache as _cache


def parse_max_len(text: str) -> int:
    """``--max-len``: a positive integer, or ``auto`` (0)."""
    if text == "auto":
        return 0
    v = int(text) if text.strip().lstrip("-").isdigit() else 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return v


def parse_buckets(text: str) -> int:
    """``--buckets``: a count >= 0 (0 = off), ``off`` (0) or ``auto`` (-1)."""
    if text in ("auto", "off"):
        return -1 if text == "auto" else 0
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a count, 0, off or auto, got {text!r}")
    return int(text)


def parse_batch_size(text: str) -> int:
    """``--batch-size``: a positive integer, or ``auto`` (0: sized from the training rows)."""
    if text == "auto":
        return AUTO_BATCH
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}")
    return int(text)


_TYPES = {"max_len": parse_max_len, "buckets": parse_buckets, "batch_size": parse_batch_size}
# Presets that ``resolve_config`` replaces for the user's own data (``--data``).
_WITH_DATA = {"num_words": "0 (all words)", "max_len": "auto"}


def _preset_help(name: str) -> str:
    presets = {m: {**PRESET_DEFAULTS, **PRESETS[m]} for m in MODEL_NAMES}
    return ", ".join(f"{m}: {presets[m][name]}" for m in MODEL_NAMES if name in presets[m])


def _add_option(group: argparse._ArgumentGroup, f: dataclasses.Field) -> None:
    meta = dict(f.metadata)
    help_text = meta["help"]
    kw: dict = {"dest": f.name}
    if meta.get("append"):  # repeatable; the config turns None into ()
        kw["action"] = "append"
    elif meta.get("type") is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif meta.get("type") is not None:
        kw["type"] = _TYPES.get(meta["type"], meta["type"])
    if "choices" in meta:
        if meta.get("metavar") or len(meta["choices"]) > 3 or f.name == "data_parallel":
            kw["metavar"] = "{" + ",".join(map(str, meta["choices"])) + "}"
        kw["choices"] = meta["choices"]
    if "metavar" in meta:
        kw["metavar"] = meta["metavar"]
    if f.default is None and meta.get("preset", True):
        with_data = _WITH_DATA.get(f.name)
        help_text += f" [preset: {_preset_help(f.name)}" + (
            f"; with --data: {with_data}]" if with_data else "]")  # fmt: skip
    elif f.default is not None and not meta.get("append"):
        help_text += f" [{meta.get('shown', f.default)}]"
        kw["default"] = f.default
    group.add_argument(flag_name(f), *meta.get("aliases", ()), help=help_text, **kw)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m jaxrnn.train``."""
    p = Parser(
        prog="python -m jaxrnn.train",
        description="Train a recurrent text classifier (the bundled sentiment data unless "
        "--data is given). Unset flags take the chosen model's preset, shown in brackets.",
    )
    groups = {
        "model": p.add_argument_group("model and training"),
        "data": p.add_argument_group("data"),
    }
    for f in dataclasses.fields(TrainConfig):
        _add_option(groups[f.metadata.get("group", "model")], f)
    g = groups["model"]
    g.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="train N seeds (seed .. seed+N-1) at once, in one program [1]")  # fmt: skip
    g.add_argument("--cv", type=int, default=0, metavar="K",
                   help="--task classify: K-fold cross-validation of the training rows (folds "
                   "stratified by label, seeded by --seed), the K fold-models trained vmapped "
                   "in one program; prints and writes (--json) cv_loss, cv_acc and per fold "
                   "[0 = off]")  # fmt: skip
    g.add_argument("--ensemble", type=int, default=0, metavar="N",
                   help="--task classify: train N seeds vmapped and predict with their mean "
                   "probability; prints and writes (--json) ensemble_acc, ensemble_loss; "
                   "--save writes the ensemble as one checkpoint that predict serves "
                   "[0 = off]")  # fmt: skip

    m = p.add_argument_group("multi-host (see jaxrnn.training.distributed)")
    m.add_argument("--coordinator", metavar="HOST:PORT",
                   help="process 0's address; starts jax.distributed (env JAX_COORDINATOR_ADDRESS)")
    m.add_argument("--num-processes", type=int, metavar="N", help="env JAX_NUM_PROCESSES")
    m.add_argument("--process-id", type=int, metavar="I", help="0..N-1, env JAX_PROCESS_ID")

    o = p.add_argument_group("output and checkpoints")
    o.add_argument("--json", metavar="PATH", help="write config, history and timings as JSON")
    o.add_argument("--save", metavar="PATH",
                   help="write a checkpoint here (at the end, and see --save-every)")
    o.add_argument("--save-every", type=int, metavar="N", help="also checkpoint every N epochs")
    o.add_argument("--resume", metavar="PATH", help="continue training from this checkpoint: "
                   "its model, data and seeds are used (flags that would change them are "
                   "refused); --epochs and --lr may change; saved only with --save (give the "
                   "same PATH to continue in place)")
    o.add_argument("--plot", metavar="PNG",
                   help="draw the loss and the task's metric per epoch (train and validation/"
                   "test; several seeds as a band) to this PNG; python -m jaxrnn.plot RUN.json "
                   "draws the same from a saved --json")
    o.add_argument("--confusion-png", metavar="PATH",
                   help="draw the test confusion matrix (first seed) to this PNG")
    o.add_argument("--log-every", type=int, metavar="N",
                   help="log every N epochs (default: every epoch up to 20, else epochs/10)")
    o.add_argument("--quiet", action="store_true", help="no per-epoch lines, no progress bar")
    o.add_argument("--no-compile-cache", action="store_true",
                   help="do not keep compiled programs on disk (see JAXRNN_CACHE_DIR)")
    return p  # fmt: skip


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` the parsed flags describe (unset preset fields stay ``None``)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def given_on_command_line(argv: Sequence[str] | None) -> set[str]:
    """The ``dest`` of every flag written in ``argv``, whatever its value: the parser again,
    with every default suppressed, so only what was typed lands in the namespace."""
    p = build_parser()
    for a in p._actions:
        a.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def refuse_ignored(task: str, given: Collection[str]) -> None:
    """``ConfigError`` (one line) naming the flags in ``given`` (``TrainConfig`` fields set
    on the command line) that ``--task task`` never reads (``TaskInfo.ignores``)."""
    ignored = ignored_options(task, given)
    if ignored:
        fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
        flags = ", ".join(flag_name(f) for n, f in fields.items() if n in ignored)
        raise ConfigError(f"{flags}: --task {task} does not use "
                          f"{'it' if len(ignored) == 1 else 'them'}; drop "
                          f"{'it' if len(ignored) == 1 else 'them'}")  # fmt: skip


def _saved_meta(path: str) -> dict:
    """The metadata of the checkpoint at ``path``, read without JAX (``CheckpointError`` if
    unreadable)."""
    from jaxrnn.training import checkpoint_file

    return checkpoint_file.load(path)[0]


def _saved_task(meta: dict) -> str:
    """The task of a checkpoint, from its metadata."""
    config = meta.get("config")
    return str(config.get("task", "classify")) if isinstance(config, dict) else "classify"


def _out_of_memory(e: BaseException) -> bool:
    """An XLA allocation failure (``RESOURCE_EXHAUSTED``) at compile or run time, or a host
    one (``MemoryError``: NumPy padding the texts to ``--max-len``, say)."""
    text = f"{type(e).__name__}: {e}"
    return isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in text or "Out of memory" in text


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def host_devices(cfg: TrainConfig, seeds: int, environ: Mapping[str, str],
                 cores: int | None) -> int:  # fmt: skip
    """CPU devices to ask XLA for before JAX starts (0: leave it alone): one per core when
    ``--data-parallel auto`` would split this run's batches with ``shard_map`` (one model
    trained with the JAX backend, at least the task's ``shard_map_rows`` rows per core), on
    the CPU, and the user has set no device count of their own."""
    cores = cores or 1
    if (cfg.backend != "jax" or cfg.data_parallel != "auto" or seeds != 1 or cores < 2
            or cfg.devices == 1
            or "xla_force_host_platform_device_count" in environ.get("XLA_FLAGS", "")
            or environ.get("JAX_PLATFORMS", "cpu") not in ("", "cpu")):  # fmt: skip
        return 0
    n = cfg.devices or cores
    return n if cfg.batch_size >= task_info(cfg).shard_map_rows * n else 0


def _resumed(meta: dict, args: argparse.Namespace, argv: Sequence[str] | None
             ) -> tuple[TrainConfig, int]:  # fmt: skip
    """A resumed run's config (the checkpoint's ``meta``, with ``--devices`` and
    ``--data-parallel`` where given) and its seed count."""
    cfg = saved_config(meta["config"])
    typed = config_from_args(args)
    runtime = {k: getattr(typed, k) for k in ("devices", "data_parallel")
               if k in given_on_command_line(argv)}  # fmt: skip
    return dataclasses.replace(cfg, **runtime), len(meta["seeds"])


def _use_all_cores(args: argparse.Namespace, argv: Sequence[str] | None = None,
                   saved: dict | None = None) -> None:  # fmt: skip
    """Before JAX starts: one CPU device per core where ``--data-parallel auto`` pays (a
    resumed run, ``saved`` its checkpoint's metadata, as the run it resumes, so that it goes
    on with the same arithmetic)."""
    if args.coordinator is not None or "jax" in sys.modules:
        return
    if args.resume is not None and saved is None:  # unreadable: reported below
        return
    try:
        if args.resume is None:
            cfg, seeds = resolve_config(config_from_args(args)), args.seeds
        else:
            cfg, seeds = _resumed(saved, args, argv)
            cfg = resolve_config(cfg)
    except Exception:  # a bad flag or checkpoint: reported once, below, where it is read
        return
    n = host_devices(cfg, seeds, os.environ, os.cpu_count())
    if n:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m jaxrnn.train``; returns the exit code."""
    args = build_parser().parse_args(argv)
    saved = None  # a resumed checkpoint's metadata, read once (an unreadable one: below)
    if args.resume is not None:
        with contextlib.suppress(Exception):
            saved = _saved_meta(args.resume)
    _use_all_cores(args, argv, saved)
    memory.limit_arenas()  # before JAX starts its threads
    cfg = shown_cfg = None
    try:
        if not args.no_compile_cache and args.backend != "numpy":  # numpy: no JAX import
            _cache.enable()
        dist = distributed.settings(args.coordinator, args.num_processes, args.process_id)
        if dist is not None:
            distributed.initialize(*dist)
            if not distributed.is_main_process():  # one process speaks and writes
                args.quiet, args.json, args.confusion_png, args.plot = True, None, None, None
        cfg = config_from_args(args)
        given = None
        if args.resume is None:
            # every flag checked now; fit resolves again (and says what --model auto chose)
            shown_cfg = resolve_config(cfg)
        else:
            given = given_on_command_line(argv)
            if "seeds" in given:
                raise ConfigError("--seeds cannot change on --resume: the checkpoint holds its "
                                  "seeds; train afresh for others")  # fmt: skip
        for flag, v in (("--log-every", args.log_every), ("--save-every", args.save_every)):
            if v is not None and v < 1:
                raise ConfigError(f"{flag} must be at least 1, got {v}")
        if args.resume is None and cfg.eval_every is None:  # score the epochs the log prints
            cfg = dataclasses.replace(cfg, eval_every=args.log_every or default_log_every(
                shown_cfg.epochs))  # fmt: skip
        # On --resume the task is the checkpoint's, whatever --task says.
        info = task_info(cfg if args.resume is None
                         else _saved_task(saved or _saved_meta(args.resume)))  # fmt: skip
        refuse_ignored(info.name, given_on_command_line(argv))
        if args.confusion_png and not info.confusion:
            raise ConfigError(f"--confusion-png draws a classifier's confusion matrix: not "
                              f"for --task {info.name}")  # fmt: skip
        for flag, path in (("--plot", args.plot), ("--json", args.json),
                           ("--bad-rows", getattr(args, "bad_rows", None))):
            folder = os.path.dirname(os.path.abspath(path)) if path else None
            if folder and not os.path.isdir(folder):  # said now, not after the training
                raise ConfigError(f"{flag} {path}: no such folder {folder}")
        check_outputs(
            [("--save", args.save), ("--json", args.json), ("--plot", args.plot),
             ("--confusion-png", args.confusion_png),
             ("--bad-rows", getattr(args, "bad_rows", None))],
            [("--data", args.data), ("--test-data", args.test_data), ("--resume", args.resume),
             *(("--eval-data", p) for p in args.eval_data or ())],
            may_replace={("--save", "--resume")}, figures={"--plot", "--confusion-png"},
        )  # fmt: skip
        for path in (args.data, args.test_data, *(args.eval_data or ())):
            if path and args.resume is None:  # said before the task's modules bring JAX in
                check_exists(path)  # (on --resume, --data is refused for what it is)
        result = fit(cfg, seeds=args.seeds, log=None if args.quiet else print,
                     log_every=args.log_every, progress=not args.quiet, save=args.save,
                     save_every=args.save_every, resume=args.resume, given=given,
                     note=_note, cv=args.cv,
                     ensemble=args.ensemble)  # fmt: skip
    except UsageError as e:
        print(e if isinstance(e, Interrupted) else f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # Ctrl-C outside the chunk loop (loading, compiling), or twice
        print("interrupted", file=sys.stderr)
        return Interrupted.exit_code
    except Exception as e:
        if not _out_of_memory(e):
            raise
        shown_cfg = shown_cfg or cfg
        max_len = (shown_cfg.max_len or "auto") if shown_cfg is not None else "?"
        batch = (shown_cfg.batch_size or "auto") if shown_cfg is not None else "?"
        # XLA's message spans lines; NumPy's first line says what it could not allocate
        why = ("XLA RESOURCE_EXHAUSTED" if not isinstance(e, MemoryError) or not str(e)
               else str(e).splitlines()[0])  # fmt: skip
        print(f"error: out of memory ({why}) for --max-len {max_len} and "
              f"--batch-size {batch}: lower --max-len or --batch-size",
              file=sys.stderr)  # fmt: skip
        return 2
    cfg, f = result.config, result.final
    if not args.quiet and result.extra.get("truncated"):
        n = result.extra["truncated"]
        used = getattr(result.tokenizer, "max_len", None)
        shown = cfg.max_len or (f"{used} (auto)" if used else "auto")
        print(f"note: {n} {'text was' if n == 1 else 'texts were'} longer than max_len "
              f"{shown} and {'was' if n == 1 else 'were'} truncated")  # fmt: skip
    # The final line stays under --quiet: it is the run's result.
    runs = "folds" if "cv_loss" in result.extra else "seeds"  # --cv K trains K fold-models
    seeds = f", mean of {len(result.seeds)} {runs}" if len(result.seeds) > 1 else ""
    def shown(k: str, v: float) -> str:
        if k == "best_epoch" and len(result.seeds) == 1:
            return f"best epoch {v:g}"
        return f"{k.replace('_', ' ')} {v:{'.3f' if 'acc' in k or 'f1' in k else '.4g'}}"

    scores = ", ".join(shown(k, v) for k, v in f.items() if not k.endswith("loss"))
    info = task_info(cfg)
    if info.summary is not None:  # e.g. the language model's loss first, tokens/s last
        scores = info.summary(scores, result)
    print(f"{cfg.model} ({cfg.backend}, {result.num_params} params{seeds}): {scores}, "
          f"{result.wall_s:.2f} s (compile {result.compile_s:.2f} s)")  # fmt: skip
    if len(result.seeds) > 1:
        summary = result.final_summary()
        print(f"over {len(result.seeds)} {runs}, mean [95% interval of the mean]: "
              + ", ".join(format_summary(k, v) for k, v in summary.items()))  # fmt: skip
    if "cv_loss" in result.extra:
        per = ", ".join(f"{f['acc']:.3f}" for f in result.extra["cv_folds"])
        print(f"cross-validation ({len(result.seeds)} folds): cv loss "
              f"{result.extra['cv_loss']:.4g}, cv acc {result.extra['cv_acc']:.3f} "
              f"(per fold {per})")  # fmt: skip
    if "ensemble_acc" in result.extra:
        ex = result.extra
        ev = "".join(f", {k} acc {v['acc']:.3f}" for k, v in ex["ensemble_evals"].items())
        print(f"ensemble of {len(result.seeds)} (mean probability): test acc "
              f"{ex['ensemble_acc']:.3f}, test loss {ex['ensemble_loss']:.4g}{ev}")  # fmt: skip
    if result.reports:
        show = info.hook("format_report")  # (the NumPy backend's run imports no JAX)
        if not args.quiet:
            which = f" (seed {result.seeds[0]})" if len(result.seeds) > 1 else ""
            print(f"test set{which}:\n{show(result.reports[0])}")
        if args.confusion_png:
            plot_confusion(result.reports[0], args.confusion_png,
                           title=f"{cfg.model}: test confusion matrix")  # fmt: skip
    if args.json or args.plot:
        record = result.to_json()
        if args.json:
            write_json(args.json, record)
        if args.plot:
            from jaxrnn.evaluation.curves import plot_curves

            plot_curves(record, args.plot)
    return 0


# Parser: jaxrnn.cli._common's
__all__ = ["Parser", "build_parser", "config_from_args", "main", "refuse_ignored"]

if __name__ == "__main__":
    sys.exit(run(main))
