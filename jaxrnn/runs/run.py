"""``fit``: train as a config says, on the JAX or the NumPy backend, fresh or resumed.

JAX is imported only for the JAX backend, so ``--backend numpy`` runs without it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import time
from collections.abc import Callable, Collection

import numpy as np

from jaxrnn.errors import ConfigError, ShortValidation
from jaxrnn.runs.config import (
    AUTO_BATCH,
    AUTO_BATCH_STEPS,
    TrainConfig,
    auto_batch_size,
    auto_model,
    flag_name,
    preset_batch_size,
    resolve_config,
)
from jaxrnn.runs.prepare import Prepared
from jaxrnn.runs.registry import TaskInfo, get_spec, task_info
from jaxrnn.runs.report import default_log_every
from jaxrnn.runs.results import RunResult


def fit(
    cfg: TrainConfig,
    data: Prepared | None = None,
    *,
    seeds: int = 1,
    log: Callable[[str], None] | None = None,
    log_every: int | None = None,
    progress: bool = False,
    save: str | None = None,
    save_every: int | None = None,
    resume: str | None = None,
    given: Collection[str] | None = None,
    note: Callable[[str], None] | None = None,
    cv: int = 0,
    ensemble: int = 0,
) -> RunResult:
    """Train as ``cfg`` says (resolved here) and return histories, weights and timings.

    Args:
      cfg: the configuration; ``None`` fields take the model's preset.
      data: encoded data (default: ``prepare_data(cfg)``); for ``--task classify`` also
        numeric sequences: a ``jaxrnn.data.numeric.NumericSet`` (``from_arrays(x, y,
        lengths)``; a ``--test-fraction`` split is held out) or a ``(train, test)`` pair.
      seeds: train seeds ``cfg.seed .. cfg.seed + seeds - 1`` in one program.
      log: receives a line per logged epoch (every ``log_every`` epochs).
      progress: show a progress bar on a terminal.
      save, save_every: write a checkpoint to ``save`` every ``save_every`` epochs
        and at the end.
      resume: continue from this checkpoint. Its model, data and seeds are kept: a field of
        ``cfg`` that would change them raises ``ConfigError``; the schedule (``epochs``,
        ``lr``) and how the run executes (``RESUME_RUNTIME``) may change. Nothing is written
        unless ``save`` is given (``save=resume`` continues the file in place). A run trained
        on numeric arrays (``data=``) resumes with the same ``data=`` passed again (scaled
        with the checkpoint's standardiser).
      given: the ``cfg`` fields set on the command line (``--resume`` checks those); None:
        the fields that differ from ``TrainConfig``'s defaults.
      cv: ``--cv K`` (classify, JAX): train K fold-models of the training rows instead of
        seeds (``jaxrnn.runs.selection``); the JSON gains ``cv_loss``, ``cv_acc``, ``cv_folds``.
      ensemble: ``--ensemble N`` (classify, JAX): train N seeds (in place of ``seeds``); the
        result's JSON gains the mean-probability ensemble's ``ensemble_loss``,
        ``ensemble_acc`` and ``ensemble_evals``; a ``save``d checkpoint serves the ensemble.
      note: receives one-line notes and warnings for the user (data summary warnings, empty
        texts, a padding length far above the median, what a resume changes).

    Returns:
      A ``RunResult``; ``result.predictor()`` classifies new texts in memory.
    """
    if save is not None and os.path.isdir(save):  # said now, not after the training
        raise ConfigError(f"save={save!r} is a folder: give a file name")
    if save_every and not save:
        raise ConfigError("--save-every needs --save PATH")
    if resume is not None:
        if cv or ensemble:
            raise ConfigError("--cv and --ensemble train afresh: they cannot --resume")
        return _resume(resume, cfg, log=log, log_every=log_every, progress=progress, save=save,
                       save_every=save_every, given=given, note=note, data=data)  # fmt: skip
    # Arrays passed in Python are the user's own data too: --model auto as for a --data file.
    own = (dataclasses.replace(cfg, data="(arrays)")
           if cfg.model == "auto" and cfg.data is None and _is_numeric(data) else cfg)  # fmt: skip
    # said once the data have loaded (a bad file's error stays the only line)
    chosen = auto_note(own) if own.model == "auto" else ""
    cfg = dataclasses.replace(resolve_config(own), data=cfg.data)
    if cfg.eval_every is None:  # fit(): every epoch (python -m jaxrnn.train: --log-every's)
        cfg = dataclasses.replace(cfg, eval_every=1)
    if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral) or seeds < 1:
        raise ConfigError(f"--seeds must be an integer, at least 1, got {seeds!r}")
    seeds = int(seeds)
    if cv:
        _check_cv(cfg, cv, seeds, save)
    if ensemble:
        if not task_info(cfg).selection or cfg.backend != "jax" or cv or seeds != 1 or cfg.resplit:
            raise ConfigError("--ensemble N is for --task classify on the JAX backend, without "
                              "--seeds, --cv or --resplit")  # fmt: skip
        if ensemble < 2:
            raise ConfigError(f"--ensemble needs N >= 2 members, got {ensemble}")
        seeds = ensemble
    t0 = time.perf_counter()
    seed_list = [cfg.seed + i for i in range(seeds)]
    info = task_info(cfg)
    data = _numeric_data(cfg, info, data)
    before_fit = info.hook("before_fit")
    if before_fit is not None:  # what the task cannot do, said before anything is loaded
        before_fit(cfg)
    if cfg.resplit:
        if cfg.data is None or cfg.test_data is not None or data is not None:
            raise ConfigError("--resplit needs --data without --test-data: a split to redraw")
        if save:
            raise ConfigError("--resplit trains one model per split: it cannot --save one "
                              "checkpoint")  # fmt: skip
        _check_resplit_data(cfg)
        return _fit_resplit(cfg, seed_list, log, log_every, note, t0)
    if cfg.backend == "numpy":  # the task's NumPy reference: no JAX
        if save:  # refused, not dropped: a run asked to keep its weights must not lose them
            raise ConfigError("--save writes the jax backend's checkpoints: the numpy backend "
                              "keeps no weights (train with --backend jax to save them)")
        return _fit_numpy(cfg, info, data, seed_list, log, log_every, progress, note, t0,
                          chosen)  # fmt: skip
    spec = get_spec(cfg)
    if data is None:  # read before JAX is imported: a bad file is one line at once
        try:
            data = spec.prepare(cfg, None)
        except ShortValidation as e:
            # --model auto asked for the validation part itself (a series' early stopping): a
            # file too short for one trains without it, as --val-fraction 0 would, and says so
            if not (own.model == "auto" and own.val_fraction is None
                    and own.early_stopping is None):
                raise
            cfg = dataclasses.replace(resolve_config(dataclasses.replace(own, val_fraction=0.0)),
                                      data=cfg.data, eval_every=cfg.eval_every)
            data = spec.prepare(cfg, None)  # its errors first: they stay the only line
            if note is not None:
                note(f"note: {e.brief}: --model auto trains without a validation part (no "
                     f"early stopping, {cfg.epochs} epochs)")
    cfg = resolve_batch(cfg, data, note, chosen)
    if info.data_notes:
        data_notes(cfg, data, log, note)
    if (cv or ensemble) and not hasattr(data.train, "ids"):
        raise ConfigError("--cv and --ensemble score text classifiers (ids, lengths); numeric "
                          "sequences are not supported yet")  # fmt: skip
    if cv:
        from jaxrnn.runs.selection import cv_run, cv_scores

        run, folds, train = cv_run(cfg, data, cv)
        del data
        result = run.train(0, [[] for _ in range(cv)], t0, log, log_every, progress, None, None)
        result.extra.update(cv_scores(run, folds, train))
        return result
    from jaxrnn.runs.jax_run import JaxRun

    run = JaxRun(cfg, data, seed_list)
    if ensemble:
        from jaxrnn.runs.selection import ensemble_scores

        test, evals = data.test, list(data.evals)
        del data
        result = run.train(0, [[] for _ in seed_list], t0, log, log_every, progress, save,
                           save_every)  # fmt: skip
        result.extra.update(ensemble_scores(run, test, evals))
        return result
    del data  # the run holds what it still needs (e.g. not the training ids it put on a device)
    return run.train(0, [[] for _ in seed_list], t0, log, log_every, progress, save, save_every)


def _check_cv(cfg: TrainConfig, cv: int, seeds: int, save: str | None) -> None:
    """What ``--cv K`` cannot be combined with, refused in one line."""
    if not task_info(cfg).selection or cfg.backend != "jax":
        raise ConfigError("--cv is for --task classify on the JAX backend")
    if cv < 2:
        raise ConfigError(f"--cv needs K >= 2 folds, got {cv}")
    if seeds != 1 or cfg.resplit or save:
        raise ConfigError("--cv trains K fold-models in place of seeds: drop --seeds, "
                          "--resplit and --save")  # fmt: skip


def auto_note(cfg: TrainConfig) -> str:
    """The line that says what ``--model auto`` chose for the user's own data ('' for the
    study's RNN on the bundled data)."""
    model, _, why = auto_model(cfg)
    if not why:
        return ""
    return (f"note: --model not given: training {model} on your data ({why}); --model NAME "
            "picks another (--model rnn: the study's RNN)")


def resolve_batch(cfg: TrainConfig, data: Prepared, note: Callable[[str], None] | None,
                  chosen: str = "") -> TrainConfig:  # fmt: skip
    """``--batch-size auto`` made a number once the training rows are known (said in a note,
    after ``chosen``: what ``--model auto`` chose, if it did); a batch larger than the
    training split refused."""
    rows = len(data.train[0])
    auto = cfg.batch_size == AUTO_BATCH
    preset = preset_batch_size(cfg) if auto else cfg.batch_size
    b = auto_batch_size(rows, preset) if auto else cfg.batch_size
    _check_batch(rows_per_step(task_info(cfg), dataclasses.replace(cfg, batch_size=b)), data)
    if chosen and note is not None:  # after the data's own errors: those stay one line
        note(chosen)
    if not auto:
        return cfg
    if note is not None:
        note(f"note: batch size {b} (auto: {cfg.model}'s {preset}, or less to leave at least "
             f"{AUTO_BATCH_STEPS} steps per epoch on {rows} training examples; --batch-size N "
             "sets it)")
    return dataclasses.replace(cfg, batch_size=b)


def _numeric_sets(data) -> tuple:
    """``data`` as a tuple of ``jaxrnn.data.numeric.NumericSet`` (one, or a ``(train, test)``
    pair), or ``()`` when it is anything else."""
    from jaxrnn.data.numeric import NumericSet

    sets = data if isinstance(data, tuple) and not isinstance(data, NumericSet) else (data,)
    return sets if sets and all(isinstance(s, NumericSet) for s in sets) else ()


def _is_numeric(data) -> bool:
    """Whether ``data`` passed to ``fit`` is numeric sequences (``_numeric_sets``)."""
    return bool(_numeric_sets(data))


def _numeric_data(cfg: TrainConfig, info: TaskInfo, data, vocab=None):
    """``data`` given as numeric sequences (a ``jaxrnn.data.numeric.NumericSet``, or a
    ``(train, test)`` pair of them) -> the run's ``Prepared`` (``prepare_numeric``: test split
    when no test set, validation split, standardiser; a resumed run's ``vocab`` keeps its
    checkpoint's); anything else as it is."""
    sets = _numeric_sets(data)
    if not sets:
        if data is not None and not isinstance(data, Prepared):  # else an AttributeError later
            raise ConfigError(f"data= takes numeric sequences (jaxrnn.data.numeric.from_arrays"
                              f"(x, y, lengths), or a (train, test) pair of them) or prepared "
                              f"data, not a {type(data).__name__}; for a file, set "
                              f"TrainConfig(data=PATH)")  # fmt: skip
        return data
    if not info.numeric or len(sets) > 2:
        raise ConfigError("numeric sequences (NumericSet) train --task classify: pass "
                          "data=train_set or data=(train_set, test_set)")  # fmt: skip
    from jaxrnn.runs.prepare_numeric import prepare_numeric

    return prepare_numeric(cfg, vocab, train=sets[0], test=sets[1] if len(sets) == 2 else None)


def rows_per_step(info: TaskInfo, cfg: TrainConfig) -> int:
    """Rows of the training split one optimizer step reads (default ``cfg.batch_size``)."""
    return info.rows_per_step(cfg) if info.rows_per_step else cfg.batch_size


def _fit_numpy(cfg: TrainConfig, info: TaskInfo, data: Prepared | None, seed_list: list[int],
               log, log_every, progress: bool, note, t0: float, chosen: str = ""
               ) -> RunResult:  # fmt: skip
    """``--backend numpy``: the task's NumPy reference run (imports no JAX)."""
    data = data if data is not None else info.hook("numpy_prepare")(cfg)
    cfg = resolve_batch(cfg, data, note, chosen)
    if info.data_notes:
        data_notes(cfg, data, log, note)
    return info.hook("numpy_fit")(cfg, data, seed_list, log,
                                  log_every or default_log_every(cfg.epochs), progress, t0)


def _check_resplit_data(cfg: TrainConfig) -> None:
    """``ConfigError`` for ``--resplit`` on a ``.json`` file that holds its own train/test split
    (every seed would read the same split, not draw one)."""
    from jaxrnn.data.files import detect_format, load_table
    from jaxrnn.errors import DataError

    try:
        if detect_format(cfg.data, cfg.data_format) != "json":
            return
        table = load_table(cfg.data, text_column=cfg.text_column, label_column=cfg.label_column,
                           fmt=cfg.data_format, skip_bad_rows=cfg.skip_bad_rows)  # fmt: skip
    except DataError:
        return  # not a text table this reads, or a bad one: the run's own loader says so
    if "test" in table.splits:
        raise ConfigError(f'--resplit: {cfg.data} holds its own split (a "test" array), which '
                          "every seed would read as it is; put its rows in one array to draw a "
                          "split per seed")  # fmt: skip


def _fit_resplit(cfg: TrainConfig, seed_list: list[int], log, log_every, note, t0: float
                 ) -> RunResult:  # fmt: skip
    """``--resplit``: seed ``s`` trains with init seed ``s`` on the split drawn with ``s``; one
    run per seed (each split has its own vocabulary, so no shared program or params)."""
    runs = []
    for i, s in enumerate(seed_list):
        r = fit(dataclasses.replace(cfg, seed=s, resplit=False), log=None, log_every=log_every,
                note=note if i == 0 else None)  # fmt: skip
        runs.append(r)
        if log is not None:
            scores = ", ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in r.final.items()
                               if not k.endswith("loss"))  # fmt: skip
            log(f"seed {s} (split {s}): {scores}")
    first = runs[0]
    extra = {"resplit": True, "truncated": sum(r.extra.get("truncated", 0) for r in runs),
             "num_params_per_seed": [r.num_params for r in runs],
             "device": first.extra.get("device")}  # fmt: skip
    derived = [r.derived[0] for r in runs] if first.derived else None
    return RunResult(cfg, seed_list, [r.histories[0] for r in runs], time.perf_counter() - t0,
                     sum(r.compile_s for r in runs), first.num_params, None, extra,
                     [r.reports[0] for r in runs if r.reports], label_names=first.label_names,
                     metric_names=first.metric_names, derived=derived)  # fmt: skip


