"""Vanishing gradients, measured: the norm of d loss / d h_t for every step t.

``hidden_grads`` runs its own ``lax.scan`` over the step functions of
``jaxrnn.nn.cells`` and adds a perturbation ``eps_t`` (zero) to the hidden state
after every step::

    h_t = step(h_{t-1}, x_t) + eps_t        (for the LSTM: the h part of the carry)

so ``d loss / d eps_t`` at ``eps = 0`` is ``d loss / d h_t``: the total derivative of
the loss with respect to the hidden state at step ``t``, through every later step
(for the LSTM this counts the paths that go through ``h_t``; the cell state ``c_t``
is a separate carry and is not perturbed). Past a sequence's end the carry is
frozen and ``eps_t`` has no effect, as in ``jaxrnn.nn.sequence.unroll``.

The loss is the sum over examples of each example's loss, so row ``b`` of the
gradient is example ``b``'s own ``d loss_b / d h_t``. ``relative_profile`` lines
the examples up at their last token (``t - T = 0``, where the readout is) and
averages ``log10(|dL/dh_t| / |dL/dh_T|)``: how much of the gradient at the
readout is left ``T - t`` steps earlier.

Works for the study's RNN (``jaxrnn.nn.models.StudyRNN``) and for a one-layer,
one-directional ``jaxrnn.nn.models.Classifier`` (rnn, lstm or gru cell).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxrnn.nn.cells import CellParams, LSTMState, get_cell, project_inputs, zero_carry
from jaxrnn.nn.models import Classifier, StudyRNN
from jaxrnn.training.loop import loss_terms

Array = jax.Array


class Unrolled(NamedTuple):
    """What the perturbed scan needs: the cell, its params, projected inputs and the readout."""

    cell: str
    params: CellParams
    xp: Array  # [B, T, G*H]
    mask: Array  # [B, T] bool, True on steps that update the carry
    w_out: Array  # [K, H]
    b_out: Array  # [K]


def _unrolled(model: StudyRNN | Classifier, params: Any, ids: Array, lengths: Array) -> Unrolled:
    steps = ids.shape[1]
    valid = jnp.arange(steps)[None, :] < lengths[:, None]
    if isinstance(model, StudyRNN):
        # As StudyRNN.hidden_states: w_xh @ one_hot(id - 1) is a column of w_xh.
        xp = params["w_xh"].T[jnp.maximum(ids - 1, 0)] + params["b_h"]
        cp = CellParams(params["w_xh"], params["w_hh"], params["b_h"], None)
        return Unrolled("rnn", cp, xp, valid, params["w_hy"], params["b_y"])
    if not isinstance(model, Classifier):
        raise TypeError(f"expected StudyRNN or Classifier, got {type(model).__name__}")
    layer = model.layer
    if layer.num_layers != 1 or layer.bidirectional:
        raise ValueError("hidden_grads handles one-layer, one-directional models only")
    if "embed" in params:
        x = params["embed"][ids]
    else:
        x = jax.nn.one_hot(ids, model.vocab_size, dtype=params["w_out"].dtype)
    cp = params["rnn"][0][0]
    mask = valid if model.mask else jnp.ones_like(valid)
    return Unrolled(
        get_cell(layer.cell).name, cp, project_inputs(cp, x), mask, params["w_out"], params["b_out"]
    )


def perturbed_loss(
    model: StudyRNN | Classifier,
    params: Any,
    ids: Array,
    lengths: Array,
    labels: Array,
    eps: Array,
    eps_x: Array | None = None,
) -> tuple[Array, tuple[Array, Array]]:
    """Summed loss with ``eps [B, T, H]`` added to every hidden state; also ``(logits, hs)``.

    ``eps_x [B, T, G*H]``, if given, is added to the projected inputs
    ``xp_t = W_ih x_t + b_ih`` (what the step at ``t`` receives from token ``t``).
    ``hs [B, T, H]`` are the (perturbed) hidden states, frozen past each end.
    At ``eps = 0`` the logits equal ``model.apply(params, ids, lengths)``.
    """
    u = _unrolled(model, params, ids, lengths)
    step = get_cell(u.cell).step
    hidden = u.params.w_hh.shape[1]
    carry0 = zero_carry(u.cell, (ids.shape[0],), hidden, u.xp.dtype)
    xp = u.xp if eps_x is None else u.xp + eps_x

    def body(carry, inp):
        xp_t, eps_t, m_t = inp
        new, _ = step(u.params, carry, xp_t)
        if isinstance(new, LSTMState):
            new = LSTMState(new.h + eps_t, new.c)
        else:
            new = new + eps_t
        m = m_t[:, None]
        carry = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, carry)
        return carry, (carry.h if isinstance(carry, LSTMState) else carry)

    tm = tuple(jnp.swapaxes(a, 0, 1) for a in (xp, eps, u.mask))
    final, hs = lax.scan(body, carry0, tm)
    h_last = final.h if isinstance(final, LSTMState) else final
    logits = h_last @ u.w_out.T + u.b_out
    return jnp.sum(loss_terms(logits, labels)), (logits, jnp.swapaxes(hs, 0, 1))


def hidden_size(model: StudyRNN | Classifier) -> int:
    """H of the model's (single) recurrent layer."""
    return model.hidden_size if isinstance(model, StudyRNN) else model.layer.hidden_size


