"""Recurrent layers in NumPy with hand-written backpropagation through time (BPTT).

The independent reference for ``jaxrnn.nn.sequence`` and ``jaxrnn.nn.models.Classifier``:
simple RNN (tanh or relu), LSTM and GRU cells, unidirectional or bidirectional,
stacked, with the same ``lengths`` masking, weight layout and final-state order.
No autodiff: every gradient below is written out by hand, and the tests check it
against ``jax.grad`` and against finite differences. This module imports no JAX.

Each cell's forward and backward step is registered in ``NUMPY_CELLS`` under its name in
``jaxrnn.weights.cellspec``'s registry (``register_numpy_cell``); the layer code below
dispatches through that table, never by name.

Layout (``jaxrnn.weights.layout``, PyTorch's): one cell (a layer, a direction) has
``w_ih [G*H, D]``, ``w_hh [G*H, H]``, ``b_ih [G*H]``, ``b_hh [G*H]`` (biases may
be None), G = 1 (rnn), 4 (lstm: i, f, g, o) or 3 (gru: r, z, n).

Forward, one step, with ``xp = W_ih x_t + b_ih`` (computed for all t at once)
and ``hh = W_hh h + b_hh``::

    rnn:   a = xp + hh,   h' = tanh(a)  (or relu(a))
    lstm:  a = xp + hh = [a_i, a_f, a_g, a_o]
           i, f, o = sigmoid(a_i, a_f, a_o),   g = tanh(a_g)
           c' = f*c + i*g,   h' = o*tanh(c')
    gru:   r = sigmoid(xp_r + hh_r),   z = sigmoid(xp_z + hh_z)
           n = tanh(xp_n + r*hh_n),   h' = (1-z)*n + z*h

Backward, one step, given ``dh'`` (and ``dc'`` for lstm), the gradients of the
loss wrt the new state; ``da`` is the gradient wrt a pre-activation::

    rnn:   da = dh' * (1 - h'^2)   (relu: dh' * [a > 0])
           dxp = dhh = da
    lstm:  dc' += dh' * o * (1 - tanh(c')^2)
           da_i = dc'*g * i(1-i),   da_f = dc'*c * f(1-f)
           da_g = dc'*i * (1-g^2),  da_o = dh'*tanh(c') * o(1-o)
           dxp = dhh = [da_i, da_f, da_g, da_o],   dc = dc' * f
    gru:   da_n = dh'*(1-z) * (1-n^2),   da_z = dh'*(h-n) * z(1-z)
           da_r = da_n*hh_n * r(1-r)
           dxp = [da_r, da_z, da_n],   dhh = [da_r, da_z, r*da_n],   dh = dh'*z
    all:   dh += dhh W_hh,   dW_hh += dhh^T h,   db_hh += sum(dhh)
           dW_ih += dxp^T x_t,   db_ih += sum(dxp),   dx_t = dxp W_ih

Masking by ``lengths [B]``, exactly as ``jaxrnn.nn.sequence``: with ``m_t = t < length``,
``carry_t = m_t ? step(carry_{t-1}) : carry_{t-1}`` and ``y_t = m_t ? h_t : 0``.
So past a sequence's end the carry is frozen (the final state is the state after
its last valid step) and the gradient wrt the carry passes through those steps
unchanged; gradients wrt outputs at padding positions are ignored. The backward
direction runs over ``reverse_padded(x)``, which reverses only the valid part of
each sequence; being a permutation that is its own inverse, it is also its own
transpose, so the backward pass applies it again to the gradients.

Params: a tuple over layers of a tuple over directions (forward, backward) of
objects with attributes ``w_ih, w_hh, b_ih, b_hh`` (this module's ``CellParams``,
or ``jaxrnn.nn.cells.CellParams`` holding NumPy arrays, e.g.
``jax.tree.map(np.asarray, jax_params)``). Gradients come back in the same
structure and the same types. Final states are ``[L * dirs, B, H]`` in PyTorch's
order (layer 0 forward, layer 0 backward, layer 1 forward, ...), ``LSTMState(h, c)``
for the LSTM.

Dropout, inverted as ``jaxrnn.nn.sequence.dropout`` (``where(keep, x / (1 - rate), 0)``,
gradient ``where(keep, dx / (1 - rate), 0)``), between stacked layers and before the
classifier's readout. JAX draws the keep masks from a PRNG key inside ``apply``;
NumPy cannot draw those, so here the masks are inputs (``keep`` arrays, True =
kept): a test that wants both sides to drop the same units draws the masks the way
``Classifier.apply`` does from its key and hands them to this module
(``tests/test_scratch_train.py``); a NumPy-only run draws its own
(``jaxrnn.scratch.train.draw_dropout_masks``). No masks: no dropout (evaluation,
like ``key=None``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxrnn.scratch.optim import tree_leaves
from jaxrnn.weights.cellspec import get_spec
from jaxrnn.weights.layout import CellParams, num_gates
from jaxrnn.weights.parallel_init import ResidualParams

Carry = Any  # np.ndarray [.., H], or LSTMState for the lstm
Params = Sequence[Sequence[Any]]  # layers x directions of objects with w_ih, w_hh, b_ih, b_hh


class LSTMState(NamedTuple):
    """LSTM state: hidden and cell state, each ``[.., H]``."""

    h: np.ndarray
    c: np.ndarray


# ----------------------------------------------------------------------------- helpers


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow for large ``|x|``."""
    return np.exp(-np.logaddexp(0.0, -x))


