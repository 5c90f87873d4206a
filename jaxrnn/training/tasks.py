"""Tasks: how a model's outputs meet a batch's targets, as a NamedTuple of pure functions.

The training step (``jaxrnn.training.loop.train_step``) and the batched evaluation
(``jaxrnn.training.loop.evaluate``) know nothing about classification: everything that
depends on what is being learned goes through a ``Task``::

    out, carry = task.apply(model, params, batch, carry, key)   # the forward pass
    losses, weights = task.loss(out, batch)      # per example [B] (or per token [B, T])
    sums, counts = task.stats(out, batch)        # [M] each: metric m = sum(sums) / sum(counts)
    pred = task.predict(out)                     # predicted class per example [B] (or [B, T])
    carry = task.init_carry(model, params, B)    # carried from batch to batch within an epoch

A ``Batch`` is the task's own rows (any pytree of arrays whose leading axis is
the example axis, e.g. ``jaxrnn.data.arrays.Arrays(ids, lengths, labels)``) and
a weight per row (0 for a padding slot). The loss the optimizer sees is
``sum(weights * losses) / sum(weights)``: padded slots, and padded tokens of a
per-token task (weight 0), count for nothing.

``carry`` is whatever the task keeps between consecutive batches of an epoch:
``()`` for classification; a language model over parallel text streams would
keep each stream's recurrent state here, and reset it with ``init_carry`` at
the start of each epoch.

``classification()`` is the task of ``python -m jaxrnn.train`` (a label per
text). Its readout is either ``K`` logits and softmax cross-entropy, or, for a
``Classifier`` built with ``binary_readout="sigmoid"``, one logit and sigmoid
binary cross-entropy; ``losses`` below picks by the logits' width, so the head
and the loss can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


class Batch(NamedTuple):
    """One batch: the task's rows (a pytree, leading axis ``[B]``) and their weights ``[B]``."""

    data: Any
    weights: Array  # [B]; 0 marks a padding slot


class Task(NamedTuple):
    """What is learned: pure functions of the model's outputs and a ``Batch``."""

    name: str
    metric_names: tuple[str, ...]  # what ``stats`` returns, in order (the first is the loss)
    apply: Callable[..., tuple[Any, Any]]  # (model, params, batch, carry, key) -> (out, carry)
    loss: Callable[[Any, Batch], tuple[Array, Array]]  # -> (losses, weights), same shape
    stats: Callable[[Any, Batch], tuple[Array, Array]]  # -> (sums [M], counts [M])
    predict: Callable[[Any], Array]  # outputs -> predicted class per row (or token)
    init_carry: Callable[[Any, Any, int], Any]  # (model, params, batch_size) -> carry
    # The axis of the batch's data (and of the carry's leaves) that data parallelism splits
    # over devices: 0, the rows, for tasks without a carry; 1 for a language model, whose
    # rows are consecutive chunks of its streams ``[R, S, T]`` and whose carry is each
    # stream's state ``[L, S, H]``: its streams are split, its chunks' order kept.
    split_axis: int = 0


# ----------------------------------------------------------------------------- classification


def losses(logits: Array, labels: Array) -> Array:
    """Per-example loss ``[B]``: sigmoid BCE for one logit ``[B, 1]``, softmax CE for ``[B, K]``."""
    if logits.shape[-1] == 1:
        return optax.sigmoid_binary_cross_entropy(logits[:, 0], labels.astype(logits.dtype))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def probabilities(logits: Array) -> Array:
    """Class probabilities ``[B, C]`` from logits ``[B, K]`` (K = 1: sigmoid, C = 2)."""
    if logits.shape[-1] == 1:
        p = jax.nn.sigmoid(logits[:, 0])
        return jnp.stack([1.0 - p, p], axis=-1)
    return jax.nn.softmax(logits, axis=-1)