def hidden_grads(
    model: StudyRNN | Classifier,
    params: Any,
    ids: Array,
    lengths: Array,
    labels: Array,
    wrt: str = "h",
) -> Array:
    """``d loss_b / d h_t`` for every example and step: ``[B, T, H]``.

    With ``wrt="x"``: ``d loss_b / d xp_t`` instead (``[B, T, G*H]``), the gradient that
    reaches token ``t``'s input through every path (for the LSTM, the cell state's too).
    Zero past each sequence's end (for an unmasked ``Classifier`` every step is used).
    """
    if wrt not in ("h", "x"):
        raise ValueError(f"wrt must be 'h' or 'x', got {wrt!r}")
    u = _unrolled(model, params, ids, lengths)
    zeros = jnp.zeros((*ids.shape, hidden_size(model)), u.xp.dtype)
    if wrt == "x":

        def loss(e):
            return perturbed_loss(model, params, ids, lengths, labels, zeros, e)[0]

        g = jax.grad(loss)(jnp.zeros_like(u.xp))
    else:

        def loss(e):
            return perturbed_loss(model, params, ids, lengths, labels, e)[0]

        g = jax.grad(loss)(zeros)
    return jnp.where(u.mask[..., None], g, 0.0)  # all steps for an unmasked model


def grad_norms(
    model: StudyRNN | Classifier,
    params: Any,
    ids: Array,
    lengths: Array,
    labels: Array,
    wrt: str = "h",
) -> np.ndarray:
    """``|d loss_b / d h_t|_2`` (``wrt="x"``: ``d xp_t``) as NumPy ``[B, T]`` (0 past each end)."""

    def fn(p, i, n, y):
        return jnp.linalg.norm(hidden_grads(model, p, i, n, y, wrt), axis=-1)

    return np.asarray(jax.jit(fn)(params, ids, lengths, labels))


def grad_norms_seeds(
    model: StudyRNN | Classifier,
    params: Any,
    ids: Array,
    lengths: Array,
    labels: Array,
    wrt: str = "h",
) -> np.ndarray:
    """``grad_norms`` for params stacked over seeds (leading axis S): ``[S, B, T]``."""

    def one(p):
        return jnp.linalg.norm(hidden_grads(model, p, ids, lengths, labels, wrt), axis=-1)

    return np.asarray(jax.jit(jax.vmap(one))(params))


def relative_profile(norms: np.ndarray, lengths: np.ndarray) -> dict[str, list]:
    """Line the examples up at their last token and average ``log10`` of the relative norm.

    Args:
      norms: ``[S, B, T]`` (or ``[B, T]``) gradient norms from ``grad_norms[_seeds]``.
      lengths: ``[B]`` valid lengths.

    Returns:
      JSON-ready lists indexed by ``k = T - t = 0, 1, ..`` (steps before the readout):
      ``log10_rel_mean`` / ``log10_rel_std`` (over seeds, of each seed's mean over the
      examples long enough to have step ``T - k``), ``count`` (those examples),
      ``log10_abs_mean`` (the same for the absolute norm), ``underflow`` (the share
      of gradients that were exactly 0 in floating point: excluded from the means).
    """
    norms = np.asarray(norms, dtype=np.float64)
    if norms.ndim == 2:
        norms = norms[None]
    lengths = np.asarray(lengths)
    n_seeds, batch, _ = norms.shape
    kmax = int(lengths.max())
    rows = np.arange(batch)
    rel = np.full((n_seeds, kmax), np.nan)
    ab = np.full((n_seeds, kmax), np.nan)
    under = np.zeros(kmax)
    count = np.zeros(kmax, int)
    last = norms[:, rows, np.maximum(lengths - 1, 0)]  # [S, B]
    for k in range(kmax):
        have = lengths - 1 - k >= 0
        count[k] = int(have.sum())
        t = lengths[have] - 1 - k
        g = norms[:, rows[have], t]  # [S, b]
        ok = (g > 0) & (last[:, have] > 0)
        under[k] = float(1.0 - ok.mean()) if ok.size else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where(ok, np.log10(g) - np.log10(last[:, have]), np.nan)
            la = np.where(g > 0, np.log10(g), np.nan)
        for s in range(n_seeds):
            if np.isfinite(lr[s]).any():
                rel[s, k] = np.nanmean(lr[s])
            if np.isfinite(la[s]).any():
                ab[s, k] = np.nanmean(la[s])

    def col_stat(a: np.ndarray, fn) -> list:
        out = []
        for k in range(kmax):
            v = a[:, k][np.isfinite(a[:, k])]
            out.append(float(fn(v)) if len(v) else None)
        return out

    return {
        "k": list(range(kmax)),
        "count": count.tolist(),
        "log10_rel_mean": col_stat(rel, np.mean),
        "log10_rel_std": col_stat(rel, lambda v: v.std(ddof=1) if len(v) > 1 else 0.0),
        "log10_abs_mean": col_stat(ab, np.mean),
        "underflow": under.tolist(),
        "seeds": n_seeds,
    }