def _affine(x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    y = x @ w.T
    return y if b is None else y + b


class LRUState(NamedTuple):
    """The LRU layer's state (``jaxrnn.nn.parallel_cells.LRUState``): its real output ``h`` at
    the last step taken and its complex state ``x``, each ``[.., H]``."""

    h: np.ndarray
    x: np.ndarray


def _map(fn: Callable[..., np.ndarray], *carries: Carry) -> Carry:
    """Apply ``fn`` to a carry leaf-wise: to the fields of an LSTMState (LRUState), or to the
    array."""
    if isinstance(carries[0], LSTMState | LRUState):
        return type(carries[0])(*(fn(*leaves) for leaves in zip(*carries, strict=True)))
    return fn(*carries)


def _hidden(carry: Carry) -> np.ndarray:
    return carry.h if isinstance(carry, LSTMState | LRUState) else carry


def _is_block(p: Any) -> bool:
    """``p`` is one direction of a ``--block residual`` layer (``ResidualParams``)."""
    return isinstance(p, ResidualParams)


def _sizes(cell: str, p: Any) -> tuple[int, int]:
    """``(D, H)``: a cell's (or a residual block's) input and hidden sizes, read from its
    params."""
    if _is_block(p):  # the block's width is its first norm's; its input, the projection's
        width = p.block[0].shape[0]
        return (p.proj[0].shape[1] if p.proj else width), width
    sizes = numpy_cell(cell).sizes
    return sizes(p) if sizes is not None else (p.w_ih.shape[1], p.w_hh.shape[1])


def _check_cell(cell: str) -> str:
    numpy_cell(cell)  # raises ValueError for an unknown cell or one without a NumPy twin
    return cell


def _has_cell_state(cell: str) -> bool:
    """The cell's carry is ``(h, c)`` (an ``LSTMState``) or ``(h, x)`` (``LRUState``), not
    ``h``."""
    return get_spec(cell).carry != "h"


def time_mask(lengths: np.ndarray, max_len: int) -> np.ndarray:
    """``[B]`` lengths -> ``[B, T]`` bool mask, True on valid steps."""
    return np.arange(max_len)[None, :] < np.asarray(lengths)[:, None]


def reverse_padded(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Reverse each sequence of ``x [B, T, ...]`` within its valid length.

    ``[a, b, c, pad, pad]`` with length 3 becomes ``[c, b, a, pad, pad]``; padding
    stays where it is. Applying it twice gives back ``x``. ``lengths=None``: a plain
    flip of axis 1.
    """
    if lengths is None:
        return x[:, ::-1]
    lengths = np.asarray(lengths)
    t = np.arange(x.shape[1])[None, :]
    src = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # [B, T]
    return x[np.arange(x.shape[0])[:, None], src]


def _dropout(x: np.ndarray, keep: np.ndarray, rate: float) -> np.ndarray:
    """Inverted dropout with a given keep mask (``jaxrnn.nn.sequence.dropout``); also its own
    backward: the gradient wrt ``x`` is ``_dropout(dy, keep, rate)``."""
    keep = np.asarray(keep)
    if keep.shape != x.shape:
        raise ValueError(f"dropout keep mask is {keep.shape}, expected {x.shape}")
    return np.where(keep, x / (1.0 - rate), 0.0)


def _check_lengths(lengths: np.ndarray | None, batch: int, max_len: int) -> np.ndarray:
    """Full lengths for None (no masking is then the same as masking nothing)."""
    if lengths is None:
        return np.full(batch, max_len, dtype=np.int64)
    lengths = np.asarray(lengths)
    if lengths.shape != (batch,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be [B] = [{batch}] integers, got {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError(f"lengths must lie in [0, T={max_len}], got {lengths.tolist()}")
    return lengths.astype(np.int64)


# ----------------------------------------------------------------------------- one step
#
# A step works on the projected input xp = x_t W_ih^T + b_ih [B, G*H] (projected for
# all t at once, as jaxrnn.nn.cells does). step_backward returns
# (d_prev_carry, dxp, dhh): dhh, the gradient wrt hh = h W_hh^T + b_hh, is what
# the layer needs for dW_hh and db_hh, accumulated over all steps at once.


def rnn_step_forward(
    p: Any, h: np.ndarray, xp: np.ndarray, nonlinearity: str = "tanh"
) -> tuple[np.ndarray, tuple]:
    """Elman step. ``h [B, H]``, ``xp [B, H]`` -> ``(h' [B, H], cache)``."""
    a = xp + _affine(h, p.w_hh, p.b_hh)
    h_new = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
    return h_new, (h, a, h_new, nonlinearity)


def rnn_step_backward(
    p: Any, dh_new: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dh' [B, H]`` -> ``(dh [B, H], dxp [B, H], dhh [B, H])``."""
    h, a, h_new, nonlinearity = cache
    # relu'(0) = 0, as jax.nn.relu's gradient.
    da = dh_new * (1.0 - h_new**2) if nonlinearity == "tanh" else dh_new * (a > 0.0)
    return da @ p.w_hh, da, da


def lstm_step_forward(p: Any, state: LSTMState, xp: np.ndarray) -> tuple[LSTMState, tuple]:
    """LSTM step. ``state = (h, c)`` each ``[B, H]``, ``xp [B, 4H]`` -> ``((h', c'), cache)``."""
    h, c = state
    a_i, a_f, a_g, a_o = np.split(xp + _affine(h, p.w_hh, p.b_hh), 4, axis=-1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c_new = f * c + i * g
    tanh_c = np.tanh(c_new)
    return LSTMState(o * tanh_c, c_new), (h, c, i, f, g, o, tanh_c)


def lstm_step_backward(
    p: Any, d_new: LSTMState, cache: tuple
) -> tuple[LSTMState, np.ndarray, np.ndarray]:
    """``(dh', dc')`` each ``[B, H]`` -> ``((dh, dc), dxp [B, 4H], dhh [B, 4H])``."""
    dh_new, dc_new = d_new
    h, c, i, f, g, o, tanh_c = cache
    do = dh_new * tanh_c
    dc_new = dc_new + dh_new * o * (1.0 - tanh_c**2)  # c' reaches the loss via h' too
    da = np.concatenate(
        [
            dc_new * g * i * (1.0 - i),
            dc_new * c * f * (1.0 - f),
            dc_new * i * (1.0 - g**2),
            do * o * (1.0 - o),
        ],
        axis=-1,
    )
    return LSTMState(da @ p.w_hh, dc_new * f), da, da


def gru_step_forward(p: Any, h: np.ndarray, xp: np.ndarray) -> tuple[np.ndarray, tuple]:
    """GRU step, reset applied to ``W_hn h + b_hn`` (PyTorch). ``xp [B, 3H]`` -> ``(h', cache)``."""
    x_r, x_z, x_n = np.split(xp, 3, axis=-1)
    h_r, h_z, h_n = np.split(_affine(h, p.w_hh, p.b_hh), 3, axis=-1)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * h, (h, r, z, n, h_n)


def gru_step_backward(
    p: Any, dh_new: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dh' [B, H]`` -> ``(dh [B, H], dxp [B, 3H], dhh [B, 3H])``."""
    h, r, z, n, h_n = cache
    da_n = dh_new * (1.0 - z) * (1.0 - n**2)
    da_z = dh_new * (h - n) * z * (1.0 - z)
    da_r = da_n * h_n * r * (1.0 - r)
    dxp = np.concatenate([da_r, da_z, da_n], axis=-1)
    # Unlike xp_n, hh_n enters through r * hh_n.
    dhh = np.concatenate([da_r, da_z, r * da_n], axis=-1)
    return dh_new * z + dhh @ p.w_hh, dxp, dhh


class NumpyCell(NamedTuple):
    """A cell's NumPy twin: ``forward(p, carry, xp) -> (new_carry, cache)`` and its hand-written
    ``backward(p, d_new, cache) -> (d_carry, dxp, dhh)`` (``d_new`` like the carry).

    A parallel cell (spec ``parallel``: minGRU, minLSTM, LRU; ``jaxrnn.scratch.parallel_cells``
    registers them) runs a whole direction itself: ``unroll`` is its pair
    ``(unroll_forward, unroll_backward)`` with the contracts of this module's functions of
    those names (which dispatch to it), and ``sizes(p) -> (D, H)`` reads its sizes (its
    params have no ``w_ih``/``w_hh``); ``forward``/``backward`` are then its step pair.
    """

    forward: Callable[..., Any]
    backward: Callable[..., Any]
    unroll: tuple[Callable, Callable] | None = None
    sizes: Callable[[Any], tuple[int, int]] | None = None


# Cell name -> its NumPy step pair; the names are jaxrnn.weights.cellspec's registry.
NUMPY_CELLS: dict[str, NumpyCell] = {}


def register_numpy_cell(name: str, forward: Callable, backward: Callable, *,
                        unroll: tuple[Callable, Callable] | None = None,
                        sizes: Callable | None = None) -> NumpyCell:  # fmt: skip
    """Register the NumPy twin of the registered cell ``name`` (its spec must say
    ``numpy_backward=True``; a parallel cell gives ``unroll`` and ``sizes``, see
    ``NumpyCell``); how to add a cell: ``jaxrnn.weights.cellspec``."""
    spec = get_spec(name)
    if not spec.numpy_backward:
        raise ValueError(f"cell {name!r}: its spec says numpy_backward=False")
    if (unroll is not None) != spec.parallel or (sizes is not None) != spec.parallel:
        raise ValueError(f"cell {name!r}: unroll and sizes go with a parallel cell "
                         f"(spec.parallel={spec.parallel})")  # fmt: skip
    entry = NumpyCell(forward, backward, unroll, sizes)
    old = NUMPY_CELLS.get(name)
    if old is not None and old != entry:
        raise ValueError(f"cell {name!r} already has a NumPy twin")
    NUMPY_CELLS[name] = entry
    return entry


def unregister_numpy_cell(name: str) -> None:
    """Remove a cell's NumPy twin (for tests that register a cell of their own)."""
    NUMPY_CELLS.pop(name, None)


def numpy_cell(cell: str) -> NumpyCell:
    """The NumPy step pair of ``cell``; ValueError if it is unknown or has none."""
    try:
        return NUMPY_CELLS[cell]
    except (KeyError, TypeError):
        get_spec(cell)  # ValueError naming the registered cells
        raise ValueError(f"cell {cell!r} has no NumPy twin (register_numpy_cell)") from None


def _rnn_pair(nonlinearity: str) -> tuple[Callable, Callable]:
    def forward(p: Any, h: np.ndarray, xp: np.ndarray) -> tuple[np.ndarray, tuple]:
        return rnn_step_forward(p, h, xp, nonlinearity)

    return forward, rnn_step_backward


register_numpy_cell("rnn", *_rnn_pair("tanh"))
register_numpy_cell("rnn_relu", *_rnn_pair("relu"))
register_numpy_cell("lstm", lstm_step_forward, lstm_step_backward)
register_numpy_cell("gru", gru_step_forward, gru_step_backward)


def step_forward(cell: str, p: Any, carry: Carry, xp: np.ndarray) -> tuple[Carry, tuple]:
    """One step of a registered ``cell`` (``rnn``, ``rnn_relu``, ``lstm``, ``gru``, ...):
    ``(new_carry, cache)``."""
    return numpy_cell(cell).forward(p, carry, xp)


def step_backward(
    cell: str, p: Any, d_new: Carry, cache: tuple
) -> tuple[Carry, np.ndarray, np.ndarray]:
    """Backward of ``step_forward``: ``d_new`` (like the carry) -> ``(d_carry, dxp, dhh)``."""
    return numpy_cell(cell).backward(p, d_new, cache)


# ----------------------------------------------------------------------------- one direction


def unroll_forward(
    cell: str, p: Any, x: np.ndarray, lengths: np.ndarray | None, carry: Carry
) -> tuple[np.ndarray, Carry, tuple]:
    """Run one cell over ``x [B, T, D]`` from ``carry`` (``[B, H]``; ``(h, c)`` for lstm).

    Returns ``(outputs [B, T, H], final_carry, cache)``: outputs are zero and the
    carry frozen past each sequence's end.
    """
    if _is_block(p):  # a parallel cell inside its residual block (jaxrnn.scratch.blocks)
        from jaxrnn.scratch.blocks import block_forward

        return block_forward(p, x, _check_lengths(lengths, x.shape[0], x.shape[1]), carry=carry)
    unroll = numpy_cell(cell).unroll
    if unroll is not None:  # a parallel cell runs its direction itself
        return unroll[0](p, x, _check_lengths(lengths, x.shape[0], x.shape[1]), carry)
    batch, steps, _ = x.shape
    mask = time_mask(_check_lengths(lengths, batch, steps), steps)  # [B, T]
    xp = _affine(x, p.w_ih, p.b_ih)  # [B, T, G*H]: one matmul for all steps
    hidden = p.w_hh.shape[1]
    carry = _as_state(cell, carry, (batch, hidden), xp.dtype)  # a pair (h, c) -> LSTMState
    ys = np.zeros((batch, steps, hidden), np.result_type(xp, _hidden(carry)))
    h_prev = np.zeros_like(ys)  # the h each step reads, for dW_hh
    caches = []
    for t in range(steps):
        m = mask[:, t, None]
        h_prev[:, t] = _hidden(carry)
        new, cache = step_forward(cell, p, carry, xp[:, t])
        carry = _map(lambda n, o, m=m: np.where(m, n, o), new, carry)
        ys[:, t] = np.where(m, _hidden(new), 0.0)
        caches.append(cache)
    return ys, carry, (x, mask, h_prev, caches)


def unroll_backward(
    cell: str, p: Any, cache: tuple, d_ys: np.ndarray | None, d_carry: Carry | None
) -> tuple[Any, np.ndarray, Carry]:
    """Backward of ``unroll_forward``.

    Args:
      d_ys: ``[B, T, H]`` gradient wrt the outputs, None for zero.
      d_carry: gradient wrt the final carry (``[B, H]``; ``(dh, dc)`` for lstm, either
        may be None), None for zero.

    Returns:
      ``(grads, dx [B, T, D], d_initial_carry)``, ``grads`` of the type of ``p``.
    """
    if _is_block(p):
        from jaxrnn.scratch.blocks import block_backward

        return block_backward(d_ys, d_carry, cache)
    unroll = numpy_cell(cell).unroll
    if unroll is not None:
        return unroll[1](p, cache, d_ys, d_carry)
    x, mask, h_prev, caches = cache
    batch, steps = mask.shape
    if d_ys is None:
        d_ys = np.zeros_like(h_prev)
    d_carry = _as_state(cell, d_carry, (batch, h_prev.shape[-1]), h_prev.dtype)
    dxp = np.zeros((batch, steps, p.w_hh.shape[0]), np.result_type(d_ys, h_prev))
    dhh = np.zeros_like(dxp)
    for t in reversed(range(steps)):
        m = mask[:, t, None]
        # Valid rows: the step's new state got d_carry (+ d_ys via h'). Frozen rows:
        # the step's result was discarded, d_carry goes straight to the previous carry.
        d_new = _map(lambda d, m=m: np.where(m, d, 0.0), d_carry)
        dh_new = _hidden(d_new) + np.where(m, d_ys[:, t], 0.0)
        d_new = d_new._replace(h=dh_new) if isinstance(d_new, LSTMState) else dh_new
        d_prev, dxp[:, t], dhh[:, t] = step_backward(cell, p, d_new, caches[t])
        d_carry = _map(lambda dp, dc, m=m: dp + np.where(m, 0.0, dc), d_prev, d_carry)
    grads = type(p)(
        w_ih=np.einsum("btg,btd->gd", dxp, x),
        w_hh=np.einsum("btg,bth->gh", dhh, h_prev),
        b_ih=None if p.b_ih is None else dxp.sum(axis=(0, 1)),
        b_hh=None if p.b_hh is None else dhh.sum(axis=(0, 1)),
    )
    return grads, dxp @ p.w_ih, d_carry


# ----------------------------------------------------------------------------- the stack


def _as_state(cell: str, state: Any, shape: tuple[int, ...], dtype) -> Carry:
    """``state`` (None: zeros; for lstm a pair ``(h, c)``, either may be None) as a Carry."""
    if not _has_cell_state(cell):
        return np.zeros(shape, dtype) if state is None else np.asarray(state)
    h, c = (None, None) if state is None else state
    if get_spec(cell).carry == "hx":  # the LRU: (h, x), x complex
        return LRUState(
            np.zeros(shape, dtype) if h is None else np.asarray(h),
            np.zeros(shape, np.result_type(dtype, 1j)) if c is None else np.asarray(c),
        )
    return LSTMState(
        np.zeros(shape, dtype) if h is None else np.asarray(h),
        np.zeros(shape, dtype) if c is None else np.asarray(c),
    )


def layer_forward(
    cell: str,
    params: Params,
    x: np.ndarray,
    lengths: np.ndarray | None = None,
    initial_state: Carry | None = None,
    *,
    dropout: float = 0.0,
    dropout_keep: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, Carry, tuple]:
    """Run a stacked, possibly bidirectional recurrent layer, as ``RecurrentLayer.apply``.

    Args:
      cell: a registered cell with a NumPy twin (``rnn``, ``rnn_relu``, ``lstm``, ``gru``, ...).
      params: layers x directions of cell params (1 direction, or 2: forward, backward).
      x: ``[B, T, D]``.
      lengths: ``[B]`` valid lengths in ``[0, T]``, None for all ``T``.
      initial_state: ``[L * dirs, B, H]`` (``(h, c)`` for lstm), zeros if None.
      dropout: the rate between stacked layers (``RecurrentLayer.dropout``).
      dropout_keep: ``L - 1`` keep masks ``[B, T, dirs * H]``, one per gap between
        layers (True = kept), as ``apply`` with a ``key`` would draw them; None (or
        ``dropout == 0``): no dropout, as ``apply`` without a key.

    Returns:
      ``(outputs [B, T, dirs * H], final [L * dirs, B, H] (LSTMState for lstm), cache)``.
    """
    cell = _check_cell(cell)
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"x must be [B, T, D], got shape {x.shape}")
    batch, steps, _ = x.shape
    lengths = _check_lengths(lengths, batch, steps)
    dirs = len(params[0])
    hidden = _sizes(cell, params[0][0])[1]
    dtype = np.result_type(x, *tree_leaves(params[0][0]))
    state = _as_state(cell, initial_state, (len(params) * dirs, batch, hidden), dtype)
    keeps: tuple = ()
    if dropout_keep is not None and dropout > 0.0:
        keeps = tuple(dropout_keep)
        if len(keeps) != len(params) - 1:
            raise ValueError(
                f"dropout_keep needs one mask per gap between the {len(params)} layers, "
                f"got {len(keeps)}"
            )
    finals, caches = [], []
    for layer, layer_params in enumerate(params):
        if len(layer_params) != dirs:
            raise ValueError("every layer must have the same number of directions")
        outs, layer_caches = [], []
        for d, p in enumerate(layer_params):
            if numpy_cell(cell).sizes is not None:  # a parallel cell: its sizes
                if _sizes(cell, p) != (x.shape[-1], hidden):
                    raise ValueError(f"layer {layer} direction {d}: {cell} params of sizes "
                                     f"(D, H) = {_sizes(cell, p)}, expected "
                                     f"{(x.shape[-1], hidden)}")  # fmt: skip
            elif p.w_ih.shape != (num_gates(cell) * hidden, x.shape[-1]):
                raise ValueError(
                    f"layer {layer} direction {d}: w_ih is {p.w_ih.shape}, expected "
                    f"{(num_gates(cell) * hidden, x.shape[-1])} for {cell}"
                )
            idx = layer * dirs + d
            inp = x if d == 0 else reverse_padded(x, lengths)
            ys, carry, cache = unroll_forward(
                cell, p, inp, lengths, _map(lambda s, idx=idx: s[idx], state)
            )
            outs.append(ys if d == 0 else reverse_padded(ys, lengths))
            finals.append(carry)
            layer_caches.append(cache)
        x = np.concatenate(outs, axis=-1)
        if keeps and layer < len(params) - 1:
            x = _dropout(x, keeps[layer], dropout)
        caches.append(layer_caches)
    final = _map(lambda *s: np.stack(s), *finals)
    return x, final, (lengths, steps, dtype, caches, keeps, dropout)


def layer_backward(
    cell: str,
    params: Params,
    cache: tuple,
    d_outputs: np.ndarray | None = None,
    d_final: Carry | None = None,
) -> tuple[tuple, np.ndarray, Carry]:
    """Backward of ``layer_forward`` (BPTT through every layer and direction).

    Args:
      cell, params: as given to ``layer_forward``.
      cache: from ``layer_forward``.
      d_outputs: ``[B, T, dirs * H]`` gradient wrt the outputs, None for zero.
      d_final: ``[L * dirs, B, H]`` gradient wrt the final state (``(dh, dc)`` for
        lstm, either may be None), None for zero.

    Returns:
      ``(grads, dx [B, T, D], d_initial_state [L * dirs, B, H])``: ``grads`` with the
      structure and types of ``params``; ``d_initial_state`` an LSTMState for lstm.
    """
    cell = _check_cell(cell)
    lengths, steps, dtype, caches, keeps, rate = cache
    batch, dirs, hidden = lengths.shape[0], len(params[0]), _sizes(cell, params[0][0])[1]
    d_x = (
        np.zeros((batch, steps, dirs * hidden), dtype)
        if d_outputs is None
        else np.asarray(d_outputs)
    )
    d_final = _as_state(cell, d_final, (len(params) * dirs, batch, hidden), dtype)
    d_initial: list[Carry] = [None] * (len(params) * dirs)
    grads: list[tuple] = [()] * len(params)
    for layer in reversed(range(len(params))):
        layer_grads, d_in = [], 0.0
        for d, p in enumerate(params[layer]):
            idx = layer * dirs + d
            dy = d_x[..., d * hidden : (d + 1) * hidden]
            if d == 1:
                dy = reverse_padded(dy, lengths)  # reverse_padded is its own transpose
            g, dx, d_c0 = unroll_backward(
                cell, p, caches[layer][d], dy, _map(lambda s, idx=idx: s[idx], d_final)
            )
            d_in = d_in + (dx if d == 0 else reverse_padded(dx, lengths))
            layer_grads.append(g)
            d_initial[idx] = d_c0
        grads[layer] = tuple(layer_grads)
        d_x = d_in  # the gradient wrt this layer's input: the layer below's outputs
        if keeps and layer > 0:  # ... after dropout: back through the same mask
            d_x = _dropout(d_x, keeps[layer - 1], rate)
    return tuple(grads), d_x, _map(lambda *s: np.stack(s), *d_initial)


# ----------------------------------------------------------------------------- classifier


class DropoutMasks(NamedTuple):
    """Keep masks (True = kept) of one batch: the NumPy stand-in for ``Classifier.apply``'s key.

    ``between``: ``L - 1`` masks ``[B, T, dirs * H]``, one per gap between stacked layers
    (used when the layer's dropout rate is > 0). ``readout``: ``[B, dirs * H]``, on the
    features before the dense readout (used when the classifier's rate is > 0).
    """

    between: tuple[np.ndarray, ...] = ()
    readout: np.ndarray | None = None


def _classifier_forward(
    params: dict,
    ids: np.ndarray,
    lengths: np.ndarray,
    cell: str,
    bidirectional: bool,
    mask: bool,
    dropout: float = 0.0,
    layer_dropout: float = 0.0,
    masks: DropoutMasks | None = None,
) -> tuple[np.ndarray, tuple]:
    rnn = params["rnn"]
    dirs = len(rnn[0])
    if dirs != (2 if bidirectional else 1):
        raise ValueError(
            f"bidirectional={bidirectional} but params['rnn'] has {dirs} direction(s) per layer"
        )
    ids = np.asarray(ids)
    w_out = params["w_out"]
    if "embed" in params:
        x = params["embed"][ids]  # [B, T, E]
    else:  # one-hot over the vocabulary, whose size is layer 0's input size
        x = np.eye(_sizes(cell, rnn[0][0])[0], dtype=w_out.dtype)[ids]
    outs, final, layer_cache = layer_forward(
        cell,
        rnn,
        x,
        lengths if mask else None,
        dropout=layer_dropout,
        dropout_keep=None if masks is None else masks.between,
    )
    h = _hidden(final)  # [L * dirs, B, H]
    # Readout: the last layer's final states, forward then backward; with residual blocks
    # its outputs at the same steps (the block's projection and MLP come after the carry).
    last = _block_readout_steps(rnn, outs, lengths if mask else None)
    if last is None:
        feats = np.concatenate([h[-dirs + d] for d in range(dirs)], axis=-1)  # [B, dirs * H]
    else:
        feats = _block_features(outs, last, dirs)
    keep = None
    if masks is not None and dropout > 0.0:
        if masks.readout is None:
            raise ValueError(f"dropout={dropout} needs a readout keep mask [B, {feats.shape[1]}]")
        keep = masks.readout
        feats = _dropout(feats, keep, dropout)
    logits = feats @ w_out.T + params["b_out"]  # [B, K]
    return logits, (ids, feats, keep, h.shape, layer_cache, outs.shape, last)


def _block_readout_steps(rnn: Params, outs: np.ndarray, lengths: np.ndarray | None
                         ) -> np.ndarray | None:  # fmt: skip
    """With residual blocks, each sequence's last valid step ``[B]`` (``T - 1`` without
    lengths), where the forward direction's features are read; None without blocks."""
    if not _is_block(rnn[0][0]):
        return None
    steps = outs.shape[1]
    if lengths is None:
        return np.full(outs.shape[0], steps - 1)
    return np.maximum(np.asarray(lengths) - 1, 0)


def _block_features(outs: np.ndarray, last: np.ndarray, dirs: int) -> np.ndarray:
    """``jaxrnn.nn.models._readout_features`` with blocks: the forward direction's outputs
    at ``last``, the backward direction's at step 0: ``[B, dirs * H]``."""
    hid = outs.shape[-1] // dirs
    fwd = outs[np.arange(outs.shape[0]), last, :hid]
    return fwd if dirs == 1 else np.concatenate([fwd, outs[:, 0, hid:]], axis=-1)


def classifier_logits(
    params: dict,
    ids: np.ndarray,
    lengths: np.ndarray,
    *,
    cell: str,
    bidirectional: bool,
    mask: bool = True,
    dropout: float = 0.0,
    layer_dropout: float = 0.0,
    masks: DropoutMasks | None = None,
) -> np.ndarray:
    """``jaxrnn.nn.models.Classifier.apply``: ``ids [B, T]`` -> logits ``[B, K]``.

    ``params`` as Classifier's: ``embed [V, E]`` (absent: one-hot inputs over ``V``),
    ``rnn`` (layers x directions of cell params), ``w_out [K, F]``, ``b_out [K]``
    with ``F = dirs * H``. ``mask=False`` feeds the padding to the cells like real
    tokens (``lengths`` is then ignored). Dropout (``dropout``: the classifier's rate
    before the readout, ``layer_dropout``: the layer's rate between stacked layers)
    only with ``masks``, as ``apply`` drops only with a key.
    """
    return _classifier_forward(
        params, ids, lengths, cell, bidirectional, mask, dropout, layer_dropout, masks
    )[0]


def classifier_loss_and_grads(
    params: dict,
    ids: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    *,
    cell: str,
    bidirectional: bool,
    mask: bool = True,
    weights: np.ndarray | None = None,
    dropout: float = 0.0,
    layer_dropout: float = 0.0,
    masks: DropoutMasks | None = None,
) -> tuple[float, dict]:
    """Weighted mean loss over the batch of ``Classifier`` and its gradients, by hand.

    The loss is sigmoid binary cross-entropy for one output (``K = 1``, labels 0/1)
    and softmax cross-entropy otherwise (labels ``0..K-1``), as ``jaxrnn.training.loop``::

        K = 1:  loss = log(1 + e^y) - label * y,   dy = sigmoid(y) - label
        K > 1:  loss = logsumexp(y) - y[label],    dy = softmax(y) - one_hot(label)
        batch:  sum(w * loss) / sum(w),  each example's dy scaled by w / sum(w)

    Args:
      params, ids, lengths, cell, bidirectional, mask, dropout, layer_dropout, masks:
        see ``classifier_logits``.
      labels: ``[B]`` integer labels.
      weights: ``[B]`` per-example weights (``jaxrnn.training.loop.weighted_loss``: 0 for the
        padding slots of a last, partial batch); None: all 1 (the plain mean).

    Returns:
      ``(loss, grads)``, ``grads`` keyed and structured like ``params``.
    """
    logits, (ids, feats, keep, h_shape, layer_cache, outs_shape, last) = _classifier_forward(
        params, ids, lengths, cell, bidirectional, mask, dropout, layer_dropout, masks
    )
    labels = np.asarray(labels)
    batch, k = logits.shape
    w = np.ones(batch, logits.dtype) if weights is None else np.asarray(weights, logits.dtype)
    if w.shape != (batch,):
        raise ValueError(f"weights must be [B] = [{batch}], got {w.shape}")
    total = w.sum()
    if k == 1:
        y, lab = logits[:, 0], labels.astype(logits.dtype)
        terms = np.logaddexp(0.0, y) - lab * y
        d_logits = (sigmoid(y) - lab)[:, None]
    else:
        z = logits - logits.max(axis=1, keepdims=True)  # shift: exp cannot overflow
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        terms = -logp[np.arange(batch), labels]
        d_logits = np.exp(logp)
        d_logits[np.arange(batch), labels] -= 1.0
    loss = np.sum(w * terms) / total
    d_logits *= (w / total)[:, None]  # the weighted mean over the batch

    grads: dict[str, Any] = {
        "w_out": d_logits.T @ feats,  # feats after dropout: what the readout read
        "b_out": d_logits.sum(axis=0),
    }
    d_feats = d_logits @ params["w_out"]  # [B, dirs * H]
    if keep is not None:
        d_feats = _dropout(d_feats, keep, dropout)
    rnn = params["rnn"]
    dirs, hidden = len(rnn[0]), _sizes(cell, rnn[0][0])[1]
    if last is not None:  # blocks: the features were outputs (_block_features)
        d_outs = np.zeros(outs_shape, d_feats.dtype)
        d_outs[np.arange(outs_shape[0]), last, :hidden] = d_feats[:, :hidden]
        if dirs == 2:
            d_outs[:, 0, hidden:] += d_feats[:, hidden:]
        grads["rnn"], dx, _ = layer_backward(cell, rnn, layer_cache, d_outs, None)
    else:
        dh_final = np.zeros(h_shape, d_feats.dtype)
        for d in range(dirs):
            dh_final[-dirs + d] = d_feats[:, d * hidden : (d + 1) * hidden]
        d_final = (dh_final, None) if _has_cell_state(cell) else dh_final  # readout: h only
        grads["rnn"], dx, _ = layer_backward(cell, rnn, layer_cache, None, d_final)
    if "embed" in params:
        d_embed = np.zeros_like(params["embed"])
        np.add.at(d_embed, ids, dx)  # a token repeated in the batch sums its rows
        grads["embed"] = d_embed
    return float(loss), {k: grads[k] for k in params}


__all__ = [
    "CellParams",
    "DropoutMasks",
    "LSTMState",
    "NUMPY_CELLS",
    "NumpyCell",
    "classifier_logits",
    "classifier_loss_and_grads",
    "gru_step_backward",
    "gru_step_forward",
    "layer_backward",
    "layer_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "numpy_cell",
    "register_numpy_cell",
    "reverse_padded",
    "rnn_step_backward",
    "rnn_step_forward",
    "sigmoid",
    "step_backward",
    "step_forward",
    "time_mask",
    "unroll_backward",
    "unroll_forward",
    "unregister_numpy_cell",
]

# The parallel cells' NumPy twins register themselves (they import this module's helpers).
from jaxrnn.scratch import parallel_cells as _parallel_cells  # noqa: E402, F401
