"""The fast path for the study's RNN: per-sample SGD with hand-written BPTT in JAX.

``python -m jaxrnn.train`` (``--model rnn``, SGD, batch size 1) runs this instead of
the generic ``jax.value_and_grad`` + optax loop of ``jaxrnn.runs.make_run_epochs``.
It computes the same numbers (``tests/test_study_sgd.py`` checks them in float64
against ``jax.grad`` of the plain scan, ``StudyRNN(impl="autodiff")``, and against the
generic loop run with that model) but is shaped for what this workload is: tens of
thousands of sequential updates on a 128 x 128 matrix, bound by per-step
overhead, not arithmetic. What makes it fast:

* the backward pass is the scratch reference's BPTT written in JAX, with the
  weight gradients taken *after* the time loop as single matmuls
  (``dW_hh^T = H_prev^T @ Delta`` over all steps at once) instead of one
  outer product per step;
* the time loops run for each sentence's own length (``fori_loop`` with a
  dynamic trip count) rather than over the padded length with masking;
* ``h_0 = 0`` and one-hot inputs make the first step a column lookup
  (``h_1 = tanh(w_xh[:, x_1] + b_h)``, no matvec) and the last backward
  propagation (to ``h_0``) unnecessary;
* weights are kept transposed inside the loop (``[V, H]`` rows for the lookup,
  ``h @ W_hh^T`` for the recurrence) and transposed back once per call;
* the per-epoch evaluation visits sentences sorted by length, so step ``t``
  multiplies only the rows still running (a schedule fixed by the data,
  known when the program is built).

Update rule, as the study's: ``p -= lr * clip(grad, -clip, clip)`` element-wise,
one sentence at a time, in the order given by ``orders [E, N]``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxrnn.nn.models import StudyRNN
from jaxrnn.training.loop import loop_epochs

Array = jax.Array


def _to_inner(p: dict) -> tuple[Array, ...]:
    # (w_xh^T [V, H], w_hh^T [H, H], b_h [H], w_hy^T [H, C], b_y [C])
    return (p["w_xh"].T, p["w_hh"].T, p["b_h"], p["w_hy"].T, p["b_y"])


def _to_params(q: tuple[Array, ...]) -> dict:
    wxT, whhT, bh, whyT, by = q
    return {"w_xh": wxT.T, "w_hh": whhT.T, "b_h": bh, "w_hy": whyT.T, "b_y": by}


def _at(a: Array, t: Array) -> Array:
    return lax.dynamic_index_in_dim(a, t, keepdims=False)


def _put(a: Array, x: Array, t: Array | int) -> Array:
    return lax.dynamic_update_index_in_dim(a, x, t, 0)


def sample_grads(
    q: tuple[Array, ...],
    ids: Array,
    length: Array,
    label: Array,
    buckets: tuple[int, ...] | None = None,
):
    """Loss gradients for one sentence, in the transposed layout of ``q``.

    Args:
      q: ``(w_xh^T [V, H], w_hh^T [H, H], b_h [H], w_hy^T [H, C], b_y [C])``.
      ids: ``[T]`` token ids (1..V, 0 = padding).
      length: scalar, valid tokens in ``ids``.
      label: scalar class index.
      buckets: increasing step counts ending at ``T``: the ``dW_hh`` matmul runs
        over the smallest bucket that holds ``length`` rather than all ``T``
        steps (see ``length_buckets``). None: always ``T``.

    Returns:
      Gradients shaped like ``q``.
    """
    wxT, whhT, bh, whyT, by = q
    t_max, hid = ids.shape[0], bh.shape[0]
    xs = wxT[jnp.maximum(ids - 1, 0)] + bh  # [T, H]: w_xh x_t + b_h for every step
    # hs[t] = h_{t+1}; h_1 = tanh(x_1 part) because h_0 = 0.
    # Loop indices are in range: plain dynamic slices and updates (``a[t]`` and ``.at[t]``
    # add negative-index and bounds handling, ~4 more small kernels per step).
    hs = _put(jnp.zeros((t_max, hid), bh.dtype), jnp.tanh(xs[0]), 0)
    hs = lax.fori_loop(
        1, length, lambda t, hs: _put(hs, jnp.tanh(_at(xs, t) + _at(hs, t - 1) @ whhT), t), hs
    )
    has_tokens = (length > 0).astype(bh.dtype)
    h_last = hs[jnp.maximum(length - 1, 0)] * has_tokens  # h_T ([H]; h_0 = 0 if empty)
    y = h_last @ whyT + by
    dy = jax.nn.softmax(y) - jax.nn.one_hot(label, y.shape[0], dtype=y.dtype)

    def back(i, carry):  # steps T..2: delta_t, then dh_{t-1} = W_hh^T delta_t
        dh, deltas = carry
        t = length - 1 - i
        delta = (1.0 - _at(hs, t) ** 2) * dh
        return whhT @ delta, _put(deltas, delta, t)

    dh, deltas = lax.fori_loop(0, length - 1, back, (whyT @ dy, jnp.zeros((t_max, hid), bh.dtype)))
    # Step 1 needs no propagation to h_0 (a constant).
    deltas = deltas.at[0].set((1.0 - hs[0] ** 2) * dh * has_tokens)
    # dW_hh^T = sum_t h_{t-1} delta_t^T; step 1 adds nothing (h_0 = 0).
    buckets = buckets or (t_max,)

    def d_whh(b: int):
        return lambda hs, deltas: hs[: b - 1].T @ deltas[1:b]

    which = sum((length > b).astype(jnp.int32) for b in buckets[:-1])
    d_whhT = lax.switch(which, [d_whh(b) for b in buckets], hs, deltas)
    d_wxT = jnp.zeros_like(wxT).at[jnp.maximum(ids - 1, 0)].add(deltas)  # padded rows add 0
    return (d_wxT, d_whhT, deltas.sum(0), jnp.outer(h_last, dy), dy)


def length_buckets(lengths: np.ndarray, t_max: int, k: int = 4) -> tuple[int, ...]:
    """Up to ``k`` step counts (the last is ``t_max``) that minimise the padded work
    ``sum_i bucket(length_i)`` over these sentence lengths (a brute force over the
    distinct lengths: there are few)."""
    lengths = [int(n) for n in np.asarray(lengths) if n > 0]
    candidates = sorted({n for n in lengths if n < t_max})
    best = (float("inf"), (t_max,))
    for r in range(min(k - 1, len(candidates)) + 1):
        for combo in itertools.combinations(candidates, r):
            bounds = (*combo, t_max)
            cost = sum(next(b for b in bounds if b >= n) for n in lengths)
            best = min(best, (cost, bounds))
    return tuple(max(b, 1) for b in best[1])


def _sorted_eval_fn(lengths: np.ndarray) -> Callable:
    """Per-row loss, correctness and prediction for rows sorted by length, longest first.

    ``lengths`` (host NumPy, sorted descending) fixes how many rows run at each
    step, so step ``t`` multiplies only the rows still running.
    """
    t_max = int(lengths.max()) if len(lengths) else 0
    active = [int((lengths > t).sum()) for t in range(t_max)]

    def evaluate(q, ids, labels):
        wxT, whhT, bh, whyT, by = q
        h = jnp.zeros((ids.shape[0], bh.shape[0]), bh.dtype)
        for t, m in enumerate(active):
            x = wxT[jnp.maximum(ids[:m, t] - 1, 0)] + bh
            h = h.at[:m].set(jnp.tanh(x if t == 0 else x + h[:m] @ whhT))
        logits = h @ whyT + by
        logp = jax.nn.log_softmax(logits)
        loss = -jnp.take_along_axis(logp, labels[:, None], axis=1)[:, 0]
        pred = jnp.argmax(logits, axis=1).astype(jnp.int32)
        return loss, (pred == labels).astype(logits.dtype), pred

    return evaluate


def make_run_epochs(
    model: StudyRNN,
    lr: float,
    clip: float | None,
    num_epochs: int,
    train_lengths: np.ndarray,
    test_lengths: np.ndarray,
    with_predictions: bool = False,
) -> Callable:
    """Build ``run(state, train, test, orders, count=None) -> (state, metrics [E, 4])``.

    Same contract as ``jaxrnn.training.loop.make_run_epochs`` (``state`` is a
    ``TrainState`` whose ``opt_state`` is passed through untouched: plain SGD
    with clipping has none), except that ``orders [E, N]`` is required and
    the evaluation schedule is fixed by ``train_lengths`` / ``test_lengths``
    (host arrays): ``train`` and ``test`` must be the splits they came from. ``count``
    (a traced integer, at most ``num_epochs``): run only the first ``count`` epochs with a
    runtime trip count, as ``jaxrnn.training.loop.loop_epochs`` explains (resume bit for bit).
    """
    del model  # the shapes come from the params
    n_train = len(train_lengths)
    # Both splits are evaluated in one pass over their rows sorted by length.
    all_lengths = np.concatenate([np.asarray(train_lengths), np.asarray(test_lengths)])
    evaluate = _sorted_eval_fn(np.sort(all_lengths)[::-1])

    def update(w, g):
        return w - lr * (g if clip is None else jnp.clip(g, -clip, clip))

    def run(state, train, test, orders, count=None):
        lengths = jnp.concatenate([train.lengths, test.lengths])
        ev_order = jnp.argsort(-lengths, stable=True)  # a fixed permutation, longest first
        ev_ids = jnp.concatenate([train.ids, test.ids])[ev_order]
        ev_labels = jnp.concatenate([train.labels, test.labels])[ev_order]
        is_train = ev_order < n_train

        buckets = length_buckets(train_lengths, train.ids.shape[1])

        def sample(q, i):
            g = sample_grads(q, train.ids[i], train.lengths[i], train.labels[i], buckets)
            return tuple(update(w, gw) for w, gw in zip(q, g, strict=True)), None

        def epoch(q, order):
            q, _ = lax.scan(sample, q, order)
            loss, correct, pred = evaluate(q, ev_ids, ev_labels)

            def mean(v, m):
                return jnp.sum(jnp.where(m, v, 0.0)) / jnp.maximum(jnp.sum(m), 1)

            metrics = jnp.stack(
                [
                    mean(loss, is_train),
                    mean(correct, is_train),
                    mean(loss, ~is_train),
                    mean(correct, ~is_train),
                ]
            )
            if not with_predictions:
                return q, metrics
            test_pred = jnp.zeros_like(pred).at[ev_order].set(pred)[n_train:]  # file order
            return q, (metrics, test_pred)

        q, metrics = loop_epochs(epoch, _to_inner(state.params), orders, num_epochs, count,
                                 with_predictions)  # fmt: skip
        return state._replace(params=_to_params(q)), metrics

    return run
