"""The NumPy run: the study's scratch RNN trained by ``jaxrnn.scratch`` (imports no JAX).

Float64, per-sample SGD, as the study ran it; several seeds one after another.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from jaxrnn import scratch
from jaxrnn.config import TrainConfig
from jaxrnn.errors import Interrupted
from jaxrnn.results import RunResult
from jaxrnn.train.data import Prepared, num_classes
from jaxrnn.train.interrupt import StopOnSigint
from jaxrnn.train.progress import Progress
from jaxrnn.train.report import format_epoch, test_report


def scratch_seqs(a) -> list[np.ndarray]:
    """Padded ids (1..V) -> the NumPy reference's unpadded word indices (0..V-1)."""
    return [a.ids[i, : a.lengths[i]] - 1 for i in range(len(a.lengths))]


def fit_numpy(
    cfg: TrainConfig,
    data: Prepared,
    seeds: list[int],
    log: Callable[[str], None] | None,
    log_every: int,
    progress: bool,
    t0: float,
) -> RunResult:
    """Train ``seeds`` one after another with the scratch NumPy reference."""
    histories, all_params = [], []
    with StopOnSigint() as stop, Progress(cfg.epochs * len(seeds), "epochs", enabled=progress
                                          ) as bar:  # fmt: skip
        for i, seed in enumerate(seeds):
            params = scratch.init_params(data.tokenizer.vocab_size - 1, cfg.hidden,
                                         num_classes(data), seed)  # fmt: skip

            def on_epoch(rec, i=i):
                if log is not None and (
                    rec["epoch"] % log_every == 0 or rec["epoch"] in (1, cfg.epochs)
                ):
                    bar.write(format_epoch(rec, cfg.epochs), log)
                bar.update(i * cfg.epochs + rec["epoch"])
                if stop.requested and rec["epoch"] < cfg.epochs:  # Ctrl-C: stop between epochs
                    at = f" of seed {seeds[i]}" if len(seeds) > 1 else ""
                    raise Interrupted(f"interrupted at epoch {rec['epoch']}{at}; nothing saved "
                                      "(the numpy backend writes no checkpoints)")  # fmt: skip

            params, history = scratch.train(
                params, scratch_seqs(data.train), data.train.labels.tolist(),
                scratch_seqs(data.test), data.test.labels.tolist(), epochs=cfg.epochs, lr=cfg.lr,
                clip=cfg.clip or None, bptt=cfg.bptt, seed=seed, on_epoch=on_epoch,
            )  # fmt: skip
            histories.append(history)
            all_params.append(params)
    params = all_params[0] if len(seeds) == 1 else {
        k: np.stack([p[k] for p in all_params]) for k in all_params[0]
    }  # fmt: skip
    n = sum(v.size for v in all_params[0].values())
    reports = []
    for p in all_params:
        pred = [int(np.argmax(scratch.forward(p, s)[0])) for s in scratch_seqs(data.test)]
        reports.append(test_report(np.asarray(pred, np.int32), data))
    return RunResult(cfg, seeds, histories, time.perf_counter() - t0, 0.0, n, params,
                     {"device": "cpu", "truncated": data.truncated}, reports,
                     tokenizer=data.tokenizer, label_names=list(data.label_names))  # fmt: skip
