"""The Classifier's training loop in NumPy: ``jaxrnn.training.loop.make_run_epochs`` without JAX.

::

    opt = optim.chain(optim.clip(1.0), optim.adam(1e-3))        # jaxrnn.scratch.optim
    result = train_classifier(params, train, test, optimizer=opt, batch_size=32,
                              orders=orders, **classifier_options(model))
    result.params, result.opt_state, result.history             # history: one dict per epoch

Same batching as the JAX loop: epoch ``e`` visits the training set in the order
``orders[e]`` (``[E, N]``) in batches of ``batch_size``; the last batch is filled
up with examples again (``order[:pad]``, wrapping round when the batch is larger
than the split) that get weight 0, so each step's loss is the mean over the real
examples of the batch (``sum(w * loss) / sum(w)``). Each batch takes one
optimizer step on ``jaxrnn.scratch.layers.classifier_loss_and_grads``' hand-written
gradients (masked, a batch runs only up to its longest text: the padded steps past it
change nothing); after each epoch both splits are evaluated without dropout. History
records are the JAX loop's: ``{"epoch", "train_loss", "train_acc", "test_loss",
"test_acc"}`` (epochs counted from ``first_epoch``; NaN for an empty test split).

Dropout. ``Classifier.apply`` draws its keep masks from a PRNG key; this module
imports no JAX, so the masks are inputs: ``masks(e, b)`` returns the
``DropoutMasks`` of batch ``b`` of epoch ``e`` (``e`` the row of ``orders``,
both counted from 0), shaped for the padded batch (``[batch_size, T, dirs * H]``
between layers, ``[batch_size, dirs * H]`` before the readout). To make both sides
drop the same units, a test draws each batch's masks in JAX exactly as
``Classifier.apply`` does from that batch's key and hands the same key to the JAX
step (``tests/test_scratch_train.py``, ``jax_dropout_masks``). Without ``masks``
and with a rate > 0, the masks are drawn here with NumPy
(``draw_dropout_masks`` from ``np.random.default_rng([seed, 2])``): the same
distribution as JAX's, other units.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.scratch import optim
from jaxrnn.scratch.layers import (
    DropoutMasks,
    _sizes,
    classifier_logits,
    classifier_loss_and_grads,
    sigmoid,
)

Masks = Callable[[int, int], DropoutMasks | None]


class TrainResult(NamedTuple):
    """What ``train_classifier`` returns: final params and optimizer state, and the history."""

    params: dict
    opt_state: Any
    history: list[dict]


def classifier_options(model: Any) -> dict[str, Any]:
    """The keyword options of a ``jaxrnn.nn.models.Classifier`` for this module's functions:
    ``cell``, ``bidirectional``, ``mask``, ``dropout``, ``layer_dropout``. Read by attribute,
    so no JAX is imported here."""
    layer = model.layer
    return {
        "cell": layer.cell,
        "bidirectional": layer.bidirectional,
        "mask": model.mask,
        "dropout": model.dropout,
        "layer_dropout": layer.dropout,
    }


def to_numpy(tree: Any) -> Any:
    """Every leaf of a params pytree (JAX or NumPy arrays) as a NumPy array."""
    return optim.tree_map(np.asarray, tree)


def batches(order: np.ndarray, batch_size: int, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``order [N]`` -> ``(indices [nb, batch_size], weights [nb, batch_size])`` as
    ``jaxrnn.training.loop``: the last batch filled up with ``order[:pad]`` at weight 0."""
    order = np.asarray(order)
    n = order.shape[0]
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    nb = -(-n // batch_size)
    pad = nb * batch_size - n
    idx = np.concatenate([order, order[np.arange(pad) % max(n, 1)]]).reshape(nb, batch_size)
    w = np.concatenate([np.ones(n, dtype), np.zeros(pad, dtype)]).reshape(nb, batch_size)
    return idx, w


def draw_dropout_masks(
    rng: np.random.Generator,
    *,
    batch: int,
    steps: int,
    features: int,
    num_layers: int,
    dropout: float,
    layer_dropout: float,
) -> DropoutMasks:
    """Bernoulli keep masks (keep with probability ``1 - rate``) for one batch, with NumPy.

    ``between``: ``num_layers - 1`` masks ``[batch, steps, features]`` when
    ``layer_dropout > 0``; ``readout``: ``[batch, features]`` when ``dropout > 0``
    (``features = dirs * H``).
    """
    between: tuple[np.ndarray, ...] = ()
    if layer_dropout > 0.0:
        between = tuple(
            rng.random((batch, steps, features)) < 1.0 - layer_dropout
            for _ in range(num_layers - 1)
        )
    readout = rng.random((batch, features)) < 1.0 - dropout if dropout > 0.0 else None
    return DropoutMasks(between, readout)


def loss_terms(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-example loss ``[B]`` (``jaxrnn.training.loop.loss_terms``): sigmoid BCE for ``[B, 1]``
    logits, softmax cross-entropy otherwise."""
    labels = np.asarray(labels)
    if logits.shape[-1] == 1:
        y = logits[:, 0]
        return np.logaddexp(0.0, y) - labels.astype(logits.dtype) * y
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(logits.shape[0]), labels]


def predictions(logits: np.ndarray) -> np.ndarray:
    """Class index per example ``[B]`` from logits ``[B, K]``
    (``jaxrnn.training.loop.predictions``)."""
    if logits.shape[-1] == 1:
        return (logits[:, 0] > 0).astype(np.int32)
    return np.argmax(logits, axis=-1).astype(np.int32)


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities ``[B, C]`` from logits ``[B, K]`` (K = 1: sigmoid, C = 2)."""
    if logits.shape[-1] == 1:
        p = sigmoid(logits[:, 0])
        return np.stack([1.0 - p, p], axis=-1)
    z = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def evaluate(
    params: dict,
    data: Any,
    *,
    cell: str,
    bidirectional: bool,
    mask: bool = True,
    chunk: int = 1024,
    **_: Any,
) -> tuple[float, float]:
    """Mean loss and accuracy over a whole split (``data.ids [N, T]``, ``.lengths``,
    ``.labels``), no dropout, in chunks of ``chunk`` examples. NaN for an empty split.
    Extra keywords (the dropout rates of ``classifier_options``) are ignored."""
    ids, lengths, labels = np.asarray(data.ids), np.asarray(data.lengths), np.asarray(data.labels)
    n = ids.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    loss_sum, correct = 0.0, 0
    for s in range(0, n, chunk):
        logits = classifier_logits(
            params, ids[s : s + chunk], lengths[s : s + chunk],
            cell=cell, bidirectional=bidirectional, mask=mask,
        )  # fmt: skip
        loss_sum += float(np.sum(loss_terms(logits, labels[s : s + chunk])))
        correct += int(np.sum(predictions(logits) == labels[s : s + chunk]))
    return loss_sum / n, correct / n


def train_classifier(
    params: dict,
    train: Any,
    test: Any = None,
    *,
    optimizer: optim.GradientTransformation,
    batch_size: int,
    orders: np.ndarray,
    cell: str,
    bidirectional: bool,
    mask: bool = True,
    dropout: float = 0.0,
    layer_dropout: float = 0.0,
    masks: Masks | None = None,
    seed: int = 0,
    opt_state: Any = None,
    first_epoch: int = 1,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train the NumPy ``Classifier`` twin as ``jaxrnn.training.loop.make_run_epochs`` trains
    the model.

    Args:
      params: the Classifier's params pytree (``Classifier.init`` or
        ``init_params_numpy``; JAX arrays are converted), not modified.
      train, test: splits with ``ids [N, T]``, ``lengths [N]``, ``labels [N]``
        (``jaxrnn.data.Arrays``); ``test`` None or empty: NaN test metrics.
      optimizer: a ``jaxrnn.scratch.optim`` transformation.
      batch_size: examples per step (1: per-sample SGD).
      orders: ``[E, N]`` the sample order of each epoch (``E`` epochs are run).
      cell, bidirectional, mask, dropout, layer_dropout: the model
        (``classifier_options(model)``).
      masks: ``masks(e, b) -> DropoutMasks`` for batch ``b`` of epoch ``e`` (see the
        module docstring); None draws them with NumPy from ``seed`` when a rate is > 0.
      seed: only for the masks drawn here.
      opt_state: resume from this optimizer state; None: ``optimizer.init(params)``.
      first_epoch: the number of the first epoch in the history.
      on_epoch: called with each epoch's record as it is made.

    Returns:
      ``TrainResult(params, opt_state, history)``, history one record per epoch.
    """
    params = to_numpy(params)
    opt_state = optimizer.init(params) if opt_state is None else opt_state
    ids, lengths, labels = (
        np.asarray(train.ids),
        np.asarray(train.lengths),
        np.asarray(train.labels),
    )
    orders = np.asarray(orders)
    if orders.ndim != 2 or orders.shape[1] != ids.shape[0]:
        raise ValueError(f"orders must be [E, N] = [E, {ids.shape[0]}], got {orders.shape}")
    model = {"cell": cell, "bidirectional": bidirectional, "mask": mask}
    rates = {"dropout": dropout, "layer_dropout": layer_dropout}
    if masks is None and (dropout > 0.0 or layer_dropout > 0.0):
        rng = np.random.default_rng([seed, 2])
        rnn = params["rnn"]
        shape = {
            "batch": batch_size,
            "steps": ids.shape[1],
            "features": len(rnn[0]) * _sizes(cell, rnn[0][0])[1],
            "num_layers": len(rnn),
        }

        def masks(e: int, b: int) -> DropoutMasks:
            return draw_dropout_masks(rng, **shape, **rates)

    dtype = optim.tree_leaves(params)[0].dtype
    history = []
    for e, order in enumerate(orders):
        idx, weights = batches(order, batch_size, dtype)
        for b, (rows, w) in enumerate(zip(idx, weights, strict=True)):
            batch_ids, batch_masks = ids[rows], None if masks is None else masks(e, b)
            if mask:  # masked, the steps past the batch's longest text change nothing: skip
                t = max(1, int(lengths[rows].max()))
                batch_ids = batch_ids[:, :t]
                if batch_masks is not None and batch_masks.between:
                    batch_masks = batch_masks._replace(
                        between=tuple(np.asarray(m)[:, :t] for m in batch_masks.between))
            _, grads = classifier_loss_and_grads(
                params, batch_ids, lengths[rows], labels[rows], **model, **rates,
                weights=w, masks=batch_masks,
            )  # fmt: skip
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optim.apply_updates(params, updates)
        tr_loss, tr_acc = evaluate(params, train, **model)
        te_loss, te_acc = (
            evaluate(params, test, **model) if test is not None else (float("nan"),) * 2
        )
        rec = {
            "epoch": first_epoch + e,
            "train_loss": tr_loss,
            "train_acc": tr_acc,
            "test_loss": te_loss,
            "test_acc": te_acc,
        }
        history.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
    return TrainResult(params, opt_state, history)


__all__ = [
    "DropoutMasks",
    "TrainResult",
    "batches",
    "classifier_options",
    "draw_dropout_masks",
    "evaluate",
    "loss_terms",
    "predictions",
    "probabilities",
    "to_numpy",
    "train_classifier",
]