def _check_batch(rows_per_step: int, data: Prepared) -> None:
    rows = len(data.train[0])
    if rows_per_step > rows:
        raise ConfigError(
            f"--batch-size {rows_per_step} is larger than the {rows} training examples: lower it"
        )


# What ``--resume`` may change: the schedule, and how the run executes (not what it computes).
RESUME_SCHEDULE = ("epochs", "lr")
RESUME_RUNTIME = ("compile_mode", "eval_batch_size", "devices", "data_parallel", "seed_group",
                  "eval_data", "eval_train", "eval_every")


def resume_config(saved: TrainConfig, override: TrainConfig, given: Collection[str] | None
                  ) -> tuple[TrainConfig, list[str]]:  # fmt: skip
    """The checkpoint's config ``saved`` with the changes ``override`` may make, and a
    ``"name old -> new"`` line per change. Raises ``ConfigError`` (one line, naming the
    flags) for any other field set in ``override`` to a value other than the saved one."""
    defaults = TrainConfig()
    if given is None:
        given = [f.name for f in dataclasses.fields(TrainConfig)
                 if getattr(override, f.name) is not None
                 and getattr(override, f.name) != getattr(defaults, f.name)]  # fmt: skip
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    refused, changes, applied = [], {}, []
    for name in (n for n in fields if n in given):  # in field order
        new, old = getattr(override, name), getattr(saved, name)
        if new is None or new == old or (name == "buckets" and new == -1):  # auto: as saved
            continue
        if name in RESUME_SCHEDULE or name in RESUME_RUNTIME:
            changes[name] = new
            applied.append(f"{name} {old} -> {new}")
        else:
            refused.append(f"{flag_name(fields[name])} {new}")
    if refused:
        fixed = ", ".join(f"{flag_name(fields[n])}" for n in RESUME_SCHEDULE + RESUME_RUNTIME)
        raise ConfigError(
            f"{', '.join(refused)}: cannot change on --resume (the checkpoint fixes the model, "
            f"the data and the seeds; it may change {fixed}): drop it, or train afresh"
        )
    return dataclasses.replace(saved, **changes), applied


