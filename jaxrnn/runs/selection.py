"""Model selection (issue 27). ``--cv K`` (classify): K fold-models of the training rows,
trained in one compiled program with the folds vmapped like seeds, each scored on its own
held-out rows.

Folds are stratified by label (``jaxrnn.data.folds.kfold_split``, seeded by ``--seed``).
Fold ``i`` is trained as the run's seed ``seed + i``, its epoch orders reading only its
training rows (``fold_orders``); afterwards its kept params score its validation rows. The
result's JSON gains ``cv_loss`` and ``cv_acc`` (means over folds) and ``cv_folds`` (per fold:
``rows``, ``loss``, ``acc``).

``--ensemble N`` (classify): N seeds trained vmapped; the prediction is the mean probability
over the N members (``jaxrnn.data.folds.mean_probabilities``), scored on the test split and
every ``--eval-data`` set (``ensemble_loss``, ``ensemble_acc``, ``ensemble_evals``). A
``--save``d N-seed checkpoint is the ensemble: ``predict`` serves the same mean probability.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxrnn.data.folds import fold_orders, kfold_split, mean_probabilities
from jaxrnn.errors import ConfigError
from jaxrnn.training import loop


def cv_run(cfg, data, k: int) -> tuple[Any, list[np.ndarray], Any]:
    """The ``JaxRun`` of ``k`` folds over ``data.train`` (not yet trained), the folds' validation
    rows (``k`` index arrays that partition the training rows) and the training split as
    host arrays (``ids [N, T]``, ``lengths [N]``, ``labels [N]``) to score the folds on."""
    from jaxrnn.runs.jax_run import JaxRun

    train = jax.tree.map(np.asarray, data.train)
    labels = np.asarray(train.labels)
    folds = kfold_split(len(labels), k, cfg.seed, labels=labels)
    run = JaxRun(cfg, data, [cfg.seed + i for i in range(k)])
    if run.bounds:
        raise ConfigError("--cv trains its folds on plain epoch orders: add --buckets 0")
    run.cv_orders = fold_orders(folds, len(labels), cfg.epochs, cfg.seed)
    return run, folds, train


def cv_scores(run, folds: list[np.ndarray], train) -> dict:
    """Each fold's kept params on its own validation rows: ``{"cv_loss", "cv_acc", "cv_folds":
    [{"rows", "loss", "acc"}, ...]}`` (fold means unweighted: folds differ by a row at most)."""
    params = run.state.params
    if run.parallel is not None:
        params = jax.device_get(params)
    model, task, bs = run.model, run.task, run.cfg.eval_batch_size
    score = jax.jit(lambda p, a: loop.evaluate(model, task, p, a, bs)[0])
    per = []
    for i, rows in enumerate(folds):
        p = jax.tree.map(lambda a, i=i: a[i], params)
        val = jax.tree.map(lambda a, r=rows: jnp.asarray(a[r]), train)
        m = np.asarray(score(p, val))
        per.append({"rows": len(rows), "loss": float(m[0]), "acc": float(m[1])})
    return {"cv_loss": float(np.mean([f["loss"] for f in per])),
            "cv_acc": float(np.mean([f["acc"] for f in per])),
            "cv_folds": per}  # fmt: skip


def member_probabilities(model, params, split) -> np.ndarray:
    """Every member's class probabilities ``[N, B, C]`` on a split (``ids [B, T]``,
    ``lengths [B]``), ``params`` stacked over the N members (small sets: one batch)."""
    from jaxrnn.training.tasks import probabilities

    ids, lengths = jnp.asarray(split.ids), jnp.asarray(split.lengths)
    probs = jax.jit(jax.vmap(lambda q: probabilities(model.apply(q, ids, lengths))))(params)
    return np.asarray(probs, dtype=np.float64)


def ensemble_scores(run, test, evals: list) -> dict:
    """The ensemble (mean probability of the run's seeds) on ``test`` and each ``--eval-data``
    set: ``{"ensemble_loss", "ensemble_acc", "ensemble_evals": {name: {"loss", "acc"}}}``."""
    params = jax.device_get(run.state.params)

    def score(split) -> dict:
        p = mean_probabilities(member_probabilities(run.model, params, split))
        y = np.asarray(split.labels)
        nll = -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))
        return {"loss": float(nll.mean()), "acc": float((p.argmax(-1) == y).mean())}

    t = score(test)
    return {"ensemble_loss": t["loss"], "ensemble_acc": t["acc"],
            "ensemble_evals": {e.name: score(e.arrays) for e in evals}}  # fmt: skip
