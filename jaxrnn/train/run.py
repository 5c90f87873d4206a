"""``fit``: train as a config says, on the JAX or the NumPy backend, fresh or resumed.

JAX is imported only for the JAX backend, so ``--backend numpy`` runs without it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from jaxrnn.config import TrainConfig, resolve_config
from jaxrnn.errors import ConfigError
from jaxrnn.results import RunResult
from jaxrnn.train.data import Prepared, prepare_data
from jaxrnn.train.registry import get_spec
from jaxrnn.train.report import default_log_every


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
) -> RunResult:
    """Train as ``cfg`` says (resolved here) and return histories, weights and timings.

    Args:
      cfg: the configuration; ``None`` fields take the model's preset.
      data: encoded data (default: ``prepare_data(cfg)``).
      seeds: train seeds ``cfg.seed .. cfg.seed + seeds - 1`` in one program.
      log: receives a line per logged epoch (every ``log_every`` epochs).
      progress: show a progress bar on a terminal.
      save, save_every: write a checkpoint to ``save`` every ``save_every`` epochs
        and at the end.
      resume: continue from this checkpoint (its configuration wins, except
        ``epochs``, which may extend the run).

    Returns:
      A ``RunResult``; ``result.predictor()`` classifies new texts in memory.
    """
    if resume is not None:
        return _resume(resume, cfg, log=log, log_every=log_every, progress=progress, save=save,
                       save_every=save_every)  # fmt: skip
    cfg = resolve_config(cfg)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    t0 = time.perf_counter()
    seed_list = [cfg.seed + i for i in range(seeds)]
    if cfg.backend == "numpy" and cfg.task == "lm":  # min-char-rnn in NumPy, no JAX
        from jaxrnn.train.lm_data import prepare_lm
        from jaxrnn.train.numpy_lm import fit_numpy_lm

        data = data if data is not None else prepare_lm(cfg)
        return fit_numpy_lm(cfg, data, seed_list, log, log_every or default_log_every(cfg.epochs),
                            progress, t0)  # fmt: skip
    if cfg.backend == "numpy":  # the study's scratch RNN: classification, no JAX
        from jaxrnn.train.numpy_run import fit_numpy

        data = data if data is not None else prepare_data(cfg)
        _check_batch(cfg.batch_size, data)

        return fit_numpy(cfg, data, seed_list, log, log_every or default_log_every(cfg.epochs),
                         progress, t0)  # fmt: skip
    from jaxrnn.train.jax_run import JaxRun

    spec = get_spec(cfg)
    data = data if data is not None else spec.prepare(cfg, None)
    _check_batch(spec.rows_per_step(cfg) if spec.rows_per_step else cfg.batch_size, data)
    run = JaxRun(cfg, data, seed_list)
    return run.train(0, [[] for _ in seed_list], t0, log, log_every, progress, save, save_every)


def _check_batch(rows_per_step: int, data: Prepared) -> None:
    rows = len(data.train[0])
    if rows_per_step > rows:
        raise ConfigError(
            f"--batch-size {rows_per_step} is larger than the {rows} training examples: lower it"
        )


def _resume(path, cfg_override, *, log, log_every, progress, save, save_every) -> RunResult:
    import jax

    from jaxrnn.train.checkpoints import load_checkpoint
    from jaxrnn.train.jax_run import JaxRun

    t0 = time.perf_counter()
    r = load_checkpoint(path)
    cfg = r.config
    if cfg_override.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=cfg_override.epochs)
    if cfg.epochs < r.epoch:
        raise ConfigError(f"--epochs {cfg.epochs} is below the {r.epoch} epochs already trained")
    if r.epoch == cfg.epochs:
        raise ConfigError(f"{path} already has all {cfg.epochs} epochs: pass a larger --epochs")
    data = get_spec(cfg).prepare(cfg, r.tokenizer)
    state = r.state if len(r.seeds) > 1 else jax.tree.map(lambda a: a[None], r.state)
    run = JaxRun(cfg, data, r.seeds, state=state)
    histories = [list(h) for h in r.histories]
    return run.train(r.epoch, histories, t0, log, log_every, progress, save or path, save_every)