def _resume(path, cfg_override, *, log, log_every, progress, save, save_every, given, note,
            data=None) -> RunResult:  # fmt: skip
    import jax

    from jaxrnn.runs.checkpoints import load_checkpoint
    from jaxrnn.runs.jax_run import JaxRun

    t0 = time.perf_counter()
    r = load_checkpoint(path)
    cfg, applied = resume_config(r.config, cfg_override, given)
    resolve_config(cfg)  # the new values are checked as a fresh run's would be
    if cfg.epochs < r.epoch:
        raise ConfigError(f"--epochs {cfg.epochs} is below the {r.epoch} epochs already trained")
    if r.epoch == cfg.epochs:
        raise ConfigError(f"{path} already has all {cfg.epochs} epochs: pass a larger --epochs")
    if data is None and cfg.data is None and getattr(r.tokenizer, "data_format", None) == "arrays":
        raise ConfigError(f"{path} was trained on arrays passed in Python, not a --data file: "
                          f"resume it in Python with the same arrays, "
                          f"jaxrnn.fit(cfg, data=..., resume={str(path)!r})")  # fmt: skip
    if note is not None:
        changed = f": {', '.join(applied)}" if applied else ""
        kept = (f"saving to {save}" if save else
                f"not saving (--save PATH keeps it; --save {path} continues that file)")
        note(f"resuming {path} at epoch {r.epoch}{changed}; {kept}")
    data = _numeric_data(cfg, task_info(cfg), data, r.tokenizer)
    if data is None:
        data = get_spec(cfg).prepare(cfg, r.tokenizer)
    state = r.state if len(r.seeds) > 1 else jax.tree.map(lambda a: a[None], r.state)
    if cfg.early_stopping:  # the saved run's last epoch stopped it: more epochs train on
        from jaxrnn.training.loop import reopen_early_stop

        state = reopen_early_stop(state, cfg.early_stopping)
    run = JaxRun(cfg, data, r.seeds, state=state)
    histories = [list(h) for h in r.histories]
    return run.train(r.epoch, histories, t0, log, log_every, progress, save, save_every)