def predictions(logits: Array) -> Array:
    """Class index per example ``[B]`` from logits ``[B, K]``."""
    if logits.shape[-1] == 1:
        return (logits[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def _no_carry(model: Any, params: Any, batch_size: int) -> tuple:
    return ()


def _classify_apply(model, params, batch: Batch, carry, key):
    d = batch.data
    return model.apply(params, d.ids, d.lengths, key=key), carry


def _classify_loss(logits: Array, batch: Batch) -> tuple[Array, Array]:
    return losses(logits, batch.data.labels), batch.weights


def _classify_stats(logits: Array, batch: Batch) -> tuple[Array, Array]:
    w = batch.weights
    correct = (predictions(logits) == batch.data.labels).astype(w.dtype)
    n = jnp.sum(w)
    return (
        jnp.stack([jnp.sum(w * losses(logits, batch.data.labels)), jnp.sum(w * correct)]),
        jnp.stack([n, n]),
    )


def classification() -> Task:
    """One label per sequence: rows are ``Arrays(ids [B, T], lengths [B], labels [B])``,
    the model maps ``(ids, lengths)`` to logits ``[B, K]``; metrics ``loss``, ``acc``."""
    return Task(
        "classification",
        ("loss", "acc"),
        _classify_apply,
        _classify_loss,
        _classify_stats,
        predictions,
        _no_carry,
    )


# ----------------------------------------------------------------------------- tagging


class TagRows(NamedTuple):
    """A tagging split: ``ids [N, T]`` (0 = padding, 1 = OOV), ``lengths [N]``, ``tags [N, T]``
    (tag ids; ``-1`` at padding, as ``jaxrnn.data.conll.TagVocab.encode`` writes them) and,
    for a tagger with a character encoder, ``chars [N, T, W]`` (each token's character ids,
    0 = padding; None: words only)."""

    ids: Any
    lengths: Any
    tags: Any
    chars: Any = None


def _token_weights(batch: Batch, logits: Array) -> Array:
    """``[B, T]``: the row's weight on its real tokens, 0 on padding."""
    d = batch.data
    real = jnp.arange(logits.shape[1])[None, :] < d.lengths[:, None]
    return batch.weights[:, None] * real.astype(logits.dtype)


def _tag_losses(logits: Array, tags: Array) -> Array:
    # Padding holds tag -1: any valid index will do there, its weight is 0.
    return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(tags, 0))


def _tag_apply(model, params, batch: Batch, carry, key):
    d = batch.data
    chars = getattr(d, "chars", None)
    if chars is not None:  # a character encoder's input (models without one take no chars)
        return model.apply(params, d.ids, d.lengths, key=key, chars=chars), carry
    return model.apply(params, d.ids, d.lengths, key=key), carry


def _tag_loss(logits: Array, batch: Batch) -> tuple[Array, Array]:
    return _tag_losses(logits, batch.data.tags), _token_weights(batch, logits)


def _tag_stats(logits: Array, batch: Batch) -> tuple[Array, Array]:
    w = _token_weights(batch, logits)
    correct = (jnp.argmax(logits, -1) == batch.data.tags).astype(w.dtype)
    n = jnp.sum(w)
    sums = jnp.stack([jnp.sum(w * _tag_losses(logits, batch.data.tags)), jnp.sum(w * correct)])
    return sums, jnp.stack([n, n])


def _tag_predict(logits: Array) -> Array:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def tagging() -> Task:
    """A label per token: rows are ``TagRows(ids [B, T], lengths [B], tags [B, T])``, the
    model maps ``(ids, lengths)`` (and ``chars [B, T, W]`` where the rows hold them) to logits
    ``[B, T, K]``. The loss is softmax cross-entropy
    at every real token, averaged over the real tokens of the batch (padding weighs 0);
    metrics ``loss`` and ``acc`` (token accuracy), both per token; predictions ``[B, T]``."""
    return Task("tagging", ("loss", "acc"), _tag_apply, _tag_loss, _tag_stats, _tag_predict,
                _no_carry)  # fmt: skip


# ----------------------------------------------------------------------------- regression


class SeriesRows(NamedTuple):
    """A forecasting split: windows ``x [N, W, D]`` and targets ``y [N, H]`` (many-to-one) or
    ``[N, W, H]`` (per step), as ``jaxrnn.data.series.make_windows`` makes them."""

    x: Any
    y: Any


def _reg_apply(model, params, batch: Batch, carry, key):
    return model.apply(params, batch.data.x, key=key), carry


def _reg_terms(pred: Array, batch: Batch) -> tuple[Array, Array, Array]:
    """Per row (or row-step) mean squared and absolute error over ``H``, and the weights."""
    err = pred - batch.data.y  # [B, H] or [B, W, H]
    w = batch.weights if err.ndim == 2 else jnp.broadcast_to(batch.weights[:, None],
                                                              err.shape[:2])  # fmt: skip
    return jnp.mean(err * err, -1), jnp.mean(jnp.abs(err), -1), w


def _reg_loss(pred: Array, batch: Batch) -> tuple[Array, Array]:
    sq, _, w = _reg_terms(pred, batch)
    return sq, w


def _reg_stats(pred: Array, batch: Batch) -> tuple[Array, Array]:
    sq, ab, w = _reg_terms(pred, batch)
    n = jnp.sum(w)
    return jnp.stack([jnp.sum(w * sq), jnp.sum(w * ab)]), jnp.stack([n, n])


def regression(*, standardized: bool = False) -> Task:
    """Real-valued targets: rows are ``SeriesRows(x [B, W, D], y [B, H] or [B, W, H])``, the
    model maps ``x`` to forecasts of ``y``'s shape. Loss: mean squared error over every
    forecast value (no 1/2, as ``jaxrnn.scratch.seq.regress_loss_and_grads``); metrics
    ``loss`` (the MSE) and ``mae`` (``mae_std`` with ``standardized``: targets in standard
    deviations, so the name does not pass for the target's own units); predictions are the
    forecasts themselves."""
    names = ("loss", "mae_std" if standardized else "mae")
    return Task("regression", names, _reg_apply, _reg_loss, _reg_stats, lambda pred: pred,
                _no_carry)  # fmt: skip


# ----------------------------------------------------------------------------- language models


class LMRows(NamedTuple):
    """Rows of a language-model split: ``K`` chunks of ``S`` streams of ``T`` tokens."""

    inputs: Any  # [K, S, T] int32 token ids
    targets: Any  # [K, S, T] int32: the next token of each input
    mask: Any  # [K, S, T] 1 where a target is real, 0 on padding (the test's last chunk)


class LMOut(NamedTuple):
    """What the task's ``apply`` returns: per-token results, no ``[.., V]`` logits kept."""

    nll: Array  # [R, S, T] cross-entropy of each target, nats
    pred: Array  # [R, S, T] int32 arg-max token
    hit: Array | None = None  # [R, S, T] pred == target, when the targets are not the batch's


def _nll_pred(logits: Array, targets: Array) -> tuple[Array, Array]:
    nll = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    return nll, jnp.argmax(logits, axis=-1).astype(jnp.int32)


def _weights(batch: Batch, dtype) -> Array:
    """Per-token weights ``[R, S, T]``: the row's weight times the token mask."""
    return batch.weights[:, None, None].astype(dtype) * batch.data.mask.astype(dtype)


WINDOW_SALT = 0x77696E  # folded into a step's key to draw its windows apart from dropout


def draw_windows(key: Any, text: Array, rows: int, streams: int, seq_len: int
                 ) -> tuple[Array, Array, Array]:  # fmt: skip
    """Random windows of ``text [N]`` (``N >= T + 1``): ``(starts [R, S], inputs [R, S, T],
    targets [R, S, T])``, each start uniform in ``[0, N - T - 1]``, inputs
    ``text[s : s + T]`` and targets ``text[s + 1 : s + T + 1]``; ``key`` a step's key."""
    starts = jax.random.randint(jax.random.fold_in(key, WINDOW_SALT), (rows, streams), 0,
                                text.shape[0] - seq_len)  # fmt: skip
    idx = starts[..., None] + jnp.arange(seq_len)
    return starts, text[idx], text[idx + 1]


def lm_task(model: Any, streams: int, reduction: str = "mean", windows: Any = None) -> Task:
    """The next-token task over ``LMRows``, carrying ``streams`` streams' state.

    Metrics ``loss`` (nats per token), ``acc`` (next-token arg-max accuracy) and ``bpc``
    (bits per character, ``loss / ln 2``); ``word_level(task)`` drops ``bpc``.

    ``reduction="sum"``: the optimizer sees each chunk's *summed* loss (min-char-rnn's
    gradient) instead of the mean over its tokens; the reported metrics are means.

    ``windows`` (the training text's ids ``[N]``, ``--lm-batches random``): a training step
    (``apply`` given a key) ignores its rows' tokens and reads ``S`` windows of the rows'
    ``T`` tokens drawn by ``draw_windows`` from the step's key (seeded, and resumed with the
    state's key), each from a zero state, as PyTorch's and char-rnn's samplers do; the
    carry is left as it was. Evaluation (no key) reads the rows with the state carried.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")

    def init_carry(model, params, batch_size: int):  # the streams, whatever the row count
        return model.zero_state(streams, jax.tree.leaves(params)[0].dtype)

    def apply_windows(model, params, batch: Batch, carry, key):
        rows, s, t = batch.data.inputs.shape
        _, inputs, targets = draw_windows(key, windows, rows, s, t)
        state = model.zero_state(s, jax.tree.leaves(params)[0].dtype)
        keys = jax.random.split(key, rows)
        nll, pred = [], []
        for r in range(rows):  # a training step has one row
            logits, _ = model.apply(params, inputs[r], state, key=keys[r])  # [S, T, V]
            n, p = _nll_pred(logits, targets[r])
            nll.append(n)
            pred.append(p)
        nll, pred = jnp.stack(nll), jnp.stack(pred)
        return LMOut(nll, pred, (pred == targets).astype(nll.dtype)), carry

    def apply(model, params, batch: Batch, carry, key):
        if windows is not None and key is not None:
            return apply_windows(model, params, batch, carry, key)
        d = batch.data
        rows, s = d.inputs.shape[0], d.inputs.shape[1]
        state = jax.tree.map(lambda c: jax.lax.stop_gradient(c[:, :s]), carry)  # truncated BPTT

        def one(state, xs):
            ids, targets, w, k = xs
            logits, new = model.apply(params, ids, state, key=k)  # [S, T, V]
            new = jax.tree.map(lambda n, o: jnp.where(w > 0, n, o), new, state)
            return new, _nll_pred(logits, targets)

        keys = None if key is None else jax.random.split(key, rows)
        if rows == 1:  # a training step: no loop
            state, (nll, pred) = one(state, (d.inputs[0], d.targets[0], batch.weights[0],
                                             None if keys is None else keys[0]))  # fmt: skip
            nll, pred = nll[None], pred[None]
        elif keys is None:
            state, (nll, pred) = jax.lax.scan(
                lambda c, xs: one(c, (*xs, None)), state, (d.inputs, d.targets, batch.weights)
            )  # fmt: skip
        else:
            state, (nll, pred) = jax.lax.scan(one, state, (d.inputs, d.targets, batch.weights,
                                                           keys))  # fmt: skip
        if s == jax.tree.leaves(carry)[0].shape[1]:
            carry = state
        else:
            carry = jax.tree.map(lambda c, n: c.at[:, :s].set(n), carry, state)
        return LMOut(nll, pred), carry

    def loss(out: LMOut, batch: Batch):
        w = _weights(batch, out.nll.dtype)
        if reduction == "sum":  # sum(w * l) / sum(w) in batch_loss: scale back to the sum
            return out.nll * jnp.sum(w), w
        return out.nll, w

    def stats(out: LMOut, batch: Batch):
        w = _weights(batch, out.nll.dtype)
        total = jnp.sum(w * out.nll)
        hit = (out.pred == batch.data.targets) if out.hit is None else out.hit
        correct = jnp.sum(w * hit.astype(w.dtype))
        n = jnp.sum(w)
        return jnp.stack([total, correct, total / math.log(2)]), jnp.stack([n, n, n])

    return Task("lm", ("loss", "acc", "bpc"), apply, loss, stats, lambda out: out.pred,
                init_carry, split_axis=1)  # fmt: skip


def word_level(task: Task) -> Task:
    """``task`` without ``bpc`` (a word model's loss is not per character)."""

    def stats(out, batch):
        sums, counts = task.stats(out, batch)
        return sums[:2], counts[:2]

    return task._replace(metric_names=task.metric_names[:2], stats=stats)
