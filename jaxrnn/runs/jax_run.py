"""The JAX run: model, optimizer, per-seed state and the compiled epoch runner, in chunks.

One seed is the ``S = 1`` case of many: the state always has a leading seed axis
``[S, ...]``, the runner is ``over_seeds`` of one seed's epoch runner, and the
metrics come back ``[S, E, M]``. Python dispatches once per chunk of epochs; logging,
progress and checkpoints happen between chunks. One compiled program serves every chunk:
its number of epochs is a runtime argument (``jaxrnn.training.loop.loop_epochs``), so chunks of any
length, and a run resumed at any epoch, compute the same bits as one uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxrnn.data.buckets import batch_schedule, length_order, sort_by_length, split_buckets
from jaxrnn.data.orders import shuffle_orders
from jaxrnn.errors import Interrupted, TrainingDiverged
from jaxrnn.nn.models import count_params
from jaxrnn.runs import memory
from jaxrnn.runs.build import initial_params, make_optimizer
from jaxrnn.runs.checkpoints import save_checkpoint
from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.interrupt import StopOnSigint, max_chunk_epochs
from jaxrnn.runs.plan import (
    EPOCHS_PER_CALL,
    Parallel,
    chunk_stops,
    compile_with,
    compiler_options,
    plan_buckets,
    plan_parallel,
    seed_group,
    uses_fast_loop,
    uses_shard_map,
)
from jaxrnn.runs.prepare import Prepared
from jaxrnn.runs.progress import Progress
from jaxrnn.runs.registry import get_spec, metric_names
from jaxrnn.runs.report import (
    default_log_every,
    eval_final_metrics,
    eval_log_lines,
    eval_report,
    format_epoch,
    mean_record,
    records,
    scored_records,
)
from jaxrnn.runs.results import RunResult
from jaxrnn.training import loop, per_sample_sgd
from jaxrnn.training.distributed import to_host


def make_run(
    cfg: TrainConfig,
    model,
    optimizer,
    num_epochs: int,
    data: Prepared,
    parallel: Parallel | None = None,
    with_predictions: bool = False,
    task=None,
) -> Callable:
    """One seed's epoch runner ``run(state, train, test, orders)``: the study RNN's fast path
    (``jaxrnn.training.per_sample_sgd``) where it applies, else
    ``jaxrnn.training.loop.make_run_epochs`` with ``task`` (default: the config's task,
    ``registry.get_spec(cfg).task``).

    ``parallel`` (a ``Parallel``) spreads each batch over devices (generic loop only);
    ``with_predictions`` also returns the test predictions after each epoch.
    """
    if uses_fast_loop(cfg):
        return per_sample_sgd.make_run_epochs(
            model, cfg.lr, cfg.clip or None, num_epochs, data.train.lengths, data.test.lengths,
            with_predictions,
        )  # fmt: skip
    spec = get_spec(cfg)
    task = task or spec.task(cfg, model, data)
    kw: dict[str, Any] = {"with_predictions": with_predictions,
                          "eval_batch_size": cfg.eval_batch_size,
                          "task": task,
                          "early_stopping": cfg.early_stopping or 0,
                          "total_epochs": cfg.epochs, "eval_train": cfg.eval_train,
                          "eval_every": cfg.eval_every or 1}  # fmt: skip
    if parallel is not None and parallel.axis == "batch":
        if task.split_axis == 0:  # rows: padded to a multiple of the devices
            kw.update(batch_sharding=parallel.sharded, pad_multiple=parallel.size)
        else:  # a language model's streams (one chunk of each a step): split as they are
            batch_spec, _ = loop.split_specs(task)
            kw.update(batch_sharding=jax.tree.map(
                lambda p: NamedSharding(parallel.mesh, p), batch_spec,
                is_leaf=lambda x: isinstance(x, PartitionSpec)))  # fmt: skip
        if uses_shard_map(cfg, parallel):
            kw.update(grad_mesh=parallel.mesh)
    rows = spec.rows_per_step(cfg) if spec.rows_per_step else cfg.batch_size
    return loop.make_run_epochs(model, optimizer, rows, num_epochs, **kw)


def over_seeds(run: Callable, num_seeds: int, group: int) -> Callable:
    """``run(state, train, test, orders, val=None, count=None, first=None,
    total_epochs=None)`` for stacked
    per-seed ``state`` and ``orders`` (leading axis ``[S]``; the validation split ``val``,
    ``count``, the epochs to run, and ``first``, the epochs run before, are shared): ``vmap``
    over all seeds, or ``lax.map`` over
    groups of ``group`` seeds (each group vmapped; ``group == 1``: a plain loop, no vmap, so
    each seed computes exactly what a single run computes)."""
    if val_free(run):  # the study RNN's fast path takes no validation split
        run = (lambda r: lambda state, train, test, orders, val=None, count=None, first=None,
               total_epochs=None: r(state, train, test, orders, count))(run)  # (every epoch)
    if group >= num_seeds and group > 1:

        def all_at_once(state, train, test, orders, val=None, count=None, first=None,
                        total_epochs=None):  # fmt: skip
            kw = _given(first=first, total_epochs=total_epochs)
            return jax.vmap(lambda s, o: run(s, train, test, o, val, count, **kw))(state, orders)

        return all_at_once

    def many(state, train, test, orders, val=None, count=None, first=None, total_epochs=None):
        kw = _given(first=first, total_epochs=total_epochs)

        def one(so):
            return run(so[0], train, test, so[1], val, count, **kw)

        return jax.lax.map(one, (state, orders), batch_size=None if group == 1 else group)

    return many


def _given(**kw) -> dict:
    """The optional runner arguments given (a runner without a schedule takes none)."""
    return {k: v for k, v in kw.items() if v is not None}


def val_free(run: Callable) -> bool:
    """Whether an epoch runner lacks the ``val`` argument (``jaxrnn.training.per_sample_sgd``'s)."""
    import inspect

    return "val" not in inspect.signature(run).parameters


def check_finite(metrics: np.ndarray, first_epoch: int, saved: str | None) -> None:
    """Stop on a NaN/inf training loss with a clear message (exit code 1)."""
    bad = ~np.isfinite(metrics[..., 0])  # train loss, [S, E]
    if bad.any():
        epoch = first_epoch + int(np.argwhere(bad)[:, -1].min())
        kept = f"; the last good checkpoint {saved} is kept" if saved else ""
        raise TrainingDiverged(
            f"the training loss became NaN or infinite at epoch {epoch}{kept}: "
            "lower --lr or set --clip"
        )


class JaxRun:
    """Model, optimizer, state ``[S, ...]`` and compiled runner of one JAX run (S seeds).

    ``state``: a ``loop.TrainState`` for ``len(seeds)`` seeds stacked on a leading axis
    (``None``: fresh initial states).
    """

    def __init__(self, cfg: TrainConfig, data: Prepared, seeds: list[int], state=None):
        if cfg.dtype == "float64" and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
        self.cfg, self.data, self.seeds = cfg, data, seeds
        self.cv_orders: np.ndarray | None = None  # [K, E, M] with --cv (jaxrnn.runs.selection)
        self.spec = get_spec(cfg)
        self.parallel = plan_parallel(cfg, len(seeds))
        self.group = seed_group(cfg, len(seeds), self.parallel) if len(seeds) > 1 else 1
        # Length buckets, resolved once (the config keeps the count, so a checkpoint resumes
        # with the same batches, and the model is built for them: chunked loops)
        self.bounds = plan_buckets(cfg, data, self.group, self.parallel)
        if cfg.buckets != (len(self.bounds) if self.bounds else 0):
            self.cfg = cfg = dataclasses.replace(cfg, buckets=len(self.bounds or ()))
        self.model = self.spec.build_model(cfg, data.vocab, data.label_names)
        self.task = self.spec.task(cfg, self.model, data)
        self.metric_names = metric_names(self.task)
        if data.val is not None:  # after the test split's, as the loop returns them
            self.metric_names += tuple(f"val_{m}" for m in self.task.metric_names)
        self.optimizer = make_optimizer(cfg)
        if state is None:
            params = initial_params(self.model, cfg, seeds)
            state = loop.init_states(self.model, self.optimizer, seeds, jnp.dtype(cfg.param_dtype),
                                     params)  # fmt: skip
            if cfg.early_stopping:
                state = state._replace(best=loop.init_best(state.params, (len(seeds),)))
        self.memory = None
        if self.spec.name == "classify" and not uses_fast_loop(cfg):  # before any copy
            self.memory = self.check_memory(state)
        self.train_arrays = jax.tree.map(jax.device_put, self.bucketed(data.train))
        self.test_arrays = jax.tree.map(jax.device_put, self.bucketed(data.test))
        self.val_arrays = None if data.val is None else jax.tree.map(jax.device_put,
                                                                     self.bucketed(data.val))
        if self.chunked:  # the device holds the training ids now: keep only their shape here
            ids = data.train.ids
            stub = np.broadcast_to(np.zeros((), ids.dtype), ids.shape)  # no memory
            self.data = data = data._replace(train=data.train._replace(ids=stub))
        if self.parallel is not None:  # place everything where the compiled program wants it
            par = self.parallel
            state = jax.device_put(state, par.sharded if par.axis == "seed" else par.replicated)
            self.train_arrays = jax.device_put(self.train_arrays, par.replicated)
            self.test_arrays = jax.device_put(self.test_arrays, par.replicated)
            if self.val_arrays is not None:
                self.val_arrays = jax.device_put(self.val_arrays, par.replicated)
        self.state = state
        self.test_predictions: np.ndarray | None = None

    def check_memory(self, state) -> memory.Estimate:
        """The run's estimated peak memory (``jaxrnn.runs.memory``); ``OutOfMemory`` (exit 2,
        one line naming the flag to change) when it cannot fit."""
        splits = {"train": self.data.train, "test": self.data.test, "val": self.data.val}
        rows = {k: len(a.labels) for k, a in splits.items() if a is not None}
        par = self.parallel
        devices = par.size if par is not None and par.axis == "batch" else 1
        n_params = count_params(jax.tree.map(np.asarray, state.params)) // len(self.seeds)
        return memory.check(self.cfg, rows, int(self.data.train.ids.shape[1]),
                            seeds=len(self.seeds), group=self.group, devices=devices,
                            num_params=n_params)  # fmt: skip

    @property
    def chunked(self) -> bool:
        """The model runs its loops in chunks, only as many as each batch's longest text
        needs (``build.BUCKET_CHUNK``; not the study RNN)."""
        layer = getattr(self.model, "layer", None)
        return bool(self.bounds) and layer is not None and layer._options.chunk > 0

    def bucketed(self, arrays):
        """With length buckets, ``arrays`` as a ``loop.Bucketed``: a chunked model's one part,
        the rows sorted by length (each batch runs to about its own longest text, so one
        program serves every bucket); else one part per bucket, cut to its length (the
        training step's ``lax.switch`` has a branch per bucket). No buckets: as they are."""
        if not self.bounds:
            return arrays
        if self.chunked:
            rows, inverse = sort_by_length(arrays)
            ids = rows.ids  # token ids (numeric sequences' features stay floats)
            if ids.dtype.kind in "iu" and int(ids.max(initial=0)) < 2**16:  # half of int32
                rows = rows._replace(ids=rows.ids.astype(np.uint16))
            return loop.Bucketed((rows,), inverse)
        parts, inverse = split_buckets(arrays, self.bounds)
        return loop.Bucketed(tuple(parts), inverse)

    def orders(self, epochs: int) -> np.ndarray:
        """Sample orders ``[S, E, N]``: NumPy-seeded as the scratch trainer's, so at a given
        seed both backends (and every model) visit the training set in the same order.
        A task that reads its rows in order (``spec.shuffle`` False) gets ``0 .. N-1``.
        With length buckets, ``schedule`` turns a slice of them into batch schedules."""
        if self.cv_orders is not None:  # --cv: fold i (a "seed") visits only its training rows
            return self.cv_orders[:, :epochs]
        n = jax.tree.leaves(self.data.train)[0].shape[0]
        if not self.spec.shuffle:
            return np.broadcast_to(np.arange(n, dtype=np.int32), (len(self.seeds), epochs, n))
        return np.stack([shuffle_orders(n, epochs, s) for s in self.seeds]).astype(np.int32)

    def schedule(self, orders: np.ndarray) -> Any:
        """What the compiled epochs read for sample orders ``[S, E, N]``: the orders
        themselves, or with length buckets the batch schedules made from them
        (``loop.Schedule``, ``[S, E, NB]`` and ``[S, E, NB, B]``). Made one chunk at a time:
        a schedule costs about 0.3 ms an epoch in Python, 30 s up front for 100,000 epochs."""
        if not self.bounds:
            return orders
        lengths, b = self.data.train.lengths, self.cfg.batch_size
        # a chunked model's one part holds the rows sorted by length
        inverse = length_order(lengths)[1] if self.chunked else None
        sched = [[batch_schedule(o, lengths, self.bounds, b, inverse) for o in per_seed]
                 for per_seed in orders]  # fmt: skip
        return loop.Schedule(np.array([[p for p, _ in s] for s in sched], np.int32),
                             np.array([[i for _, i in s] for s in sched], np.int32))

    def runner(self, chunk: int) -> Callable:
        """The un-jitted runner of up to ``chunk`` epochs for all seeds (test predictions
        included): ``run(state, train, test, orders [S, chunk, N], val, count, first)``."""
        run = make_run(self.cfg, self.model, self.optimizer, chunk, self.data, self.parallel,
                       with_predictions=True, task=self.task)  # fmt: skip
        return over_seeds(run, len(self.seeds), self.group)

    def train(
        self,
        start: int,
        histories: list[list[dict]],
        t0: float,
        log: Callable[[str], None] | None,
        log_every: int | None,
        progress: bool,
        save: str | None,
        save_every: int | None,
    ) -> RunResult:
        """Train from epoch ``start`` to ``cfg.epochs``, extending ``histories`` (one per seed)."""
        cfg, num_seeds = self.cfg, len(self.seeds)
        self.start_epoch = start
        log_every = log_every or default_log_every(cfg.epochs)
        # One program of a fixed capacity for every run: a resumed run compiles the program of
        # the uninterrupted one, and every chunk, whatever its length, runs it. Chunks end at
        # logged and saved epochs, and are short enough (by estimate) that a Ctrl-C is
        # answered within about a second.
        chunk = EPOCHS_PER_CALL
        shape = np.shape(jax.tree.leaves(self.data.train)[0])
        cap = max_chunk_epochs(cfg, shape[0], shape[1] if len(shape) > 1 else 1, num_seeds)
        stops = chunk_stops(start, cfg.epochs, min(log_every, cap), save_every if save else None)
        run = jax.jit(self.runner(chunk))
        orders = self.orders(cfg.epochs)
        par = self.parallel

        def put(a):
            if par is None:
                return a
            return jax.device_put(a, par.sharded if par.axis == "seed" and a.ndim else
                                  par.replicated)  # fmt: skip

        def orders_for(first: int):
            # the chunk's epochs, padded to the program's capacity (rows unread)
            part = self.schedule(orders[:, first : first + chunk])  # (start < cfg.epochs)
            return jax.tree.map(lambda o: put(np.pad(
                o, [(0, 0), (0, chunk - o.shape[1])] + [(0, 0)] * (o.ndim - 2))), part)

        tr, te, va = self.train_arrays, self.test_arrays, self.val_arrays
        tc = time.perf_counter()
        # the epochs before a chunk, for --eval-every's schedule (none needed without one)
        def first(s: int) -> tuple:
            return (put(np.int32(s)),) if (cfg.eval_every or 1) > 1 else ()

        # the run's length at run time: a resume to more epochs runs the same program (the
        # study RNN's fast path, which has no use for it, drops it: over_seeds)
        length = {"total_epochs": put(np.int32(cfg.epochs))}

        lowered = run.lower(self.state, tr, te, orders_for(start), va, put(np.int32(chunk)),
                            *first(start), **length)  # fmt: skip
        # the heap tracing freed: out of the compile's peak (no gc.collect first: it found
        # nothing to free here, in any task, and took 0.12-0.25 s, more in a large process)
        memory.release_freed()
        options = compiler_options(cfg, self.data, num_seeds, checkpointed=bool(save) or start > 0)
        compiled, options = compile_with(lowered, options)
        del lowered
        memory.release_freed()  # what the compiler freed: back to the system before training
        compile_s = time.perf_counter() - tc
        mem = self.memory_report(compiled)

        saved = None
        preds = None
        with StopOnSigint() as stop, Progress(cfg.epochs - start, "epochs", enabled=progress
                                              ) as bar:  # fmt: skip
            for s, done in zip([start, *stops[:-1]], stops, strict=True):
                n = done - s  # epochs in this chunk, a runtime argument of the one program
                state, (metrics, preds) = compiled(self.state, tr, te, orders_for(s), va,
                                                   put(np.int32(n)), *first(s),
                                                   **length)  # fmt: skip
                metrics = to_host(metrics).reshape(num_seeds, chunk, len(self.metric_names))
                metrics = metrics[:, :n]
                check_finite(metrics, s + 1, saved)
                self.state = state
                for h, m in zip(histories, metrics, strict=True):
                    h.extend(scored_records(records(m, s + 1, self.metric_names),
                                            cfg.eval_every, cfg.epochs))  # fmt: skip
                if log is not None:
                    for e in range(s + 1, done + 1):
                        if e % log_every == 0 or e in (1, cfg.epochs):
                            recs = [h[e - 1] for h in histories]
                            more = f"  (mean of {len(recs)} seeds)" if len(recs) > 1 else ""
                            line = format_epoch(mean_record(recs), cfg.epochs, self.metric_names)
                            bar.write(line + more, log)
                stopping = stop.requested and done < cfg.epochs  # Ctrl-C: stop after this chunk
                # Every seed stopped early: the remaining epochs would change nothing.
                early = bool(cfg.early_stopping) and done < cfg.epochs and bool(
                    np.all(to_host(self.state.best.stopped)))
                if save and (stopping or early or (save_every and done % save_every == 0)
                             or done == cfg.epochs):  # fmt: skip
                    save_checkpoint(save, self, done, histories)
                    saved = save
                bar.update(done - start)
                if stopping:
                    kept = f"resume with --resume {save}" if save else "nothing saved (no --save)"
                    raise Interrupted(f"interrupted at epoch {done}; {kept}")
                if early:
                    if log is not None:
                        bar.write(f"every seed stopped early (--early-stopping "
                                  f"{cfg.early_stopping}): done at epoch {done}", log)
                    break
        jax.block_until_ready(self.state)
        run_s = time.perf_counter() - tc - compile_s
        # Only the last epoch's predictions feed the report: one transfer, after the loop.
        self.test_predictions = to_host(preds)  # [S, N_test, ...]
        evals = self.final_evaluation()  # early stopping: the kept params' test predictions
        kept = None
        if cfg.early_stopping:
            kept = [int(e) for e in to_host(self.state.best.epoch).reshape(-1)]
        params = to_host(self.state.params)
        n_params = count_params(params) // num_seeds
        if num_seeds == 1:
            params = jax.tree.map(lambda a: a[0], params)
        extra = {
            "device": jax.devices()[0].platform,
            "devices": par.size if par else 1,
            "parallel": par.axis if par else None,
            "data_parallel": ("shard_map" if uses_shard_map(cfg, par) else "xla")
            if par is not None and par.axis == "batch" else None,
            "truncated": self.data.truncated,
            "xla_options": options,
            "seed_group": self.group,
            "buckets": list(self.bounds or ()),
            "run_s": run_s,  # the compiled epochs alone (no data preparation, no compile)
        }
        if mem:
            extra["memory"] = mem
        if self.spec.run_extra is not None:
            extra.update(self.spec.run_extra(self, run_s))
        # The per-epoch train figures are running means unless --eval-train: the final ones
        # score the params the run keeps on the whole training split.
        running = not (cfg.eval_train or uses_fast_loop(cfg))
        extra["train_metrics"] = "running_mean" if running else "evaluated"
        train_eval = self.evaluate_train() if running else [{} for _ in histories]
        # From the epoch whose params are kept (early stopping), else the last.
        last = [h[kept[i] - 1] if kept else h[-1] for i, h in enumerate(histories)]
        derived = [{**(self.spec.derived({**r, **t}) if self.spec.derived else {}), **t}
                   for r, t in zip(last, train_eval, strict=True)]  # fmt: skip
        if self.data.val is not None:
            for i, (d, h) in enumerate(zip(derived, histories, strict=True)):
                # The kept epoch with early stopping; else where validation loss was lowest.
                d["best_epoch"] = kept[i] if kept else min(
                    (r for r in h if "val_loss" in r), key=lambda r: r["val_loss"])["epoch"]
        for d, ev in zip(derived, evals, strict=True):
            d.update(eval_final_metrics(ev))
        reports = self.test_reports()
        if self.spec.report_final is not None:
            derived = [{**d, **self.spec.report_final(r)} for d, r in zip(derived, reports,
                                                                       strict=True)]  # fmt: skip
        result = RunResult(cfg, self.seeds, histories, time.perf_counter() - t0, compile_s,
                           n_params, params, extra, reports,
                           tokenizer=self.data.vocab,
                           label_names=list(self.data.label_names),
                           metric_names=self.metric_names, derived=derived, kept_epochs=kept,
                           evals=evals if self.data.evals else None)  # fmt: skip
        if log is not None:
            for line in eval_log_lines(result):
                log(line)
        return result

    def memory_report(self, compiled) -> dict:
        """``{"estimate_bytes", "xla_temp_bytes", "xla_argument_bytes"}``: the estimate made
        before compiling and what XLA allocates for the compiled program (where it says)."""
        if self.memory is None:
            return {}
        est = self.memory
        out = {"estimate_bytes": int(est.total),
               "estimate_activation_bytes": int(max(est.train_batch, est.eval_batch))}
        try:
            m = compiled.memory_analysis()
            out["xla_temp_bytes"] = int(m.temp_size_in_bytes)
            out["xla_argument_bytes"] = int(m.argument_size_in_bytes)
        except Exception:  # not every backend reports it
            pass
        return out

    def final_evaluation(self) -> list[dict]:
        """After training, with the params the run keeps: every ``--eval-data`` set (loss,
        accuracy, per construction, a classification report per seed) in one compiled call
        over the seeds, and with early stopping the test predictions of the kept params.
        Returns one ``{set name: report}`` per seed (empty dicts when there is nothing to do).
        """
        sets = [e.arrays for e in self.data.evals]
        if self.cfg.early_stopping:
            sets.append(self.data.test)
        if not sets:
            return [{} for _ in self.seeds]
        model, task, bs = self.model, self.task, self.cfg.eval_batch_size

        def one(params, arrays):
            return [loop.evaluate(model, task, params, a, bs) for a in arrays]

        params = self.state.params
        if self.parallel is not None:  # the evaluation is small: one device does it
            params = to_host(params)
        out = jax.jit(lambda p, a: jax.lax.map(lambda q: one(q, a), p))(
            params, [jax.tree.map(jnp.asarray, a) for a in sets])
        out = to_host(out)
        if self.cfg.early_stopping:
            self.test_predictions = np.asarray(out[-1][1])
        reports = []
        for i in range(len(self.seeds)):
            rep = {}
            for e, (metrics, pred) in zip(self.data.evals, out, strict=False):
                rep[e.name] = eval_report(e, np.asarray(metrics[i]), np.asarray(pred[i]),
                                          self.data.label_names)  # fmt: skip
            reports.append(rep)
        return reports

    def evaluate_train(self) -> list[dict]:
        """Per seed: the task's metrics of the whole training split (``train_<name>``),
        scored with the params the run keeps, in one compiled call over the seeds."""
        model, task, bs = self.model, self.task, self.cfg.eval_batch_size
        params, train = self.state.params, self.train_arrays
        if self.parallel is not None:  # the evaluation is small: one device does it
            params, train = to_host(params), to_host(train)
        out = jax.jit(lambda p, a: jax.lax.map(
            lambda q: loop.evaluate_splits(model, task, q, [a], bs)[0][0], p))(params, train)
        # (across processes the gather tiles each process's replica: the first S rows)
        out = np.asarray(to_host(out))[: len(self.seeds)]
        names = self.metric_names[: out.shape[1]]
        return [{k: float(v) for k, v in zip(names, row, strict=True)} for row in out]

    def test_reports(self) -> list[dict]:
        """Per seed: accuracy, macro-F1, per-class precision/recall, confusion on the test split
        (from the predictions the training program returned after its last epoch)."""
        if self.spec.test_report is None:
            return []
        return [self.spec.test_report(p, self.data) for p in self.test_predictions]