def write_bad_rows(path: str, rows: tuple[tuple[str, int, str, str], ...]) -> None:
    """The rows ``--skip-bad-rows`` left out, as a TSV: file, line, reason, row."""
    import csv
    import io

    from jaxrnn.util.atomic import atomic_write

    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["file", "line", "reason", "row"])
    w.writerows(rows)
    atomic_write(path, buf.getvalue(), fsync=False)


def data_notes(cfg: TrainConfig, data: Prepared, log: Callable[[str], None] | None,
               note: Callable[[str], None] | None) -> None:  # fmt: skip
    """Before a classification run: the data summary of the user's files (rows, per-class
    counts) to ``log``; label warnings (``jaxrnn.data.checks``), texts with no known token
    and a padding length far above the median to ``note``."""
    from jaxrnn.data.checks import class_counts, data_summary, label_warnings

    n = len(data.label_names)
    train = class_counts(data.train.labels, n)
    test = class_counts(data.test.labels, n)
    if log is not None and cfg.data is not None:
        log(data_summary(data.label_names, train, test))
    if cfg.bad_rows and data.skipped:  # written whether or not notes are shown
        write_bad_rows(cfg.bad_rows, data.skipped)
    if note is None:
        return
    for line in data.notes:  # labels merged by case, rows left out (--skip-bad-rows)
        note(f"note: {line}")
    if cfg.bad_rows and data.skipped:
        note(f"note: the {len(data.skipped)} rows left out are in {cfg.bad_rows}")
    for w in label_warnings(data.label_names, train, test):
        note(f"warning: {w}")
    empty = [(split, int((a.lengths == 0).sum()), len(a.lengths))
             for split, a in (("training", data.train), ("test", data.test))]  # fmt: skip
    if any(k for _, k, _ in empty):
        which = " and ".join(f"{k} of {m} {split} texts" for split, k, m in empty if k)
        one = sum(k for _, k, _ in empty) == 1
        note(f"warning: {which} {'has' if one else 'have'} no known token (unseen or filtered "
             f"words, or beyond --num-words): {'it is' if one else 'they are'} classified from "
             "padding alone")  # fmt: skip
    if getattr(data.vocab, "kind", None) == "numeric":  # the rest is about tokenised texts
        return
    if not cfg.max_len and data.longest > int(data.vocab.max_len or 0):
        note(auto_truncation_note(data))
    lengths = np.asarray(data.train.lengths)
    median = float(np.median(lengths)) if len(lengths) else 0.0
    max_len = int(data.vocab.max_len or 0)
    if max_len >= 64 and max_len >= 4 * max(median, 1.0) and not _bucketed(cfg, data):
        # The shortest length that keeps at least 95% of the training texts whole.
        p95 = int(np.sort(lengths)[math.ceil(0.95 * len(lengths)) - 1])
        whole = float(np.mean(lengths <= p95))
        hint = (f": --max-len {p95} keeps {whole:.0%} of the training texts whole"
                if p95 < max_len else "")  # fmt: skip
        note(f"note: every text is padded to {max_len} tokens, {max_len / max(median, 1):.0f}x "
             f"the median training text ({median:g} tokens); time and memory grow with "
             f"it{hint}")  # fmt: skip


def auto_truncation_note(data: Prepared) -> str:
    """What ``--max-len auto`` cut: the length it chose, why, and how many texts it truncated."""
    from jaxrnn.runs.prepare import AUTO_HEADROOM, AUTO_QUANTILE

    max_len = int(data.vocab.max_len)
    test = data.truncated - data.truncated_train
    return (f"note: --max-len auto padded to {max_len} tokens ({AUTO_HEADROOM:g}x the "
            f"{AUTO_QUANTILE:.0%} quantile of training lengths), not to the longest training "
            f"text ({data.longest} tokens): {data.truncated_train} training and {test} test "
            f"{'text' if data.truncated == 1 else 'texts'} truncated (--max-len N keeps "
            "more)")  # fmt: skip


def _bucketed(cfg: TrainConfig, data: Prepared) -> bool:
    """Whether a classification run will use length buckets (most batches padded far less
    than ``max_len``); the NumPy backend never does (and imports no JAX)."""
    if cfg.backend != "jax" or not cfg.buckets:
        return False
    from jaxrnn.runs.plan import plan_buckets

    return plan_buckets(cfg, data) is not None
