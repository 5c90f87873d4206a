"""Recurrent cells as pure step functions: simple RNN, LSTM, GRU.

Weight layout and gate order are defined in ``jaxrnn.weights.layout`` (JAX-free, shared
with the NumPy reference). They follow PyTorch, so ``torch.nn.LSTM`` weights map
without any reordering::

    w_ih [G*H, D]   w_hh [G*H, H]   b_ih [G*H]   b_hh [G*H]     (biases may be None)

    cell   G  gate blocks of w_ih / w_hh rows, in order
    rnn    1  -
    lstm   4  i (input), f (forget), g (cell candidate), o (output)
    gru    3  r (reset), z (update), n (new)

A step works on the *projected* input ``xp = x @ w_ih.T + b_ih`` so that the
projection can be done for all time steps in one matmul (hoisted) or inside
the loop; see ``project_inputs``. With ``a = xp + h @ w_hh.T + b_hh``::

    rnn:  h' = tanh(a)                      (or relu)
    lstm: i, f, g, o = split(a, 4)
          c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
          h' = sigmoid(o) * tanh(c')
    gru:  r = sigmoid(xp_r + hh_r),  z = sigmoid(xp_z + hh_z)   with hh = h @ w_hh.T + b_hh
          n = tanh(xp_n + r * hh_n)          (reset applied to (W_hn h + b_hn), as PyTorch)
          h' = (1 - z) * n + z * h

Every step has the signature of a ``lax.scan`` body once its params are bound:
``step(params, carry, xp) -> (carry, h)``, where ``carry`` is ``h [.., H]`` for
rnn/gru and ``LSTMState(h, c)`` for lstm, with any leading batch shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxrnn.weights.layout import GATES, CellParams

Array = jax.Array
Carry = Any  # Array [.., H] or LSTMState


class LSTMState(NamedTuple):
    """LSTM carry: hidden and cell state, each ``[.., H]``."""

    h: Array
    c: Array


def project_inputs(p: CellParams, x: Array) -> Array:
    """``x [.., D] -> x @ w_ih.T + b_ih  [.., G*H]``."""
    xp = x @ p.w_ih.T
    return xp if p.b_ih is None else xp + p.b_ih


def _hidden_proj(p: CellParams, h: Array) -> Array:
    hh = h @ p.w_hh.T
    return hh if p.b_hh is None else hh + p.b_hh


def rnn_step(p: CellParams, h: Array, xp: Array, nonlinearity: str = "tanh") -> tuple[Array, Array]:
    """Elman RNN step. ``h [.., H]``, ``xp [.., H]`` -> ``(h', h')``."""
    a = xp + _hidden_proj(p, h)
    h = jnp.tanh(a) if nonlinearity == "tanh" else jax.nn.relu(a)
    return h, h


def lstm_step(p: CellParams, carry: LSTMState, xp: Array) -> tuple[LSTMState, Array]:
    """LSTM step, gates i, f, g, o. ``xp [.., 4H]`` -> ``(LSTMState(h', c'), h')``."""
    a = xp + _hidden_proj(p, carry.h)
    i, f, g, o = jnp.split(a, 4, axis=-1)
    c = jax.nn.sigmoid(f) * carry.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c), h


def gru_step(p: CellParams, h: Array, xp: Array) -> tuple[Array, Array]:
    """GRU step, gates r, z, n (PyTorch convention). ``xp [.., 3H]`` -> ``(h', h')``."""
    hh = _hidden_proj(p, h)
    xr, xz, xn = jnp.split(xp, 3, axis=-1)
    hr, hz, hn = jnp.split(hh, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    h = (1.0 - z) * n + z * h
    return h, h


class Cell(NamedTuple):
    """What the sequence code needs to know about a cell kind."""

    name: str
    gates: int  # G: row blocks in w_ih / w_hh
    step: Callable[[CellParams, Carry, Array], tuple[Carry, Array]]


def _relu_step(p: CellParams, h: Array, xp: Array) -> tuple[Array, Array]:
    return rnn_step(p, h, xp, "relu")


_STEPS = {"rnn": rnn_step, "rnn_relu": _relu_step, "lstm": lstm_step, "gru": gru_step}
# One entry per cell of jaxrnn.weights.layout.GATES (the one registry of cell names).
CELLS: dict[str, Cell] = {n: Cell(n, len(gates), _STEPS[n]) for n, gates in GATES.items()}


def get_cell(name: str) -> Cell:
    """Look up a cell kind by name (``rnn``, ``rnn_relu``, ``lstm``, ``gru``)."""
    try:
        return CELLS[name]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; choose from {sorted(CELLS)}") from None


def zero_carry(
    cell: str, batch_shape: tuple[int, ...], hidden_size: int, dtype=jnp.float32
) -> Carry:
    """The zero initial carry for ``cell`` with leading ``batch_shape``."""
    z = jnp.zeros((*batch_shape, hidden_size), dtype)
    return LSTMState(z, z) if get_cell(cell).name == "lstm" else z


def init_cell_params(
    key: Array,
    cell: str,
    input_size: int,
    hidden_size: int,
    bias: bool = True,
    dtype=jnp.float32,
) -> CellParams:
    """Keras-style initialisation (what the study's Keras models used).

    ``w_ih``: Glorot uniform over the whole ``[D, G*H]`` kernel; ``w_hh``: orthogonal
    per gate block; biases zero, except the LSTM forget gate's ``b_ih`` block,
    which is one (Keras' ``unit_forget_bias``).
    """
    g = get_cell(cell).gates
    h = hidden_size
    k_ih, k_hh = jax.random.split(key)
    limit = (6.0 / (input_size + g * h)) ** 0.5
    w_ih = jax.random.uniform(k_ih, (g * h, input_size), dtype, -limit, limit)
    ortho = jax.nn.initializers.orthogonal()
    w_hh = jnp.concatenate([ortho(k, (h, h), dtype) for k in jax.random.split(k_hh, g)], axis=0)
    if not bias:
        return CellParams(w_ih, w_hh, None, None)
    b_ih = jnp.zeros((g * h,), dtype)
    if get_cell(cell).name == "lstm":
        b_ih = b_ih.at[h : 2 * h].set(1.0)
    return CellParams(w_ih, w_hh, b_ih, jnp.zeros((g * h,), dtype))
